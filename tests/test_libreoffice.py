"""End-to-end through a real LibreOffice (headless, the Debian package): a unit fills the template
in LibreOffice, saves as xlsx / xls / ods, and the office consolidates."""
import json
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from xlsxwriter.utility import xl_rowcol_to_cell

from workbook_tool import demo
from workbook_tool.consolidate import consolidate
from workbook_tool.tables import TABLES
from workbook_tool.carry import unit_rows
from workbook_tool.template import FIRST_DATA_ROW

from conftest import ON_TIME, objects

pytestmark = pytest.mark.libreoffice
DRIVER = Path(__file__).parent / "e2e" / "lo_driver.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def _lo_available():
    if not shutil.which("soffice") or not Path(SYSTEM_PYTHON).exists():
        return False
    return subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], capture_output=True).returncode == 0


if not _lo_available():
    if __import__("os").environ.get("CI"):
        raise RuntimeError("LibreOffice and python3-uno are required in CI (.ci/run installs them)")
    pytest.skip("LibreOffice with python3-uno is not installed", allow_module_level=True)


def drive(tmp, instructions):
    """Run the UNO driver under the system Python (python3-uno binds it, not a venv)."""
    path, result = tmp / "instructions.json", tmp / "result.json"
    path.write_text(json.dumps(instructions, ensure_ascii=False), encoding="utf-8")
    proc = subprocess.run([SYSTEM_PYTHON, str(DRIVER), str(path), str(result)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(result.read_text(encoding="utf-8"))


def cell_of(table, i, column):
    return xl_rowcol_to_cell(FIRST_DATA_ROW + i, TABLES[table].index(column))


def plan_edits(spec, unit, period, seed):
    """What a careful unit types: every required input of its rows, plus one new project."""
    rows = unit_rows(spec, unit, period)
    edits, expected = [], {}
    for i, row in enumerate(rows["indicators"]):
        value = round((row.values["annual"] or 1) * (0.2 + 0.07 * ((i + seed) % 7)), 2)
        edits.append(["主要指标", cell_of("indicators", i, "actual"), f"{value:g}"])
        edits.append(["主要指标", cell_of("indicators", i, "note"), f"第{i + 1}项：按计划推进"])
        expected[("indicators", row.key)] = value
    for i, row in enumerate(rows["tasks"]):
        edits.append(["重点任务", cell_of("tasks", i, "progress"), "'=SUM(A1) 已开工"])  # typed as text
        edits.append(["重点任务", cell_of("tasks", i, "state"), "正常推进"])
        expected[("tasks", row.key)] = "正常推进"
    if "projects" in rows:
        i = next(i for i, r in enumerate(rows["projects"]) if r.kind == "blank")
        for column, text in (("name", f"{unit}新建项目"), ("total", "12000"), ("plan", "3000"),
                             ("invested", "1250.5"), ("state", "在建"), ("started", "2023-03-15")):
            edits.append(["重大项目", cell_of("projects", i, column), text])
        expected[("projects", rows["projects"][i].key)] = 1250.5
    return edits, expected


@pytest.fixture(scope="module")
def lo_round(tmp_path_factory, _may_desk):
    """Three units fill their templates in LibreOffice; saved as xlsx, xls and ods into the inbox."""
    from workbook_tool.spec import load_spec
    from workbook_tool.desk import Period
    root = tmp_path_factory.mktemp("lo") / "desk"
    shutil.copytree(_may_desk, root)
    spec = load_spec(root / "specs/shengsi")
    period = Period(2023, 5)
    work = root.parent / "work"
    work.mkdir()
    plans = {}
    for seed, (unit, fmt) in enumerate((("县发改局", "xlsx"), ("县经信局", "xls"), ("县教育局", "ods"))):
        edits, expected = plan_edits(spec, unit, period, seed)
        src = work / f"{unit}-template.xlsx"
        shutil.copyfile(root / "templates/shengsi/2023-05" / f"{unit}.xlsx", src)
        out = {"xlsx": str(work / f"{unit}.xlsx")}
        if fmt != "xlsx":
            out[fmt] = str(work / f"{unit}.{fmt}")
        result = drive(work, {
            "template": str(src), "edits": edits,
            # one refused attempt per session: LibreOffice 7.4 headless crashes on a second one
            "locked": [["主要指标", cell_of("indicators", 0, ("name", "annual", "measure")[seed]), "1"]],
            "read": [["主要指标", cell_of("indicators", i, c)] for i in range(3) for c in ("rate", "light")],
            "save": out,
        })
        dest = root / "inbox" / f"随便-{seed}.{fmt}"
        shutil.copyfile(out[fmt], dest)
        demo.set_received(dest, ON_TIME)
        plans[unit] = (fmt, expected, result)
    summary = consolidate(*objects(root, "specs/shengsi", "2023-05"))
    return root, spec, plans, summary


def test_locked_cells_refuse_typing(lo_round):
    _root, _spec, plans, _summary = lo_round
    for unit, (_fmt, _expected, result) in plans.items():
        assert result["locked_refused"] == [True], unit
        assert all(result["protected"].values()), unit


def test_returns_saved_by_libreoffice_are_identified_and_accepted(lo_round):
    _root, spec, plans, summary = lo_round
    assert sorted(summary["accepted"]) == sorted(plans)
    assert summary["rejected"] == []
    by_path = {f["path"]: f for f in summary["files"]}
    assert {p.rsplit(".", 1)[1] for p in by_path} == {"xlsx", "xls", "ods"}
    assert all(f["verdict"] == "accepted" for f in by_path.values())


def test_master_holds_exactly_the_typed_values(lo_round):
    _root, spec, plans, summary = lo_round
    wb = openpyxl.load_workbook(summary["master"])

    def table_rows(sheet):
        ws = wb[sheet]
        headers = [c.value for c in ws[2]]
        return [dict(zip(headers, [c.value for c in r])) for r in ws.iter_rows(min_row=3)]

    indicators = table_rows("主要指标")
    for unit, (_fmt, expected, _result) in plans.items():
        rows = unit_rows(spec, unit, __import__("workbook_tool.desk", fromlist=["Period"]).Period(2023, 5))
        for row in rows["indicators"]:
            got = [r for r in indicators if r["填报单位"] == unit and r["指标名称"] == row.values["name"]]
            assert [g["本年累计完成"] for g in got] == [expected[("indicators", row.key)]], (unit, row.key)
        tasks = [r for r in table_rows("重点任务") if r["填报单位"] == unit]
        assert tasks and {(t["状态"], t["进展情况"]) for t in tasks} == {("正常推进", "'=SUM(A1) 已开工")}, unit
        project = [r for r in table_rows("重大项目") if r["填报单位"] == unit]
        assert [p["本年累计完成投资(万元)"] for p in project] == [1250.5]


def test_libreoffice_recalculation_agrees_with_ours(lo_round):
    _root, spec, plans, summary = lo_round
    ws = openpyxl.load_workbook(summary["master"])["主要指标"]
    headers = [c.value for c in ws[2]]
    ours = {}
    for r in ws.iter_rows(min_row=3, values_only=True):
        rec = dict(zip(headers, r))
        ours.setdefault((rec["填报单位"], rec["指标名称"]), (rec["完成率"], rec["亮灯"]))
    from workbook_tool.desk import Period
    for unit, (_fmt, _expected, result) in plans.items():
        rows = unit_rows(spec, unit, Period(2023, 5))["indicators"]
        for i in range(min(3, len(rows))):
            lo_rate = result["read"][f"主要指标!{cell_of('indicators', i, 'rate')}"]["value"]
            lo_light = result["read"][f"主要指标!{cell_of('indicators', i, 'light')}"]["string"]
            rate, light = ours[(unit, rows[i].values["name"])]
            assert lo_rate == pytest.approx(rate, rel=1e-9), (unit, i)
            assert lo_light == light, (unit, i)


def test_master_and_feedback_export_to_pdf(lo_round, tmp_path):
    root, spec, plans, summary = lo_round
    # a rejected return to get a feedback workbook
    wb = openpyxl.load_workbook(root / "templates/shengsi/2023-05/县财政局.xlsx")
    demo.fill_correctly(wb, __import__("workbook_tool.desk", fromlist=["Period"]).Period(2023, 5),
                        __import__("random").Random(1))
    first_task = demo.rows_of(wb, "tasks")[0][0]
    demo.set_cell(wb, "tasks", first_task, "state", "已完成")
    path = root / "inbox" / "财政.xlsx"
    wb.save(path)
    demo.set_received(path, ON_TIME)
    again = consolidate(*objects(root, "specs/shengsi", "2023-05"))
    assert again["rejected"] == ["县财政局"]
    for source in (Path(again["master"]), Path(again["feedback"][0])):
        pdf = demo.convert(source, "pdf", tmp_path)
        assert pdf.exists() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000


def test_template_survives_a_libreoffice_resave(_may_desk, tmp_path):
    src = tmp_path / "t.xlsx"
    shutil.copyfile(_may_desk / "templates/shengsi/2023-05/县发改局.xlsx", src)
    pdf = demo.convert(src, "pdf", tmp_path / "pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    out = tmp_path / "resaved"
    out.mkdir()
    resaved = demo.convert(src, "xlsx:Calc MS Excel 2007 XML", out)
    wb = openpyxl.load_workbook(resaved)
    original = openpyxl.load_workbook(src)
    for name in ("主要指标", "重点任务", "重大项目", "问题销号"):
        assert wb[name].protection.sheet, name
        assert len(wb[name].data_validations.dataValidation) >= 1, name
        before = sum(len(list(dv.sqref.ranges)) for dv in original[name].data_validations.dataValidation)
        after_cells = {c for dv in wb[name].data_validations.dataValidation for r in dv.sqref.ranges
                       for c in _cells(r)}
        before_cells = {c for dv in original[name].data_validations.dataValidation for r in dv.sqref.ranges
                        for c in _cells(r)}
        assert before and before_cells <= after_cells, name
    # LibreOffice keeps the metadata sheet (hidden, maybe not very hidden): identification by content
    assert wb["_meta"].sheet_state in ("hidden", "veryHidden")


def _cells(rng):
    return {(r, c) for r in range(rng.min_row, rng.max_row + 1) for c in range(rng.min_col, rng.max_col + 1)}


def test_a_password_protected_return_is_refused_with_a_clear_reason(_may_desk, tmp_path):
    from workbook_tool.reader import read_return
    src = tmp_path / "t.xlsx"
    shutil.copyfile(_may_desk / "templates/shengsi/2023-05/县发改局.xlsx", src)
    locked = tmp_path / "locked.xls"
    drive(tmp_path, {"template": str(src), "edits": [["主要指标", "G4", "12"]], "save": {"xls-password": str(locked)}})
    data = locked.read_bytes()
    assert data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"        # an OLE2 container
    result = read_return(data)
    assert result.fatal and [f.code for f in result.findings] == ["F002"]
    assert "密码" in result.findings[0].message
