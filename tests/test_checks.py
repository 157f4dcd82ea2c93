"""Every check family as a table of cases: a correctly filled template, one mistake, one finding."""
import datetime as dt

import pytest

from workbook_tool import demo, signing
from workbook_tool.checks import Bad, check_return, identify, normalize_date, normalize_number
from workbook_tool.findings import ERROR, RULES, WARNING
from workbook_tool.reader import read_return
from workbook_tool.tables import TABLES


# -- normalisation --------------------------------------------------------------------------

@pytest.mark.parametrize("raw,measure,value,normalised", [
    (12.5, "亿元", 12.5, False),
    ("12.5", "亿元", 12.5, False),
    ("１２０", "亿元", 120, True),            # full-width digits
    ("1,234.5", "万元", 1234.5, True),        # thousands separator
    ("1，234", "万元", 1234, True),           # full-width comma
    ("85%", "%", 85, True),                   # percent sign on a % indicator
    ("120亿元", "亿元", 120, True),            # the column's own measure typed after the number
    (" 7 ", "个", 7, False),                 # surrounding spaces are harmless
])
def test_numbers_normalised(raw, measure, value, normalised):
    got, note = normalize_number(raw, measure)
    assert got == value
    assert (note is not None) == normalised


@pytest.mark.parametrize("raw,measure", [
    ("约12亿", "亿元"), ("见附件", "亿元"), ("12亿", "万元"), ("85%", "亿元"), ("1.2.3", "个"),
    ("12,34", "个"), ("", "个"), (True, "个"), ("十二", "个"), (float("nan"), "个"), (float("inf"), "个"),
    ("1e999", "个"),
])
def test_numbers_refused(raw, measure):
    with pytest.raises(Bad) as info:
        normalize_number(raw, measure)
    assert info.value.code == "V001"


@pytest.mark.parametrize("raw,iso,normalised", [
    (dt.date(2023, 5, 31), "2023-05-31", False),
    (dt.datetime(2023, 5, 31, 0, 0), "2023-05-31", False),
    ("2023-05-31", "2023-05-31", False),
    ("2023.5.31", "2023-05-31", True),
    ("2023/5/31", "2023-05-31", True),
    ("2023年5月31日", "2023-05-31", True),
    ("２０２３-０５-３１", "2023-05-31", True),
])
def test_dates_normalised(raw, iso, normalised):
    value, note = normalize_date(raw)
    assert value.isoformat() == iso
    assert (note is not None) == normalised


@pytest.mark.parametrize("raw", ["5月底", "2023-02-30", "下月", 45000.0, "2023-5"])
def test_dates_refused(raw):
    with pytest.raises(Bad) as info:
        normalize_date(raw)
    assert info.value.code == "V002"


# -- a return with one mistake → one finding at the right cell --------------------------------

UNIT = "县发改局"
NEW_PROJECT = "new-2023-05-01-1"
NEW_PROBLEM = "new-2023-05-01-1"


def _new_project(wb, invested=900, total=10000, plan=2000):
    demo.set_cell(wb, "projects", NEW_PROJECT, "name", "测试项目")
    demo.set_cell(wb, "projects", NEW_PROJECT, "total", total)
    demo.set_cell(wb, "projects", NEW_PROJECT, "plan", plan)
    demo.set_cell(wb, "projects", NEW_PROJECT, "state", "在建")
    demo.set_cell(wb, "projects", NEW_PROJECT, "started", dt.date(2023, 3, 1))
    return demo.set_cell(wb, "projects", NEW_PROJECT, "invested", invested)


def _new_problem(wb, state="未销号", closed=None):
    demo.set_cell(wb, "problems", NEW_PROBLEM, "description", "用地指标不足")
    demo.set_cell(wb, "problems", NEW_PROBLEM, "raised", dt.date(2023, 5, 10))
    demo.set_cell(wb, "problems", NEW_PROBLEM, "due", dt.date(2023, 12, 31))
    demo.set_cell(wb, "problems", NEW_PROBLEM, "state", state)
    return demo.set_cell(wb, "problems", NEW_PROBLEM, "closed", closed)   # where X002 points


CASES = [
    # id, mutate(wb) → cell, rule code, sheet
    ("text-in-number", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", "约12亿"), "V001", "主要指标"),
    ("see-attachment", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", "见附件"), "V001", "主要指标"),
    ("full-width", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", "６０"), "V006", "主要指标"),
    ("negative", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", -5), "V005", "主要指标"),
    ("missing-actual", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", None), "V004", "主要指标"),
    ("red-without-note", lambda wb: (demo.set_cell(wb, "indicators", "01-I02", "actual", 1),
                                     demo.set_cell(wb, "indicators", "01-I02", "note", None))[1], "X006", "主要指标"),
    ("bad-state", lambda wb: demo.set_cell(wb, "tasks", "01-T01", "state", "进行中"), "V003", "重点任务"),
    ("missing-progress", lambda wb: demo.set_cell(wb, "tasks", "01-T01", "progress", None), "V004", "重点任务"),
    ("done-without-date", lambda wb: (demo.set_cell(wb, "tasks", "01-T01", "state", "已完成"),
                                      demo.set_cell(wb, "tasks", "01-T01", "done", None))[1], "X001", "重点任务"),
    ("done-in-future", lambda wb: (demo.set_cell(wb, "tasks", "01-T01", "state", "已完成"),
                                   demo.set_cell(wb, "tasks", "01-T01", "done", dt.date(2023, 7, 1)))[1],
     "X008", "重点任务"),
    ("dotted-date", lambda wb: (demo.set_cell(wb, "tasks", "01-T01", "state", "已完成"),
                                demo.set_cell(wb, "tasks", "01-T01", "done", "2023.5.20"))[1], "V006", "重点任务"),
    ("unreadable-date", lambda wb: (demo.set_cell(wb, "tasks", "01-T01", "state", "已完成"),
                                    demo.set_cell(wb, "tasks", "01-T01", "done", "五月底"))[1], "V002", "重点任务"),
    ("date-out-of-plan", lambda wb: (demo.set_cell(wb, "tasks", "01-T01", "state", "已完成"),
                                     demo.set_cell(wb, "tasks", "01-T01", "done", dt.date(2019, 1, 1)))[1],
     "V005", "重点任务"),
    ("too-long", lambda wb: demo.set_cell(wb, "tasks", "01-T01", "progress", "长" * 501), "V007", "重点任务"),
    ("investment-over-total", lambda wb: _new_project(wb, invested=12000), "X003", "重大项目"),
    ("investment-jump", lambda wb: _new_project(wb, invested=7000), "X005", "重大项目"),
    ("started-missing", lambda wb: (_new_project(wb),
                                    demo.set_cell(wb, "projects", NEW_PROJECT, "started", None))[1], "X009", "重大项目"),
    ("new-project-incomplete", lambda wb: (_new_project(wb),
                                           demo.set_cell(wb, "projects", NEW_PROJECT, "total", None))[1],
     "V004", "重大项目"),
    ("closed-without-date", lambda wb: _new_problem(wb, state="已销号"), "X002", "问题销号"),
    ("closed-after-period", lambda wb: (_new_problem(wb, state="已销号", closed=dt.date(2023, 6, 2)),
                                        demo.set_cell(wb, "problems", NEW_PROBLEM, "closed",
                                                      dt.date(2023, 6, 2)))[1], "X002", "问题销号"),
    ("raised-in-future", lambda wb: (_new_problem(wb),
                                     demo.set_cell(wb, "problems", NEW_PROBLEM, "raised", dt.date(2023, 6, 10)))[1],
     "X008", "问题销号"),
    ("open-but-closed-in-future", lambda wb: (_new_problem(wb),
                                              demo.set_cell(wb, "problems", NEW_PROBLEM, "closed",
                                                            dt.date(2023, 6, 2)))[1], "X008", "问题销号"),
    ("started-in-future", lambda wb: (_new_project(wb),
                                      demo.set_cell(wb, "projects", NEW_PROJECT, "started", dt.date(2023, 7, 1)))[1],
     "X008", "重大项目"),
    ("locked-cell-changed", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "name", "改过的指标"),
     "S004", "主要指标"),
    ("locked-target-changed", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "annual", 1), "S004", "主要指标"),
]


def _findings_of(office, wb, tmp_path):
    path = tmp_path / "return.xlsx"
    wb.save(path)
    result = read_return(path.read_bytes())
    key = signing.load_key(office.root / ".workbook-tool-secret", create=False)
    assert identify(result, office.spec, office.period, key) == ("ok", [])
    return check_return(result, office.spec, office.period)


def test_correct_return_has_no_findings(may, tmp_path):
    wb = may.filled(UNIT)
    checked = _findings_of(may, wb, tmp_path)
    assert [f.code for f in checked.findings] == []
    assert not checked.has_errors


@pytest.mark.parametrize("case_id,mutate,code,sheet", CASES, ids=[c[0] for c in CASES])
def test_one_mistake_one_finding(may, tmp_path, case_id, mutate, code, sheet):
    wb = may.filled(UNIT)
    cell = mutate(wb)
    checked = _findings_of(may, wb, tmp_path)
    found = [(f.code, f.sheet, f.cell) for f in checked.findings]
    assert (code, sheet, cell) in found, found
    assert checked.has_errors == (RULES[code].severity == ERROR)
    finding = next(f for f in checked.findings if f.code == code)
    assert finding.unit == UNIT and finding.message and "{" not in finding.message


def test_percent_on_a_percent_indicator_is_normalised(may, tmp_path):
    spec = may.spec
    unit, ind = next((u, i) for p in spec.projects for i in p.indicators if i.measure == "%"
                     for u in i.units)
    wb = may.filled(unit)
    cell = demo.set_cell(wb, "indicators", ind.id, "actual", "85%")
    checked = _findings_of(may, wb, tmp_path)
    warning = [f for f in checked.findings if f.cell == cell]
    assert [f.code for f in warning] == ["V006"] and warning[0].severity == WARNING
    row = next(r for r in checked.rows if r.key == ind.id)
    assert row.values["actual"] == 85


STRUCTURE = [
    # id, mutate(wb), rule code, sheet, cell (None: the rule names no cell, or it depends on the spec's rows)
    ("sheet-renamed", lambda wb: setattr(wb["重点任务"], "title", "任务"), "S001", "重点任务", None),
    ("extra-sheet", lambda wb: wb.create_sheet("我的草稿").cell(1, 1, "草稿"), "S002", "我的草稿", None),
    ("row-key-edited", lambda wb: wb["主要指标"].cell(5, len(TABLES["indicators"].columns) + 1, "01-I99"), "S003",
     "主要指标", "A5"),
    ("row-deleted", lambda wb: wb["主要指标"].delete_rows(5), "S003", "主要指标", "A5"),
    ("row-inserted", lambda wb: wb["主要指标"].insert_rows(5), "S003", "主要指标", None),
    ("header-changed", lambda wb: wb["主要指标"].cell(3, 7, "完成值"), "S006", "主要指标", "G3"),
    ("protection-removed", lambda wb: setattr(wb["主要指标"].protection, "sheet", False), "S005", "主要指标", None),
    ("formula-into-other-file", lambda wb: demo.set_cell(wb, "indicators", "01-I02", "actual", "=[1]Sheet1!A1")
     and setattr(wb["主要指标"]["G5"], "data_type", "f"), "V008", "主要指标", "G5"),
    ("row-pasted-below", lambda wb: wb["重点任务"].cell(wb["重点任务"].max_row + 2, 2, "自己加的任务"), "S003", "重点任务",
     None),
]


@pytest.mark.parametrize("case_id,mutate,code,sheet,cell", STRUCTURE, ids=[c[0] for c in STRUCTURE])
def test_structure_tampering_is_found(may, tmp_path, case_id, mutate, code, sheet, cell):
    wb = may.filled(UNIT)
    mutate(wb)
    checked = _findings_of(may, wb, tmp_path)
    found = [(f.code, f.sheet, f.cell) for f in checked.findings]
    assert (code, sheet) in [(c, s) for c, s, _ in found], found
    if cell is not None:
        assert (code, sheet, cell) in found, found


def test_metadata_edited_is_refused(may, tmp_path):
    wb = may.filled(UNIT)
    wb["_meta"].cell(6, 2, "县经信局")          # claim to be another unit
    path = tmp_path / "forged.xlsx"
    wb.save(path)
    result = read_return(path.read_bytes())
    key = signing.load_key(may.root / ".workbook-tool-secret", create=False)
    status, findings = identify(result, may.spec, may.period, key)
    assert status == "reject" and [f.code for f in findings] == ["F004"]


def test_formula_results_are_recomputed_not_trusted(may, tmp_path):
    wb = may.filled(UNIT)
    ws = wb["主要指标"]
    r = demo.row_index(ws, demo.TABLES["indicators"])["01-I02"]
    ws.cell(r, 8).value = 9.99                   # a unit overwrote the 完成率 formula with a number
    demo.set_cell(wb, "indicators", "01-I02", "actual", 60)
    checked = _findings_of(may, wb, tmp_path)
    row = next(r for r in checked.rows if r.key == "01-I02")
    assert row.values["rate"] == pytest.approx(60 / row.values["annual"])
