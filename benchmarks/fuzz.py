"""Fuzz the reader and the checks with mutated templates (run on demand, not in the test suite).

    python benchmarks/fuzz.py --seconds 180

Each round takes a filled template and mutates it: random bytes of the file, or
random cells typed with odd values (through openpyxl, as a unit would), or a part of
the zip replaced. Every mutant goes through the same path as consolidate: read_return,
identify, check_return. A Python exception escaping, or a child process dying (as
python-calamine does on some inputs), is a failure and the mutant is saved.
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from workbook_tool import demo  # noqa: E402
from workbook_tool.checks import check_return, identify  # noqa: E402
from workbook_tool.desk import Period  # noqa: E402
from workbook_tool.reader import read_return  # noqa: E402
from workbook_tool.spec import load_spec  # noqa: E402
from workbook_tool.workflow import EXAMPLES  # noqa: E402
from workbook_tool.carry import unit_rows  # noqa: E402
from workbook_tool.template import write_template  # noqa: E402

ODD = ["", " ", "=1+1", "约12亿", "１２０", "1,234.5", "85%", "2023.5.31", "2023年13月1日", "-0", "1e309",
       "nan", "inf", "\t", "见附件", "😀" * 300, "=[1]Sheet1!A1", -1.5, 10**20, 0.0, True, "已完成",
       "9" * 400, "2023-02-30", "0x1F"]


def examine(data: bytes, spec, period, key):
    result = read_return(data)
    if result.fatal:
        return "refused:" + ",".join(f.code for f in result.findings)
    status, _findings = identify(result, spec, period, key)
    if status != "ok":
        return status
    checked = check_return(result, spec, period, previous=())
    for f in checked.findings:
        assert f.message and "{" not in f.message, f
    return "checked:" + ",".join(sorted({f.code for f in checked.findings}))


def child(queue, data, spec, period, key):
    try:
        queue.put(("ok", examine(data, spec, period, key)))
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=1)
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
        data = mutate(rng.choice(bases), rng)
        queue = ctx.Queue()
        proc = ctx.Process(target=child, args=(queue, data, spec, period, key))
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
