"""Fuzz the reader and the checks with mutated templates (run on demand, not in the test suite).

    python benchmarks/fuzz.py --seconds 180

Each round takes a filled template and mutates it: random bytes of the file, or
random cells typed with odd values (through openpyxl, as a unit would), or a part of
the zip replaced. Structural mutations (``--structural`` runs only those) rewrite what
python-calamine trusts: cell references quoted or spaced differently or moved far
away, ``r`` attributes dropped, parts stored uncompressed, .ods tables with repeated
rows and cells, the return nested in archives, odd file names. Every mutant goes
through the same path as consolidate: inbox.expand, read_return, identify,
check_return. A Python exception escaping, or a child process dying (as
python-calamine does on some inputs), is a failure and the mutant is saved.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing
import os
import random
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbook_tool import demo  # noqa: E402
from workbook_tool.checks import check_return, identify  # noqa: E402
from workbook_tool.desk import Period  # noqa: E402
from workbook_tool.inbox import expand  # noqa: E402
from workbook_tool.reader import read_return  # noqa: E402
from workbook_tool.spec import load_spec  # noqa: E402
from workbook_tool.workflow import EXAMPLES  # noqa: E402
from workbook_tool.carry import unit_rows  # noqa: E402
from workbook_tool.template import write_template  # noqa: E402

ODD = ["", " ", "=1+1", "约12亿", "１２０", "1,234.5", "85%", "2023.5.31", "2023年13月1日", "-0", "1e309",
       "nan", "inf", "\t", "见附件", "😀" * 300, "=[1]Sheet1!A1", -1.5, 10**20, 0.0, True, "已完成",
       "9" * 400, "2023-02-30", "0x1F"]


def examine(name: str, data: bytes, spec, period, key):
    outcomes = []
    for cand in expand(name, data, dt.datetime(2023, 6, 3)):
        cand.path.encode("utf-8")                      # every name shown is valid text
        if cand.problem:
            outcomes.append("inbox:" + cand.code)
            continue
        result = read_return(cand.data)
        if result.fatal:
            outcomes.append("refused:" + ",".join(f.code for f in result.findings))
            continue
        status, _findings = identify(result, spec, period, key)
        if status != "ok":
            outcomes.append(status)
            continue
        checked = check_return(result, spec, period, previous=())
        for f in checked.findings:
            assert f.message and "{" not in f.message, f
        outcomes.append("checked:" + ",".join(sorted({f.code for f in checked.findings})))
    return outcomes[0] if len(outcomes) == 1 else "many:" + str(len(outcomes))


def child(queue, name, data, spec, period, key):
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, resource.RLIM_INFINITY))
        queue.put(("ok", examine(name, data, spec, period, key)))
    except Exception:  # noqa: BLE001 - we report any escaping exception
        import traceback
        queue.put(("error", traceback.format_exc()))


def mutate(base: bytes, rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.45:
        data = bytearray(base)
        for _ in range(rng.randint(1, 12)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice < 0.55:
        cut = rng.randrange(len(base))
        return base[:cut]
    import openpyxl
    wb = openpyxl.load_workbook(io.BytesIO(base))
    for _ in range(rng.randint(1, 20)):
        ws = wb[rng.choice(wb.sheetnames)]
        r, c = rng.randint(2, 60), rng.randint(1, 16)
        value = rng.choice(ODD)
        if type(ws.cell(r, c)).__name__ == "MergedCell":
            continue
        ws.cell(r, c).value = value
        if isinstance(value, str) and value.startswith("="):
            ws.cell(r, c).data_type = rng.choice(["s", "f"])
    if rng.random() < 0.1:
        wb[rng.choice(wb.sheetnames)].delete_rows(rng.randint(1, 30), rng.randint(1, 3))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _rezip(data: bytes, edit=None, stored=False, add=None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(
            out, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if edit and info.filename.startswith("xl/worksheets/"):
                body = edit(body)
            zout.writestr(info.filename, body)
        for name, body in (add or {}).items():
            zout.writestr(name, body)
    return out.getvalue()


FAR = [b"XFD1048576", b"A1048576", b"XFD1", b"GR20000", b"ZZ99", b"A20001", b"B2", b"IV65536", b"AAA1", b"A0"]
ODD_NAMES = ["a.xlsx", "县发改局.xlsx", "\udcb1\udca8.xlsx", "a\nb.xlsx", "a!b.xlsx", "x" * 300 + ".xlsx",
             "..\\..\\evil.xlsx", "../evil.xlsx", "con.xlsx", "a\u202egnp.xlsx", "\ufeff.xlsx"]


def _requote(rng):
    def edit(body: bytes) -> bytes:
        def one(m):
            ref = rng.choice(FAR) if rng.random() < 0.05 else m.group(2)
            quote = rng.choice([b'"', b"'"])
            space = rng.choice([b"", b" ", b"  ", b"\t", b"\n"])
            return m.group(1) + b"r" + space + b"=" + space + quote + ref + quote
        return re.sub(rb'(\s)r="([A-Z]*\d+)"', one, body)
    return edit


def _drop_r(rng):
    share = rng.random()

    def edit(body: bytes) -> bytes:
        body = re.sub(rb'\sr="[A-Z]*\d+"', lambda m: b"" if rng.random() < share else m.group(0), body)
        if rng.random() < 0.3:
            body = body.replace(b"</sheetData>", b"<row/>" * rng.choice([10, 1000, 30000]) +
                                b"<row>" + b"<c/>" * rng.choice([1, 250, 16384]) + b"<c><v>1</v></c></row></sheetData>")
        return body
    return edit


def _ods(rng) -> bytes:
    rows = b""
    for _ in range(rng.randint(1, 4)):
        cells = b""
        for _ in range(rng.randint(1, 4)):
            rep = rng.choice([1, 2, 200, 1024, 16384, 100000])
            if rng.random() < 0.5:
                cells += b'<table:table-cell table:number-columns-repeated="%d"/>' % rep
            else:
                cells += (b'<table:table-cell table:number-columns-repeated="%d" office:value-type="float" '
                          b'office:value="1"><text:p>1</text:p></table:table-cell>' % rep)
        rows += b'<table:table-row table:number-rows-repeated="%d">%s</table:table-row>' % (
            rng.choice([1, 3, 1000, 20001, 1048576]), cells)
    content = (b'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:'
               b'opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
               b'<office:spreadsheet><table:table table:name="S">' + rows +
               b"</table:table></office:spreadsheet></office:body></office:document-content>")
    if rng.random() < 0.2:
        content = content.replace(b"?>", b"?><!--" + b"x" * 5000 + b'--><!DOCTYPE x [<!ENTITY a "a">]>', 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", content)
    return out.getvalue()


def _nest(data: bytes, rng) -> bytes:
    copies = 1                      # copies of the return across all levels: kept small enough to write
    for _ in range(rng.randint(1, 3)):
        out = io.BytesIO()
        count = min(rng.choice([1, 2, 50]), max(1, 120 // copies))
        copies *= count
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(count):
                zf.writestr(f"{i}-{rng.choice(ODD_NAMES).encode('utf-8', 'surrogateescape').decode('cp437')}",
                            data)
        data = out.getvalue()
    return data


def structural(base: bytes, rng: random.Random):
    """One structural mutant → (file name, bytes)."""
    name = rng.choice(ODD_NAMES) if rng.random() < 0.3 else "mutant.xlsx"
    choice = rng.random()
    if choice < 0.25:
        return name, _rezip(base, _requote(rng), stored=rng.random() < 0.5)
    if choice < 0.45:
        return name, _rezip(base, _drop_r(rng), stored=rng.random() < 0.7)
    if choice < 0.6:
        return name.replace(".xlsx", ".ods"), _ods(rng)
    if choice < 0.8:
        return name.replace(".xlsx", ".zip"), _nest(base, rng)
    far = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>' + (
        b'<row r="%d"><c r="%s"><v>1</v></c></row>' % (rng.choice([200, 20000]), rng.choice(FAR[3:5]))) + \
        b"</sheetData></worksheet>"
    return name, _rezip(base, add={f"xl/worksheets/x{i}.xml": far for i in range(rng.choice([2, 60]))})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--structural", action="store_true", help="only the structural mutations")
    args = parser.parse_args()
    spec = load_spec(EXAMPLES / "shengsi")
    period = Period(2023, 5)
    key = b"fuzz-key"
    rng = random.Random(args.seed)
    bases = []
    for unit in ("县发改局", "县经信局", "菜园镇"):
        buf = io.BytesIO()
        write_template(spec, unit, period, unit_rows(spec, unit, period), key, buf)
        wb = demo.open_template(io.BytesIO(buf.getvalue()))
        demo.fill_correctly(wb, period, rng)
        out = io.BytesIO()
        wb.save(out)
        bases.append(out.getvalue())
    failures = Path(tempfile.mkdtemp(prefix="wbt-fuzz-"))
    ctx = multiprocessing.get_context("fork")
    deadline = time.monotonic() + args.seconds
    rounds, outcomes, bad = 0, {}, 0
    while time.monotonic() < deadline:
        if args.structural or rng.random() < 0.4:
            name, data = structural(rng.choice(bases), rng)
        else:
            name, data = "mutant.xlsx", mutate(rng.choice(bases), rng)
        queue = ctx.Queue()
        proc = ctx.Process(target=child, args=(queue, name, data, spec, period, key))
        proc.start()
        proc.join(60)
        rounds += 1
        if proc.is_alive():
            proc.kill()
            verdict = ("error", "timeout")
        elif proc.exitcode != 0:
            verdict = ("error", f"child died with exit code {proc.exitcode}")
        else:
            verdict = queue.get(timeout=5)
        if verdict[0] == "error":
            bad += 1
            (failures / f"case-{rounds}.xlsx").write_bytes(data)
            (failures / f"case-{rounds}.txt").write_text(verdict[1], encoding="utf-8")
        else:
            kind = verdict[1].split(":")[0]
            outcomes[kind] = outcomes.get(kind, 0) + 1
    print(f"{rounds} mutants in {args.seconds:.0f} s: {outcomes}; failures: {bad}"
          + (f" (saved in {failures})" if bad else ""))
    if not bad:
        os.rmdir(failures)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
