import json

import pytest
from click.testing import CliRunner

from workbook_tool.cli import main
from workbook_tool.spec import SpecError, load_spec
from workbook_tool.workflow import EXAMPLES


@pytest.fixture(scope="module")
def shengsi():
    return load_spec(EXAMPLES / "shengsi")


@pytest.fixture(scope="module")
def yunhe():
    return load_spec(EXAMPLES / "yunhe")


def indicator(spec, project_no, name_part):
    project = spec.projects[project_no - 1]
    found = [i for i in project.indicators if name_part in i.name]
    assert found, f"no indicator like {name_part} in project {project_no}"
    return found[0]


def test_shengsi_structure(shengsi):
    assert shengsi.county == "嵊泗县"
    assert shengsi.tables == ("indicators", "tasks", "projects", "problems")
    assert [p.no for p in shengsi.projects] == list(range(1, 11))
    assert shengsi.projects[0].name == "扩大有效投资“千项万亿”工程"
    assert shengsi.projects[0].convener == "县委常委、常务副县长宋晖"
    assert shengsi.projects[4].lead_units == ("县交通运输局", "市港航中心嵊泗分中心")
    assert all(len(p.lead_units) == 1 for p in shengsi.projects if p.no != 5)
    assert shengsi.projects[9].lead_units == ("县府办",)
    # 各乡镇 expanded into the seven townships
    assert {"菜园镇", "嵊山镇", "洋山镇", "五龙乡", "黄龙乡", "枸杞乡", "花鸟乡"} <= set(shengsi.projects[0].units)
    assert sum(len(p.indicators) for p in shengsi.projects) >= 60


def test_shengsi_targets(shengsi):
    total = indicator(shengsi, 1, "累计")
    assert (total.target, total.measure, total.year) == (600, "亿元", 2027)
    yearly = [i for i in shengsi.projects[0].indicators if i.target == 120]
    assert yearly and yearly[0].measure == "亿元"
    burden = indicator(shengsi, 10, "负担率")
    assert (burden.target, burden.direction) == (15, "lower")
    wind = indicator(shengsi, 9, "风电")
    assert (wind.target, wind.measure) == (100, "万千瓦")


def test_yunhe_structure(yunhe):
    assert yunhe.county == "云和县"
    assert yunhe.tables == ("indicators", "tasks", "problems")
    assert [p.no for p in yunhe.projects] == list(range(1, 11))
    assert yunhe.projects[9].lead_units == ("县民政局",)
    assert yunhe.projects[2].convener.startswith("颜韬")
    rd = indicator(yunhe, 3, "R&D")
    assert (rd.target, rd.measure, rd.direction) == (2, "%", "higher")
    burden = indicator(yunhe, 10, "负担率")
    assert (burden.target, burden.direction) == (10, "lower")
    # both spellings of one unit resolve to the same registry entry
    assert yunhe.resolve("县人社保局") == yunhe.resolve("县人力社保局")


def test_check_spec_cli_summary_and_json():
    runner = CliRunner()
    for county in ("shengsi", "yunhe"):
        result = runner.invoke(main, ["check-spec", "--spec", str(EXAMPLES / county)])
        assert result.exit_code == 0, result.output
        assert "规格检查通过" in result.output
    result = runner.invoke(main, ["check-spec", "--json", "--spec", str(EXAMPLES / "shengsi")])
    data = json.loads(result.output)
    assert data["county"] == "嵊泗县"
    assert len(data["projects"]) == 10
    first = data["projects"][0]
    assert {"no", "name", "convener", "lead_units", "units", "indicators", "tasks"} <= set(first)
    assert {"name", "measure", "target", "year", "direction"} <= set(first["indicators"][0])
    assert all({"name", "aliases"} <= set(u) for u in data["units"])


COUNTY = """\
county: 测试县
code: testy
plan_years: [2023, 2027]
tables: [indicators, tasks, problems]
units:
  - name: 县发改局
  - name: 县人力社保局
    aliases: [县人社保局]
  - name: 甲镇
groups:
  各乡镇: [甲镇]
"""

PROJECT = """\
no: 1
name: 测试工程
convener: 副县长某某
lead_units: [县发改局]
units: [县人社保局, 各乡镇]
goal: 到2027年完成投资100亿元。
indicators:
  - id: "01-I01"
    name: 完成投资
    measure: 亿元
    target: 100
    year: 2027
    direction: higher
    kind: cumulative
tasks:
  - id: "01-T01"
    name: 推进项目
    due: 2023-12-31
"""


def write_spec(tmp_path, county=COUNTY, project=PROJECT):
    folder = tmp_path / "specs" / "testy"
    (folder / "projects").mkdir(parents=True)
    (folder / "county.yaml").write_text(county, encoding="utf-8")
    (folder / "projects" / "01.yaml").write_text(project, encoding="utf-8")
    return folder


def test_minimal_spec_loads(tmp_path):
    spec = load_spec(write_spec(tmp_path))
    assert spec.projects[0].units == ("县人力社保局", "甲镇")
    assert spec.projects[0].indicators[0].annual == 20   # 100 over five plan years


BROKEN = [
    # (which file, old text, new text, expected code, where, params it names)
    ("project", "units: [县人社保局, 各乡镇]", "units: [县人社局, 各乡镇]",
     "P054", "testy/projects/01.yaml:5", {"name": "县人社局", "hint": "，是否应为 '县人社保局'？"}),
    ("project", "    direction: higher", "    direction: up", "P018", "testy/projects/01.yaml:13", {"value": "up"}),
    ("project", "    target: 100", "    target: 约100", "P013", "testy/projects/01.yaml:11", {"value": "约100"}),
    ("project", "    due: 2023-12-31", "    due: 2023-13-31", "P014", "testy/projects/01.yaml:18",
     {"value": "2023-13-31"}),
    ("project", "goal: 到2027", "gaol: 到2027", "P010", "testy/projects/01.yaml:6",
     {"key": "gaol", "hint": "，是否应为 'goal'？"}),
    ("project", '  - id: "01-T01"', '  - id: "01-I01"', "P064", "testy/projects/01.yaml:16",
     {"value": "01-I01", "other": "01.yaml:8"}),
    ("project", "convener: 副县长某某\n", "", "P011", "testy/projects/01.yaml:1", {"key": "convener"}),
    ("county", "tables: [indicators, tasks, problems]", "tables: [indicators, task, problems]",
     "P042", "testy/county.yaml:4", {"value": "task", "hint": "，是否应为 'tasks'？"}),
    ("county", "  各乡镇: [甲镇]", "  各乡镇: [乙镇]", "P054", "testy/county.yaml:11", {"name": "乙镇"}),
    ("county", "  - name: 甲镇", "  - name: 县发改局", "P050", "testy/county.yaml:9", {"name": "县发改局"}),
    ("project", "indicators:", "major_projects:\n  - id: P1\n    name: x\n    owner: 县发改局\n"
                                "    total_investment: 1\n    annual_plan: 1\nindicators:",
     "P044", "testy/projects/01.yaml:7", {"table": "projects"}),
    ("project", "name: 测试工程", "name: [测试工程", "P003", "testy/projects/01.yaml:3", {}),
    ("project", "lead_units: [县发改局]", "lead_units: [各乡镇]", "P056", "testy/projects/01.yaml:4", {}),
    ("county", "deadline_day: 5\n", "deadline_day: 31\n", "P019", "testy/county.yaml:12", {"high": 28}),
]


def has(problems, code, where, params):
    return any(p.code == code and str(p.location) == where and params.items() <= dict(p.params).items()
               for p in problems)


@pytest.mark.parametrize("where,old,new,code,location,params", BROKEN,
                         ids=[f"{b[3]}-{i}" for i, b in enumerate(BROKEN)])
def test_broken_spec_reports_code_and_place(tmp_path, where, old, new, code, location, params):
    county, project = COUNTY + "deadline_day: 5\n", PROJECT
    if where == "county":
        assert old in county
        county = county.replace(old, new)
    else:
        assert old in project
        project = project.replace(old, new)
    folder = write_spec(tmp_path, county, project)
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert has(info.value.issues, code, location, params), info.value.problems
    # each problem renders as "file:line: message"
    assert all(p.startswith(f"{i.location}: ") for p, i in zip(info.value.problems, info.value.issues))


def test_check_spec_cli_reports_all_errors_without_traceback(tmp_path):
    project = PROJECT.replace("[县人社保局, 各乡镇]", "[县人社局, 各乡镇]").replace("higher", "up")
    folder = write_spec(tmp_path, project=project)
    result = CliRunner().invoke(main, ["check-spec", "--spec", str(folder)])
    assert result.exit_code == 1
    assert "01.yaml:5:" in result.output and "01.yaml:13:" in result.output
    assert "是否应为 '县人社保局'" in result.output
    assert "Traceback" not in result.output
