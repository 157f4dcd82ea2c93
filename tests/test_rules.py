"""Every rule code of the catalogue is produced by at least one case, through the real pipeline.

The cases live in tables (add a row to add a case):
- tests/test_checks.py ``CASES`` and ``STRUCTURE``: one filled return, one mistake (read, identify, check).
- ``FILE_CASES`` below: a whole file that is refused, skipped or flagged (read, identify).
- ``RUN_CASES`` below: rules that need the ledger (earlier periods, earlier runs, e-mail senders):
  a story drops returns into the inbox and runs the real commands (generate, consolidate); the
  finding is read back from the master's 校验问题 sheet.

``test_every_rule_has_a_case`` fails when a rule of ``findings.RULES`` has no case, so a new rule
code cannot be added without a test that produces it, and deleting where a rule is produced
breaks the case that pins it.
"""
import datetime as dt
import io
import json
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool import demo, signing
from workbook_tool.checks import identify
from workbook_tool.cli import main
from workbook_tool.desk import Period
from workbook_tool.findings import RULES
from workbook_tool.reader import read_return

from test_annual_plan import PLAN_CASES
from conftest import ON_TIME, Office
from test_checks import CASES, STRUCTURE

U = "县发改局"
SPEC = "specs/shengsi"
JUNE_ON_TIME = dt.datetime(2023, 7, 3, 9, 30)


# -- helpers: build crafted files from a filled template -------------------------------------

def xlsx_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(data: bytes, replace=None, add=None) -> bytes:
    """A copy of a zip with some parts replaced (name → function of the old bytes) or added."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if replace and info.filename in replace:
                body = replace[info.filename](body)
            zout.writestr(info.filename, body)
        for name, body in (add or {}).items():
            zout.writestr(name, body)
    return out.getvalue()


def filled(may, unit=U) -> bytes:
    return xlsx_bytes(may.filled(unit))


def with_meta(may, key, value) -> bytes:
    """A filled return whose metadata entry ``key`` was edited (by hand, in the very hidden sheet)."""
    wb = may.filled(U)
    for row in wb[signing.META_SHEET].iter_rows(min_row=2):
        if row[0].value == key:
            row[1].value = value
            return xlsx_bytes(wb)
    raise LookupError(f"no metadata entry {key!r}")


def resigned(may, **changes) -> bytes:
    """A filled return whose metadata says something else, signed again with the office's own key
    (as the office would have signed it): the signature holds, the content is what is judged."""
    wb = may.filled(U)
    read = read_return(xlsx_bytes(wb))
    meta = {**read.meta, **changes}
    key = signing.load_key(may.root / ".workbook-tool-secret", create=False)
    meta["signature"] = signing.sign(key, meta, read.records)
    for row in wb[signing.META_SHEET].iter_rows(min_row=2):
        if row[0].value in meta:
            row[1].value = meta[row[0].value]
    return xlsx_bytes(wb)


def other_period_template(may) -> bytes:
    generate(may, "2023-04")
    return (may.root / "templates/shengsi/2023-04" / f"{U}.xlsx").read_bytes()


def with_doctype(body: bytes) -> bytes:
    end = body.index(b"?>") + 2 if body.startswith(b"<?xml") else 0
    return body[:end] + b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + body[end:]


def zip_of(parts: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in parts.items():
            zf.writestr(name, body)
    return buf.getvalue()


def flagged_encrypted(data: bytes) -> bytes:
    """The first part marked encrypted in the zip's central directory (a member-level password)."""
    at = data.index(b"PK\x01\x02")
    flags = int.from_bytes(data[at + 8:at + 10], "little") | 1
    return data[:at + 8] + flags.to_bytes(2, "little") + data[at + 10:]


def encrypted_ole() -> bytes:
    """An OLE2 container holding an EncryptedPackage stream: what Excel writes for an open password."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500 + "EncryptedPackage".encode("utf-16-le") + b"\0" * 500


# -- file-level rules: read and identify one file ----------------------------------------------

FILE_CASES = [
    # id, make(may) → bytes, rule code
    ("empty-file", lambda may: b"", "F001"),
    ("pdf", lambda may: b"%PDF-1.7\n1 0 obj\n", "F001"),
    ("zip-not-a-workbook", lambda may: zip_of({"[Content_Types].xml": "<Types/>", "a.txt": "x"}), "F001"),
    ("odt-renamed", lambda may: zip_of({"mimetype": "application/vnd.oasis.opendocument.text",
                                        "content.xml": "<office:document-content/>"}), "F001"),
    ("part-encrypted", lambda may: flagged_encrypted(filled(may)), "F001"),
    ("encrypted", lambda may: encrypted_ole(), "F002"),
    ("own-workbook", lambda may: xlsx_bytes(openpyxl.Workbook()), "F003"),
    ("metadata-edited", lambda may: with_meta(may, "unit", "县经信局"), "F004"),
    ("metadata-damaged", lambda may: with_meta(may, "rows", "999"), "F004"),
    ("format-version", lambda may: with_meta(may, "format", "0"), "F005"),
    ("unit-not-in-spec", lambda may: resigned(may, unit="县已撤并局"), "F003"),
    ("other-period", other_period_template, "F006"),
    ("macro", lambda may: rezip(filled(may), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"}), "F009"),
    ("huge-reference", lambda may: rezip(filled(may), replace={"xl/worksheets/sheet2.xml": lambda b: b.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')}), "F010"),
    ("compression-ratio", lambda may: rezip(filled(may), add={"xl/media/image1.png": b"\0" * 2_000_000}), "F010"),
    ("doctype", lambda may: rezip(filled(may), replace={"xl/workbook.xml": with_doctype}), "F011"),
    ("external-link", lambda may: rezip(filled(may), add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}),
     "F012"),
]


@pytest.mark.parametrize("case_id,make,code", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_file_rule(may, case_id, make, code):
    result = read_return(make(may))
    found = list(result.findings)
    if not result.fatal:
        key = signing.load_key(may.root / ".workbook-tool-secret", create=False)
        found += identify(result, may.spec, may.period, key)[1]
    assert code in [f.code for f in found], [f.code for f in found]
    finding = next(f for f in found if f.code == code)
    assert finding.message and "{" not in finding.message


# -- rules that need the ledger: stories through the real commands -----------------------------

def cli(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def generate(may, period, unit=U):
    cli("generate", "--root", str(may.root), "--spec", SPEC, "--period", period, "--units", unit)
    return Office(may.root, may.spec, Period.parse(period), may.root / "templates/shengsi" / period)


def consolidate(may, period) -> dict:
    result = cli("consolidate", "--root", str(may.root), "--spec", SPEC, "--period", period, "--jobs", "1", "--json")
    return json.loads(result.output)


def master_findings(may, period) -> list:
    """[(code, unit, sheet, cell)] from the master's 校验问题 sheet: every finding of the run."""
    wb = openpyxl.load_workbook(may.root / "consolidated/shengsi" / period / "汇总表.xlsx", read_only=True)
    try:
        rows = list(wb["校验问题"].iter_rows(values_only=True))
    finally:
        wb.close()
    at = next(i for i, r in enumerate(rows) if r and "规则" in r and "单元格" in r)
    header = rows[at]
    cols = [header.index(name) for name in ("规则", "单位", "工作表", "单元格")]
    return [tuple(r[c] or "" for c in cols) for r in rows[at + 1:] if r and r[cols[0]]]


def may_accepted(may, wb):
    """May's return of ``wb`` accepted into the ledger; → June's Office (June's template issued)."""
    may.drop(wb, "2023-05.xlsx")
    assert consolidate(may, "2023-05")["accepted"] == [U]
    return generate(may, "2023-06")


def _went_down(may):
    wb = may.filled(U)
    demo.set_cell(wb, "indicators", "01-I02", "actual", 50)
    june = may_accepted(may, wb)
    wb = june.filled(U)
    cell = demo.set_cell(wb, "indicators", "01-I02", "actual", 40)
    demo.set_cell(wb, "indicators", "01-I02", "note", "统计口径调整")
    may.drop(wb, "2023-06.xlsx", when=JUNE_ON_TIME)
    return "2023-06", "主要指标", cell


def _project_went_down(may):
    wb = may.filled(U)
    key = demo.add_project(wb, "菜园燃气管道工程", 12000, 3000, 1000, may.period)
    june = may_accepted(may, wb)
    wb = june.filled(U)
    cell = demo.set_cell(wb, "projects", key, "invested", 500)
    may.drop(wb, "2023-06.xlsx", when=JUNE_ON_TIME)
    return "2023-06", "重大项目", cell


def _jumped(may):
    wb = may.filled(U)
    demo.set_cell(wb, "indicators", "01-I02", "actual", 10)
    june = may_accepted(may, wb)
    wb = june.filled(U)
    cell = demo.set_cell(wb, "indicators", "01-I02", "actual", 100)      # ×10 in a month: 序时 says ×1.2
    may.drop(wb, "2023-06.xlsx", when=JUNE_ON_TIME)
    return "2023-06", "主要指标", cell


def _project_jumped(may):
    wb = may.filled(U)
    key = demo.add_project(wb, "菜园燃气管道工程", 12000, 3000, 100, may.period)
    june = may_accepted(may, wb)
    wb = june.filled(U)
    cell = demo.set_cell(wb, "projects", key, "invested", 2000)        # within plan and total, ×20 in a month
    may.drop(wb, "2023-06.xlsx", when=JUNE_ON_TIME)
    return "2023-06", "重大项目", cell


def _open_problem_deleted(may):
    wb = may.filled(U)
    key = demo.add_problem(wb, "用地指标不足", may.period)
    june = may_accepted(may, wb)
    wb = june.filled(U)
    ws = wb["问题销号"]
    ws.delete_rows(demo.row_index(ws, demo.TABLES["problems"])[key])
    may.drop(wb, "2023-06.xlsx", when=JUNE_ON_TIME)
    return "2023-06", "问题销号", None


def _resubmitted_with_a_change(may):
    first = may.drop(may.filled(U), "first.xlsx", when=dt.datetime(2023, 6, 2, 9))
    consolidate(may, "2023-05")
    wb = openpyxl.load_workbook(first)
    cell = demo.set_cell(wb, "indicators", "01-I02", "actual", 77.5)
    may.drop(wb, "second.xlsx", when=dt.datetime(2023, 6, 3, 9))
    return "2023-05", "主要指标", cell


def _returned_twice(may):
    may.drop(may.filled(U), "draft.xlsx", when=dt.datetime(2023, 6, 1, 9))
    may.drop(may.filled(U), "final.xlsx", when=dt.datetime(2023, 6, 2, 9))
    return "2023-05", None, None


def _stale_template(may):
    old = may.filled(U)                                  # filled on the template first issued
    spec_file = may.root / "specs/shengsi/projects/01.yaml"
    text = spec_file.read_text(encoding="utf-8")
    changed = text.replace("name: 每年滚动推进重大项目", "name: 每年滚动推进重大项目（修订）", 1)
    assert changed != text, "the story needs a task name to edit in projects/01.yaml"
    spec_file.write_text(changed, encoding="utf-8")
    generate(may, "2023-05")                             # the office re-issues the unit's template
    may.drop(old, "old.xlsx")
    return "2023-05", None, None


def _other_period_in_inbox(may):
    generate(may, "2023-04")
    may.drop_file(may.root / "templates/shengsi/2023-04" / f"{U}.xlsx", "四月/县发改局.xlsx")
    return "2023-05", None, None


def _zip_member_damaged(may):
    """A zip whose member cannot be unpacked (its bytes were damaged on the way)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("进度表.xlsx", filled(may))
    data = bytearray(buf.getvalue())
    data[200] ^= 0xFF                                    # inside the stored member: its CRC no longer holds
    path = may.root / "inbox" / "打包.zip"
    path.write_bytes(bytes(data))
    demo.set_received(path, ON_TIME)
    return "2023-05", None, None


def _forwarded(may):
    first, second = may.root / "a.xlsx", may.root / "b.xlsx"
    may.filled(U).save(first)
    may.filled(U).save(second)
    demo.mail_into(may.root / "inbox" / "1.eml", first, "fgj@shengsi.example", ON_TIME)
    demo.mail_into(may.root / "inbox" / "2.eml", second, "someone@other.example", ON_TIME)
    return "2023-05", None, None


def _reader_crashed(may):
    """python-calamine aborting the process on a hostile file: only that file is refused."""
    may.monkeypatch.setenv("WORKBOOK_TOOL_FAULT", "abort-reading:victim.xlsx")
    may.drop(may.filled(U), "victim.xlsx")
    return "2023-05", None, None


def _link_leaving_the_inbox(may):
    outside = may.root / "outside.xlsx"
    may.filled(U).save(outside)
    (may.root / "inbox").mkdir(exist_ok=True)
    (may.root / "inbox" / "link.xlsx").symlink_to(outside)
    return "2023-05", None, None


def _unreadable_file(may):
    """A file the desk may not read (Windows: locked by another program; POSIX: no permission)."""
    import workbook_tool.inbox as inbox
    may.drop(may.filled(U), "locked.xlsx")
    real_open = inbox.os.open

    def refuse(path, *args, **kw):
        if str(path).endswith("locked.xlsx"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kw)
    may.monkeypatch.setattr(inbox.os, "open", refuse)
    return "2023-05", None, None


RUN_CASES = [
    # id, story(may) → (period to consolidate, sheet, cell: None where the rule names none), rule code
    ("reader-crashed", _reader_crashed, "F014"),
    ("link-leaving-the-inbox", _link_leaving_the_inbox, "F015"),
    ("unreadable-file", _unreadable_file, "F016"),
    ("zip-member-damaged", _zip_member_damaged, "F001"),
    ("other-period-in-inbox", _other_period_in_inbox, "F006"),
    ("stale-template", _stale_template, "F007"),
    ("returned-twice", _returned_twice, "F008"),
    ("forwarded-to-another-sender", _forwarded, "F013"),
    ("indicator-went-down", _went_down, "X004"),
    ("investment-went-down", _project_went_down, "X004"),
    ("indicator-jumped", _jumped, "X005"),
    ("investment-jumped", _project_jumped, "X005"),
    ("open-problem-deleted", _open_problem_deleted, "X007"),
    ("resubmitted-with-a-change", _resubmitted_with_a_change, "X010"),
]


@pytest.mark.parametrize("case_id,story,code", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_run_rule(may, monkeypatch, case_id, story, code):
    may.monkeypatch = monkeypatch
    period, sheet, cell = story(may)
    consolidate(may, period)
    found = master_findings(may, period)
    mine = [f for f in found if f[0] == code and f[1] in (U, "")]     # "": a file no unit is known for
    assert mine, found
    if sheet is not None:
        assert sheet in [f[2] for f in mine], found
    if cell is not None:
        assert (sheet, cell) in [(f[2], f[3]) for f in mine], found


# -- the catalogue is covered ------------------------------------------------------------------

CASE_TABLES = {
    "tests/test_checks.py CASES": [c[2] for c in CASES],
    "tests/test_checks.py STRUCTURE": [c[2] for c in STRUCTURE],
    "tests/test_rules.py FILE_CASES": [c[2] for c in FILE_CASES],
    "tests/test_rules.py RUN_CASES": [c[2] for c in RUN_CASES],
    "tests/test_annual_plan.py PLAN_CASES": [c[2] for c in PLAN_CASES],
}


def covered_codes() -> set:
    return {code for codes in CASE_TABLES.values() for code in codes}


def test_every_rule_has_a_case():
    covered = covered_codes()
    missing = sorted(set(RULES) - covered)
    unknown = sorted(covered - set(RULES))
    where = ", ".join(CASE_TABLES)
    assert not missing, "\n".join(f"rule {code} has no case: add one to a case table ({where})"
                                  for code in missing)
    assert not unknown, f"case tables name codes that are not in findings.RULES: {unknown}"
    assert covered == set(RULES)
