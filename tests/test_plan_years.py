"""The plan over five years: values by year, rollover, plan_cumulative, stable identities."""
import datetime as dt
import json
import random
import shutil

import openpyxl
import pytest
from click.testing import CliRunner

from conftest import objects
from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.desk import Period
from workbook_tool.ledger import Ledger
from workbook_tool.spec import (SpecError, default_unit_code, load_spec, parse_spec, read_spec_sources,
                                spec_as_json, spec_digest)
from workbook_tool.tables import TABLES, light
from workbook_tool.rows import Row
from workbook_tool.carry import problem_code, unit_rows
from workbook_tool.template import formula_for, generate
from workbook_tool.standing import earlier_years
from workbook_tool.workflow import EXAMPLES, generate_templates, init_desk


COUNTY = """\
county: 测试县
code: testy
plan_years: [2023, 2027]
tables: [indicators, tasks, projects, problems]
units:
  - name: 县发改局
  - name: 县财政局
  - name: 甲镇
"""

PROJECT = """\
no: 1
name: 测试工程
convener: 副县长某某
lead_units: [县发改局]
units: [县财政局, 甲镇]
goal: 到2027年五年累计完成投资600亿元，每年120亿元。
indicators:
  - id: "01-I01"
    name: 年度完成投资
    measure: 亿元
    target: 120
    year: 2027
    direction: higher
    kind: cumulative
    annual: {2023: 50, 2024: 55}
    plan: {2024: {3: 10, 6: 25, 9: 40, 12: 55}}
  - id: "01-I02"
    name: 旧式计划
    measure: 亿元
    target: 120
    year: 2027
    direction: higher
    kind: cumulative
    annual: 120
    plan: {3: 25, 6: 55, 9: 85, 12: 120}
  - id: "01-I03"
    name: 五年累计完成投资
    measure: 亿元
    target: 600
    year: 2027
    direction: higher
    kind: plan_cumulative
tasks:
  - id: "01-T01"
    name: 每年滚动推进重大项目
    milestone:
      2023: 2023年滚动推进60个
      2024: 2024年滚动推进65个
    due: 2023-12-31
    recurring: true
  - id: "01-T02"
    name: 建成一个平台
    milestone: 平台建成
    due: 2023-12-31
  - id: "01-T03"
    name: 修订一项制度
    milestone: 制度修订印发
    due:
      2023: 2023-12-31
      2024: 2024-06-30
major_projects:
  - id: "01-P01"
    name: 码头工程
    owner: 县发改局
    total_investment: 100000
    annual_plan: {2023: 20000, 2024: 30000}
"""


def texts(county=COUNTY, project=PROJECT):
    return {"county.yaml": county, "projects/01.yaml": project}


@pytest.fixture
def spec():
    return parse_spec(texts(), "specs/testy")


def item(spec, kind, id_):
    return next(x for p in spec.projects for x in getattr(p, kind) if x.id == id_)


# -- values by year --------------------------------------------------------------------------

def test_annual_by_year_and_fallback(spec):
    ind = item(spec, "indicators", "01-I01")
    assert (ind.annual_for(2023), ind.annual_for(2024), ind.annual_for(2025)) == (50, 55, 55)
    assert spec.years_in_use == (2023, 2024)
    assert spec.year_warnings(2024) == []
    warnings = spec.year_warnings(2025)
    assert any("01-I01" in w and "annual" in w and "沿用 2024 年的 55" in w for w in warnings)
    assert any("01-I01" in w and "plan" in w and "月份/12" in w for w in warnings)


def test_a_year_before_the_first_given_takes_the_default():
    project = PROJECT.replace("annual: {2023: 50, 2024: 55}", "annual: {2024: 55}")
    spec = parse_spec(texts(project=project))
    ind = item(spec, "indicators", "01-I01")
    assert ind.annual_for(2023) == 24                # 120 over five plan years, as without `annual`
    assert any("使用默认值 24" in w for w in spec.year_warnings(2023))


def test_plan_by_year_and_the_old_month_plan(spec):
    ind = item(spec, "indicators", "01-I01")
    assert ind.planned_share(Period(2024, 6)) == pytest.approx(25 / 55, abs=1e-6)
    assert ind.planned_share(Period(2024, 12)) == 1.0
    assert ind.planned_share(Period(2023, 6)) == 0.5          # no 2023 plan: months ÷ 12
    old = item(spec, "indicators", "01-I02")
    assert old.plan_for(2025) == ((3, 25.0), (6, 55.0), (9, 85.0), (12, 120.0))
    assert old.planned_share(Period(2025, 7)) == pytest.approx(55 / 120, abs=1e-6)
    assert old.planned_share(7) == pytest.approx(55 / 120, abs=1e-6)   # a bare month still works


def test_task_and_project_values_by_year(spec):
    recurring = item(spec, "tasks", "01-T01")
    assert recurring.recurring
    assert recurring.milestone_for(2024) == "2024年滚动推进65个"
    assert recurring.milestone_for(2026) == "2024年滚动推进65个"
    assert recurring.due_for(2025) == dt.date(2025, 12, 31)      # recurring: the same day each year
    one_off = item(spec, "tasks", "01-T02")
    assert not one_off.recurring and one_off.due_for(2024) == dt.date(2023, 12, 31)
    assert item(spec, "tasks", "01-T03").due_for(2024) == dt.date(2024, 6, 30)
    major = item(spec, "major_projects", "01-P01")
    assert (major.annual_plan_for(2023), major.annual_plan_for(2024)) == (20000, 30000)


def test_single_values_mean_every_year_and_give_no_warnings():
    spec = load_spec(EXAMPLES / "yunhe")
    ind = spec.projects[1].indicators[0]
    assert ind.annual_for(2023) == ind.annual_for(2026) == ind.annual
    assert [w for y in range(2023, 2028) for w in spec.year_warnings(y)
            if "annual" in w or "annual_plan" in w] == []


@pytest.mark.parametrize("old,new,code,line", [
    ("annual: {2023: 50, 2024: 55}", "annual: {2023: 50, 2031: 55}", "P030", 15),   # year outside the plan
    ("annual: {2023: 50, 2024: 55}", "annual: {2023: 50, 2024: 约55}", "P013", 15),  # not a number
    ("    recurring: true", "    recurring: 每年", "P018", 40),                        # not true/false
    ("      2024: 2024-06-30", "      2024: 2024-06-31", "P014", 50),                  # not a date
    ("    kind: plan_cumulative", "    kind: plan_cumulative\n    plan: {6: 10}", "P066", 33),
])
def test_per_year_mistakes_are_reported_with_file_and_line(old, new, code, line):
    assert old in PROJECT
    with pytest.raises(SpecError) as info:
        parse_spec(texts(project=PROJECT.replace(old, new)), "specs/testy")
    assert [(str(p.location), p.code) for p in info.value.issues] == [(f"testy/projects/01.yaml:{line}", code)], \
        info.value.problems


def test_plan_cumulative_must_be_higher_is_better():
    project = PROJECT.replace("    direction: higher\n    kind: plan_cumulative",
                              "    direction: lower\n    kind: plan_cumulative")
    with pytest.raises(SpecError) as info:
        parse_spec(texts(project=project))
    assert info.value.codes == ["P065"]


def test_check_spec_json_shows_values_by_year(tmp_path):
    folder = tmp_path / "specs" / "testy"
    (folder / "projects").mkdir(parents=True)
    for rel, text in texts().items():
        (folder / rel).write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-spec", "--root", str(tmp_path), "--spec", "specs/testy", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    ind = data["projects"][0]["indicators"][0]
    assert ind["annual_by_year"] == {"2023": 50.0, "2024": 55.0}
    assert ind["plan_by_year"] == {"2024": {"3": 10.0, "6": 25.0, "9": 40.0, "12": 55.0}}
    task = data["projects"][0]["tasks"][0]
    assert task["recurring"] is True and task["milestone_by_year"]["2024"] == "2024年滚动推进65个"
    assert data["projects"][0]["tasks"][2]["due_by_year"] == {"2023": "2023-12-31", "2024": "2024-06-30"}
    assert data["projects"][0]["major_projects"][0]["annual_plan_by_year"] == {"2023": 20000.0, "2024": 30000.0}
    assert data["years_in_use"] == [2023, 2024]
    plain = CliRunner().invoke(main, ["check-spec", "--root", str(tmp_path), "--spec", "specs/testy"])
    assert plain.exit_code == 0 and "规格检查通过" in plain.output


def test_spec_loads_from_texts_as_from_its_folder():
    for county in ("shengsi", "yunhe"):
        folder = EXAMPLES / county
        sources = read_spec_sources(folder)
        assert set(sources) >= {"county.yaml", "projects/01.yaml"}
        from_texts = parse_spec(sources, folder)
        assert spec_as_json(from_texts) == spec_as_json(load_spec(folder))
        assert spec_digest(sources) == spec_digest(read_spec_sources(folder))
        changed = dict(sources, **{"projects/01.yaml": sources["projects/01.yaml"] + "\n"})
        assert spec_digest(changed) != spec_digest(sources)


def test_texts_that_are_not_utf8_are_reported():
    with pytest.raises(SpecError) as info:
        parse_spec({"county.yaml": COUNTY.encode("gbk"), "projects/01.yaml": PROJECT}, "specs/testy")
    from workbook_tool.desk import UNKNOWN_ENCODING
    assert info.value.codes == ["P002"] and str(info.value.issues[0].location) == "testy/county.yaml:1"
    assert info.value.problems == [f"testy/county.yaml:1: {UNKNOWN_ENCODING}"]   # one wording for YAML and mail.yaml


# -- rollover ------------------------------------------------------------------------------------

def rows_for(spec, unit, period, carry=(), earlier=None, finished=()):
    rows = unit_rows(spec, unit, Period(*period), carry, earlier, finished)
    return {t: {r.key: r for r in rs} for t, rs in rows.items()}


def carried(period, **rows):
    out = []
    for key, (table, values) in rows.items():
        out.append(Row(table, key.replace("_", "-"), 1, "spec", "", period, values))
    return out


DECEMBER = carried(
    "2023-12",
    **{"01_T01": ("tasks", {"progress": "已推进58个", "state": "已完成", "done": "2023-12-20"}),
       "01_T02": ("tasks", {"progress": "平台已建成", "state": "已完成", "done": "2023-09-02"}),
       "01_T03": ("tasks", {"progress": "起草中", "state": "正常推进"}),
       "01_P01": ("projects", {"invested": 18000.0, "state": "在建", "started": "2023-03-01",
                               "image": "主体施工", "plan": 20000.0, "total": 100000.0}),
       "01_I01": ("indicators", {"actual": 48.0, "note": "按计划推进"})})


def test_recurring_task_restarts_each_year_with_that_years_milestone(spec):
    rows = rows_for(spec, "县发改局", (2024, 1), DECEMBER)
    task = rows["tasks"]["01-T01"]
    assert task.values["state"] == "未启动"
    assert task.values["progress"] is None and task.values["done"] is None
    assert task.values["milestone"] == "2024年滚动推进65个"
    assert task.values["due"] == dt.date(2024, 12, 31)


def test_one_off_task_completed_last_year_leaves_the_template(spec):
    assert "01-T02" not in rows_for(spec, "县发改局", (2024, 1), DECEMBER)["tasks"]
    # February: the carry is January's return (without the task); the ledger says it was done in 2023
    january = [c for c in DECEMBER if c.key != "01-T02"]
    assert "01-T02" not in rows_for(spec, "县发改局", (2024, 2), january, finished={"01-T02"})["tasks"]
    # the same year it stays, as reported
    december = rows_for(spec, "县发改局", (2023, 12), carried("2023-11", **{
        "01_T02": ("tasks", {"progress": "平台已建成", "state": "已完成", "done": "2023-09-02"})}))
    assert december["tasks"]["01-T02"].values["state"] == "已完成"


def test_one_off_task_retargeted_to_the_new_year_starts_again(spec):
    project = PROJECT.replace("    milestone: 平台建成\n    due: 2023-12-31",
                              "    milestone: 平台建成\n    due: {2023: 2023-12-31, 2024: 2024-12-31}")
    spec = parse_spec(texts(project=project))
    task = rows_for(spec, "县发改局", (2024, 1), DECEMBER)["tasks"]["01-T02"]
    assert task.values["state"] == "未启动" and task.values["done"] is None
    assert task.values["due"] == dt.date(2024, 12, 31)
    assert "01-T02" in rows_for(spec, "县发改局", (2024, 2), (), finished={"01-T02"})["tasks"]


def test_one_off_task_not_completed_carries_on(spec):
    task = rows_for(spec, "县发改局", (2024, 1), DECEMBER)["tasks"]["01-T03"]
    assert task.values["state"] == "正常推进" and task.values["progress"] == "起草中"
    assert task.values["due"] == dt.date(2024, 6, 30)


def test_major_project_takes_the_new_years_annual_plan(spec):
    row = rows_for(spec, "县发改局", (2024, 1), DECEMBER)["projects"]["01-P01"]
    assert row.values["plan"] == 30000                 # from the spec, not last year's 20000
    assert row.values["total"] == 100000
    assert row.values["invested"] is None               # 本年累计 starts afresh
    assert (row.values["state"], row.values["image"]) == ("在建", "主体施工")
    indicator = rows_for(spec, "县发改局", (2024, 1), DECEMBER)["indicators"]["01-I01"]
    assert indicator.values["annual"] == 55 and indicator.values["actual"] is None


def test_a_project_the_unit_added_asks_for_the_new_years_plan(spec):
    values = {"name": "自建码头", "total": 5000.0, "plan": 2000.0, "invested": 1800.0, "state": "在建"}
    table = TABLES["projects"]
    for period, last, plan, opened in (((2024, 1), "2023-12", None, True), ((2023, 12), "2023-11", 2000.0, False)):
        previous = Row("projects", "new-2023-05-01-1", 1, "blank", "", last, values)
        row = rows_for(spec, "县发改局", period, [previous])["projects"]["new-2023-05-01-1"]
        assert row.kind == "carried" and row.values["name"] == "自建码头" and row.values["total"] == 5000.0
        assert row.values["plan"] == plan
        assert row.is_input(table.column("plan")) is opened
        assert row.is_locked(table.column("total")) and not row.is_locked(table.column("invested"))


def test_templates_of_a_year_use_that_years_values(spec):
    dec = rows_for(spec, "县发改局", (2023, 12))
    jan = rows_for(spec, "县发改局", (2024, 1))
    assert (dec["indicators"]["01-I01"].values["annual"], jan["indicators"]["01-I01"].values["annual"]) == (50, 55)
    assert dec["tasks"]["01-T01"].values["milestone"] == "2023年滚动推进60个"
    assert (dec["projects"]["01-P01"].values["plan"], jan["projects"]["01-P01"].values["plan"]) == (20000, 30000)
    assert jan["indicators"]["01-I01"].extra["schedule"] == pytest.approx(0.0)   # plan: nothing by January
    assert dec["indicators"]["01-I01"].extra["schedule"] == 1.0


# -- plan_cumulative ----------------------------------------------------------------------------

def test_plan_cumulative_schedule_runs_over_the_plan(spec):
    ind = item(spec, "indicators", "01-I03")
    assert ind.annual_for(2024) == 120                   # 600 over five years: this year's share
    assert ind.planned_share(Period(2023, 6)) == pytest.approx(6 / 60, abs=1e-6)
    assert ind.planned_share(Period(2024, 6)) == pytest.approx(18 / 60, abs=1e-6)
    assert ind.planned_share(Period(2027, 12)) == 1.0


def test_plan_cumulative_row_adds_earlier_years(spec):
    rows = unit_rows(spec, "县发改局", Period(2024, 6), (), earlier={"01-I03": 130.0})
    row = next(r for r in rows["indicators"] if r.key == "01-I03")
    assert row.values["earlier"] == 130.0
    row.values["actual"] = 20.0
    table = TABLES["indicators"]
    r = 5
    text, rate = formula_for(table, table.column("rate"), row, r)
    assert rate == pytest.approx(150 / 600)
    e, a, t = (f"{chr(65 + table.index(k))}{r + 1}" for k in ("earlier", "actual", "target"))
    assert text == f'=IFERROR(IF(AND(ISNUMBER({a}),ISNUMBER({t})),IF({t}=0,"",(N({e})+{a})/{t}),""),"")'
    _text, colour = formula_for(table, table.column("light"), row, r)
    assert colour == light(150 / 600, 0.3, spec.yellow) == "黄"
    # other indicators leave 往年累计完成 empty and keep 本年累计 ÷ 年度目标
    other = next(r for r in rows["indicators"] if r.key == "01-I01")
    assert other.values["earlier"] is None
    other.values["actual"] = 27.5
    assert formula_for(table, table.column("rate"), other, r)[1] == pytest.approx(0.5)


def accept(ledger, period, unit, rows):
    """Record an accepted return that stands for (unit, period)."""
    sha = f"{unit}-{period}"
    ledger.record_version("testy", period, unit, sha, dt.datetime.fromisoformat(f"{period}-05"), "",
                          [Row(t, k, p, kind, unit, period, v) for t, k, p, kind, v in rows])
    ledger.set_standing("testy", period, {**ledger.standing("testy", period), unit: sha})


def test_ledger_year_end_values_take_each_years_latest_accepted(tmp_path, spec):
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        for period, actual, state in (("2023-11", 90.0, "正常推进"), ("2023-12", 110.0, "已完成"),
                                      ("2024-03", 30.0, "已完成"), ("2024-05", 45.0, None)):
            rows = [("indicators", "01-I03", 1, "spec", {"actual": actual})]
            if state:
                rows.append(("tasks", "01-T02", 1, "spec", {"state": state}))
            accept(ledger, period, "县发改局", rows)
        accept(ledger, "2023-12", "县财政局", [("indicators", "01-I03", 1, "spec", {"actual": 999.0})])
        assert ledger.year_end_values("testy", "县发改局", "indicators", "01-I03", 2025) == {2023: 110.0, 2024: 45.0}
        assert ledger.year_end_values("testy", "县发改局", "indicators", "01-I03", 2024) == {2023: 110.0}
        assert ledger.year_end_values("testy", "县发改局", "tasks", "01-T02", 2025, "state") == \
            {2023: "已完成", 2024: "已完成"}
        earlier, finished = earlier_years(ledger, spec, "县发改局", 2024)
        assert earlier == {"01-I03": 110.0} and finished == {"01-T02"}
        assert earlier_years(ledger, spec, "县发改局", 2023) == ({"01-I03": 0.0}, set())


# -- stable identities ----------------------------------------------------------------------------

def test_unit_codes_come_from_names_not_positions():
    spec = parse_spec(texts())
    assert spec.unit_code("县财政局") == default_unit_code("县财政局")
    inserted = parse_spec(texts(county=COUNTY.replace("  - name: 县财政局\n",
                                                      "  - name: 县气象局\n  - name: 县财政局\n")))
    assert all(inserted.unit_code(u.name) == spec.unit_code(u.name) for u in spec.units)
    coded = parse_spec(texts(county=COUNTY.replace("  - name: 甲镇\n", "  - name: 甲镇\n    code: jz01\n")))
    assert coded.unit_code("甲镇") == "JZ01"
    project = spec.projects[0]
    assert problem_code(spec, project, "甲镇", Period(2023, 5), 2) == f"01-2305-{spec.unit_code('甲镇')}-2"
    with pytest.raises(SpecError) as info:
        parse_spec(texts(county=COUNTY.replace("  - name: 甲镇\n", "  - name: 甲镇\n    code: "
                                               + default_unit_code("县财政局") + "\n")))
    assert info.value.codes == ["P051"]


def test_inserting_a_unit_changes_only_its_own_templates(tmp_path):
    folder = tmp_path / "specs" / "shengsi"
    shutil.copytree(EXAMPLES / "shengsi", folder)
    key = b"k" * 32
    period = Period(2023, 5)
    before = generate(load_spec(folder), period, tmp_path / "before", key)
    county = (folder / "county.yaml").read_text(encoding="utf-8")
    after = county.index("  - name: ", county.index("  - name: 县发改局\n") + 1)   # the entry after 县发改局
    (folder / "county.yaml").write_text(county[:after] + "  - name: 县气象局\n" + county[after:], encoding="utf-8")
    project = (folder / "projects" / "09.yaml").read_text(encoding="utf-8")
    (folder / "projects" / "09.yaml").write_text(project.replace("\nunits: [", "\nunits: [县气象局, ", 1),
                                                 encoding="utf-8")
    after_spec = load_spec(folder)
    names = [u.name for u in after_spec.units]
    assert names.index("县气象局") == names.index("县发改局") + 1 and "县气象局" in after_spec.responsible_units
    after = generate(after_spec, period, tmp_path / "after", key)
    old = {unit: path.read_bytes() for unit, path, _m, _r in before}
    new = {unit: path.read_bytes() for unit, path, _m, _r in after}
    assert set(new) - set(old) == {"县气象局"}
    changed = [unit for unit in old if old[unit] != new[unit]]
    assert changed == []


# -- through the CLI and the ledger ------------------------------------------------------------

def annual_cell(path, row_key):
    ws = openpyxl.load_workbook(path)["主要指标"]
    r = demo.row_index(ws, TABLES["indicators"])[row_key]
    return ws.cell(r, TABLES["indicators"].index("annual") + 1).value


def test_cli_december_and_january_templates_use_their_years_annual(tmp_path):
    root = tmp_path / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    path = root / "specs" / "shengsi" / "projects" / "01.yaml"
    text = path.read_text(encoding="utf-8")
    assert "    annual: 120\n" in text
    path.write_text(text.replace("    annual: 120\n", "    annual: {2023: 50, 2024: 55}\n", 1), encoding="utf-8")
    runner = CliRunner()
    for period in ("2023-12", "2024-01"):
        result = runner.invoke(main, ["generate", "--root", str(root), "--spec", "specs/shengsi", "--period", period])
        assert result.exit_code == 0, result.output
    templates = root / "templates" / "shengsi"
    assert annual_cell(templates / "2023-12" / "县发改局.xlsx", "01-I02") == 50
    assert annual_cell(templates / "2024-01" / "县发改局.xlsx", "01-I02") == 55


def test_a_year_end_flows_into_next_years_templates(tmp_path):
    """2023-12 accepted → 2024-01: plan total carried, recurring task restarted, finished task gone;
    2024-01 accepted → 2024-02: still so."""
    root = tmp_path / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    unit = "县发改局"
    rng = random.Random(3)
    done_task = "01-T02"
    for n, period in enumerate(("2023-12", "2024-01")):
        _spec, p, out_dir, _results = generate_templates(*objects(root, "specs/shengsi", period), [unit])
        wb = demo.open_template(out_dir / f"{unit}.xlsx")
        demo.fill_correctly(wb, p, rng)
        demo.set_cell(wb, "indicators", "01-I03", "actual", 100.0 + n)
        if period == "2023-12":
            demo.set_cell(wb, "tasks", done_task, "state", "已完成")
            demo.set_cell(wb, "tasks", done_task, "done", dt.datetime(2023, 12, 20))
            added = demo.add_project(wb, "自建码头", 5000, 2000, 1800, p)
        else:
            ws = wb["重大项目"]
            r = demo.row_index(ws, TABLES["projects"])[added]
            assert not ws.cell(r, TABLES["projects"].index("plan") + 1).protection.locked   # 2024's plan asked
            assert ws.cell(r, TABLES["projects"].index("total") + 1).protection.locked
            demo.set_cell(wb, "projects", added, "plan", 2500)
        path = root / "inbox" / f"{period}.xlsx"
        path.parent.mkdir(exist_ok=True)
        wb.save(path)
        demo.set_received(path, dt.datetime(p.next().year, p.next().month, 2, 9))
        summary = consolidate(*objects(root, "specs/shengsi", period))
        assert unit in summary["accepted"], summary["files"]
    for period, earlier in (("2024-01", 100.0), ("2024-02", 100.0)):
        template = root / "templates" / "shengsi" / period / f"{unit}.xlsx"
        if not template.exists():
            generate_templates(*objects(root, "specs/shengsi", period), [unit])
        rows = {t: dict(demo.rows_of(demo.open_template(template), t)) for t in ("indicators", "tasks")}
        assert rows["indicators"]["01-I03"]["earlier"] == earlier
        assert done_task not in rows["tasks"]
        assert rows["tasks"]["01-T01"]["milestone"].startswith("2023年")   # 2024 not given yet: falls back
    jan = dict(demo.rows_of(demo.open_template(root / "templates/shengsi/2024-01" / f"{unit}.xlsx"), "tasks"))
    assert jan["01-T01"]["state"] == "未启动"
    master = openpyxl.load_workbook(root / "consolidated/shengsi/2024-01/汇总表.xlsx")["主要指标"]
    headers = [c.value for c in master[2]]
    row = next(r for r in master.iter_rows(min_row=3, values_only=True) if r[headers.index("指标名称")] == "五年累计完成投资")
    assert row[headers.index("往年累计完成")] == 100.0 and row[headers.index("本年累计完成")] == 101.0
    assert row[headers.index("完成率")] == pytest.approx(201 / 600)
    projects = openpyxl.load_workbook(root / "consolidated/shengsi/2024-01/汇总表.xlsx")["重大项目"]
    headers = [c.value for c in projects[2]]
    row = next(r for r in projects.iter_rows(min_row=3, values_only=True) if r[headers.index("项目名称")] == "自建码头")
    assert row[headers.index("年度计划投资(万元)")] == 2500 and row[headers.index("总投资(万元)")] == 5000
