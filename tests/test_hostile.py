"""Hostile and broken returns: each case is refused or contained, with its rule code, and never
takes the run down."""
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.checks import Bad, normalize_date, normalize_enum, normalize_number
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import DeskError
from workbook_tool.reader import read_return
from workbook_tool.workflow import generate_templates

from conftest import ON_TIME, objects


def rezip(data: bytes, replace=None, add=None) -> bytes:
    """A copy of a zip with some parts replaced or added."""
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


def with_doctype(doctype: bytes):
    def insert(body: bytes) -> bytes:
        if body.startswith(b"<?xml"):
            end = body.index(b"?>") + 2
            return body[:end] + doctype + body[end:]
        return doctype + body
    return insert


def unsupported_version(data: bytes) -> bytes:
    """A zip whose central directory asks for a zip version Python cannot extract (found by fuzzing)."""
    at = data.index(b"PK\x01\x02")
    return data[:at + 6] + b"\xff\x00" + data[at + 8:]


def filled_bytes(may, unit="县发改局"):
    buf = io.BytesIO()
    may.filled(unit).save(buf)
    return buf.getvalue()


def docx_bytes():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


NOT_WORKBOOKS = [
    ("empty", lambda may: b"", "F001"),
    ("pdf", lambda may: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "F001"),
    ("docx-renamed", lambda may: docx_bytes(), "F001"),
    ("truncated-xlsx", lambda may: filled_bytes(may)[:5000], "F001"),
    ("unsupported-zip-version", lambda may: unsupported_version(filled_bytes(may)), "F001"),
    ("text", lambda may: "单位,数值\n县发改局,12\n".encode("gbk"), "F001"),
    ("encrypted-ole", lambda may: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500
     + "EncryptedPackage".encode("utf-16-le") + b"\0" * 500, "F002"),
    ("plain-xls-garbage", lambda may: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 3000, "F001"),
    ("doctype-entity", lambda may: rezip(filled_bytes(may), replace={
        "xl/styles.xml": with_doctype(b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>')}),
     "F011"),
    ("external-entity", lambda may: rezip(filled_bytes(may), replace={
        "xl/workbook.xml": with_doctype(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')}), "F011"),
    ("huge-cell-reference", lambda may: rezip(filled_bytes(may), replace={
        "xl/worksheets/sheet2.xml": lambda b: b.replace(
            b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>')}), "F010"),
    ("16384-columns", lambda may: rezip(filled_bytes(may), replace={
        "xl/worksheets/sheet2.xml": lambda b: re.sub(rb'<dimension ref="A1:[A-Z]+', b'<dimension ref="A1:XFD', b,
                                                     count=1)}),
     "F010"),
    ("over-50-MB", lambda may: b"PK\x03\x04" + b"\0" * (51 * 1024 * 1024), "F010"),
    ("zip-bomb", lambda may: rezip(filled_bytes(may), add={"xl/media/image1.png": b"\0" * (210 * 1024 * 1024)}),
     "F010"),
]


@pytest.mark.parametrize("case_id,make,code", NOT_WORKBOOKS, ids=[c[0] for c in NOT_WORKBOOKS])
def test_broken_and_hostile_files_are_refused(may, case_id, make, code):
    result = read_return(make(may))
    assert result.fatal
    assert [f.code for f in result.findings] == [code]
    assert result.findings[0].message and "{" not in result.findings[0].message


def test_a_bad_file_never_takes_the_run_down(may):
    cheap = [c for c in NOT_WORKBOOKS if c[0] not in ("zip-bomb", "over-50-MB")]   # slow to build
    for case_id, make, _code in cheap:
        path = may.root / "inbox" / f"bad-{case_id}.xlsx"
        path.write_bytes(make(may))
    may.drop(may.filled("县发改局"), "good.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"), jobs=2)
    assert summary["accepted"] == ["县发改局"]
    bad = [f for f in summary["files"] if f["path"].startswith("bad-")]
    assert len(bad) == len(cheap)
    assert all(f["verdict"] == "rejected" and f["unit"] is None for f in bad)


def test_huge_cell_reference_in_a_child_process_does_not_abort(may, tmp_path):
    """python-calamine 0.9 aborts the process on this file; the reader must refuse it first."""
    path = tmp_path / "xfd.xlsx"
    make = next(m for case_id, m, _c in NOT_WORKBOOKS if case_id == "huge-cell-reference")
    path.write_bytes(make(may))
    code = ("import sys; from workbook_tool.reader import read_return; "
            "r = read_return(open(sys.argv[1], 'rb').read()); print([f.code for f in r.findings])")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "F010" in proc.stdout


def test_macro_workbook_is_read_for_values_with_a_warning(may, tmp_path):
    data = rezip(filled_bytes(may), add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"})
    path = may.root / "inbox" / "renamed.xlsx"        # an .xlsm renamed .xlsx: sniffed, not trusted
    path.write_bytes(data)
    demo.set_received(path, ON_TIME)
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["files"][0]["codes"] == ["F009"] and summary["accepted"] == ["县发改局"]
    with zipfile.ZipFile(summary["master"]) as zf:
        assert not [n for n in zf.namelist() if "vba" in n.lower()]


def test_external_links_are_flagged(may):
    data = rezip(filled_bytes(may), add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"})
    path = may.root / "inbox" / "links.xlsx"
    path.write_bytes(data)
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["files"][0]["codes"] == ["F012"]


@pytest.mark.parametrize("text", ["=1+1", "+86-580-1234567", "-5 万元", "@SUM(A1)", "\t=cmd|' /C calc'!A0",
                                  '=HYPERLINK("http://evil","点我")'])
def test_formula_like_unit_text_is_written_as_text(may, text):
    wb = may.filled("县发改局")
    demo.set_cell(wb, "tasks", "01-T01", "progress", text)
    may.drop(wb, "a.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["accepted"] == ["县发改局"]
    with zipfile.ZipFile(summary["master"]) as zf:
        sheets = b"".join(zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>1+1</f>" not in sheets and b"HYPERLINK" not in sheets and b"cmd|" not in sheets
    tasks = openpyxl.load_workbook(summary["master"])["重点任务"]
    values = [c.value for row in tasks.iter_rows(min_row=3) for c in row]
    assert text in values


def test_metadata_copied_from_another_units_template(may):
    victim = openpyxl.load_workbook(may.template("县经信局"))
    wb = may.filled("县发改局")
    meta = wb["_meta"]
    for r, row in enumerate(victim["_meta"].iter_rows(values_only=True), start=1):
        for c, value in enumerate(row, start=1):
            meta.cell(r, c, value)
    may.drop(wb, "pretend.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    entry = summary["files"][0]
    assert entry["unit"] == "县经信局" and entry["verdict"] == "rejected"
    assert {"S003", "S004"} & set(entry["codes"])
    assert "县经信局" not in summary["accepted"]


def test_template_of_another_county_is_skipped(may, yunhe_desk):
    generate_templates(*objects(yunhe_desk, "specs/yunhe", "2023-05"), units=["县发改局"])
    may.drop_file(yunhe_desk / "templates/yunhe/2023-05/县发改局.xlsx", "yunhe.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    # another desk's key: not ours at all
    assert summary["files"][0]["codes"] == ["F004"]


def test_forwarded_template_second_sender_is_refused(may, tmp_path):
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    may.filled("县发改局").save(first)
    may.filled("县发改局").save(second)
    demo.mail_into(may.root / "inbox" / "1.eml", first, "fgj@shengsi.example", ON_TIME)
    demo.mail_into(may.root / "inbox" / "2.eml", second, "someone@other.example", ON_TIME)
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    verdicts = {f["path"]: (f["verdict"], f["codes"]) for f in summary["files"]}
    assert verdicts["1.eml!a.xlsx"] == ("accepted", [])
    assert verdicts["2.eml!b.xlsx"] == ("rejected", ["F013"])
    # and on a later run the first sender is remembered from the ledger
    (may.root / "inbox" / "1.eml").unlink()
    again = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert again["files"][0]["codes"] == ["F013"]


def test_two_runs_at_once_get_a_clear_message(may):
    from workbook_tool.consolidate import _RunLock      # (across processes: tests/test_portable.py)
    with _RunLock(may.root / "consolidated/shengsi/.lock"):
        with pytest.raises(DeskError, match="另一个汇总正在运行"):
            consolidate(*objects(may.root, "specs/shengsi", "2023-05"))


@pytest.mark.parametrize("point", ["staged", "retired", "committed", "swapped"])
def test_a_kill_at_any_publish_step_leaves_outputs_and_ledger_all_old_or_all_new(may, point):
    may.drop(may.filled("县发改局"), "a.xlsx")
    first = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    before = Path(first["master"]).read_bytes()
    may.drop(may.filled("县经信局"), "b.xlsx")
    env = {**os.environ, "WORKBOOK_TOOL_FAULT": point}
    proc = subprocess.run([sys.executable, "-m", "workbook_tool.cli", "consolidate", "--root", str(may.root),
                           "--spec", "specs/shengsi", "--period", "2023-05"], env=env, capture_output=True,
                          timeout=120)
    assert proc.returncode == 70                          # killed mid-run
    # the next command that looks at the period finishes or undoes the interrupted publish
    status = CliRunner().invoke(main, ["status", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-05"])
    assert status.exit_code == 0, status.output
    out = may.root / "consolidated/shengsi/2023-05"
    summary = json.loads((out / "汇总结果.json").read_text(encoding="utf-8"))
    db = sqlite3.connect(may.root / "consolidated/shengsi/ledger.sqlite")
    standing = {u for (u,) in db.execute("SELECT unit FROM standing WHERE period='2023-05'")}
    db.close()
    new = point in ("committed", "swapped")
    assert standing == set(summary["accepted"]) == ({"县发改局", "县经信局"} if new else {"县发改局"})
    assert (Path(first["master"]).read_bytes() == before) is not new
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".2023-05")]
    assert leftovers == [] and not (out / ".run").exists()
    again = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))      # and the next run simply works
    assert again["accepted"] == ["县发改局", "县经信局"]


# -- properties: normalisation never crashes and never silently changes a number ------------------

@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=30), st.floats(allow_nan=True), st.integers(), st.booleans(), st.none(),
                 st.dates(), st.datetimes()), st.sampled_from(["亿元", "%", "个", ""]))
def test_normalize_number_never_crashes(raw, measure):
    try:
        value, note = normalize_number(raw, measure)
    except Bad as bad:
        assert bad.code == "V001"
        return
    assert isinstance(value, float) and value == value
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        assert value == float(raw) and note is None


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_a_typed_number_is_read_exactly(x):
    text = repr(x)
    value, note = normalize_number(text, "亿元")
    assert value == float(text) and note is None


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_thousands_separators_keep_the_value(d):
    text = f"{d:,.2f}"
    value, _note = normalize_number(text, "万元")
    assert value == float(f"{d:.2f}")


@given(st.one_of(st.text(max_size=20), st.integers(), st.floats(), st.dates()))
def test_normalize_date_and_enum_never_crash(raw):
    for fn, args in ((normalize_date, ()), (normalize_enum, (("未启动", "已完成"),))):
        try:
            fn(raw, *args)
        except Bad:
            pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_bytes_never_raise(may, data):
    """A small fuzz: random byte edits of a filled template are read or refused, never raise."""
    if not hasattr(may, "fuzz_seed"):
        may.fuzz_seed = filled_bytes(may)     # one filled return per test, mutated per example
    original = bytearray(may.fuzz_seed)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(original) - 1))
        original[i] = data.draw(st.integers(0, 255))
    result = read_return(bytes(original))
    assert result.fatal or result.meta is not None


def test_size_limits_come_from_the_spec(may):
    county = may.root / "specs/shengsi/county.yaml"
    county.write_text(county.read_text(encoding="utf-8").replace(
        "deadline_day: 5", "deadline_day: 5\nlimits:\n  max_file_mb: 0.01"), encoding="utf-8")
    may.drop(may.filled("县发改局"), "a.xlsx")            # about 25 KB: over a 10 KB limit
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["files"][0]["codes"] == ["F010"]


def test_macro_sheets_are_flagged(may):
    data = rezip(filled_bytes(may), add={"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"})
    result = read_return(data)
    assert [f.code for f in result.findings] == ["F012"] and "macrosheets" in result.findings[0].message
