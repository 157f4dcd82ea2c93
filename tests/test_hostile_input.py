"""Hostile input and faults (issue 18): crafted returns that once aborted the process inside
python-calamine, an inbox full of traps, hostile names, keys, history. Every file here is built in
the test from a generated template; nothing binary is committed."""
import email
import email.policy
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.reader import read_return

from conftest import ON_TIME, objects
from test_bulletin_mail import Collector, run, smtp, start  # noqa: F401 - smtp is a fixture
from test_hostile import filled_bytes, with_doctype


def rebuild(data: bytes, replace=None, add=None, stored=False) -> bytes:
    """A copy of a zip with parts replaced (callables on the old bytes) or added; optionally uncompressed."""
    out = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", method) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if replace and info.filename in replace:
                body = replace[info.filename](body)
            zout.writestr(info.filename, body)
        for name, body in (add or {}).items():
            zout.writestr(name, body)
    return out.getvalue()


def far_cell(cell: bytes):
    """Append one cell (a raw <c> element with its row) to a sheet."""
    return lambda body: body.replace(b"</sheetData>", cell + b"</sheetData>")


def without_r(body: bytes) -> bytes:
    return re.sub(rb' r="[A-Z]*\d+"', b"", body)


def many_sheets(data: bytes, count=60, cell=b'<row r="20000"><c r="GR20000"><v>1</v></c></row>') -> bytes:
    """``count`` extra worksheets, each with one far cell that is inside the per-sheet bounds."""
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main"><sheetData>' + cell + b"</sheetData></worksheet>")
    names = [f"x{i}" for i in range(count)]

    def workbook(body):
        extra = "".join(f'<sheet name="{n}" sheetId="{100 + i}" r:id="rIdX{i}"/>' for i, n in enumerate(names))
        return body.replace(b"</sheets>", extra.encode() + b"</sheets>")

    def rels(body):
        extra = "".join(f'<Relationship Id="rIdX{i}" Type="http://schemas.openxmlformats.org/officeDocument/'
                        f'2006/relationships/worksheet" Target="worksheets/x{i}.xml"/>' for i in range(count))
        return body.replace(b"</Relationships>", extra.encode() + b"</Relationships>")

    def types(body):
        extra = "".join(f'<Override PartName="/xl/worksheets/x{i}.xml" ContentType="application/vnd.openxmlformats-'
                        f'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(count))
        return body.replace(b"</Types>", extra.encode() + b"</Types>")

    return rebuild(data, replace={"xl/workbook.xml": workbook, "xl/_rels/workbook.xml.rels": rels,
                                  "[Content_Types].xml": types},
                   add={f"xl/worksheets/x{i}.xml": sheet for i in range(count)})


ODS_CONTENT = (b'<?xml version="1.0" encoding="UTF-8"?>'
               b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               b'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
               b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
               b'<office:body><office:spreadsheet><table:table table:name="S1">%s</table:table>'
               b'</office:spreadsheet></office:body></office:document-content>')


def ods(rows: bytes, prolog=b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:'
                    b'oasis:names:tc:opendocument:xmlns:manifest:1.0"/>')
        body = ODS_CONTENT % rows
        if prolog:
            body = body.replace(b"?>", b"?>" + prolog, 1)
        zf.writestr("content.xml", body)
    return out.getvalue()


REPEATED_ODS = (b'<table:table-row table:number-rows-repeated="100000"><table:table-cell '
                b'table:number-columns-repeated="1000" office:value-type="float" office:value="1">'
                b'<text:p>1</text:p></table:table-cell></table:table-row>')
# LibreOffice pads every sheet with repeated empty cells and rows to the sheet's edge: that is fine
PADDED_ODS = (b'<table:table-row><table:table-cell office:value-type="string"><text:p>a</text:p>'
              b'</table:table-cell><table:table-cell table:number-columns-repeated="1023"/></table:table-row>'
              b'<table:table-row table:number-rows-repeated="1048575"><table:table-cell '
              b'table:number-columns-repeated="1024"/></table:table-row>')
LONG_COMMENT = b"<!--" + b"x" * 5000 + b"-->"
ENTITY_BOMB = b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
SHEET2 = "xl/worksheets/sheet2.xml"

# each: (id, builder(may) → bytes); every one is refused as F010 or F011 before calamine reads it
CALAMINE_KILLERS = [
    ("single-quoted-ref", lambda may: rebuild(filled_bytes(may), replace={
        SHEET2: far_cell(b"<row r='1048576'><c r='XFD1048576'><v>1</v></c></row>")}), "F010"),
    ("spaced-ref", lambda may: rebuild(filled_bytes(may), replace={
        SHEET2: far_cell(b'<row r = "1048576" ><c r = " XFD1048576 " ><v>1</v></c></row>')}), "F010"),
    ("gt-inside-attribute", lambda may: rebuild(filled_bytes(may), replace={
        SHEET2: far_cell(b'<row r="14"><c s=">" r="XFD14"><v>1</v></c></row>')}), "F010"),
    ("entity-in-ref", lambda may: rebuild(filled_bytes(may), replace={
        SHEET2: far_cell(b'<row r="14"><c r="&#88;FD14"><v>1</v></c></row>')}), "F010"),
    ("rows-without-r-stored", lambda may: rebuild(filled_bytes(may), stored=True, replace={
        SHEET2: lambda b: far_cell(b"<row/>" * 30000 + b"<row><c><v>1</v></c></row>")(without_r(b))}), "F010"),
    ("cells-without-r-stored", lambda may: rebuild(filled_bytes(may), stored=True, replace={
        SHEET2: far_cell(b"<row>" + b"<c/>" * 16384 + b"<c><v>1</v></c></row>")}), "F010"),
    ("quoted-dimension", lambda may: rebuild(filled_bytes(may), replace={
        SHEET2: lambda b: re.sub(rb'<dimension ref="[A-Z0-9:]+"/>', b"<dimension ref = 'A1:XFD1048576'/>", b)}),
     "F010"),
    ("sheet-outside-worksheets-folder", lambda may: rebuild(filled_bytes(may), replace={
        "xl/_rels/workbook.xml.rels": lambda b: b.replace(b"worksheets/sheet2.xml", b"../evil/s.xml"),
        SHEET2: lambda b: b"<x/>"},
        add={"evil/s.xml": (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                            b"<sheetData><row r='9'><c r='XFD9'><v>1</v></c></row></sheetData></worksheet>")}),
     "F010"),
    ("60-sheets-far-cells", lambda may: many_sheets(filled_bytes(may)), "F010"),
    ("ods-repeated-cells", lambda may: ods(REPEATED_ODS), "F010"),
    ("ods-doctype-after-comment", lambda may: ods(b"", prolog=LONG_COMMENT + ENTITY_BOMB), "F011"),
    ("xlsx-doctype-after-comment", lambda may: rebuild(filled_bytes(may), replace={
        "xl/styles.xml": with_doctype(LONG_COMMENT + ENTITY_BOMB)}), "F011"),
    ("doctype-in-odd-part", lambda may: rebuild(filled_bytes(may), add={
        "customXml/item1.dat": b"<?xml version='1.0'?>" + LONG_COMMENT + ENTITY_BOMB + b"<a/>"}), "F011"),
]


@pytest.mark.parametrize("case_id,make,code", CALAMINE_KILLERS, ids=[c[0] for c in CALAMINE_KILLERS])
def test_pre_checks_refuse_what_aborts_calamine(may, case_id, make, code):
    result = read_return(make(may))
    assert result.fatal
    assert [f.code for f in result.findings] == [code]


def test_padded_ods_is_within_bounds():
    """LibreOffice's own padding (empty repeated cells to the sheet's edge) is not a hostile extent."""
    from workbook_tool.reader import _ods_extents
    assert _ods_extents(ODS_CONTENT % PADDED_ODS) == [(1, 1)]
    assert _ods_extents(ODS_CONTENT % REPEATED_ODS) == [(100000, 1000)]


def test_genuine_return_passes_the_stronger_pre_checks(may):
    for data in (filled_bytes(may), rebuild(filled_bytes(may), stored=True)):
        result = read_return(data)
        assert not result.fatal and result.meta is not None


# -- reading isolation: a crash, hang or memory blow-up rejects one file, the run completes ----------

def set_limits(may, **limits):
    county = may.root / "specs/shengsi/county.yaml"
    text = "".join(f"\n  {k}: {v}" for k, v in limits.items())
    county.write_text(county.read_text(encoding="utf-8").replace("deadline_day: 5", "deadline_day: 5\nlimits:" + text),
                      encoding="utf-8")


@pytest.mark.parametrize("jobs", [1, 2])
def test_hostile_returns_are_named_and_genuine_ones_accepted(may, jobs):
    for case_id, make, _code in CALAMINE_KILLERS:
        (may.root / "inbox" / "hostile").mkdir(exist_ok=True)
        (may.root / "inbox" / "hostile" / f"{case_id}.xlsx").write_bytes(make(may))
    may.drop(may.filled("县发改局"), "good-1.xlsx")
    may.drop(may.filled("县经信局"), "good-2.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"), jobs=jobs)
    assert summary["accepted"] == ["县发改局", "县经信局"]
    codes = {f["path"]: f["codes"] for f in summary["files"] if f["path"].startswith("hostile/")}
    assert codes == {f"hostile/{case_id}.xlsx": [code] for case_id, _m, code in CALAMINE_KILLERS}


@pytest.mark.parametrize("fault,jobs", [("abort-reading", 1), ("abort-reading", 2), ("hang-reading", 2),
                                        ("memory-reading", 1)])
def test_a_worker_that_dies_rejects_only_its_file(may, monkeypatch, fault, jobs):
    set_limits(may, max_read_seconds=3, max_memory_mb=1024)
    monkeypatch.setenv("WORKBOOK_TOOL_FAULT", f"{fault}:victim.xlsx")
    may.drop(may.filled("县发改局"), "a.xlsx")
    may.drop(may.filled("县经信局"), "victim.xlsx")
    may.drop(may.filled("县财政局"), "z.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"), jobs=jobs)
    assert summary["accepted"] == ["县发改局", "县财政局"]
    victim = next(f for f in summary["files"] if f["path"] == "victim.xlsx")
    assert victim == {"path": "victim.xlsx", "unit": None, "verdict": "rejected", "codes": ["F014"],
                      "period": None}
    message = next(f.message for f in summary.findings if f.file == "victim.xlsx")
    assert "victim.xlsx" in message
    assert {"abort-reading": "退出码", "hang-reading": "3 秒", "memory-reading": "1024 MB"}[fault] in message


def test_the_command_names_a_file_whose_reader_crashed(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    may.drop(may.filled("县经信局"), "坏文件.xlsx")
    env = {**os.environ, "WORKBOOK_TOOL_FAULT": "abort-reading:坏文件.xlsx"}
    proc = subprocess.run([sys.executable, "-m", "workbook_tool.cli", "consolidate", "--root", str(may.root),
                           "--spec", "specs/shengsi", "--period", "2023-05", "--jobs", "2"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "无法采用的文件 坏文件.xlsx：文件「坏文件.xlsx」读取时程序崩溃" in proc.stdout
    assert "程序内部错误" not in proc.stdout + proc.stderr


# -- the inbox scanned safely ------------------------------------------------------------------------

def zip_of(members: dict, method=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return out.getvalue()


def by_path(summary):
    return {f["path"]: f for f in summary["files"]}


def test_inbox_traps_are_reported_and_genuine_returns_accepted(may, tmp_path):
    inbox = may.root / "inbox"
    may.drop(may.filled("县发改局"), "good.xlsx")
    os.mkfifo(inbox / "pipe.xlsx")
    os.symlink("/dev/zero", inbox / "zero.xlsx")
    outside = tmp_path / "outside.xlsx"
    may.filled("县经信局").save(outside)
    os.symlink(outside, inbox / "link-out.xlsx")
    os.symlink(tmp_path, inbox / "folder-out")
    with open(inbox / "sparse.xlsx", "wb") as fh:           # 8 GB, no blocks: must never be read
        fh.truncate(8 * 1024 ** 3)
    zeros = b"\0" * (30 * 1024 ** 2)                      # 8 × 30 MB: each under 50 MB, 240 MB in all
    (inbox / "zeros.zip").write_bytes(zip_of({f"z{i}.xlsx": zeros for i in range(8)}))
    inner = zip_of({f"{i}.txt": b"x" for i in range(3000)}, zipfile.ZIP_STORED)
    (inbox / "zip-of-zips.zip").write_bytes(zip_of({f"inner{i}.zip": inner for i in range(5)}))
    (inbox / "many.zip").write_bytes(zip_of({f"{i}.txt": b"" for i in range(12000)}, zipfile.ZIP_STORED))
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"), jobs=2)
    files = by_path(summary)
    assert summary["accepted"] == ["县发改局"]
    assert files["pipe.xlsx"]["codes"] == ["F015"] and files["zero.xlsx"]["codes"] == ["F015"]
    assert files["link-out.xlsx"]["codes"] == ["F015"] and files["folder-out/"]["codes"] == ["F015"]
    assert files["sparse.xlsx"]["codes"] == ["F010"]
    assert files["zeros.zip"]["codes"] == ["F010"]                    # over the 200 MB unpacked budget
    nested = [f for p, f in files.items() if p.startswith("zip-of-zips.zip")]
    assert len(nested) <= 10_000                                      # 15,000 entries over two levels
    assert [f["path"] for f in nested if f["codes"] == ["F010"]] == ["zip-of-zips.zip!inner3.zip"]
    assert files["many.zip"]["codes"] == ["F010"]
    assert all(f["verdict"] == "rejected" for p, f in files.items() if p != "good.xlsx")
    # a few members of the zero zip were looked at before the budget ran out, never all
    assert len([p for p in files if p.startswith("zeros.zip!")]) < 8


def test_zip_budget_is_checked_before_unpacking():
    from workbook_tool.inbox import expand, zip_entry_count
    many = zip_of({f"{i}.txt": b"" for i in range(12000)}, zipfile.ZIP_STORED)
    assert zip_entry_count(many) == 12000
    got = list(expand("many.zip", many, ON_TIME))
    assert [(c.path, c.code) for c in got] == [("many.zip", "F010")]


def test_undecodable_file_name_is_shown_and_kept_losslessly(may):
    raw = "县发改局".encode("gbk") + b".xlsx"                    # a GBK name kept by unzip on Linux
    may.filled("县发改局").save(os.fsdecode(os.path.join(os.fsencode(may.root / "inbox"), raw)))
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["accepted"] == ["县发改局"]
    shown = summary["files"][0]["path"]
    assert "\ufffd" in shown and shown.endswith(".xlsx")
    db = sqlite3.connect(may.root / "consolidated/shengsi/ledger.sqlite")
    assert db.execute("SELECT path, raw_hex FROM raw_names").fetchall() == [(shown, raw.hex())]
    db.close()
    assert (Path(summary["master"])).is_file()


def test_unreadable_folder_is_reported(may):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder whatever its mode: chmod 000 cannot make one unreadable")
    locked = may.root / "inbox" / "锁住的"
    locked.mkdir()
    may.drop(may.filled("县经信局"), "锁住的/a.xlsx")
    locked.chmod(0)
    try:
        summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    finally:
        locked.chmod(0o755)
    assert by_path(summary)["锁住的/"]["codes"] == ["F016"]


def test_unreadable_folder_reported_whoever_runs(may, monkeypatch):
    """Root ignores chmod 000: make listing one folder fail as it does for an ordinary user."""
    from workbook_tool import inbox as inbox_module
    locked = may.root / "inbox" / "锁住的"
    may.drop(may.filled("县经信局"), "锁住的/a.xlsx")
    may.drop(may.filled("县发改局"), "ok.xlsx")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(inbox_module.os, "scandir", scandir)
    got = [(c.path, c.code) for c in inbox_module.scan(may.root / "inbox") if c.problem]
    assert got == [("锁住的/", "F016")]


# -- names: check-spec refuses what breaks addresses or file names; mail goes to `email` only ----------

def add_units(desk, *entries):
    county = desk / "specs/shengsi/county.yaml"
    extra = "".join(f"  - name: {name}\n    email: \"\"\n" for name in entries)
    county.write_text(county.read_text(encoding="utf-8").replace("  - name: 县发改局\n", extra + "  - name: 县发改局\n", 1),
                      encoding="utf-8")


def check_spec(desk):
    return CliRunner().invoke(main, ["check-spec", "--root", str(desk), "--spec", "specs/shengsi"])


@pytest.mark.parametrize("yaml_name,why", [
    ('"县发改局 <evil@attacker.cn>, x"', "不允许的字符"),
    ('"县/发改局"', "不允许的字符"),
    ('"县:发改局"', "不允许的字符"),
    ('"县\\\\发改局"', "不允许的字符"),
    ('"县\\0发改局"', "空字符"),
    ('"县发改局\\n抄送"', "换行"),
    ('"县\\u200b发改局"', "不可见字符"),
    ("县" + "很" * 40 + "局", "过长"),
])
def test_check_spec_refuses_hostile_unit_names(desk, yaml_name, why):
    add_units(desk, yaml_name)
    result = check_spec(desk)
    assert result.exit_code == 1
    assert why in result.output and "county.yaml:" in result.output
    assert "程序内部错误" not in result.output


def test_check_spec_refuses_names_that_write_the_same_file(desk):
    add_units(desk, '"县 农办"', '"县  农办"')
    result = check_spec(desk)
    assert result.exit_code == 1 and "同一个文件名" in result.output and "县_农办.xlsx" in result.output


def test_newline_in_issuer_is_a_spec_problem(desk):
    county = desk / "specs/shengsi/county.yaml"
    county.write_text(re.sub(r"(?m)^issuer: .*$", lambda m: 'issuer: "办公室\\nBcc: evil@attacker.cn"',
                             county.read_text(encoding="utf-8")), encoding="utf-8")
    result = check_spec(desk)
    assert result.exit_code == 1 and "issuer" in result.output and "换行" in result.output


def test_the_name_is_only_ever_a_display_name():
    from types import SimpleNamespace

    from workbook_tool.desk import Period
    from workbook_tool.mail import DEFAULTS, build
    hostile = "县发改局 <evil@attacker.cn>, x"
    spec = SimpleNamespace(deadline_day=5, county="嵊泗县", issuer="办公室, <boss@evil.cn>", office_contact="",
                           office_phone="", office_email="office@test.invalid", code="shengsi",
                           unit=lambda name: SimpleNamespace(email="fgj@test.invalid"))
    config = {"messages": DEFAULTS, "smtp": {}}
    attachment = Path(__file__)
    msg = build(spec, config, hostile, "template", Period(2023, 5), attachment)
    parsed = email.message_from_bytes(bytes(msg), policy=email.policy.default)
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == (hostile, "fgj@test.invalid")
    (sender,) = parsed["From"].addresses
    assert sender.addr_spec == "office@test.invalid"


class EnvelopeCollector(Collector):
    def __init__(self):
        super().__init__()
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


def test_send_delivers_to_the_units_email_field_only(smtp):
    from workbook_tool.mail import Outgoing, send_outbox
    may, port = smtp
    handler = EnvelopeCollector()
    controller = start(handler, port)
    try:
        result = run(may, "generate", "--period", "2023-05", "--mail", "--units", "县发改局")
        assert result.exit_code == 0, result.output
        eml = may.root / "outbox/shengsi/2023-05/县发改局-模板.eml"
        text = eml.read_bytes()
        to_line = re.search(rb"(?m)^To: .*$", text).group(0)
        eml.write_bytes(text.replace(to_line, b"To: evil@attacker.cn, " + to_line[4:]))   # a tampered .eml
        sent = send_outbox(*objects(may.root, "specs/shengsi", "2023-05"), [Outgoing("县发改局", "template", eml,
                                                                           "u001@test.invalid")])
        assert [ok for _o, _t, ok in sent] == [True]
        assert handler.envelopes == [["u001@test.invalid"]]
    finally:
        controller.stop()


# -- keys ---------------------------------------------------------------------------------------------

def cli(may, *args):
    return CliRunner().invoke(main, [*args, "--root", str(may.root), "--spec", "specs/shengsi"])


def snapshot(may):
    """Every output and the ledger, byte for byte (the backups folder aside)."""
    base = may.root / "consolidated/shengsi"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*"))
            if p.is_file() and "备份" not in p.parts and p.name != ".lock"}


def test_ledger_records_the_key_fingerprint_not_the_key(may):
    from workbook_tool import signing
    key = signing.load_key(may.root / ".workbook-tool-secret", create=False)
    db = sqlite3.connect(may.root / "consolidated/shengsi/ledger.sqlite")
    (value,) = db.execute("SELECT value FROM meta WHERE name='key_fingerprint'").fetchone()
    db.close()
    assert value == signing.fingerprint(key) and key.decode() not in value
    assert key not in (may.root / "consolidated/shengsi/ledger.sqlite").read_bytes()


def test_generate_never_silently_makes_a_new_key(may):
    secret = may.root / ".workbook-tool-secret"
    old = secret.read_bytes()
    secret.unlink()
    result = cli(may, "generate", "--period", "2023-06")
    assert result.exit_code == 1 and "找不到签名密钥" in result.output and "--new-key" in result.output
    assert str(secret) in result.output and not secret.exists()
    assert not (may.root / "templates/shengsi/2023-06").exists()
    secret.write_text("another-key\n", encoding="ascii")             # a different key: refused too
    result = cli(may, "generate", "--period", "2023-06")
    assert result.exit_code == 1 and "密钥指纹" in result.output
    secret.write_bytes(old)
    assert cli(may, "generate", "--period", "2023-06", "--units", "县发改局").exit_code == 0


def test_generate_new_key_starts_over_with_a_warning(may):
    secret = may.root / ".workbook-tool-secret"
    old = secret.read_bytes()
    result = cli(may, "generate", "--period", "2023-05", "--units", "县发改局", "--new-key")
    assert result.exit_code == 0, result.output
    assert "警告" in result.output and "F004" in result.output
    assert secret.read_bytes() != old
    assert [p.read_bytes() for p in may.root.glob(".workbook-tool-secret.old-*")] == [old]
    assert cli(may, "generate", "--period", "2023-05", "--units", "县发改局").exit_code == 0   # the new key now


def test_consolidate_with_another_key_changes_nothing(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    before = snapshot(may)
    (may.root / ".workbook-tool-secret").write_text("changed-secret\n", encoding="ascii")
    result = cli(may, "consolidate", "--period", "2023-05")
    assert result.exit_code == 1 and "签名密钥与本办公桌下发模板时所用的不同" in result.output
    assert "程序内部错误" not in result.output
    assert snapshot(may) == before


# -- history ------------------------------------------------------------------------------------------

def first_run(may):
    may.drop(may.filled("县发改局"), "a.xlsx")
    return consolidate(*objects(may.root, "specs/shengsi", "2023-05"))


def test_ledger_is_backed_up_before_each_run_five_kept(may):
    first_run(may)
    for _ in range(6):
        consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    backups = sorted((may.root / "consolidated/shengsi/备份").glob("ledger-*.sqlite"))
    assert len(backups) == 5
    db = sqlite3.connect(backups[-1])
    assert db.execute("SELECT COUNT(*) FROM standing WHERE unit='县发改局'").fetchone()[0] > 0
    db.close()


def break_ledger(path, how):
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:3000])
    elif how == "garbage":
        path.write_bytes(b"not a database" * 300)
    elif how == "missing":
        path.unlink()
    elif how == "tables-dropped":
        db = sqlite3.connect(path)
        db.execute("DROP TABLE standing")
        db.execute("DROP TABLE files")
        db.commit()
        db.close()


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "missing", "tables-dropped"])
def test_a_broken_ledger_is_refused_naming_the_backup(may, how):
    first_run(may)
    consolidate(*objects(may.root, "specs/shengsi", "2023-05"))              # a backup of a good ledger exists now
    ledger = may.root / "consolidated/shengsi/ledger.sqlite"
    for extra in ("-wal", "-shm"):
        ledger.with_name(ledger.name + extra).unlink(missing_ok=True)
    break_ledger(ledger, how)
    before = snapshot(may)
    result = cli(may, "consolidate", "--period", "2023-05")
    assert result.exit_code == 1, result.output
    newest = sorted((may.root / "consolidated/shengsi/备份").glob("ledger-*.sqlite"))[-1]
    assert str(newest) in result.output and "程序内部错误" not in result.output
    assert snapshot(may) == before
    # restoring the named backup is all it takes
    newest_copy = newest.read_bytes()
    ledger.write_bytes(newest_copy)
    again = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert again["accepted"] == ["县发改局"]


@pytest.mark.parametrize("inbox_state", ["empty", "missing"])
def test_an_empty_inbox_never_wipes_a_period_without_allow_empty(may, inbox_state):
    import shutil
    first_run(may)
    inbox = may.root / "inbox"
    shutil.rmtree(inbox)
    if inbox_state == "empty":
        inbox.mkdir()
        (inbox / "README.md").write_text("# inbox/\n", encoding="utf-8")
    before = snapshot(may)
    result = cli(may, "consolidate", "--period", "2023-05")
    assert result.exit_code == 1 and "--allow-empty" in result.output
    assert snapshot(may) == before
    result = cli(may, "consolidate", "--period", "2023-05", "--allow-empty")
    assert result.exit_code == 0, result.output


# -- faults end in a clear message, never 程序内部错误 -----------------------------------------------------

def test_disk_full_is_a_clear_message(may, monkeypatch):
    import errno
    may.drop(may.filled("县发改局"), "a.xlsx")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "汇总表.xlsx")

    monkeypatch.setattr("workbook_tool.master.write_master", full)
    result = cli(may, "consolidate", "--period", "2023-05")
    assert result.exit_code == 1 and "磁盘空间不足" in result.output and "程序内部错误" not in result.output


def test_read_only_output_folder_is_a_clear_message(may):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    may.drop(may.filled("县发改局"), "a.xlsx")
    out = may.root / "consolidated/shengsi"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o555)
    try:
        result = cli(may, "consolidate", "--period", "2023-05")
    finally:
        out.chmod(0o755)
    assert result.exit_code == 1 and "权限" in result.output and "程序内部错误" not in result.output


@pytest.mark.parametrize("exc,words", [
    (PermissionError(13, "Permission denied", "consolidated/shengsi/2023-05"), "没有写入权限"),
    (OSError(30, "Read-only file system", "consolidated"), "只读"),
    (sqlite3.OperationalError("database or disk is full"), "磁盘空间不足"),
    (sqlite3.DatabaseError("database disk image is malformed"), "备份"),
])
def test_system_errors_become_clear_messages(may, monkeypatch, exc, words):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr("workbook_tool.consolidate.consolidate", fail)
    result = cli(may, "consolidate", "--period", "2023-05")
    assert result.exit_code == 1 and words in result.output and "程序内部错误" not in result.output


# -- YAML: alias bombs and huge documents are refused before they are built -----------------------------

BILLION_LAUGHS = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)]) + "\n"


def test_yaml_alias_bomb_is_refused_quickly(desk):
    import time
    county = desk / "specs/shengsi/county.yaml"
    county.write_text(county.read_text(encoding="utf-8") + "bomb:\n" + "".join(
        "  " + line + "\n" for line in BILLION_LAUGHS.splitlines()), encoding="utf-8")
    started = time.monotonic()
    result = check_spec(desk)
    assert time.monotonic() - started < 10
    assert result.exit_code == 1 and "别名" in result.output and "程序内部错误" not in result.output


def test_huge_yaml_is_refused_before_reading(desk):
    with open(desk / "specs/shengsi/projects/zz-huge.yaml", "wb") as fh:
        fh.truncate(64 * 1024 * 1024)                 # sparse: refused by its size, never read
    result = check_spec(desk)
    assert result.exit_code == 1 and "zz-huge.yaml:1:" in result.output and "超过 4 MB" in result.output


def test_mail_yaml_bomb_is_a_clear_message(may):
    (may.root / "specs/shengsi/mail.yaml").write_text(BILLION_LAUGHS, encoding="utf-8")
    result = cli(may, "generate", "--period", "2023-05", "--units", "县发改局", "--mail")
    assert result.exit_code == 1 and "别名" in result.output and "程序内部错误" not in result.output


# -- fuzzing: a short structural run (the long one is benchmarks/fuzz.py --seconds 60 --structural) ------

def test_structural_fuzz_finds_no_escape():
    fuzz = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz.py"
    proc = subprocess.run([sys.executable, str(fuzz), "--seconds", "6", "--seed", "3", "--structural"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failures: 0" in proc.stdout
    assert int(proc.stdout.split(" mutants")[0]) >= 20


def test_every_case_in_one_inbox_under_a_3_gb_cap(may, tmp_path):
    """Done when: every hostile case plus genuine returns in one inbox; exit 0 under a 3 GB address-space
    cap, every genuine return accepted, every hostile file named."""
    import resource
    inbox = may.root / "inbox"
    hostile = inbox / "hostile"
    hostile.mkdir(parents=True)
    for case_id, make, _code in CALAMINE_KILLERS:
        (hostile / f"{case_id}.xlsx").write_bytes(make(may))
    os.mkfifo(hostile / "pipe.xlsx")
    os.symlink("/dev/zero", hostile / "zero.xlsx")
    with open(hostile / "sparse.xlsx", "wb") as fh:
        fh.truncate(8 * 1024 ** 3)
    inner = zip_of({f"{i}.txt": b"x" for i in range(3000)}, zipfile.ZIP_STORED)
    (hostile / "zip-of-zips.zip").write_bytes(zip_of({f"inner{i}.zip": inner for i in range(5)}))
    zeros = b"\0" * (30 * 1024 ** 2)
    (hostile / "zeros.zip").write_bytes(zip_of({f"z{i}.xlsx": zeros for i in range(8)}))
    genuine = ["县发改局", "县经信局", "县财政局"]
    for unit in genuine:
        may.drop(may.filled(unit), f"{unit}.xlsx")
    raw = "县教育局".encode("gbk") + b".xlsx"
    may.filled("县教育局").save(os.fsdecode(os.path.join(os.fsencode(inbox), raw)))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 ** 3, resource.RLIM_INFINITY))

    proc = subprocess.run([sys.executable, "-m", "workbook_tool.cli", "consolidate", "--root", str(may.root),
                           "--spec", "specs/shengsi", "--period", "2023-05", "--jobs", "2", "--json"],
                          capture_output=True, text=True, timeout=600, preexec_fn=cap)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert sorted(summary["accepted"]) == sorted(genuine + ["县教育局"])
    named = {f["path"].split("!")[0] for f in summary["files"] if f["verdict"] == "rejected"}
    expected = {f"hostile/{c[0]}.xlsx" for c in CALAMINE_KILLERS} | {
        "hostile/pipe.xlsx", "hostile/zero.xlsx", "hostile/sparse.xlsx", "hostile/zip-of-zips.zip",
        "hostile/zeros.zip"}
    assert expected <= named
