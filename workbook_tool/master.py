"""Accepted rows → the county master workbook (县汇总表), written with XlsxWriter.

Text from units is always written with write_string: never a formula, never a link.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence, Union

import xlsxwriter

from .layout import (BODY_FONT, TABLE_PX, TITLE_FONT, TITLE_SIZE, column_px, fit_columns, font, footer,
                     natural_width, page_header, print_setup, row_height)
from .tables import FORMULA, tables_of
from .desk import write_file
from .template import WORKBOOK_OPTIONS
from .values import typed

if TYPE_CHECKING:
    from .desk import Period
    from .findings import Finding
    from .spec import Spec
    from .standing import UnitData
    from .tables import Column

PERCENT_COLUMNS = {"rate", "schedule"}
CONSTANT_MEMORY_ROWS = 50_000


def table_rows(spec: Spec, units_data: Iterable[UnitData]) -> dict[str, list[dict[str, Any]]]:
    """{table: [row dict]} of every unit's rows, with unit, status and project number."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in spec.tables}
    for ud in units_data:
        for row, status in ud.rows:
            if row.table in out:
                out[row.table].append({"_unit": ud.unit, "_status": status, "_project": row.project,
                                       "_key": row.key, "_kind": row.kind, **row.values})
    return out


def overview(spec: Spec, period: Period, data: dict[str, list[dict[str, Any]]],
             submissions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per project: the figures of 总览 (plain dicts, also used by tests and the bulletin)."""
    returned = {s["unit"] for s in submissions if s["returned"]}
    by_project: dict[str, dict[int, list[dict[str, Any]]]] = {t: {} for t in data}
    for table, rows in data.items():
        for row in rows:
            by_project[table].setdefault(row["_project"], []).append(row)
    month = f"{period.year:04d}-{period.month:02d}"
    out = []
    for p in spec.projects:
        row = {"no": p.no, "name": p.name}
        if "indicators" in data:
            lights = [r.get("light") for r in by_project["indicators"].get(p.no, [])]
            for colour in ("绿", "黄", "红"):
                row[f"light_{colour}"] = lights.count(colour)
            row["light_none"] = len(lights) - sum(row[f"light_{c}"] for c in ("绿", "黄", "红"))
        if "tasks" in data:
            states = [r.get("state") for r in by_project["tasks"].get(p.no, [])]
            for state in ("已完成", "正常推进", "滞后", "未启动"):
                row[f"task_{state}"] = states.count(state)
        if "projects" in data:
            majors = by_project["projects"].get(p.no, [])
            row["invest_plan"] = float(sum(r.get("plan") or 0 for r in majors))
            row["invest_done"] = float(sum(r.get("invested") or 0 for r in majors))
            row["invest_count"] = len(majors)
        if "problems" in data:
            problems = by_project["problems"].get(p.no, [])
            row["problem_open"] = sum(1 for r in problems if r.get("state") in ("未销号", "延期"))
            row["problem_closed"] = sum(1 for r in problems if r.get("state") == "已销号")
            row["problem_new"] = sum(1 for r in problems if str(r.get("raised") or "").startswith(month))
        row["units_expected"] = len(p.all_units)
        row["units_returned"] = sum(1 for u in p.all_units if u in returned)
        out.append(row)
    return out


class _Fmt:
    def __init__(self, wb):
        base = font(border=1, valign="vcenter", text_wrap=True)
        self.title = wb.add_format(font(TITLE_SIZE, title=True, align="center", valign="vcenter"))
        self.header = wb.add_format({**base, **font(title=True), "align": "center", "bg_color": "#D9E1F2"})
        self.total = wb.add_format({**base, **font(title=True), "align": "center"})
        self.subtitle = wb.add_format(font(valign="vcenter", text_wrap=True))
        self.text = wb.add_format(base)
        self.num = wb.add_format({**base, "num_format": "#,##0.####"})
        self.int = wb.add_format({**base, "num_format": "0", "align": "center"})
        self.pct = wb.add_format({**base, "num_format": "0.0%", "align": "center"})
        self.date = wb.add_format({**base, "num_format": "yyyy-mm-dd", "align": "center"})
        self.stamp = wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm", "align": "center"})
        self.red = wb.add_format({"bg_color": "#FF0000", "font_color": "#FFFFFF"})
        self.yellow = wb.add_format({"bg_color": "#FFD966"})
        self.green = wb.add_format({"bg_color": "#00B050", "font_color": "#FFFFFF"})
        self.grey = wb.add_format({"font_color": "#808080"})   # no italic: CJK has none, LibreOffice slants


def _put(ws, r, c, value, fmt, kind="text"):
    """Write one value by its type; text always as a string."""
    if value is None or (isinstance(value, float) and value != value) or value == "":
        ws.write_blank(r, c, None, fmt.text)
    elif kind == "percent" and isinstance(value, (int, float)):
        ws.write_number(r, c, value, fmt.pct)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(r, c, value, fmt.stamp)
    elif isinstance(value, dt.date):
        ws.write_datetime(r, c, dt.datetime.combine(value, dt.time(0)), fmt.date)
    elif isinstance(value, bool):
        ws.write_string(r, c, "是" if value else "否", fmt.text)
    elif isinstance(value, (int, float)):
        ws.write_number(r, c, value, fmt.int if kind == "int" else fmt.num)
    else:
        ws.write_string(r, c, str(value), fmt.text)


def _print_setup(ws, title, period, widths, key_cols=2, title_rows=(0, 1)):
    """A4 landscape; one page wide while text stays ≥ 8 pt, else pages across (see layout.py)."""
    return print_setup(ws, widths, title_rows=title_rows, key_cols=key_cols, header=page_header(title),
                       footer=footer(f"{title}（{period.label}）"))


def _heights(ws, r, values, widths, minimum=None):
    ws.set_row(r, row_height(list(zip(values, widths)), **({"minimum": minimum} if minimum else {})))


def _header_row(ws, fmt, r, headers, widths):
    # the autofilter button takes the right of each header cell: measure the header narrower
    _heights(ws, r, headers, [w - 1.5 for w in widths], minimum=20)
    for c, (h, w) in enumerate(zip(headers, widths)):
        ws.set_column(c, c, w)
        ws.write_string(r, c, h, fmt.header)


def write_master(spec: Spec, period: Period, units_data: Iterable[UnitData], submissions: Sequence[dict[str, Any]],
                 findings: Sequence[Finding], path: Union[str, Path]) -> None:
    """Write the county master workbook (汇总表) of ``period`` at ``path``."""
    data = table_rows(spec, units_data)
    large = sum(len(rows) for rows in data.values()) > CONSTANT_MEMORY_ROWS
    buf = io.BytesIO()
    # a large master (province scale) is streamed row by row: memory stays flat
    wb = xlsxwriter.Workbook(buf, {**WORKBOOK_OPTIONS, "nan_inf_to_errors": True,
                                   "constant_memory": large, "in_memory": not large})
    wb.set_properties({"title": f"{spec.county}“十项重大工程”进度汇总表 {period.label}", "author": spec.issuer,
                       "company": spec.issuer, "created": dt.datetime.combine(period.end, dt.time(0))})
    fmt = _Fmt(wb)
    _write_overview(wb, fmt, spec, period, overview(spec, period, data, submissions), submissions)
    for table in tables_of(spec):
        _write_table(wb, fmt, spec, period, table, data[table.key])
    _write_submissions(wb, fmt, spec, period, submissions)
    _write_findings(wb, fmt, spec, period, findings)
    wb.close()
    write_file(Path(path), buf.getvalue())


def _write_overview(wb, fmt, spec, period, rows, submissions):
    ws = wb.add_worksheet("总览")
    headers = [("no", "序号", 5), ("name", "工程", 24)]
    if spec.uses("indicators"):
        headers += [("light_绿", "指标绿灯", 7), ("light_黄", "指标黄灯", 7), ("light_红", "指标红灯", 7),
                    ("light_none", "指标未报", 7)]
    if spec.uses("tasks"):
        headers += [("task_已完成", "任务已完成", 7), ("task_正常推进", "任务正常推进", 7),
                    ("task_滞后", "任务滞后", 7), ("task_未启动", "任务未启动", 7)]
    if spec.uses("projects"):
        headers += [("invest_count", "重大项目数", 7), ("invest_plan", "年度计划投资(万元)", 11),
                    ("invest_done", "累计完成投资(万元)", 11)]
    if spec.uses("problems"):
        headers += [("problem_open", "问题未销号", 7), ("problem_closed", "问题已销号", 7),
                    ("problem_new", "本期新增问题", 7)]
    headers += [("units_returned", "已报单位", 7), ("units_expected", "应报单位", 7)]
    n = len(headers)
    keys = [k for k, _h, _w in headers]
    widths = fit_columns([w for _k, _h, w in headers], [1], 16)
    ws.merge_range(0, 0, 0, n - 1, f"{spec.county}“十项重大工程”推进情况总览（{period.label}）", fmt.title)
    ws.set_row(0, 32)
    returned = sum(1 for s in submissions if s["returned"])
    late = sum(1 for s in submissions if s["late"])
    ws.merge_range(1, 0, 1, n - 1, f"应报单位 {len(submissions)} 个，已报 {returned} 个，逾期 {late} 个，"
                                   f"未报 {len(submissions) - returned} 个。", fmt.subtitle)
    ws.set_row(1, 20)
    # short labels for the charts ("05 交通强县"), in a hidden column right of the table
    label_col = n + 1
    labels = {p.no: p.short_label for p in spec.projects}
    ws.set_column(label_col, label_col, 16, None, {"hidden": True})
    _header_row(ws, fmt, 2, [h for _k, h, _w in headers], widths)
    ws.write_string(2, label_col, "图表标签")
    for r, row in enumerate(rows, start=3):
        _heights(ws, r, [row.get(k) for k in keys], widths)
        for c, k in enumerate(keys):
            _put(ws, r, c, row.get(k), fmt, "int" if isinstance(row.get(k), int) else "text")
        ws.write_string(r, label_col, labels.get(row["no"], str(row["name"])))
    last = 3 + len(rows) - 1
    total = last + 1
    ws.set_row(total, 20)
    ws.write_string(total, 0, "", fmt.total)
    ws.write_string(total, 1, "合计", fmt.total)
    for c, k in enumerate(keys[2:], start=2):
        value = sum(row.get(k) or 0 for row in rows)
        ws.write_formula(total, c, f"=SUM({_col(c)}4:{_col(c)}{last + 1})",
                         fmt.int if isinstance(value, int) else fmt.num, value)
    ws.freeze_panes(3, 2)
    # the table on the first page, both charts together on the second: no chart cut by a page break
    _print_setup(ws, "总览", period, widths, title_rows=None)
    ws.print_area(0, 0, total + 1 + _chart_rows(spec, len(rows)), n - 1)
    names = ["总览", 3, label_col, last, label_col]
    chart_width = int(min(1000, max(640, sum(column_px(w) for w in widths) - 8)))
    chart_height = _chart_height(len(rows))
    chart_row = total + 2
    ws.set_h_pagebreaks([chart_row])
    if spec.uses("indicators"):
        chart = wb.add_chart({"type": "bar", "subtype": "stacked"})
        for key, colour in (("light_绿", "#00B050"), ("light_黄", "#FFC000"), ("light_红", "#FF0000"),
                            ("light_none", "#BFBFBF")):
            c = keys.index(key)
            chart.add_series({"name": ["总览", 2, c], "categories": names, "values": ["总览", 3, c, last, c],
                              "fill": {"color": colour}, "border": {"none": True}, "gap": 60})
        _chart_style(chart, "各工程主要指标亮灯情况（项）", chart_width, chart_height)
        ws.insert_chart(chart_row, 0, chart, {"x_offset": 4, "y_offset": 4})
        chart_row += _rows_for(chart_height)
    if spec.uses("projects"):
        chart = wb.add_chart({"type": "bar"})
        for key, colour in (("invest_plan", "#5B9BD5"), ("invest_done", "#ED7D31")):
            c = keys.index(key)
            chart.add_series({"name": ["总览", 2, c], "categories": names, "values": ["总览", 3, c, last, c],
                              "fill": {"color": colour}, "border": {"none": True}, "gap": 40})
        _chart_style(chart, "各工程重大项目年度计划投资与本年累计完成投资（万元）", chart_width, chart_height)
        ws.insert_chart(chart_row, 0, chart, {"x_offset": 4, "y_offset": 4})
    ws.activate()


CHART_ROW_PT = 15


def _chart_height(projects):
    return 80 + 22 * max(projects, 1)


def _rows_for(height_px):
    return int(height_px * 0.75 / CHART_ROW_PT) + 2


def _chart_rows(spec, projects):
    charts = int(spec.uses("indicators")) + int(spec.uses("projects"))
    return charts * _rows_for(_chart_height(projects)) + 1


def _chart_style(chart, title, width, height):
    """Horizontal bars: short names on the left read across, first project on top, legend above."""
    chart.set_title({"name": title, "name_font": {"name": TITLE_FONT, "size": 12, "bold": False}})
    chart.set_x_axis({"num_font": {"name": BODY_FONT, "size": 9}, "major_gridlines": {
        "visible": True, "line": {"color": "#D9D9D9"}}})
    chart.set_y_axis({"reverse": True, "crossing": "max", "interval_unit": 1, "num_font": {"name": BODY_FONT, "size": 9}})
    chart.set_legend({"position": "top", "font": {"name": BODY_FONT, "size": 9}})
    chart.show_hidden_data()
    chart.set_size({"width": width, "height": height})


def _col(c):
    from xlsxwriter.utility import xl_col_to_name
    return xl_col_to_name(c)


def _write_table(wb, fmt, spec, period, table, rows):
    ws = wb.add_worksheet(table.sheet)
    cols = [("_unit", "填报单位", 12), ("_status", "数据期次", 10)] + \
           [(c.key, c.header, c.width) for c in table.columns]
    n = len(cols)
    project_names = {p.no: p.name for p in spec.projects}
    order = {u: i for i, u in enumerate(spec.responsible_units)}
    rows = sorted(rows, key=lambda rec: (rec["_project"], order.get(rec["_unit"], 0)))
    plan = []                           # per column: key, column definition, kind of value
    for k, _h, _w in cols:
        col = table.column(k) if not k.startswith("_") else None
        kind = "text"
        if col is not None:
            kind = "percent" if (col.mode == FORMULA and k in PERCENT_COLUMNS) else \
                ("int" if col.num_format == "0" else "text")
        plan.append((k, col, kind))

    def shown(rec: dict[str, Any], k: str, col: Optional[Column]) -> object:
        value = rec.get(k)
        if k == "project":
            value = project_names.get(rec["_project"], value)
        elif col is not None and col.type == "date":
            value = typed(col, value)
        return value

    widths, shrinkable = _table_widths(cols, plan, rows, shown)
    ws.merge_range(0, 0, 0, n - 1, f"{spec.county}“十项重大工程”{table.title}（{period.label}）", fmt.title)
    ws.set_row(0, 32)
    _header_row(ws, fmt, 1, [h for _k, h, _w in cols], widths)
    for r, rec in enumerate(rows, start=2):
        values = [shown(rec, k, col) for k, col, _kind in plan]
        _heights(ws, r, [v if kind != "percent" else None for v, (_k, _c, kind) in zip(values, plan)], widths)
        for c, ((k, col, kind), value) in enumerate(zip(plan, values)):
            _put(ws, r, c, value, fmt, kind)
    last = max(2, 1 + len(rows))
    ws.autofilter(1, 0, last, n - 1)
    ws.freeze_panes(2, 3)
    if "light" in table.keys:
        c = [k for k, _h, _w in cols].index("light")
        for text, f in (("红", fmt.red), ("黄", fmt.yellow), ("绿", fmt.green)):
            ws.conditional_format(2, c, last, c, {"type": "cell", "criteria": "==", "value": f'"{text}"',
                                                  "format": f})
    s = 1
    ws.conditional_format(2, s, last, s, {"type": "text", "criteria": "begins with", "value": "沿用",
                                          "format": fmt.grey})
    _print_setup(ws, table.title, period, widths, key_cols=3)


# The master's table sheets carry two more columns (填报单位, 数据期次) than the units' templates.
# Text columns are narrowed to MASTER_TEXT_MIN characters, wrapping into taller rows, so that every
# table fits one A4 landscape page wide at ≥ 80 % (text ≥ 8 pt): the office prints the master for
# the county leaders, who read it across, not over two sheets side by side. A table still wider
# (a county adding many columns) prints at 100 % over pages across with 填报单位…所属工程 repeated.
MASTER_TEXT_MIN = 9


def _table_widths(cols, plan, rows, shown):
    widths, shrinkable = [], []
    for c, ((k, h, w), (_k, col, kind)) in enumerate(zip(cols, plan)):
        values = [shown(rec, k, col) for rec in rows[:2000]]
        if k == "_status":                 # 本期 / 沿用2023-05: never wrapped
            widths.append(natural_width(values + ["沿用2023-05"], h, cap=16))
        elif col is None or col.type == "text":
            widths.append(max(w * 0.8, natural_width(values, h, cap=30)))
            shrinkable.append(c)
        else:
            widths.append(max(7, min(w, natural_width(values, h, cap=16))))
    return fit_columns(widths, shrinkable, MASTER_TEXT_MIN, TABLE_PX), shrinkable


def _write_submissions(wb, fmt, spec, period, submissions):
    ws = wb.add_worksheet("报送情况")
    headers = [("序号", 5), ("单位", 18), ("是否报送", 7), ("报送时间", 16), ("是否逾期", 7), ("结果", 7),
               ("错误", 6), ("警告", 6), ("文件", 40)]
    widths = fit_columns([w for _h, w in headers], [1, 8], 14)
    ws.merge_range(0, 0, 0, len(headers) - 1,
                   f"{spec.county}“十项重大工程”进度表报送情况（{period.label}，截止 "
                   f"{period.deadline(spec.deadline_day).isoformat()}）", fmt.title)
    ws.set_row(0, 32)
    _header_row(ws, fmt, 1, [h for h, _w in headers], widths)
    for r, s in enumerate(submissions, start=2):
        values = [r - 1, s["unit"], "是" if s["returned"] else "否", s["received"],
                  ("是" if s["late"] else "否") if s["returned"] else "", s["verdict"], s["errors"],
                  s["warnings"], s["file"]]
        _heights(ws, r, values, widths)
        for c, v in enumerate(values):
            _put(ws, r, c, v, fmt, "int" if isinstance(v, int) else "text")
    last = 1 + len(submissions)
    ws.autofilter(1, 0, last, len(headers) - 1)
    ws.conditional_format(2, 5, last, 5, {"type": "cell", "criteria": "==", "value": '"退回"', "format": fmt.red})
    ws.conditional_format(2, 5, last, 5, {"type": "cell", "criteria": "==", "value": '"未报"',
                                          "format": fmt.yellow})
    ws.freeze_panes(2, 2)
    _print_setup(ws, "报送情况", period, widths)


def _write_findings(wb, fmt, spec, period, findings):
    ws = wb.add_worksheet("校验问题")
    headers = [("单位", 14), ("文件", 24), ("工作表", 9), ("单元格", 7), ("栏目", 12), ("规则", 6), ("级别", 6),
               ("说明", 50), ("填报值", 14)]
    widths = fit_columns([w for _h, w in headers], [0, 1, 4, 7, 8], 12)
    ws.merge_range(0, 0, 0, len(headers) - 1, f"{spec.county}“十项重大工程”进度表校验问题（{period.label}）",
                   fmt.title)
    ws.set_row(0, 32)
    _header_row(ws, fmt, 1, [h for h, _w in headers], widths)
    for r, f in enumerate(findings, start=2):
        values = [f.unit, f.file, f.sheet, f.cell, f.column, f.code, f.severity, f.message, f.seen]
        _heights(ws, r, values, widths)
        for c, v in enumerate(values):
            _put(ws, r, c, v, fmt)
    last = max(2, 1 + len(findings))
    ws.autofilter(1, 0, last, len(headers) - 1)
    ws.freeze_panes(2, 1)
    _print_setup(ws, "校验问题", period, widths)
