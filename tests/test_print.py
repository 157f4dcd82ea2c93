"""How outputs look, asserted on the files: fonts, row heights, A4 page setup, guarded formulas,
feedback wording and date, check-spec warnings, click in Chinese (LibreOffice renders them in
test_print_pdf.py)."""
import ast
import datetime as dt
import math
import re
from pathlib import Path

import click
import openpyxl
import pytest
from click.testing import CliRunner

from conftest import objects
from workbook_tool import cli_zh
from workbook_tool.cli import main
from workbook_tool.consolidate import consolidate
from workbook_tool.feedback import plain_place, resubmit_date
from workbook_tool.desk import Period
from workbook_tool.findings import Finding
from workbook_tool.layout import A4_LANDSCAPE_PX, MIN_SCALE, column_px, working_days_after, wrapped_lines
from workbook_tool.spec import SpecError, load_spec, short_name
from workbook_tool import demo

TABLE_SHEETS = ("主要指标", "重点任务", "重大项目", "问题销号")


def lines_needed(text, width):
    """An estimate independent of layout.py: full-width glyphs of 10 pt (13.3 px) in the column."""
    per_line = max(1, math.floor((7 * width + 5 - 6) / 13.4))
    return sum(max(1, math.ceil(sum(1 if ord(c) > 0x2E80 else 0.55 for c in part) / per_line))
               for part in str(text).split("\n"))


def assert_rows_fit(ws, first_row, min_pitch=12.0):
    """Every wrapped text cell has a row tall enough for its lines (12 pt a line of 10 pt text)."""
    widths = {k: d.width for k, d in ws.column_dimensions.items() if d.width}
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            if not isinstance(cell.value, str) or cell.value.startswith("=") or not cell.alignment.wrap_text:
                continue
            width = widths.get(cell.column_letter)
            if width is None:
                continue
            need = lines_needed(cell.value, width)
            height = ws.row_dimensions[cell.row].height
            if need > 1:
                assert height and height >= need * min_pitch, (ws.title, cell.coordinate, cell.value, height)


def print_scale(ws):
    """The shrink a fit-to-width sheet gets on A4 landscape (1.0 when it is printed at 100 %)."""
    total = sum(column_px(d.width) for k, d in ws.column_dimensions.items()
                if d.width and not d.hidden and d.min and d.min <= ws.max_column)
    if ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage:
        return min(1.0, A4_LANDSCAPE_PX / total)
    return (ws.page_setup.scale or 100) / 100


# -- workbooks -------------------------------------------------------------------------------

def test_template_fonts_titles_and_body(may):
    wb = openpyxl.load_workbook(may.template("县发改局"))
    for name in TABLE_SHEETS:
        ws = wb[name]
        assert ws["A1"].font.name == "黑体" and ws["A3"].font.name == "黑体", name
        assert ws["A4"].font.name == "宋体" and ws["A4"].font.sz == 10, name
        assert ws["A4"].font.charset == 134, name             # GB2312: Excel/WPS fall back to a Chinese face
    assert wb["填报说明"]["A1"].font.name == "黑体"


def test_template_rows_fit_their_text(may):
    wb = openpyxl.load_workbook(may.template("县发改局"))
    for name in TABLE_SHEETS:
        assert_rows_fit(wb[name], 4)
    instructions = wb["填报说明"]
    assert_rows_fit(instructions, 3, min_pitch=13.0)
    projects_row = next(r for r in range(3, 30) if instructions.cell(r, 1).value == "参与工程")
    assert instructions.row_dimensions[projects_row].height >= 3 * 13


def test_every_table_sheet_prints_legibly_on_a4(may):
    wb = openpyxl.load_workbook(may.template("县发改局"))
    for name in TABLE_SHEETS:
        ws = wb[name]
        assert ws.page_setup.paperSize == 9 and ws.page_setup.orientation == "landscape", name
        assert print_scale(ws) >= MIN_SCALE, (name, print_scale(ws))
        assert ws.print_title_rows == "$1:$3", name


def _unit_with_empty_tables(may):
    from workbook_tool.carry import unit_rows
    for unit in may.spec.responsible_units:
        rows = unit_rows(may.spec, unit, may.period)
        empty = [t for t, r in rows.items() if not r]
        if empty:
            return unit, empty
    raise AssertionError("no unit with an empty table in the example county")


def test_township_tables_say_there_is_nothing_to_fill(may):
    from workbook_tool.tables import TABLES
    unit, empty = _unit_with_empty_tables(may)
    wb = openpyxl.load_workbook(may.template(unit))
    for table in empty:
        ws = wb[TABLES[table].sheet]
        assert ws.max_row == 3 and "本单位本期无需填写本表" in ws["A2"].value, table
        assert ws["A2"].font.color.rgb.endswith("C00000")
    assert "本单位本期无需填写" in "".join(str(c.value) for c in wb["填报说明"]["B"] if c.value)


def test_township_template_with_empty_tables_is_accepted(may):
    unit, _empty = _unit_with_empty_tables(may)
    may.drop(may.filled(unit), "town.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["accepted"] == [unit]


def test_distribution_list_rows_and_header_fit(may):
    wb = openpyxl.load_workbook(may.out_dir / "分发清单.xlsx")
    ws = wb.active
    assert ws.row_dimensions[2].height >= 2 * 12          # "主要指标进度表行数" wraps under its filter button
    assert_rows_fit(ws, 3)
    assert ws["A2"].font.name == "黑体" and ws["B3"].font.name == "宋体"
    assert print_scale(ws) >= MIN_SCALE


@pytest.fixture
def rejected(may):
    wb = may.filled("县经信局")
    key = demo.rows_of(wb, "indicators")[0][0]
    demo.set_cell(wb, "indicators", key, "actual", "约12亿")
    may.drop(wb, "bad.xlsx", when=dt.datetime(2023, 6, 7, 10))        # Wednesday, after the deadline
    may.drop(may.filled("县发改局"), "good.xlsx")
    summary = consolidate(*objects(may.root, "specs/shengsi", "2023-05"))
    assert summary["rejected"] == ["县经信局"]
    return may, Path(summary["feedback"][0]), Path(summary["master"])


def test_feedback_has_no_error_values_and_guarded_formulas(rejected):
    _may, feedback, _master = rejected
    wb = openpyxl.load_workbook(feedback)
    ws = wb["主要指标"]
    headers = [c.value for c in ws[3]]
    rate, light = headers.index("完成率") + 1, headers.index("亮灯") + 1
    assert ws.cell(4, rate).value.startswith("=IFERROR(") and "ISNUMBER" in ws.cell(4, rate).value
    assert ws.cell(4, light).value.startswith("=IFERROR(")
    cached = openpyxl.load_workbook(feedback, data_only=True)["主要指标"]
    assert cached.cell(4, headers.index("本年累计完成") + 1).value == "约12亿"
    assert cached.cell(4, rate).value in ("", None) and cached.cell(4, light).value in ("", None)
    assert ws.column_dimensions[openpyxl.utils.get_column_letter(light)].width >= 5


def test_feedback_gives_a_resubmission_date_in_plain_words(rejected):
    _may, feedback, _master = rejected
    wb = openpyxl.load_workbook(feedback)
    text = "\n".join(str(c.value) for c in wb["填报说明"]["B"] if c.value)
    # received Wednesday 7 June (after the 5 June deadline): 3 working days → Monday 12 June
    assert "2023年6月12日前" in text and "重新报送" in text
    assert "主要指标进度表第 4 行「本年累计完成」" in text and "主要指标!" not in text
    note = wb["主要指标"]["G4"].comment.text
    assert "2023年6月12日前重新报送" in note
    assert_rows_fit(wb["填报说明"], 3, min_pitch=13.0)


def test_master_fonts_rows_and_print(rejected):
    _may, _feedback, master = rejected
    wb = openpyxl.load_workbook(master)
    for name in ("总览", *TABLE_SHEETS, "报送情况", "校验问题"):
        ws = wb[name]
        assert ws["A1"].font.name == "黑体", name
        assert print_scale(ws) >= MIN_SCALE, (name, print_scale(ws))
        assert_rows_fit(ws, 3)
    assert wb["总览"].row_dimensions[1].height >= 30


def test_overview_chart_reads_across_with_short_names(rejected):
    _may, _feedback, master = rejected
    import zipfile
    with zipfile.ZipFile(master) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) == 2
    for xml in charts:
        assert '<c:barDir val="bar"/>' in xml                      # horizontal bars
        assert '<c:legendPos val="t"/>' in xml                     # legend above, clear of the plot
        assert "05 强港和交通强省" in xml                             # short names as categories
    assert any("亮灯情况" in x for x in charts) and any("年度计划投资与本年累计完成投资" in x for x in charts)


def test_resubmission_date_counts_working_days():
    assert working_days_after(dt.date(2023, 7, 5), 3) == dt.date(2023, 7, 10)     # Wed → Mon
    assert working_days_after(dt.date(2023, 7, 7), 1) == dt.date(2023, 7, 10)     # Fri → Mon


def test_resubmit_days_from_the_spec(desk):
    county = desk / "specs/shengsi/county.yaml"
    spec = load_spec(desk / "specs/shengsi")
    assert spec.resubmit_days == 3
    early = dt.datetime(2023, 6, 1, 9)
    assert resubmit_date(spec, Period(2023, 5), early) == dt.date(2023, 6, 8)        # from the deadline
    county.write_text(county.read_text(encoding="utf-8").replace("resubmit_days: 3", "resubmit_days: 5"),
                      encoding="utf-8")
    assert load_spec(desk / "specs/shengsi").resubmit_days == 5
    county.write_text(county.read_text(encoding="utf-8").replace("resubmit_days: 5", "resubmit_days: 0"),
                      encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(desk / "specs/shengsi")
    assert [(p.code, dict(p.params)["name"]) for p in err.value.issues] == [("P019", "'resubmit_days'")]


def test_plain_place_names_table_row_and_column():
    f = Finding("V001", sheet="主要指标", cell="G4", column="本年累计完成", row=4)
    assert plain_place(f) == "主要指标进度表第 4 行「本年累计完成」"
    assert plain_place(Finding("S001", sheet="重点任务")) == "重点任务进度表"
    assert plain_place(Finding("F003")) == "整个文件"


def test_wrapped_lines_counts_cjk_and_words():
    assert wrapped_lines("", 10) == 1
    assert wrapped_lines("短", 10) == 1
    assert wrapped_lines("一" * 20, 10) >= 4                      # ~5 full-width glyphs a line
    assert wrapped_lines("第一行\n第二行", 30) == 2
    assert wrapped_lines("x" * 200, 10) >= 10


def test_short_names_for_charts():
    assert short_name("扩大有效投资“千项万亿”工程") == "扩大有效投资"
    assert short_name("制造业产业集群建设工程") == "制造业产业集群"
    assert len(short_name("县城承载能力提升和深化“千村示范、万村整治”工程")) <= 8


# -- check-spec ------------------------------------------------------------------------------

def test_check_spec_warns_about_placeholders_and_missing_addresses(desk):
    result = CliRunner().invoke(main, ["check-spec", "--root", str(desk), "--spec", "specs/shengsi"])
    assert result.exit_code == 0
    warnings = [line for line in result.output.splitlines() if line.startswith("警告")]
    assert len(warnings) == 2                                         # one line each, not one per unit
    assert "待办公室确认" in warnings[0]
    assert re.search(r"46 个需填报单位没有邮箱地址（县发改局、.* 等）", warnings[1])
    assert "规格检查通过（2 条警告" in result.output


def test_placeholder_contact_is_not_printed_on_templates(may):
    wb = openpyxl.load_workbook(may.template("县发改局"))
    text = "".join(str(c.value) for c in wb["填报说明"]["B"] if c.value)
    assert "待办公室确认" not in text and may.spec.issuer in text


# -- click in Chinese ------------------------------------------------------------------------

def _click_literals():
    folder = Path(click.__file__).parent
    found = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def test_every_translated_message_is_still_clicks():
    missing = set(cli_zh.ZH) - _click_literals()
    assert not missing, f"click no longer has these messages: {missing}"


@pytest.mark.parametrize("args, wanted", [
    (["generate"], "缺少选项 '--period'"),
    (["generat"], "没有 'generat' 这个命令"),
    (["generate", "--period", "2023-05", "--bogus"], "没有 '--bogus' 这个选项"),
    (["generate", "--period", "2023-13"], "月份 13 不存在"),
    (["generate", "--period", "2023/5"], "格式不对"),
    (["consolidate", "--period", "2023-05", "--jobs", "0"], "不在范围"),
    (["bulletin", "--quarter", "2023Q5"], "应为如 2023Q2"),
])
def test_usage_errors_are_chinese_with_status_2(tmp_path, args, wanted):
    result = CliRunner().invoke(main, args + ["--root", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert wanted in result.output and "用法：" in result.output and "错误：" in result.output
    assert not re.search(r"Usage|Error|Missing|No such|Try '", result.output), result.output


def test_help_is_chinese():
    result = CliRunner().invoke(main, ["generate", "--help"])
    assert result.exit_code == 0
    assert "用法：" in result.output and "选项：" in result.output and "显示本帮助并退出" in result.output
    assert "[必填]" in result.output
    assert not re.search(r"Usage|Options|Show this message|\[required\]", result.output)
    top = CliRunner().invoke(main, ["--help"])
    assert "命令：" in top.output and "Commands" not in top.output
