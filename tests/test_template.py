import zipfile

import openpyxl
import pytest

from conftest import objects
from workbook_tool import signing
from workbook_tool.checks import identify
from workbook_tool.desk import Period
from workbook_tool.reader import read_return
from workbook_tool.spec import load_spec
from workbook_tool.tables import FORMULA, TABLES
from workbook_tool.carry import unit_rows
from workbook_tool.template import FIRST_DATA_ROW, write_template
from workbook_tool.workflow import EXAMPLES, generate_templates


def key_of(desk):
    return signing.load_key(desk / ".workbook-tool-secret", create=False)


def test_every_responsible_unit_gets_a_workbook(may):
    files = sorted(p.name for p in may.out_dir.glob("*.xlsx"))
    assert "分发清单.xlsx" in files
    assert len(files) == len(may.spec.responsible_units) + 1
    listing = openpyxl.load_workbook(may.out_dir / "分发清单.xlsx").active
    units = [listing.cell(r, 2).value for r in range(3, listing.max_row + 1)]
    assert units == list(may.spec.responsible_units)


def test_yunhe_has_three_tables(yunhe_desk):
    spec, period, out_dir, results = generate_templates(*objects(yunhe_desk, "specs/yunhe", "2023-05"))
    wb = openpyxl.load_workbook(out_dir / "县发改局.xlsx")
    assert wb.sheetnames == ["填报说明", "主要指标", "重点任务", "问题销号", "_meta"]


def test_unit_serving_three_projects_sees_rows_of_all(may):
    spec = may.spec
    unit = next(u for u in spec.responsible_units if len(spec.projects_of(u)) >= 3)
    wb = openpyxl.load_workbook(may.template(unit))
    ws = wb["问题销号"]
    projects = {ws.cell(r, 1).value for r in range(FIRST_DATA_ROW + 1, ws.max_row + 1)}
    assert projects == {p.name for p in spec.projects_of(unit)}


def test_structure_protection_and_metadata(may):
    path = may.template("县发改局")
    with zipfile.ZipFile(path) as zf:
        assert b'<workbookProtection lockStructure="1"/>' in zf.read("xl/workbook.xml")
    wb = openpyxl.load_workbook(path)
    assert wb.security.lockStructure
    assert wb["_meta"].sheet_state == "veryHidden"
    for ws in wb.worksheets:
        assert ws.protection.sheet, ws.title
    assert "secret" not in zipfile.ZipFile(path).read("xl/sharedStrings.xml").decode()
    assert key_of(may.root).decode() not in b"".join(
        zipfile.ZipFile(path).read(n) for n in zipfile.ZipFile(path).namelist()).decode("utf-8", "replace")


@pytest.mark.parametrize("table_key", ["indicators", "tasks", "projects", "problems"])
def test_locked_and_unlocked_cells_and_validations(may, table_key):
    table = TABLES[table_key]
    spec = may.spec
    rows = unit_rows(spec, "县发改局", may.period)[table_key]
    assert rows, "the lead unit has rows in every table"
    wb = openpyxl.load_workbook(may.template("县发改局"))
    ws = wb[table.sheet]
    validated = set()
    for dv in ws.data_validations.dataValidation:
        assert dv.errorStyle in (None, "stop") and dv.showErrorMessage
        assert dv.promptTitle and dv.error
        for rng in dv.sqref.ranges:
            for row in ws.iter_rows(min_row=rng.min_row, max_row=rng.max_row, min_col=rng.min_col,
                                    max_col=rng.max_col):
                validated.update(c.coordinate for c in row)
    for i, row in enumerate(rows):
        r = FIRST_DATA_ROW + 1 + i
        for c, col in enumerate(table.columns, start=1):
            cell = ws.cell(r, c)
            if row.is_input(col):
                assert cell.protection.locked is False, cell.coordinate
                assert cell.fill.fgColor.rgb.endswith("FFF2CC"), cell.coordinate
                assert cell.coordinate in validated, cell.coordinate
            else:
                assert cell.protection.locked is not False, cell.coordinate
                assert cell.coordinate not in validated, cell.coordinate
            if col.mode == FORMULA:
                assert str(cell.value).startswith("="), cell.coordinate


def test_enum_dropdown_uses_the_choices(may):
    ws = openpyxl.load_workbook(may.template("县发改局"))["重点任务"]
    lists = [dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"]
    assert lists and all(f == '"未启动,正常推进,滞后,已完成"' for f in lists)


def test_signature_verifies_and_fails_after_one_locked_cell_changes(may):
    key = key_of(may.root)
    result = read_return(may.template("县发改局").read_bytes())
    assert identify(result, may.spec, may.period, key) == ("ok", [])
    # the metadata copy of locked content is signed: change one locked value there
    record = result.records[0]
    column = next(iter(k for k in record["v"] if k != "project"))
    record["v"][column] = record["v"][column] + "x"
    status, findings = identify(result, may.spec, may.period, key)
    assert status == "reject" and findings[0].code == "F004"


def test_another_key_does_not_verify(may):
    result = read_return(may.template("县发改局").read_bytes())
    status, findings = identify(result, may.spec, may.period, b"another office")
    assert status == "reject" and findings[0].code == "F004"


def test_generation_is_deterministic(may):
    first = may.template("县经信局").read_bytes()
    generate_templates(*objects(may.root, "specs/shengsi", "2023-05"), units=["县经信局"])
    assert may.template("县经信局").read_bytes() == first


def test_cached_formula_values_are_correct(tmp_path):
    spec = load_spec(EXAMPLES / "shengsi")
    period = Period(2023, 6)
    rows = unit_rows(spec, "县发改局", period)
    ind = rows["indicators"][1]
    ind.values["actual"] = ind.values["annual"] * 0.25
    path = tmp_path / "t.xlsx"
    write_template(spec, "县发改局", period, rows, b"k", path)
    ws = openpyxl.load_workbook(path, data_only=True)["主要指标"]
    r = FIRST_DATA_ROW + 2
    table = TABLES["indicators"]
    assert ws.cell(r, table.index("rate") + 1).value == pytest.approx(0.25)
    assert ws.cell(r, table.index("schedule") + 1).value == pytest.approx(
        ind.extra["schedule"])
    expected_light = "绿" if 0.25 >= ind.extra["schedule"] else (
        "黄" if 0.25 >= ind.extra["schedule"] - 0.1 else "红")
    assert ws.cell(r, table.index("light") + 1).value == expected_light


def test_print_setup(may):
    with zipfile.ZipFile(may.template("县发改局")) as zf:
        sheet = zf.read("xl/worksheets/sheet2.xml").decode()
        workbook = zf.read("xl/workbook.xml").decode()
    assert 'orientation="landscape"' in sheet and 'paperSize="9"' in sheet
    assert 'fitToHeight="0"' in sheet and "<pane" in sheet and "&amp;P" in sheet
    assert "_xlnm.Print_Titles" in workbook


def test_unknown_unit_option_is_refused(desk):
    from workbook_tool.desk import DeskError
    with pytest.raises(DeskError, match="县不存在局"):
        generate_templates(*objects(desk, "specs/shengsi", "2023-05"), units=["县不存在局"])
