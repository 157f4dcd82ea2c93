"""Annual plans: plan → lead units fill (openpyxl on unlocked cells) → plan --collect → spec → generate."""
import datetime as dt
import re
import shutil

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool import demo
from workbook_tool.annual_plan import plan_period
from workbook_tool.cli import main
from workbook_tool.spec import load_spec, read_spec_sources
from workbook_tool.spec_edit import Change, EditError, apply_to_yaml, edited_sources

from conftest import ON_TIME, REPO

EXAMPLES = REPO / "workbook_tool" / "examples" / "yunhe"

YEAR = 2024


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def plan_file(root, code, unit):
    return root / "templates" / code / plan_period(YEAR) / f"{unit}.xlsx"


def set_plan(wb, sheet, row_key, header, value):
    """Type into one cell as a lead unit does: the row found by its hidden key, the column by its header."""
    ws = wb[sheet]
    headers = [c.value for c in ws[3]]
    col = headers.index(header) + 1
    key_col = headers.index("行标识") + 1
    for r in range(4, ws.max_row + 1):
        if ws.cell(r, key_col).value == row_key:
            cell = ws.cell(r, col)
            assert cell.protection.locked is False, f"{sheet}!{cell.coordinate} is locked"
            cell.value = value
            return cell.coordinate
    raise LookupError(row_key)


def drop(root, wb, name, when=ON_TIME):
    path = root / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    demo.set_received(path, when)
    return path


def comments(text):
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


@pytest.fixture(scope="module")
def yunhe_cycle(tmp_path_factory):
    """云和's 2024 plan cycle: plans issued, two lead units fill theirs well, one badly; collected."""
    root = tmp_path_factory.mktemp("plan") / "desk"
    root.mkdir()
    assert run("init", "yunhe", "--root", root).exit_code == 0
    before = read_spec_sources(root / "specs" / "yunhe")
    issued = run("plan", "--spec", "specs/yunhe", "--year", YEAR, "--root", root)
    assert issued.exit_code == 0, issued.output

    wb = openpyxl.load_workbook(plan_file(root, "yunhe", "县发改局"))
    set_plan(wb, "年度指标", "01-I01", "2024年度目标", 55)
    for month, value in ((3, 10), (6, 25), (9, 40), (12, 55)):
        set_plan(wb, "年度指标", "01-I01", f"{month}月累计计划", value)
    set_plan(wb, "重点任务", "01-T01", "2024年节点目标", "2024年滚动推进亿元项目55个")
    set_plan(wb, "重点任务", "01-T02", "2024年计划完成时间", dt.datetime(2024, 11, 30))
    new = f"new-{plan_period(YEAR)}-01-1"
    set_plan(wb, "重点任务", new, "重点任务", "谋划储备一批专项债项目")
    set_plan(wb, "重点任务", new, "责任单位", "县发改局、县财政局")
    set_plan(wb, "重点任务", new, "每年滚动", "是")
    set_plan(wb, "重点任务", new, "2024年节点目标", "年内储备专项债项目10个")
    set_plan(wb, "重点任务", new, "2024年计划完成时间", "2024年10月31日")
    drop(root, wb, "发改局/年度计划.xlsx")

    wb = openpyxl.load_workbook(plan_file(root, "yunhe", "县经商局"))   # returned as issued: no change
    drop(root, wb, "经商局.xlsx")

    wb = openpyxl.load_workbook(plan_file(root, "yunhe", "县科技局"))
    bad = {
        "annual": set_plan(wb, "年度指标", "03-I01", "2024年度目标", "约12"),
        "due": set_plan(wb, "重点任务", "03-T01", "2024年计划完成时间", dt.datetime(2025, 3, 1)),
    }
    new = f"new-{plan_period(YEAR)}-03-1"
    set_plan(wb, "重点任务", new, "重点任务", "新建科创飞地")
    bad["units"] = set_plan(wb, "重点任务", new, "责任单位", "县科学局")
    set_plan(wb, "重点任务", new, "2024年节点目标", "年内挂牌")
    bad["missing_due"] = new
    drop(root, wb, "科技局.xlsx")

    collected = run("plan", "--spec", "specs/yunhe", "--year", YEAR, "--collect", "--root", root)
    return root, before, collected, bad


def test_plans_go_to_each_lead_unit_locked_and_signed(yunhe_cycle):
    root = yunhe_cycle[0]
    spec = load_spec(root / "specs" / "yunhe")
    files = sorted(p.stem for p in (root / "templates" / "yunhe" / plan_period(YEAR)).glob("*.xlsx"))
    leads = sorted({u for p in spec.projects for u in p.lead_units})
    assert files == leads
    wb = openpyxl.load_workbook(plan_file(root, "yunhe", "县发改局"))
    assert wb.security.lockStructure
    ws = wb["年度指标"]
    assert ws.protection.sheet
    headers = [c.value for c in ws[3]]
    assert "2023年度目标" in headers and "2024年度目标" in headers and "12月累计计划" in headers
    ids = [ws.cell(r, 2).value for r in range(4, ws.max_row + 1)]
    assert "01-I01" in ids and "04-I01" in ids        # 县发改局 leads 01, 04 and 09
    r = 4 + ids.index("01-I01")
    last_year = ws.cell(r, headers.index("2023年度目标") + 1)
    assert last_year.value == 50 and last_year.protection.locked
    assert ws.cell(r, headers.index("2024年度目标") + 1).protection.locked is False
    level = 4 + ids.index("01-I04")                    # a level indicator takes no monthly plan
    assert ws.cell(level, headers.index("3月累计计划") + 1).protection.locked
    assert wb["_meta"].sheet_state in ("veryHidden", "hidden")


def test_collect_accepts_good_plans_and_reports_every_change(yunhe_cycle):
    root, _before, collected, _bad = yunhe_cycle
    assert collected.exit_code == 0, collected.output
    out = collected.output
    assert "采用单位：县发改局、县经商局" in out and "退回单位：县科技局" in out
    assert "指标 01-I01（滚动推进亿元项目） 2024 年年度目标：50 → 55" in out
    assert "重点任务 01-T02（加强常态化项目谋划，筑好千亿项目蓄水池） 2024 年计划完成时间：2023-12-31 → 2024-11-30" in out
    assert "经商局" not in out.split("写入规格")[1].split("已修改")[0]      # returned unchanged: nothing to write
    report = (root / "consolidated" / "yunhe" / plan_period(YEAR) / "计划汇总报告.txt").read_text(encoding="utf-8")
    assert "50 → 55" in report and "新增重点任务 01-T07" in report

    spec = load_spec(root / "specs" / "yunhe")
    ind = next(i for p in spec.projects for i in p.indicators if i.id == "01-I01")
    assert ind.annual_for(2023) == 50 and ind.annual_for(2024) == 55
    assert ind.plan_for(2024) == ((3, 10.0), (6, 25.0), (9, 40.0), (12, 55.0)) and ind.plan_for(2023) == ()
    task = next(t for p in spec.projects for t in p.tasks if t.id == "01-T07")
    assert task.units == ("县发改局", "县财政局") and task.recurring
    assert task.due_for(2024) == dt.date(2024, 10, 31) and task.milestone_for(2024) == "年内储备专项债项目10个"
    t02 = next(t for p in spec.projects for t in p.tasks if t.id == "01-T02")
    assert t02.due_for(2023) == dt.date(2023, 12, 31) and t02.due_for(2024) == dt.date(2024, 11, 30)


def test_yaml_comments_and_order_survive_collect(yunhe_cycle):
    root, before, _collected, _bad = yunhe_cycle
    after = read_spec_sources(root / "specs" / "yunhe")
    assert after["projects/01.yaml"] != before["projects/01.yaml"]
    assert comments(after["projects/01.yaml"]) == comments(before["projects/01.yaml"])
    order = lambda text: re.findall(r'id: "([^"]+)"', text)  # noqa: E731
    assert order(after["projects/01.yaml"]) == order(before["projects/01.yaml"]) + ["01-T07"]
    # only the accepted plan's files changed; 经商局 returned its plan unchanged
    assert {rel for rel in before if after[rel] != before[rel]} == {"projects/01.yaml"}


def test_bad_plan_gives_findings_feedback_and_no_spec_change(yunhe_cycle):
    root, before, collected, bad = yunhe_cycle
    out = collected.output
    for code, cell in (("V001", bad["annual"]), ("A001", bad["due"]), ("A002", bad["units"])):
        assert re.search(rf"{code} 县科技局 科技局\.xlsx (年度指标|重点任务)!{cell}", out), (code, out)
    assert re.search(r"V004 县科技局 .*重点任务!I\d+", out)
    feedback = root / "consolidated" / "yunhe" / plan_period(YEAR) / "退回" / "县科技局.xlsx"
    wb = openpyxl.load_workbook(feedback)
    assert wb["年度指标"][bad["annual"]].comment is not None
    assert wb["年度指标"][bad["annual"]].value == "约12"          # the unit's entry comes back to correct
    assert "退回意见" in [c.value for c in wb["填报说明"]["A"]]
    after = read_spec_sources(root / "specs" / "yunhe")
    assert after["projects/03.yaml"] == before["projects/03.yaml"]


def test_corrected_feedback_is_accepted_by_signature(yunhe_cycle, tmp_path):
    root = tmp_path / "desk"
    shutil.copytree(yunhe_cycle[0], root)
    feedback = root / "consolidated" / "yunhe" / plan_period(YEAR) / "退回" / "县科技局.xlsx"
    wb = openpyxl.load_workbook(feedback)
    set_plan(wb, "年度指标", "03-I01", "2024年度目标", 12)
    set_plan(wb, "重点任务", "03-T01", "2024年计划完成时间", dt.datetime(2024, 12, 31))
    new = f"new-{plan_period(YEAR)}-03-1"
    set_plan(wb, "重点任务", new, "责任单位", "县科技局")
    set_plan(wb, "重点任务", new, "2024年计划完成时间", dt.datetime(2024, 9, 30))
    drop(root, wb, "科技局-改.xlsx", when=ON_TIME + dt.timedelta(days=2))
    result = run("plan", "--spec", "specs/yunhe", "--year", YEAR, "--collect", "--root", root)
    assert result.exit_code == 0, result.output
    assert "退回单位" not in result.output and "F008" in result.output
    spec = load_spec(root / "specs" / "yunhe")
    assert next(i for p in spec.projects for i in p.indicators if i.id == "03-I01").annual_for(2024) == 12
    # the earlier run's changes are in the spec already: a rerun adds nothing twice
    assert "01-T07" not in result.output and "01-T08" not in (root / "specs/yunhe/projects/01.yaml").read_text("utf-8")


def test_next_generate_uses_the_plan(yunhe_cycle, tmp_path):
    root = tmp_path / "desk"
    shutil.copytree(yunhe_cycle[0], root)
    check = run("check-spec", "--spec", "specs/yunhe", "--root", root)
    assert check.exit_code == 0 and "规格检查通过" in check.output
    assert run("generate", "--spec", "specs/yunhe", "--period", "2024-01", "--root", root).exit_code == 0
    out = root / "templates" / "yunhe" / "2024-01"
    rows = dict(demo.rows_of(openpyxl.load_workbook(out / "县发改局.xlsx"), "indicators"))
    assert rows["01-I01"]["annual"] == 55
    tasks = dict(demo.rows_of(openpyxl.load_workbook(out / "县财政局.xlsx"), "tasks"))
    assert tasks["01-T07"]["milestone"] == "年内储备专项债项目10个"
    assert tasks["01-T07"]["due"] == dt.datetime(2024, 10, 31)
    mine = dict(demo.rows_of(openpyxl.load_workbook(out / "县发改局.xlsx"), "tasks"))
    assert mine["01-T01"]["milestone"] == "2024年滚动推进亿元项目55个"


def test_plan_rejects_a_year_outside_the_plan(yunhe_desk):
    result = run("plan", "--spec", "specs/yunhe", "--year", 2030, "--root", yunhe_desk)
    assert result.exit_code == 1 and "规划年度" in result.output and "Traceback" not in result.output
    assert run("generate", "--spec", "specs/yunhe", "--period", "2024-01", "--root", yunhe_desk).exit_code == 0
    result = run("plan", "--spec", "specs/yunhe", "--year", 2024, "--collect", "--root", yunhe_desk)
    assert result.exit_code == 1 and "plan --year 2024" in result.output


def test_a_broken_spec_workbook_is_refused_clearly(tmp_path):
    folder = tmp_path / "specs" / "x"
    folder.mkdir(parents=True)
    (folder / "规格.xlsx").write_bytes(b"PK")
    result = run("plan", "--spec", str(folder), "--year", 2024, "--collect", "--root", tmp_path)
    assert result.exit_code == 1 and "规格.xlsx" in result.output and "Traceback" not in result.output


def test_collect_writes_into_a_spec_workbook(tmp_path):
    """An office that keeps its spec only in 规格.xlsx collects the year's plan without YAML."""
    root = tmp_path / "desk"
    assert run("init", "yunhe", "--root", root).exit_code == 0
    folder = root / "specs" / "yunhe"
    before = load_spec(folder)
    exported = run("export-spec", "--spec", folder, "--out", tmp_path / "规格.xlsx", "--root", root)
    assert exported.exit_code == 0, exported.output
    shutil.rmtree(folder)
    folder.mkdir()
    shutil.copyfile(tmp_path / "规格.xlsx", folder / "规格.xlsx")
    assert run("plan", "--spec", "specs/yunhe", "--year", YEAR, "--root", root).exit_code == 0
    wb = openpyxl.load_workbook(plan_file(root, "yunhe", "县发改局"))
    set_plan(wb, "年度指标", "01-I01", "2024年度目标", 55)
    for month, value in ((3, 10), (6, 25), (9, 40), (12, 55)):
        set_plan(wb, "年度指标", "01-I01", f"{month}月累计计划", value)
    set_plan(wb, "重点任务", "01-T01", "2024年节点目标", "2024年滚动推进亿元项目55个")
    set_plan(wb, "重点任务", "01-T02", "2024年计划完成时间", dt.datetime(2024, 11, 30))
    new = f"new-{plan_period(YEAR)}-01-1"
    set_plan(wb, "重点任务", new, "重点任务", "谋划储备一批专项债项目")
    set_plan(wb, "重点任务", new, "责任单位", "县发改局、县财政局")
    set_plan(wb, "重点任务", new, "2024年节点目标", "年内储备专项债项目10个")
    set_plan(wb, "重点任务", new, "2024年计划完成时间", "2024年10月31日")
    drop(root, wb, "年度计划.xlsx")
    collected = run("plan", "--spec", "specs/yunhe", "--year", YEAR, "--collect", "--root", root)
    assert collected.exit_code == 0, collected.output
    assert sorted(p.name for p in folder.iterdir()) == ["规格.xlsx"]          # still no YAML
    after = load_spec(folder)
    ind = next(i for p in after.projects for i in p.indicators if i.id == "01-I01")
    old = next(i for p in before.projects for i in p.indicators if i.id == "01-I01")
    assert ind.annual_for(2024) == 55 and ind.annual_for(2023) == old.annual_for(2023)
    assert dict(ind.plan_for(2024)) == {3: 10, 6: 25, 9: 40, 12: 55}
    tasks = {t.id: t for p in after.projects for t in p.tasks}
    assert tasks["01-T01"].milestone_for(2024) == "2024年滚动推进亿元项目55个"
    assert tasks["01-T02"].due_for(2024) == dt.date(2024, 11, 30)
    added = [t for t in tasks.values() if t.name == "谋划储备一批专项债项目"]
    assert len(added) == 1 and added[0].due_for(2024) == dt.date(2024, 10, 31)
    assert run("check-spec", "--spec", "specs/yunhe", "--root", root).exit_code == 0


# -- major projects (嵊泗 keeps the 重大项目进度表) -----------------------------------------------------------

def test_new_major_projects_checked_and_written(desk):
    assert run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--root", desk).exit_code == 0
    spec = load_spec(desk / "specs" / "shengsi")
    unit = spec.projects[0].lead_units[0]
    other = next(u.name for u in spec.units if u.name not in spec.projects[0].member_set)
    wb = openpyxl.load_workbook(plan_file(desk, "shengsi", unit))
    slot = lambda n: f"new-{plan_period(YEAR)}-01-{n}"  # noqa: E731
    for n, (name, owner, total, plan) in enumerate((("港区公共码头改造", unit, 5000, 2000),
                                                   ("海上风电配套", other, 1000, 3000)), start=1):
        set_plan(wb, "重大项目", slot(n), "项目名称", name)
        set_plan(wb, "重大项目", slot(n), "建设内容", f"{name}工程")
        set_plan(wb, "重大项目", slot(n), "业主单位", owner)
        set_plan(wb, "重大项目", slot(n), "总投资(万元)", total)
        set_plan(wb, "重大项目", slot(n), "2024年度计划投资(万元)", plan)
        set_plan(wb, "重大项目", slot(n), "计划开工时间", dt.datetime(2024, 3, 1))
    drop(desk, wb, "a.xlsx")
    result = run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--collect", "--root", desk)
    assert "A003" in result.output and "A006" in result.output and "退回单位" in result.output

    wb = openpyxl.load_workbook(desk / "consolidated" / "shengsi" / plan_period(YEAR) / "退回" / f"{unit}.xlsx")
    set_plan(wb, "重大项目", slot(2), "项目名称", None)
    for header in ("建设内容", "业主单位", "总投资(万元)", "2024年度计划投资(万元)", "计划开工时间"):
        set_plan(wb, "重大项目", slot(2), header, None)
    (desk / "inbox" / "a.xlsx").unlink()
    drop(desk, wb, "b.xlsx")
    result = run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--collect", "--root", desk)
    assert result.exit_code == 0 and "新增重大项目 01-P01" in result.output, result.output
    major = load_spec(desk / "specs" / "shengsi").projects[0].major_projects[0]
    assert (major.name, major.owner, major.total_investment, major.annual_plan_for(2024)) == \
        ("港区公共码头改造", unit, 5000, 2000)


# -- the YAML editor -------------------------------------------------------------------------------------------

def test_yaml_edits_keep_comments_for_every_shape(tmp_path):
    folder = tmp_path / "yunhe"
    shutil.copytree(EXAMPLES,
                    folder)
    p01 = folder / "projects" / "01.yaml"
    text = p01.read_text(encoding="utf-8")
    text = text.replace("    annual: 5\n", "    annual: {2023: 5, 2025: 7}   # flow\n")
    text = text.replace("    kind: level\n", "    kind: level\n    annual:\n      2023: 15   # block\n", 1)
    p01.write_bytes(("\ufeff" + text).encode("utf-8"))          # saved by Notepad: with a BOM
    spec = load_spec(folder)
    changes = [Change("indicator", "01-I02", "annual", 2024, 5.0, 6.0),
               Change("indicator", "01-I04", "annual", 2024, 15.0, 16.0),
               Change("indicator", "01-I04", "annual", 2023, 15.0, 14.0),
               Change("task", "01-T03", "milestone", 2024, "x", "年内落地: 3个")]
    written = apply_to_yaml(folder, spec, changes)
    assert written == ["projects/01.yaml"]
    data = p01.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    after = data.decode("utf-8-sig")
    assert "annual: {2023: 5, 2024: 6, 2025: 7} # flow" in after
    assert "      2023: 14   # block\n      2024: 16\n" in after
    assert comments(after) == comments(text)
    spec = load_spec(folder)
    task = next(t for t in spec.projects[0].tasks if t.id == "01-T03")
    assert task.milestone_for(2023) == "年内招引落地一批重大产业项目" and task.milestone_for(2024) == "年内落地: 3个"


def test_yaml_edit_that_would_break_the_spec_writes_nothing(tmp_path):
    folder = tmp_path / "yunhe"
    shutil.copytree(EXAMPLES,
                    folder)
    spec = load_spec(folder)
    before = read_spec_sources(folder)
    with pytest.raises(EditError):
        apply_to_yaml(folder, spec, [Change("task", "01-T01", "due", 2031, None, dt.date(2031, 1, 1))])
    assert read_spec_sources(folder) == before
    with pytest.raises(EditError):
        edited_sources(before, [Change("indicator", "99-I99", "annual", 2024, None, 1.0)], spec)


def test_monthly_consolidate_counts_plans_as_another_period(yunhe_cycle, tmp_path):
    import json
    root = tmp_path / "desk"
    shutil.copytree(yunhe_cycle[0], root)
    assert run("generate", "--spec", "specs/yunhe", "--period", "2024-01", "--root", root).exit_code == 0
    result = run("consolidate", "--spec", "specs/yunhe", "--period", "2024-01", "--json", "--jobs", 1, "--root", root)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["other_periods"] == {plan_period(YEAR): 3}
    assert summary["returned"] == 0 and summary["findings"]["错误"] == 0


def test_two_lead_units_disagree_the_first_in_the_registry_wins(desk):
    assert run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--root", desk).exit_code == 0
    spec = load_spec(desk / "specs" / "shengsi")
    project = next(p for p in spec.projects if len(p.lead_units) > 1)
    ind = project.indicators[0]
    first, second = sorted(project.lead_units, key=[u.name for u in spec.units].index)
    for n, (unit, value) in enumerate(((second, 7), (first, 9))):
        wb = openpyxl.load_workbook(plan_file(desk, "shengsi", unit))
        set_plan(wb, "年度指标", ind.id, "2024年度目标", value)
        drop(desk, wb, f"{n}.xlsx")
    result = run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--collect", "--root", desk)
    assert result.exit_code == 0, result.output
    assert re.search(rf"A007 {second} ", result.output) and f"（{first}）" in result.output
    assert next(i for i in load_spec(desk / "specs" / "shengsi").projects[project.no - 1].indicators
                if i.id == ind.id).annual_for(2024) == 9


def test_a_plan_without_years_keeps_its_months_in_the_other_years(tmp_path):
    folder = tmp_path / "yunhe"
    shutil.copytree(EXAMPLES,
                    folder)
    p01 = folder / "projects" / "01.yaml"
    p01.write_text(p01.read_text(encoding="utf-8").replace("    annual: 5\n", "    annual: 5\n    plan: {6: 2, 12: 5}\n"),
                   encoding="utf-8")
    spec = load_spec(folder)
    apply_to_yaml(folder, spec, [Change("indicator", "01-I02", "plan", 2024, {6: 2.0, 12: 5.0}, {6: 3, 12: 6})])
    ind = load_spec(folder).projects[0].indicators[1]
    assert ind.plan_for(2023) == ind.plan_for(2025) == ((6, 2.0), (12, 5.0))
    assert ind.plan_for(2024) == ((6, 3.0), (12, 6.0))


# -- every plan rule as a table of cases: one mistake in one lead unit's plan, its code in the report ----------

@pytest.fixture(scope="module")
def issued_plans(tmp_path_factory):
    """A 嵊泗 desk (it keeps the 重大项目进度表) with 2024's plans issued, copied for each case."""
    root = tmp_path_factory.mktemp("plans") / "desk"
    root.mkdir()
    assert run("init", "shengsi", "--root", root).exit_code == 0
    assert run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--root", root).exit_code == 0
    return root


def _cumulative(spec):
    project = spec.projects[0]
    ind = next(i for i in project.indicators if i.kind == "cumulative" and i.direction == "higher")
    return project.lead_units[0], ind


def _due_outside(spec, wb):
    unit = spec.projects[0].lead_units[0]
    set_plan(wb[unit], "重点任务", spec.projects[0].tasks[0].id, "2024年计划完成时间", dt.datetime(2025, 3, 1))


def _unknown_owner(spec, wb):
    unit = spec.projects[0].lead_units[0]
    new = f"new-{plan_period(YEAR)}-01-1"
    for header, value in (("重点任务", "新建科创飞地"), ("责任单位", "县科学局"), ("2024年节点目标", "挂牌"),
                          ("2024年计划完成时间", dt.datetime(2024, 9, 30))):
        set_plan(wb[unit], "重点任务", new, header, value)


def _new_project(total, plan, owner_of=lambda spec: spec.projects[0].lead_units[0]):
    def mutate(spec, wb):
        unit = spec.projects[0].lead_units[0]
        slot = f"new-{plan_period(YEAR)}-01-1"
        for header, value in (("项目名称", "港区公共码头改造"), ("建设内容", "码头改造"), ("业主单位", owner_of(spec)),
                              ("总投资(万元)", total), ("2024年度计划投资(万元)", plan),
                              ("计划开工时间", dt.datetime(2024, 3, 1))):
            set_plan(wb[unit], "重大项目", slot, header, value)
    return mutate


def _months(values):
    def mutate(spec, wb):
        unit, ind = _cumulative(spec)
        set_plan(wb[unit], "年度指标", ind.id, "2024年度目标", 100)
        for month, value in zip((3, 6, 9, 12), values):
            set_plan(wb[unit], "年度指标", ind.id, f"{month}月累计计划", value)
    return mutate


def _lead_units_disagree(spec, wb):
    project = next(p for p in spec.projects if len(p.lead_units) > 1)
    for unit, value in zip(project.lead_units, (7, 9)):
        set_plan(wb[unit], "年度指标", project.indicators[0].id, "2024年度目标", value)


def _outsider(spec):
    return next(u.name for u in spec.units if u.name not in spec.projects[0].member_set)


PLAN_CASES = [
    # id, mutate(spec, {unit: plan workbook}), rule code
    ("due-outside-the-year", _due_outside, "A001"),
    ("unit-not-in-registry", _unknown_owner, "A002"),
    ("total-below-annual-plan", _new_project(1000, 3000), "A003"),
    ("monthly-plan-goes-down", _months((30, 20, 60, 100)), "A004"),
    ("monthly-plan-above-target", _months((30, 60, 90, 120)), "A005"),
    ("owner-not-of-the-project", _new_project(5000, 2000, _outsider), "A006"),
    ("two-lead-units-disagree", _lead_units_disagree, "A007"),
]


@pytest.mark.parametrize("case_id,mutate,code", PLAN_CASES, ids=[c[0] for c in PLAN_CASES])
def test_plan_rule(issued_plans, tmp_path, case_id, mutate, code):
    root = tmp_path / "desk"
    shutil.copytree(issued_plans, root)
    spec = load_spec(root / "specs" / "shengsi")

    class Plans(dict):                  # a lead unit's plan workbook, opened on first use
        def __missing__(self, unit):
            self[unit] = openpyxl.load_workbook(plan_file(root, "shengsi", unit))
            return self[unit]
    plans = Plans()
    mutate(spec, plans)
    for n, wb in enumerate(plans.values()):
        drop(root, wb, f"{n}.xlsx")
    result = run("plan", "--spec", "specs/shengsi", "--year", YEAR, "--collect", "--root", root)
    assert "Traceback" not in result.output and "程序内部错误" not in result.output
    assert re.search(rf"\b{code}\b", result.output), result.output
