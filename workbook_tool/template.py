"""Spec + period (+ last period's accepted values) → one locked, signed workbook per unit."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable, Optional, Sequence, Union

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from . import signing
from .desk import Period, write_file
from .layout import (A4_LANDSCAPE_PT_HIGH, BODY_FONT, MIN_SCALE, TABLE_PX, TITLE_SIZE, fit_columns, font,
                     footer, natural_width, page_header, print_setup, row_height)
from .spec import is_placeholder
from .values import canon
from .tables import FORMULA, TABLES, tables_of

if TYPE_CHECKING:
    from .rows import Row
    from .spec import Spec
    from .tables import Column, Table

HEADER_ROWS = 3            # title, unit line, column headers; data start on the 4th row
FIRST_DATA_ROW = HEADER_ROWS  # zero-based index of the first data row
FONT = BODY_FONT
INSTRUCTION_SIZE = 11
INSTRUCTION_WIDTHS = (14, 100)
INPUT_TINT = "#FFF2CC"
WORKBOOK_OPTIONS = {
    "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False,
    "in_memory": True,
}


# -- signed metadata ---------------------------------------------------------------------

def row_records(spec: Spec, rows: dict[str, list[Row]]) -> list[dict]:
    """The signed record of every data row: position, key, kind and locked values."""
    records = []
    for table in tables_of(spec):
        for i, row in enumerate(rows.get(table.key, [])):
            locked = {c.key: canon(row.values.get(c.key)) for c in table.columns if row.is_locked(c)}
            extra = {k: v for k, v in row.extra.items()}
            records.append({"t": table.key, "k": row.key, "r": FIRST_DATA_ROW + i + 1,
                            "kind": row.kind, "p": row.project, "v": locked, "x": extra})
    return records


def build_meta(spec: Spec, unit: str, period: Period, records: list, key: bytes) -> dict:
    meta = {
        "format": signing.FORMAT_VERSION,
        "county": spec.county,
        "code": spec.code,
        "period": str(period),
        "unit": unit,
        "issued": period.end.isoformat(),
        "deadline": period.deadline(spec.deadline_day).isoformat(),
        "tables": ",".join(spec.tables),
    }
    meta["nonce"] = signing.nonce(key, spec.code, str(period), unit, records)
    meta["signature"] = signing.sign(key, meta, records)
    return meta


# -- the workbook ------------------------------------------------------------------------

class Formats:
    def __init__(self, wb):
        base = font(valign="vcenter", border=1, text_wrap=True)
        self.title = wb.add_format(font(TITLE_SIZE, title=True, align="center", valign="vcenter"))
        self.subtitle = wb.add_format(font(valign="vcenter", text_wrap=True))
        self.notice = wb.add_format(font(12, title=True, valign="vcenter", font_color="#C00000",
                                         text_wrap=True))
        self.header = wb.add_format({**base, **font(title=True), "align": "center", "bg_color": "#D9E1F2"})
        self.locked = wb.add_format(base)
        self.locked_num = wb.add_format({**base, "num_format": "#,##0.####"})
        self.locked_int = wb.add_format({**base, "num_format": "0", "align": "center"})
        self.locked_date = wb.add_format({**base, "num_format": "yyyy-mm-dd", "align": "center"})
        unlocked = {**base, "locked": False, "bg_color": INPUT_TINT}
        self.input = wb.add_format(unlocked)
        self.input_num = wb.add_format({**unlocked, "num_format": "#,##0.####"})
        self.input_date = wb.add_format({**unlocked, "num_format": "yyyy-mm-dd", "align": "center"})
        self.percent = wb.add_format({**base, "num_format": "0.0%", "align": "center"})
        self.light = wb.add_format({**base, "align": "center", "bold": True})
        self.hidden = wb.add_format(font(8))
        self.red = wb.add_format({"bg_color": "#FF0000", "font_color": "#FFFFFF"})
        self.yellow = wb.add_format({"bg_color": "#FFD966", "font_color": "#000000"})
        self.green = wb.add_format({"bg_color": "#00B050", "font_color": "#FFFFFF"})
        self.flagged = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006", "border": 2,
                                      "border_color": "#C00000"})
        self.overdue = wb.add_format({"font_color": "#C00000", "bold": True})
        self.text = wb.add_format(font(INSTRUCTION_SIZE, text_wrap=True, valign="top"))
        self.bold = wb.add_format(font(INSTRUCTION_SIZE, title=True, valign="top"))
        self.alert = wb.add_format(font(INSTRUCTION_SIZE, text_wrap=True, valign="top", font_color="#C00000"))

    def for_cell(self, col: Column, is_input: bool) -> Any:
        if col.num_format == "0":
            return self.locked_int
        if col.type == "number":
            return self.input_num if is_input else self.locked_num
        if col.type == "date":
            return self.input_date if is_input else self.locked_date
        return self.input if is_input else self.locked


def write_template(spec: Spec, unit: str, period: Period, rows: dict[str, list[Row]], key: bytes,
                   target: Union[str, Path, BinaryIO], notes: Optional[dict[tuple[str, str], str]] = None,
                   feedback: Sequence[tuple[str, str]] = (), resubmit: Optional[dt.date] = None) -> dict:
    """Write one unit's template to ``target`` (path or file object); return its metadata.

    ``notes``: {(sheet, A1 cell): text} — used for feedback workbooks: the cell is
    marked and carries a note saying what is wrong; ``feedback`` lists them on 填报说明 and
    ``resubmit`` is the date to send the corrected file back by.
    """
    records = row_records(spec, rows)
    meta = build_meta(spec, unit, period, records, key)
    buf = io.BytesIO()
    wb = LockedWorkbook(buf, WORKBOOK_OPTIONS)
    fixed = dt.datetime.combine(period.end, dt.time(0))
    wb.set_properties({"title": f"{spec.county}“十项重大工程”进度表 {period.label}",
                       "author": spec.issuer, "company": spec.issuer, "created": fixed,
                       "comments": "workbook-tool"})
    wb.set_calc_mode("auto")
    fmt = Formats(wb)
    _write_instructions(wb, fmt, spec, unit, period, rows, feedback, resubmit)
    for table in tables_of(spec):
        ws = _write_table(wb, fmt, spec, unit, period, table, rows.get(table.key, []), resubmit)
        for (sheet, cell), text in sorted((notes or {}).items()):
            if sheet == table.sheet:
                ws.write_comment(cell, text, {"author": spec.issuer, "x_scale": 2.2, "y_scale": 1.6,
                                              "font_name": FONT})
                ws.conditional_format(cell, {"type": "no_errors", "format": fmt.flagged})
    _write_meta(wb, meta, records)
    wb.close()
    data = buf.getvalue()
    if hasattr(target, "write"):
        target.write(data)
    else:
        write_file(Path(target), data)
    return meta


def _write_instructions(wb, fmt, spec, unit, period, rows, feedback=(), resubmit=None):
    ws = wb.add_worksheet("填报说明")
    widths = INSTRUCTION_WIDTHS
    ws.set_column(0, 0, widths[0])
    ws.set_column(1, 1, widths[1])
    ws.merge_range(0, 0, 0, 1, f"{spec.county}“十项重大工程”进度表填报说明", fmt.title)
    ws.set_row(0, 32)
    deadline = period.deadline(spec.deadline_day)
    contact = "　".join(x for x in (spec.office_contact, spec.office_phone, spec.office_email)
                       if x and not is_placeholder(x)) or "总专班办公室"
    counts = "；".join(f"{TABLES[t].title} {len(rows.get(t, []))} 行" for t in spec.tables)
    projects = "；".join(p.name for p in spec.projects_of(unit))
    yellow = f"{spec.yellow:g}"
    due = ("报送截止", f"{deadline.year}年{deadline.month}月{deadline.day}日前")
    if resubmit is not None:
        due = ("重新报送截止", f"{resubmit.year}年{resubmit.month}月{resubmit.day}日前"
                         f"（退回后 {spec.resubmit_days} 个工作日内；原报送截止 {deadline.isoformat()}）")
    empty = [TABLES[t].title for t in spec.tables if not rows.get(t)]
    lines = [
        ("填报单位", unit),
        ("报送期次", f"{period.label}（数据截至 {period.end.isoformat()}）"),
        due,
        ("联系办公室", f"{spec.issuer}（{contact}）"),
        ("参与工程", projects),
        ("本表内容", counts + (f"。{'、'.join(empty)}本单位本期无需填写" if empty else "")),
        ("填报规则", "1. 只填写浅黄色单元格；白色单元格已锁定，不能修改。"),
        ("", "2. 数字栏只填数字（如 12.5），不要写单位、“约”、“见附件”等文字；说明写在“情况说明”“存在问题”栏。"),
        ("", "3. 日期按 2023-05-31 格式填写；状态类栏目请从下拉列表中选择。"),
        ("", "4. 不要插入、删除、移动行或列，不要重命名、增删工作表，不要把内容复制到新文件。"),
        ("", "5. 新增重大项目、新发现的问题请填在各工程预留的空行中（问题即报）；上期未销号的问题每月必须更新，不得删除。"),
        ("", "6. 任务状态为“已完成”时须填实际完成时间；问题为“已销号”时须填实际销号时间。"),
        ("", "7. 填好后直接保存（xlsx、xls、ods 均可，文件名不限），按时发送给总专班办公室。"),
        ("颜色和亮灯", "浅黄色：需要填写；完成率、序时进度、亮灯由表格自动计算。"),
        ("", f"绿灯：达到或超过序时进度；黄灯：落后序时进度不超过 {yellow} 个百分点；"
             f"红灯：落后超过 {yellow} 个百分点。黄灯、红灯须在“情况说明”中写明原因和下步措施。"),
        ("", "“越低越好”的指标（如个人负担率）不超过目标即为绿灯。"),
        ("序时进度", f"按已过月份计算：{period.month}/12 = {period.month / 12:.1%}；有月度计划的指标按计划计算。"),
    ]
    if any(r.extra.get("kind") == "plan_cumulative" for r in rows.get("indicators", [])):
        lines.append(("规划期累计", "“往年累计完成”有数的指标以整个规划期为目标：只填本年累计完成；完成率 =（往年累计完成"
                                "＋本年累计完成）÷ 规划目标，序时进度 = 规划期已过月份 ÷ 规划期总月份。"))
    alerts = set()
    if feedback:
        head = (f"本单位报送的文件有 {len(feedback)} 处问题，已在表中用红框标出并加批注。"
                "请逐条修改后保存，再次报送（可直接修改本文件）。")
        if resubmit is not None:
            head += f"请于 {resubmit.year}年{resubmit.month}月{resubmit.day}日前重新报送。"
        lines = [("退回意见", head)] + \
                [("", f"{n}. {where}：{text}") for n, (where, text) in enumerate(feedback, start=1)] + lines
        alerts = set(range(len(feedback) + 1))
    total = 32.0
    for i, (label, text) in enumerate(lines):
        r = i + 2
        ws.write_string(r, 0, label, fmt.bold)
        ws.write_string(r, 1, text, fmt.alert if i in alerts else fmt.text)
        height = row_height([(label, widths[0]), (text, widths[1])], INSTRUCTION_SIZE, minimum=20)
        ws.set_row(r, height)
        total += height
    print_setup(ws, widths, title_rows=None, footer=footer(unit, period.label))
    if A4_LANDSCAPE_PT_HIGH < total <= A4_LANDSCAPE_PT_HIGH / MIN_SCALE:
        ws.fit_to_pages(1, 1)          # a few lines too many (退回意见): one page, text still ≥ 8.8 pt
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})
    ws.activate()


# Column widths of a table sheet. Every table keeps its text at 10 pt on A4 landscape: the wide
# text columns (names, 进展情况, 存在问题 …) are narrowed down to TEXT_MIN characters and their
# text wraps into taller rows. The four progress tables then fit one page wide at 100 % (or a
# shrink well above MIN_SCALE); were a county to add columns beyond that, layout.print_setup
# prints the sheet over several pages across with 所属工程 and the name column repeated.
TEXT_MIN = 10
KEY_COLUMNS = 2


def _col_widths(table, rows):
    widths, shrinkable = [], []
    for c, col in enumerate(table.columns):
        values = [row.values.get(col.key) for row in rows]
        if col.type == "text":
            widths.append(max(col.width, natural_width(values, col.header, cap=30)))
            shrinkable.append(c)
        else:
            widths.append(max(col.width, natural_width(values, col.header, cap=16)))
    return fit_columns(widths, shrinkable, TEXT_MIN, TABLE_PX)


def _write_table(wb, fmt, spec, unit, period, table, rows, resubmit=None):
    ws = wb.add_worksheet(table.sheet)
    ncols = len(table.columns)
    key_col = ncols                           # hidden row-key column after the visible ones
    widths = _col_widths(table, rows)
    for c, width in enumerate(widths):
        ws.set_column(c, c, width)
    ws.set_column(key_col, key_col, 14, fmt.hidden, {"hidden": True})
    ws.merge_range(0, 0, 0, ncols - 1, f"{spec.county}“十项重大工程”{table.title}（{period.label}）", fmt.title)
    ws.set_row(0, 32)
    deadline = period.deadline(spec.deadline_day)
    due = f"报送截止：{deadline.isoformat()}" if resubmit is None else f"重新报送截止：{resubmit.isoformat()}"
    if rows:
        subtitle, sub_fmt = (f"填报单位：{unit}　　报送期次：{period.label}　　{due}"
                             f"　　浅黄色单元格为填报项"), fmt.subtitle
    else:
        # nothing for this unit in this table: say so where the data would be expected
        subtitle, sub_fmt = (f"填报单位：{unit}　　报送期次：{period.label}　　"
                             f"本单位本期无需填写本表（所参与工程在本表中没有本单位的内容）。"), fmt.notice
    ws.merge_range(1, 0, 1, ncols - 1, subtitle, sub_fmt)
    ws.set_row(1, row_height([(subtitle, sum(widths))], 12 if not rows else 10, minimum=20))
    for c, col in enumerate(table.columns):
        ws.write_string(2, c, col.header, fmt.header)
    ws.write_string(2, key_col, "行标识", fmt.hidden)
    ws.set_row(2, row_height([(col.header, widths[c]) for c, col in enumerate(table.columns)], minimum=20))

    for i, row in enumerate(rows):
        r = FIRST_DATA_ROW + i
        # LibreOffice does not fit row heights to wrapped text on import: give each row its height
        ws.set_row(r, row_height([(_room_for(row, col), widths[c]) for c, col in enumerate(table.columns)
                                  if col.mode != FORMULA]))
        for c, col in enumerate(table.columns):
            if col.mode == FORMULA:
                _write_formula(ws, fmt, table, col, row, r)
                continue
            cell_fmt = fmt.for_cell(col, row.is_input(col))
            _write_value(ws, r, c, row.values.get(col.key), col, cell_fmt)
        ws.write_string(r, key_col, row.key, fmt.hidden)
    last = FIRST_DATA_ROW + len(rows) - 1
    if rows:
        _validations(ws, spec, table, rows)
        _conditional_formats(ws, fmt, table, period, last)
        ws.autofilter(2, 0, last, ncols - 1)
    ws.freeze_panes(HEADER_ROWS, 2)
    print_setup(ws, widths, title_rows=(0, 2), key_cols=KEY_COLUMNS, header=page_header(table.title),
                footer=footer(unit, period.label))
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "format_rows": True, "autofilter": True, "sort": False})
    return ws


TYPICAL_ENTRY = "按计划推进，已完成约三成"  # room left for a unit's text


def _room_for(row, col):
    """The text a row must have room for in ``col``: its value, or a typical entry if the unit types one."""
    value = row.values.get(col.key)
    if value in (None, "") and col.type == "text" and row.is_input(col):
        return TYPICAL_ENTRY
    return value


def _write_value(ws, r, c, value, col, cell_fmt):
    if value is None or value == "":
        ws.write_blank(r, c, None, cell_fmt)
    elif isinstance(value, (dt.date, dt.datetime)):
        ws.write_datetime(r, c, value if isinstance(value, dt.datetime)
                          else dt.datetime.combine(value, dt.time(0)), cell_fmt)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.write_number(r, c, value, cell_fmt)
    else:
        ws.write_string(r, c, str(value), cell_fmt)


def cell_ref(table: Table, key: str, r: int) -> str:
    return xl_rowcol_to_cell(r, table.index(key))


def formula_for(table: Table, col: Column, row: Row, r: int) -> tuple[str, object]:
    """(formula text, cached value) of a computed cell, the value computed in Python."""
    if table.formulas is None:
        raise KeyError(col.key)
    return table.formulas(col, row, lambda k: cell_ref(table, k, r))


def _write_formula(ws, fmt, table, col, row, r):
    text, value = formula_for(table, col, row, r)
    cell_fmt = fmt.light if col.key == "light" else fmt.percent
    ws.write_formula(r, table.index(col.key), text, cell_fmt, value)


def _message(col, spec):
    if col.type == "number":
        return "填写数字", "请只填写大于或等于 0 的数字，不要写单位或文字。"
    if col.type == "date":
        y0, y1 = spec.plan_years
        return "填写日期", f"请按 2023-05-31 格式填写 {y0}—{y1} 年内的日期。"
    if col.type == "enum":
        return "请选择", "请从下拉列表中选择：" + "、".join(col.choices)
    return "填写文字", f"不超过 {col.max_length} 个字。"


def _validations(ws, spec, table, rows):
    y0, y1 = spec.plan_years
    for c, col in enumerate(table.columns):
        if not col.is_input:
            continue
        # contiguous runs of rows where this column is an input cell
        runs, start = [], None
        for i, row in enumerate(rows + [None]):
            is_in = row is not None and row.is_input(col)
            if is_in and start is None:
                start = i
            elif not is_in and start is not None:
                runs.append((start, i - 1))
                start = None
        title, message = _message(col, spec)
        if col.type == "number":
            rule = {"validate": "decimal", "criteria": ">=", "value": 0}
        elif col.type == "date":
            rule = {"validate": "date", "criteria": "between",
                    "minimum": dt.date(y0, 1, 1), "maximum": dt.date(y1, 12, 31)}
        elif col.type == "enum":
            rule = {"validate": "list", "source": list(col.choices)}
        else:
            rule = {"validate": "length", "criteria": "<=", "value": col.max_length}
        rule.update({"input_title": title, "input_message": message[:255],
                     "error_title": "填写有误", "error_message": message[:255], "error_type": "stop",
                     "ignore_blank": True})
        for a, b in runs:
            ws.data_validation(FIRST_DATA_ROW + a, c, FIRST_DATA_ROW + b, c, dict(rule))


def _conditional_formats(ws, fmt, table, period, last):
    first = FIRST_DATA_ROW
    end = period.end
    date_expr = f"DATE({end.year},{end.month},{end.day})"
    if "light" in table.keys:
        c = table.index("light")
        for text, f in (("红", fmt.red), ("黄", fmt.yellow), ("绿", fmt.green)):
            ws.conditional_format(first, c, last, c, {"type": "cell", "criteria": "==",
                                                      "value": f'"{text}"', "format": f})
    if table.overdue:
        date_key, done = table.overdue
        due = xl_col_to_name(table.index(date_key))
        state = xl_col_to_name(table.index("state"))
        c = table.index(date_key)
        ws.conditional_format(first, c, last, c, {
            "type": "formula",
            "criteria": f'=AND(${due}{first + 1}<>"",${due}{first + 1}<={date_expr},'
                        f'${state}{first + 1}<>"{done}")',
            "format": fmt.overdue})
    if table.lagging:
        sc = table.index("state")
        ws.conditional_format(first, sc, last, sc, {"type": "cell", "criteria": "==",
                                                    "value": f'"{table.lagging}"', "format": fmt.red})


def _write_meta(wb, meta, records):
    ws = wb.add_worksheet(signing.META_SHEET)
    ws.write_string(0, 0, signing.MARKER)
    ws.write_string(0, 1, signing.FORMAT_VERSION)
    r = 1
    for key, value in meta.items():
        ws.write_string(r, 0, key)
        ws.write_string(r, 1, str(value))
        r += 1
    ws.write_string(r, 0, "rows")
    ws.write_string(r, 1, str(len(records)))
    for record in records:
        r += 1
        ws.write_string(r, 0, json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    ws.protect("")
    ws.very_hidden()


class LockedWorkbook(xlsxwriter.Workbook):
    """A workbook whose structure is locked (no sheet added, deleted, renamed).

    XlsxWriter has no API for it: <workbookProtection lockStructure="1"/> is written
    where the schema puts it, after workbookPr and before bookViews.  Rewriting the
    zip afterwards cost a fifth of the generation time.
    """

    def _write_book_views(self):
        self._xml_empty_tag("workbookProtection", [("lockStructure", "1")])
        super()._write_book_views()


# -- the generate stage ------------------------------------------------------------------

def safe_filename(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name).strip("._") or "unit"


def generate(spec: Spec, period: Period, out_dir: Union[str, Path], key: bytes, units: Optional[Iterable[str]] = None,
             carry_for: Optional[Callable[[str], Sequence[Row]]] = None,
             past_for: Optional[Callable[[str], tuple[dict[str, float], set[str]]]] = None
             ) -> list[tuple[str, Path, dict, dict[str, list[Row]]]]:
    from .carry import unit_rows
    from .distribution import write_distribution
    """Write every unit's template and the distribution list; return [(unit, path, meta, rows)].

    ``past_for(unit)`` → (earlier, finished) as unit_rows takes them (earlier plan years)."""
    out_dir = Path(out_dir)
    wanted = list(units) if units else list(spec.responsible_units)
    results = []
    for unit in wanted:
        carry = carry_for(unit) if carry_for else ()
        earlier, finished = past_for(unit) if past_for else (None, ())
        rows = unit_rows(spec, unit, period, carry, earlier, finished)
        path = out_dir / f"{safe_filename(unit)}.xlsx"
        meta = write_template(spec, unit, period, rows, key, path)
        results.append((unit, path, meta, rows))
    write_distribution(spec, period, results, out_dir / "分发清单.xlsx")
    return results
