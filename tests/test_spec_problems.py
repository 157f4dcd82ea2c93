"""Every spec problem code is produced by at least one case: deleting a check breaks a test."""
import pytest

from workbook_tool.spec import CATALOGUE, SpecError, parse_spec

COUNTY = """\
county: 测试县
code: testy
plan_years: [2023, 2027]
tables: [indicators, tasks, projects, problems]
deadline_day: 5
lights:
  yellow: 10
limits:
  max_file_mb: 50
units:
  - name: 县发改局
  - name: 县财政局
    aliases: [县财政]
    email: cz@example.cn
  - name: 甲镇
groups:
  各乡镇: [甲镇]
office:
  host_unit: 县发改局
"""

PROJECT = """\
no: 1
name: 测试工程
convener: 副县长某某
lead_units: [县发改局]
units: [县财政局, 各乡镇]
goal: 到2027年完成投资600亿元。
indicators:
  - id: "01-I01"
    name: 年度完成投资
    measure: 亿元
    target: 120
    year: 2027
    direction: higher
    kind: cumulative
    annual: {2023: 50, 2024: 55}
    plan: {3: 10, 6: 25}
tasks:
  - id: "01-T01"
    name: 推进项目
    milestone: 开工
    due: 2023-12-31
    units: [县财政局]
major_projects:
  - id: "01-P01"
    name: 码头工程
    owner: 县发改局
    total_investment: 100000
    annual_plan: 20000
problems:
  - id: "01-Q01"
    description: 用地不足
"""

# code: (file, old text, new text) — one edit of the valid spec above that must produce the code
CASES = {
    "P002": ("county", "county: 测试县", b"\xff\xfe\x00"),
    "P003": ("project", "name: 测试工程", "name: [测试工程"),
    "P004": ("project", PROJECT, "- 1\n"),
    "P010": ("project", "goal:", "gaol: x\ngoal:"),
    "P011": ("project", "convener: 副县长某某\n", ""),
    "P012": ("project", "name: 测试工程", "name: [测试工程]"),
    "P013": ("project", "    target: 120", "    target: 约120"),
    "P014": ("project", "    due: 2023-12-31", "    due: 2023-13-31"),
    "P015": ("county", "    aliases: [县财政]", "    aliases: {a: 1}"),
    "P016": ("project", "tasks:\n", "tasks: x\nfoo:\n"),
    "P017": ("county", "lights:\n  yellow: 10", "lights: 10"),
    "P018": ("project", "    direction: higher", "    direction: up"),
    "P019": ("county", "deadline_day: 5", "deadline_day: 31"),
    "P020": ("county", "  yellow: 10", "  yellow: 200"),
    "P021": ("project", "no: 1", "no: 0"),
    "P022": ("county", "    email: cz@example.cn", "    email: cz.example.cn"),
    "P030": ("project", "annual: {2023: 50, 2024: 55}", "annual: {2023: 50, 2031: 55}"),
    "P031": ("project", "    milestone: 开工", "    milestone: {2023: [开工]}"),
    "P032": ("project", "    plan: {3: 10, 6: 25}", "    plan: {13: 10}"),
    "P033": ("project", "    plan: {3: 10, 6: 25}", "    plan: {3: 10, 6: 5}"),
    "P040": ("county", "plan_years: [2023, 2027]", "plan_years: [2027, 2023]"),
    "P041": ("county", "tables: [indicators, tasks, projects, problems]", "tables: []"),
    "P042": ("county", "tables: [indicators, tasks, projects, problems]",
             "tables: [indicators, task, projects, problems, tasks]"),
    "P043": ("county", "tables: [indicators, tasks, projects, problems]",
             "tables: [indicators, tasks, tasks, projects, problems]"),
    "P044": ("county", "tables: [indicators, tasks, projects, problems]", "tables: [indicators, tasks, problems]"),
    "P050": ("county", "  - name: 甲镇", "  - name: 县发改局"),
    "P051": ("county", "  - name: 甲镇", "  - name: 甲镇\n    code: J1\n  - name: 乙镇\n    code: j1"),
    "P052": ("county", "  各乡镇: [甲镇]", "  各乡镇: [甲镇]\n  甲镇: [甲镇]"),
    "P053": ("county", "  各乡镇: [甲镇]", "  各乡镇: []"),
    "P054": ("project", "units: [县财政局, 各乡镇]", "units: [县财政厅, 各乡镇]"),
    "P055": ("project", "units: [县财政局, 各乡镇]", "units: [县财政局, 5]"),
    "P056": ("project", "lead_units: [县发改局]", "lead_units: [县发改局, 各乡镇]"),
    "P060": ("project", "lead_units: [县发改局]", "lead_units: []"),
    "P061": ("project", "units: [县财政局, 各乡镇]", "units: [各乡镇]"),     # the task's 县财政局 no longer serves
    "P063": ("project", '  - id: "01-Q01"', "  - id: ''"),
    "P064": ("project", '  - id: "01-Q01"', '  - id: "01-I01"'),
    "P065": ("project", "    direction: higher\n    kind: cumulative",
             "    direction: lower\n    kind: plan_cumulative"),
    "P066": ("project", "    kind: cumulative", "    kind: plan_cumulative"),
    "P067": ("project", "    year: 2027\n    direction: higher\n    kind: cumulative",
             "    year: 2030\n    direction: higher\n    kind: plan_cumulative"),
    "P070": ("county", "  - name: 甲镇", "  - name: " + "很长的单位名称" * 7),
    "P071": ("county", "  - name: 甲镇", '  - name: "甲\\t镇"'),
    "P072": ("county", "  - name: 甲镇", '  - name: "县发改局 <evil@attacker.cn>, x"'),
    "P073": ("county", "county: 测试县", 'county: "测试县\\n抄送 x"'),
    "P074": ("county", "  - name: 甲镇", "  - name: 甲镇\n  - name: 乙_镇\n  - name: 乙 镇"),
    "P075": ("county", "units:\n", "big: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\nunits:\n"),
}


def parse(county=COUNTY, projects=(PROJECT,)):
    texts = {"county.yaml": county}
    texts.update({f"projects/{i + 1:02d}.yaml": p for i, p in enumerate(projects)})
    return parse_spec(texts, "specs/testy")


def test_the_case_spec_is_valid():
    spec = parse()
    assert spec.projects[0].units == ("县财政局", "甲镇")


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_check_reports_its_code(code):
    where, old, new = CASES[code]
    county, project = COUNTY, PROJECT
    if where == "county":
        assert old in county
        county = new if isinstance(new, bytes) else county.replace(old, new)
    else:
        assert old in project
        project = project.replace(old, new)
    with pytest.raises(SpecError) as info:
        parse(county, (project,))
    assert code in info.value.codes, info.value.problems


def test_codes_of_the_spec_as_a_whole():
    with pytest.raises(SpecError) as info:
        parse(projects=())
    assert info.value.codes == ["P005"]
    with pytest.raises(SpecError) as info:
        parse(projects=(PROJECT, PROJECT.replace('"01-', '"02-')))
    assert info.value.codes == ["P062"]
    with pytest.raises(SpecError) as info:
        parse_spec({"projects/01.yaml": PROJECT}, "specs/testy")
    assert info.value.codes == ["P001"]


# cases in test_spec_workbook.py
WORKBOOK_ONLY = {"P006", "P007", "P023", "P024", "P025", "P026", "P027", "P034", "P035", "P068", "P069"}


def test_every_catalogue_code_has_a_case():
    assert set(CATALOGUE) == set(CASES) | {"P001", "P005", "P062"} | WORKBOOK_ONLY
