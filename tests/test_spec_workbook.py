"""The spec as a workbook: export-spec, loading 规格.xlsx, problems located by sheet and cell."""
import datetime as dt
import shutil

import openpyxl
import pytest
from click.testing import CliRunner

from workbook_tool.cli import main
from workbook_tool.desk import Desk
from workbook_tool.spec import SpecError, load_spec, spec_as_json
from workbook_tool.spec.workbook_edit import update_spec_workbook
from workbook_tool.workflow import EXAMPLES

from conftest import REPO


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """规格.xlsx of both seed counties, each alone in a spec folder (written once per module)."""
    root = tmp_path_factory.mktemp("xlsx-specs")
    folders = {}
    for county in ("shengsi", "yunhe"):
        result = CliRunner().invoke(main, ["export-spec", "--spec", str(EXAMPLES / county),
                                           "--out", str(root / county / "规格.xlsx")])
        assert result.exit_code == 0, result.output
        folders[county] = root / county
    return folders


def copy_of(exported, tmp_path, county="yunhe"):
    folder = tmp_path / "specs" / county
    folder.mkdir(parents=True)
    shutil.copy(exported[county] / "规格.xlsx", folder / "规格.xlsx")
    return folder


@pytest.mark.parametrize("county", ["shengsi", "yunhe"])
def test_round_trip_gives_the_same_normalised_spec(exported, county):
    result = CliRunner().invoke(main, ["check-spec", "--json", "--spec", str(exported[county])])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == (REPO / "tests" / "golden" / f"{county}.spec.json").read_bytes()
    assert spec_as_json(load_spec(exported[county])) == spec_as_json(load_spec(EXAMPLES / county))


def test_the_workbook_has_dropdowns_a_hidden_list_and_a_guide(exported):
    wb = openpyxl.load_workbook(exported["shengsi"] / "规格.xlsx")
    assert wb.sheetnames[:2] == ["说明", "县设置"] and wb["名录"].sheet_state == "hidden"
    ws = wb["指标"]
    headers = [c.value for c in ws[1]]
    assert {"年度目标2023", "年度目标2027", "方向", "类型"} <= set(headers)
    sources = {str(v.sqref).split(":")[0].rstrip("0123456789"): v.formula1 for v in ws.data_validations.dataValidation}
    letter = lambda h: openpyxl.utils.get_column_letter(headers.index(h) + 1)  # noqa: E731
    assert sources[letter("方向")] == '"越高越好,越低越好"'
    assert sources[letter("责任单位")].startswith("名录!$B$2")            # units and groups, by range
    major = wb["重大项目"]
    owner = [c.value for c in major[1]].index("业主单位") + 1
    assert any(str(v.sqref).startswith(openpyxl.utils.get_column_letter(owner)) and v.formula1.startswith("名录!$A$2")
               for v in major.data_validations.dataValidation)
    guide = " ".join(str(c.value) for row in wb["说明"].iter_rows() for c in row if c.value)
    assert "月度计划" in guide and "编号（必填）" in guide


def cells(ws):
    headers = [c.value for c in ws[1]]
    return lambda header, row: ws.cell(row, headers.index(header) + 1)


def test_typical_office_mistakes_are_all_reported_with_sheet_and_cell(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    path = folder / "规格.xlsx"
    wb = openpyxl.load_workbook(path)
    ind = wb["指标"]
    cell = cells(ind)
    cell("责任单位", 3).value = "县人社局"                # misspelt: the registry has 县人社保局 / 县人力社保局
    cell("目标值", 4).value = "约100"                    # text in a number column
    first_id = cell("编号", 2).value
    tasks = cells(wb["重点任务"])
    tasks("编号", 2).value = first_id                    # an id used twice
    ind.delete_cols([c.value for c in ind[1]].index("计量单位") + 1)   # a required column gone
    wb.save(path)
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    found = {(p.code, str(p.location)) for p in info.value.issues}
    after = cells(openpyxl.load_workbook(path)["指标"])
    units_cell, target_cell = after("责任单位", 3).coordinate, after("目标值", 4).coordinate
    assert ("P023", "yunhe/规格.xlsx 指标!1:1") in found
    assert ("P054", f"yunhe/规格.xlsx 指标!{units_cell}") in found
    assert ("P013", f"yunhe/规格.xlsx 指标!{target_cell}") in found
    assert ("P064", f"yunhe/规格.xlsx 重点任务!{tasks('编号', 2).coordinate}") in found
    misspelt = next(p for p in info.value.issues if p.code == "P054")
    assert "县人社保局" in dict(misspelt.params)["hint"] or "县人力社保局" in dict(misspelt.params)["hint"]
    assert sum(p.code == "P023" for p in info.value.issues) == 1         # once, not once per row
    result = CliRunner().invoke(main, ["check-spec", "--spec", str(folder)])
    assert result.exit_code == 1 and f"规格.xlsx 指标!{units_cell}: 单位 '县人社局' 不在单位名录中" in result.output
    assert "Traceback" not in result.output


def edit(path, sheet, header, row, value):
    wb = openpyxl.load_workbook(path)
    cells(wb[sheet])(header, row).value = value
    wb.save(path)


WORKBOOK_CASES = {
    # code: (sheet, header, row, value)
    "P024": ("指标", "计量单位", 1, "计量单"),            # an unknown column (a renamed header)
    "P025": ("指标", "指标名称", 2, None),               # an empty required cell
    "P034": ("指标", "年度目标2024", 2, 5),               # one value for every year and a year's value
    "P068": ("指标", "所属工程", 2, 42),                 # a project number 工程 does not have
    "P069": ("月度计划", "指标编号", 1, "指标编号"),       # (header kept) see test below
    "P027": ("县设置", "项目", 2, "县名称"),              # an unknown setting
    "P018": ("指标", "方向", 2, "越大越好"),               # not a choice of the dropdown
    "P014": ("重点任务", "计划完成时间", 2, "2023.12.31"),  # not a date
}


@pytest.mark.parametrize("code", [c for c in sorted(WORKBOOK_CASES) if c != "P069"])
def test_each_workbook_mistake_has_its_code(exported, tmp_path, code):
    folder = copy_of(exported, tmp_path)
    edit(folder / "规格.xlsx", *WORKBOOK_CASES[code])
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert code in info.value.codes, info.value.problems
    assert all(p.location.sheet and str(p.location).startswith("yunhe/规格.xlsx ") for p in info.value.issues)


def test_plan_rows_name_an_existing_indicator_once_per_year(exported, tmp_path):
    folder = copy_of(exported, tmp_path, "shengsi")
    path = folder / "规格.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["月度计划"]
    ws.append(["没有这个指标", None, None, None, 5])
    ind_id = cells(wb["指标"])("编号", 2).value
    ws.append([ind_id, None, None, None, 5])
    ws.append([ind_id, 2024, None, None, 6])
    wb.save(path)
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert sorted(set(info.value.codes)) == ["P035", "P069"], info.value.problems


def test_broken_files_and_folders(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    (folder / "规格.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert info.value.codes == ["P006"]
    shutil.copy(exported["yunhe"] / "规格.xlsx", folder / "规格.xlsx")
    wb = openpyxl.load_workbook(folder / "规格.xlsx")
    del wb["问题"]
    wb.save(folder / "规格.xlsx")
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert info.value.codes == ["P026"]
    shutil.copy(EXAMPLES / "yunhe" / "county.yaml", folder / "county.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    assert info.value.codes == ["P007"]


def test_desk_finds_a_spec_kept_as_a_workbook(exported, tmp_path):
    copy_of(exported, tmp_path)
    assert Desk(tmp_path).spec_folder(None) == tmp_path / "specs" / "yunhe"
    result = CliRunner().invoke(main, ["check-spec", "--root", str(tmp_path)])
    assert result.exit_code == 0 and "规格检查通过" in result.output


def test_update_spec_workbook_sets_cells_by_id_and_adds_rows_and_year_columns(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    path = folder / "规格.xlsx"
    before = load_spec(folder)
    project = before.projects[0]
    indicator, task = project.indicators[0], project.tasks[0]
    assert indicator.annual_by_year == () and task.due_by_year == ()
    changes = update_spec_workbook(path, [
        ("指标", indicator.id, "年度目标2024", 77.5),
        ("指标", indicator.id, "年度目标2028", 80),                  # a column the workbook lacks
        ("重点任务", task.id, "计划完成时间2024", dt.date(2024, 6, 30)),
        ("重点任务", "01-T99", "所属工程", 1),                        # a new row, found again by its id
        ("重点任务", "01-T99", "任务名称", "新增的重点任务"),
        ("县设置", "报送截止日", "值", 8),
    ])
    assert [(c.sheet, c.column, c.new) for c in changes][:2] == [("指标", "年度目标2024", 77.5),
                                                               ("指标", "年度目标2028", 80)]
    assert changes[0].cell.startswith(cells(openpyxl.load_workbook(path)["指标"])("年度目标2024", 2).column_letter)
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    # a year's value beside the one value for every year is refused
    assert info.value.codes == ["P034", "P034"]
    # what a plan collection does: the year columns take over from the one value
    update_spec_workbook(path, [("指标", indicator.id, "年度目标2028", None), ("指标", indicator.id, "年度目标", None),
                                ("指标", indicator.id, "年度目标2023", indicator.annual_for(2023)),
                                ("重点任务", task.id, "计划完成时间", None),
                                ("重点任务", task.id, "计划完成时间2023", task.due_for(2023))])
    after = load_spec(folder)
    ind = after.projects[0].indicators[0]
    assert ind.annual_for(2024) == 77.5 and after.deadline_day == 8
    assert after.projects[0].tasks[0].due_for(2024) == dt.date(2024, 6, 30)
    new = [t for t in after.projects[0].tasks if t.id == "01-T99"]
    assert new and new[0].name == "新增的重点任务" and new[0].units == project.lead_units
    assert update_spec_workbook(path, [("县设置", "报送截止日", "值", 8)]) == []   # nothing changed
