"""One truth per unit and period: what the master says is what stands (issue 12, one test per point)."""
import datetime as dt

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.bulletin import Quarter, gather, sentences
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import Desk, Period
from workbook_tool.spec import load_spec
from workbook_tool.workflow import generate_templates, status_report

from conftest import ON_TIME, Office, objects

U = "县发改局"


def master_rows(path, sheet):
    ws = openpyxl.load_workbook(path)[sheet]
    headers = [c.value for c in ws[2]]
    return [dict(zip(headers, [c.value for c in row])) for row in ws.iter_rows(min_row=3)]


def unit_rows(summary, sheet, unit=U):
    return [r for r in master_rows(summary["master"], sheet) if r["填报单位"] == unit]


def month(may, text, units=(U,)):
    """Generate ``text``'s templates for ``units``; an Office that fills them."""
    generate_templates(*objects(may.root, "specs/shengsi", text), units=list(units))
    return Office(may.root, may.spec, Period.parse(text), may.root / "templates/shengsi" / text)


def filled(office, unit=U, actual=None):
    wb = office.filled(unit)
    if actual is not None:
        demo.set_cell(wb, "indicators", "01-I02", "actual", actual)
    return wb


def run(may, period, now=None):
    return consolidate(*objects(may.root, "specs/shengsi", period), now=now)


# 1. rows of a file that no longer stands never show as 本期 -----------------------------------

def test_a_removed_accepted_file_no_longer_stands(may):
    may.drop(may.filled("县经信局"), "b.xlsx")
    path = may.drop(may.filled(U), "a.xlsx")
    assert {r["数据期次"] for r in unit_rows(run(may, "2023-05"), "主要指标")} == {"本期"}
    path.unlink()
    again = run(may, "2023-05")
    assert U in again["missing"]
    assert {r["数据期次"] for r in unit_rows(again, "主要指标")} == {"未报"}
    assert all(r["本年累计完成"] is None for r in unit_rows(again, "主要指标"))
    status = {r["单位"]: r["结果"] for r in master_rows(again["master"], "报送情况")}
    assert status[U] == "未报"


def test_a_newer_rejected_return_replaces_the_accepted_one(may):
    may.drop(may.filled(U), "a.xlsx", when=dt.datetime(2023, 6, 2, 9))
    run(may, "2023-05")
    bad = may.filled(U)
    demo.set_cell(bad, "indicators", "01-I02", "actual", "约12亿")
    may.drop(bad, "b.xlsx", when=dt.datetime(2023, 6, 3, 9))
    again = run(may, "2023-05")
    assert again["rejected"] == [U] and again["superseded"] == ["a.xlsx"]
    assert {r["数据期次"] for r in unit_rows(again, "主要指标")} == {"未报"}
    status = {r["单位"]: r["结果"] for r in master_rows(again["master"], "报送情况")}
    assert status[U] == "退回"


def test_a_stale_template_counts_as_rejected_and_gets_the_new_template(may):
    june = month(may, "2023-06")
    may.drop(filled(june), "june.xlsx", when=dt.datetime(2023, 7, 3))
    assert run(may, "2023-06")["accepted"] == [U]
    may.drop(may.filled(U), "may.xlsx", when=dt.datetime(2023, 7, 4))     # May, late: June's carry changes
    run(may, "2023-05")
    month(may, "2023-06")                                                  # June re-issued: the old one is stale
    again = run(may, "2023-06")
    assert again["rejected"] == [U] and U not in again["missing"]
    assert [f["codes"] for f in again["files"] if f["path"] == "june.xlsx"] == [["F007"]]
    assert {r["数据期次"] for r in unit_rows(again, "主要指标")} == {"沿用2023-05"}
    feedback = may.root / "consolidated/shengsi/2023-06/退回" / f"{U}.xlsx"
    assert feedback.read_bytes() == (may.root / "templates/shengsi/2023-06" / f"{U}.xlsx").read_bytes()
    lines = status_report(*objects(may.root, "specs/shengsi", "2023-06"))
    assert any("已被更新的模板取代" in line for line in lines)


# 2. year-to-date values never cross a year; carried rows are judged against this period ----------

def test_a_skipped_january_carries_nothing_year_to_date(may):
    dec = month(may, "2023-12")
    wb = filled(dec, actual=70)
    demo.add_project(wb, "菜园燃气管道工程", 12000, 3000, 2500, dec.period)
    may.drop(wb, "dec.xlsx", when=dt.datetime(2024, 1, 3))
    december = run(may, "2023-12")
    assert december["accepted"] == [U]
    month(may, "2024-01")
    january = run(may, "2024-01")
    rows = unit_rows(january, "主要指标")
    assert {r["数据期次"] for r in rows} == {"沿用2023-12"}
    assert all(r["本年累计完成"] is None and not r["亮灯"] for r in rows)
    invested = [r["本年累计完成投资(万元)"] for r in unit_rows(january, "重大项目")]
    assert invested and all(v is None for v in invested)
    overview = openpyxl.load_workbook(january["master"], data_only=True)["总览"]
    headers = [c.value for c in overview[3]]
    total = [r for r in overview.iter_rows(min_row=4, values_only=True) if r[1] == "合计"][0]
    assert total[headers.index("指标绿灯")] == total[headers.index("指标黄灯")] == total[headers.index("指标红灯")] == 0


def test_carried_rows_within_a_year_take_this_periods_schedule(may):
    nov = month(may, "2023-11")
    may.drop(filled(nov, actual=0.01), "nov.xlsx", when=dt.datetime(2023, 12, 2))
    run(may, "2023-11")
    month(may, "2023-12")
    december = run(may, "2023-12")
    row = [r for r in unit_rows(december, "主要指标") if r["指标名称"] == "年度完成投资"][0]
    assert row["数据期次"] == "沿用2023-11" and row["本年累计完成"] == 0.01
    assert row["序时进度"] == pytest.approx(1.0) and row["亮灯"] == "红"


# 3. a late return of an earlier month: nothing vanishes, nothing is refused for it --------------

def test_a_problem_added_in_a_late_june_return_carries_into_later_months(may):
    june, july = month(may, "2023-06"), month(may, "2023-07")
    may.drop(filled(july), "july.xlsx", when=dt.datetime(2023, 8, 2))
    assert run(may, "2023-07")["accepted"] == [U]
    late = filled(june)
    key = demo.add_problem(late, "码头用地指标不足", june.period)
    may.drop(late, "june.xlsx", when=dt.datetime(2023, 8, 5))
    assert run(may, "2023-06")["accepted"] == [U]
    again = run(may, "2023-07")
    assert again["accepted"] == [U] and again["findings"]["错误"] == 0
    problems = [r for r in unit_rows(again, "问题销号") if r["问题描述"] == "码头用地指标不足"]
    assert [(p["数据期次"], p["销号状态"]) for p in problems] == [("沿用2023-06", "未销号")]
    month(may, "2023-08")
    august = openpyxl.load_workbook(may.root / "templates/shengsi/2023-08" / f"{U}.xlsx")
    assert dict(demo.rows_of(august, "problems"))[key]["description"] == "码头用地指标不足"


# 4. units with no data count as 未报 everywhere ------------------------------------------------------

def test_units_with_no_data_count_as_not_reported_in_overview_and_bulletin(may):
    for unit in may.spec.responsible_units[-6:]:
        may.drop(may.filled(unit), f"{unit}.xlsx")
    summary = run(may, "2023-05")
    assert summary["returned"] == 6
    overview = openpyxl.load_workbook(summary["master"], data_only=True)["总览"]
    headers = [c.value for c in overview[3]]
    rows = [r for r in overview.iter_rows(min_row=4, values_only=True) if r[0] is not None]
    silent = [r for r in rows if r[headers.index("已报单位")] == 0]
    assert silent and all(r[headers.index("指标未报")] > 0 for r in silent)
    total = [r for r in overview.iter_rows(min_row=4, values_only=True) if r[1] == "合计"][0]
    not_reported = total[headers.index("指标未报")]
    assert not_reported > 0 and total[headers.index("已报单位")] >= 6
    data = gather(Desk(may.root), may.spec, Quarter.parse("2023Q2"))
    text = "".join(sentences(may.spec, data))
    assert f"未报{not_reported}项" in text
    status = master_rows(summary["master"], "报送情况")
    assert sum(1 for s in status if s["是否报送"] == "是") == 6


# 5. received time: the e-mail's Date or the desk's first sight, never a file time ------------------

def test_lateness_comes_from_first_sight_not_file_times(may):
    import os
    path = may.root / "inbox" / "a.xlsx"
    may.filled(U).save(path)
    status_report(*objects(may.root, "specs/shengsi", "2023-05"), now=ON_TIME)       # the desk first sees it on time
    os.utime(path, (dt.datetime(2023, 7, 1).timestamp(),) * 2)              # copied or touched later
    summary = run(may, "2023-05", now=dt.datetime(2023, 7, 20))
    assert summary["accepted"] == [U] and summary["late"] == []
    tmp = may.root / "b.xlsx"
    may.filled("县经信局").save(tmp)
    demo.mail_into(may.root / "inbox" / "b.eml", tmp, "", dt.datetime(2023, 6, 2, 10))
    summary = run(may, "2023-05", now=dt.datetime(2023, 7, 20))
    assert summary["late"] == []                                          # the e-mail's Date counts
    late = may.root / "inbox" / "c.xlsx"
    may.filled("县财政局").save(late)
    summary = run(may, "2023-05", now=dt.datetime(2023, 7, 20))          # first seen today: late
    assert summary["late"] == ["县财政局"]
    received = {r["单位"]: r["报送时间"] for r in master_rows(summary["master"], "报送情况")}
    assert received[U] == ON_TIME and received["县财政局"] == dt.datetime(2023, 7, 20)


# 6. files of other periods are counted, not listed as findings ------------------------------------

def test_files_of_other_periods_are_one_line_not_a_finding_each(may):
    generate_templates(*objects(may.root, "specs/shengsi", "2023-04"), units=may.spec.responsible_units[:5])
    for unit in may.spec.responsible_units[:5]:
        may.drop_file(may.root / "templates/shengsi/2023-04" / f"{unit}.xlsx", f"四月/{unit}.xlsx")
    summary = run(may, "2023-05")
    assert summary["other_periods"] == {"2023-04": 5}
    findings = master_rows(summary["master"], "校验问题")
    assert len([f for f in findings if f["规则"] == "F006"]) == 1
    lines = status_report(*objects(may.root, "specs/shengsi", "2023-05"))
    assert not any("无法识别" in line for line in lines)
    assert any("另有 5 个其他期次的文件" in line for line in lines)
    assert any("文件属于：2023-04" in line for line in lines)
    result = CliRunner().invoke(main, ["consolidate", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-05"])
    assert "文件属于：2023-04" in result.output


# 7. growth that the time of year explains is no jump -------------------------------------------------

@pytest.mark.parametrize("february, warned", [(20, False), (35, False), (50, True)])
def test_jumps_are_judged_against_the_time_of_year(may, february, warned):
    jan = month(may, "2024-01")
    may.drop(filled(jan, actual=10), "jan.xlsx", when=dt.datetime(2024, 2, 2))
    assert run(may, "2024-01")["accepted"] == [U]
    feb = month(may, "2024-02")
    may.drop(filled(feb, actual=february), "feb.xlsx", when=dt.datetime(2024, 3, 2))
    summary = run(may, "2024-02")
    jumps = [f for f in summary.findings if f.code == "X005" and f.column == "本年累计完成"
             and f.seen == f"{february:g}"]
    assert bool(jumps) is warned


# 8. is in test_consolidate.py::test_two_periods_carry_forward_and_cumulative_checks (X007, no S003)

def test_a_deleted_open_problem_row_is_named(may):
    wb = may.filled(U)
    key = demo.add_problem(wb, "用地指标不足", may.period)
    may.drop(wb, "may.xlsx")
    run(may, "2023-05")
    june = month(may, "2023-06")
    wb = filled(june)
    ws = wb["问题销号"]
    code = dict(demo.rows_of(wb, "problems"))[key]["code"]
    ws.delete_rows(demo.row_index(ws, demo.TABLES["problems"])[key])
    may.drop(wb, "june.xlsx", when=dt.datetime(2023, 7, 2))
    summary = run(may, "2023-06")
    found = [(f.code, f.seen, f.detail) for f in summary.findings if f.code in ("X007", "S003")]
    assert found == [("X007", code, "用地指标不足")]


# 9. a resubmission that changes accepted values is a warning naming the cells ---------------------

def test_a_changed_resubmission_names_the_changed_cells(may):
    may.drop(may.filled(U), "a.xlsx", when=dt.datetime(2023, 6, 1, 9))
    first = run(may, "2023-05")
    before = [r for r in unit_rows(first, "主要指标") if r["指标名称"] == "年度完成投资"][0]["本年累计完成"]
    wb = may.filled(U)
    cell = demo.set_cell(wb, "indicators", "01-I02", "actual", before + 5)
    may.drop(wb, "b.xlsx", when=dt.datetime(2023, 6, 2, 9))
    summary = run(may, "2023-05")
    changed = [f for f in summary.findings if f.code == "X010"]
    assert summary["changed"] == [U]
    assert [(f.cell, f.seen, f.expected) for f in changed if f.column == "本年累计完成" and f.cell == cell] == \
        [(cell, f"{before + 5:.10g}", f"{before:.10g}")]
    assert any(r["规则"] == "X010" for r in master_rows(summary["master"], "校验问题"))
    assert run(may, "2023-05")["changed"] == [U]                   # a re-run says the same


# 10. generate --units never shrinks the distribution list ------------------------------------------

def test_generating_some_units_keeps_the_whole_distribution_list(may):
    listing = may.root / "templates/shengsi/2023-05/分发清单.xlsx"
    count = openpyxl.load_workbook(listing).active.max_row
    result = CliRunner().invoke(main, ["generate", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-05", "--units", "县民政局"])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(listing).active
    assert ws.max_row == count
    assert [c.value for c in ws["B"][2:]] == list(may.spec.responsible_units)


# 11. periods outside the plan, or never generated ----------------------------------------------------

@pytest.mark.parametrize("command", ["consolidate", "status", "generate"])
def test_a_period_outside_the_plan_years_is_refused(may, command):
    result = CliRunner().invoke(main, [command, "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2022-05"])
    assert result.exit_code == 1 and "不在" in result.output and "规划年度" in result.output
    assert not (may.root / "consolidated/shengsi/2022-05").exists()


def test_consolidating_a_period_never_generated_says_so(may):
    result = CliRunner().invoke(main, ["consolidate", "--root", str(may.root), "--spec", "specs/shengsi",
                                       "--period", "2023-09"])
    assert result.exit_code == 1 and "还没有生成过模板" in result.output
    assert not (may.root / "consolidated/shengsi/2023-09").exists()


# spec history (issue 15): a period keeps the spec it was generated with ---------------------------

def test_a_unit_added_later_is_not_missing_in_an_earlier_period(may):
    july = month(may, "2023-07", units=may.spec.responsible_units)
    may.drop(filled(july), "july.xlsx", when=dt.datetime(2023, 8, 2))
    before = run(may, "2023-07")
    county = may.root / "specs/shengsi/county.yaml"
    text = county.read_text(encoding="utf-8")
    county.write_text(text.replace("  - name: 县发改局\n", "  - name: 县气象局\n  - name: 县发改局\n", 1),
                      encoding="utf-8")
    project = may.root / "specs/shengsi/projects/02.yaml"
    project.write_text(project.read_text(encoding="utf-8").replace("units: [县委人才办, ", "units: [县气象局, 县委人才办, ", 1),
                       encoding="utf-8")
    generate_templates(*objects(may.root, "specs/shengsi", "2023-10"))
    assert (may.root / "templates/shengsi/2023-10/县气象局.xlsx").exists()
    again = run(may, "2023-07")
    assert "县气象局" not in again["missing"] and again["expected"] == before["expected"]
    assert again["accepted"] == [U]
    data = gather(Desk(may.root), may.spec, Quarter.parse("2023Q3"))
    assert all(unit != "县气象局" for unit, *_ in data.ranking)


def test_a_spec_edit_applies_from_its_period_on_and_never_rewrites_the_past(may):
    """2023-11 … 2024-01 with a spec edit in December: a unit inserted mid-registry, a task removed, 2024
    targets added. November keeps its spec when re-consolidated, in status and in its quarter's bulletin."""
    from workbook_tool.cli import main as cli_main
    nov = month(may, "2023-11", units=may.spec.responsible_units)
    may.drop(filled(nov, "县经信局"), "nov.xlsx", when=dt.datetime(2023, 12, 2))
    before = run(may, "2023-11")
    assert any(r["重点任务"].startswith("着力重塑制造业政策体系") for r in unit_rows(before, "重点任务", "县经信局"))
    folder = may.root / "specs/shengsi"
    county = folder / "county.yaml"
    county.write_text(county.read_text(encoding="utf-8").replace(
        "  - name: 县发改局\n", "  - name: 县发改局\n  - name: 县气象局\n", 1), encoding="utf-8")
    project = folder / "projects/02.yaml"
    text = project.read_text(encoding="utf-8")
    start = text.index('  - id: "02-T01"')
    text = text[:start] + text[text.index('  - id: "02-T02"'):]                      # 02-T01 removed
    text = text.replace("units: [县委人才办, ", "units: [县气象局, 县委人才办, ", 1)
    text = text.replace("    annual: 25\n", "    annual: {2023: 25, 2024: 27}\n", 1)       # 02-I01 规上企业营业收入
    project.write_text(text, encoding="utf-8")
    month(may, "2023-12", units=load_spec(folder).responsible_units)
    jan = month(may, "2024-01", units=["县经信局"])
    again = run(may, "2023-11")                                          # November, re-consolidated later
    assert again["expected"] == before["expected"] and "县气象局" not in again["missing"]
    assert any(r["重点任务"].startswith("着力重塑制造业政策体系") for r in unit_rows(again, "重点任务", "县经信局"))
    lines = status_report(*objects(may.root, "specs/shengsi", "2023-11"))
    assert f"应报 {before['expected']} 个单位" in lines[0] and not any("县气象局" in line for line in lines)
    data = gather(Desk(may.root), load_spec(folder), Quarter.parse("2023Q4"))
    assert data.period == Period(2023, 11) and all(unit != "县气象局" for unit, *_ in data.ranking)
    december = run(may, "2023-12")                                        # from December on: the new spec
    assert "县气象局" in december["missing"] and december["expected"] == before["expected"] + 1
    template = openpyxl.load_workbook(jan.template("县经信局"))
    rows = dict(demo.rows_of(template, "indicators"))
    assert rows["02-I01"]["annual"] == 27
    assert "02-T01" not in dict(demo.rows_of(template, "tasks"))
    november = openpyxl.load_workbook(nov.template("县经信局"))
    assert dict(demo.rows_of(november, "indicators"))["02-I01"]["annual"] == 25
    result = CliRunner().invoke(cli_main, ["check-spec", "--root", str(may.root), "--spec", "specs/shengsi"])
    assert result.exit_code == 0, result.output
