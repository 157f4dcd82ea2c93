"""Accepted rows → the county master workbook (县汇总表), written with XlsxWriter.

Text from units is always written with write_string: never a formula, never a link.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import xlsxwriter

from .tables import FORMULA, tables_of
from .template import FONT, WORKBOOK_OPTIONS, _atomic_write, typed

PERCENT_COLUMNS = {"rate", "schedule"}
CONSTANT_MEMORY_ROWS = 50_000


def table_rows(spec, units_data) -> dict:
    """{table: [row dict]} of every unit's rows, with unit, status and project number."""
    out = {t: [] for t in spec.tables}
    for ud in units_data:
        for row, status in ud.rows:
            if row.table in out:
                out[row.table].append({"_unit": ud.unit, "_status": status, "_project": row.project,
                                       "_key": row.key, "_kind": row.kind, **row.values})
    return out


def overview(spec, period, data, submissions):
    """One row per project: the figures of 总览 (plain dicts, also used by tests and the bulletin)."""
    returned = {s["unit"] for s in submissions if s["returned"]}
    by_project = {t: {} for t in data}
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
        base = {"font_name": FONT, "font_size": 10, "border": 1, "valign": "vcenter", "text_wrap": True}
        self.title = wb.add_format({"font_name": FONT, "font_size": 16, "bold": True, "align": "center",
                                    "valign": "vcenter"})
        self.header = wb.add_format({**base, "bold": True, "align": "center", "bg_color": "#D9E1F2"})
        self.text = wb.add_format(base)
        self.num = wb.add_format({**base, "num_format": "#,##0.####"})
        self.int = wb.add_format({**base, "num_format": "0", "align": "center"})
        self.pct = wb.add_format({**base, "num_format": "0.0%", "align": "center"})
        self.date = wb.add_format({**base, "num_format": "yyyy-mm-dd", "align": "center"})
        self.stamp = wb.add_format({**base, "num_format": "yyyy-mm-dd hh:mm", "align": "center"})
        self.red = wb.add_format({"bg_color": "#FF0000", "font_color": "#FFFFFF"})
        self.yellow = wb.add_format({"bg_color": "#FFD966"})
        self.green = wb.add_format({"bg_color": "#00B050", "font_color": "#FFFFFF"})
        self.grey = wb.add_format({"font_color": "#808080", "italic": True})


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


def _print_setup(ws, title, period):
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    ws.set_header(f"&C&\"{FONT},Bold\"{title}")
    ws.set_footer(f"&L{period.label}&C第 &P 页，共 &N 页")


def write_master(spec, period, units_data, submissions, findings, path):
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
    _atomic_write(Path(path), buf.getvalue())


def _write_overview(wb, fmt, spec, period, rows, submissions):
    ws = wb.add_worksheet("总览")
    headers = [("no", "序号", 6), ("name", "工程", 34)]
    if spec.uses("indicators"):
        headers += [("light_绿", "指标绿灯", 8), ("light_黄", "指标黄灯", 8), ("light_红", "指标红灯", 8),
                    ("light_none", "指标未报", 8)]
    if spec.uses("tasks"):
        headers += [("task_已完成", "任务已完成", 9), ("task_正常推进", "任务正常推进", 9),
                    ("task_滞后", "任务滞后", 8), ("task_未启动", "任务未启动", 9)]
    if spec.uses("projects"):
        headers += [("invest_count", "重大项目数", 9), ("invest_plan", "年度计划投资(万元)", 12),
                    ("invest_done", "累计完成投资(万元)", 12)]
    if spec.uses("problems"):
        headers += [("problem_open", "问题未销号", 9), ("problem_closed", "问题已销号", 9),
                    ("problem_new", "本期新增问题", 9)]
    headers += [("units_returned", "已报单位", 8), ("units_expected", "应报单位", 8)]
    n = len(headers)
    ws.merge_range(0, 0, 0, n - 1, f"{spec.county}“十项重大工程”推进情况总览（{period.label}）", fmt.title)
    ws.set_row(0, 30)
    returned = sum(1 for s in submissions if s["returned"])
    late = sum(1 for s in submissions if s["late"])
    ws.merge_range(1, 0, 1, n - 1, f"应报单位 {len(submissions)} 个，已报 {returned} 个，逾期 {late} 个，"
                                   f"未报 {len(submissions) - returned} 个。", fmt.text)
    for c, (_k, h, w) in enumerate(headers):
        ws.set_column(c, c, w)
        ws.write_string(2, c, h, fmt.header)
    for r, row in enumerate(rows, start=3):
        for c, (k, _h, _w) in enumerate(headers):
            _put(ws, r, c, row.get(k), fmt, "int" if isinstance(row.get(k), int) else "text")
    last = 3 + len(rows) - 1
    total = last + 1
    ws.write_string(total, 1, "合计", fmt.header)
    for c, (k, _h, _w) in enumerate(headers[2:], start=2):
        ws.write_formula(total, c, f"=SUM({_col(c)}4:{_col(c)}{last + 1})", fmt.num,
                         sum(row.get(k) or 0 for row in rows))
    ws.freeze_panes(3, 2)
    _print_setup(ws, "总览", period)
    chart_row = total + 2
    names = f"=总览!$B$4:$B${last + 1}"
    if spec.uses("indicators"):
        chart = wb.add_chart({"type": "bar", "subtype": "stacked"})
        for key, colour in (("light_绿", "#00B050"), ("light_黄", "#FFD966"), ("light_红", "#FF0000")):
            c = [k for k, _h, _w in headers].index(key)
            chart.add_series({"name": ["总览", 2, c], "categories": names,
                              "values": ["总览", 3, c, last, c], "fill": {"color": colour}})
        chart.set_title({"name": "各工程指标亮灯情况", "name_font": {"name": FONT}})
        chart.set_y_axis({"reverse": True, "num_font": {"name": FONT}})
        chart.set_legend({"position": "bottom", "font": {"name": FONT}})
        chart.set_size({"width": 760, "height": 360})
        ws.insert_chart(chart_row, 1, chart)
        chart_row += 19
    if spec.uses("projects"):
        chart = wb.add_chart({"type": "column"})
        for key in ("invest_plan", "invest_done"):
            c = [k for k, _h, _w in headers].index(key)
            chart.add_series({"name": ["总览", 2, c], "categories": names, "values": ["总览", 3, c, last, c]})
        chart.set_title({"name": "重大项目年度计划投资与累计完成", "name_font": {"name": FONT}})
        chart.set_legend({"position": "bottom", "font": {"name": FONT}})
        chart.set_size({"width": 760, "height": 360})
        ws.insert_chart(chart_row, 1, chart)
    ws.activate()


def _col(c):
    from xlsxwriter.utility import xl_col_to_name
    return xl_col_to_name(c)


def _write_table(wb, fmt, spec, period, table, rows):
    ws = wb.add_worksheet(table.sheet)
    cols = [("_unit", "填报单位", 16), ("_status", "数据期次", 10)] + \
           [(c.key, c.header, c.width) for c in table.columns]
    n = len(cols)
    ws.merge_range(0, 0, 0, n - 1, f"{spec.county}“十项重大工程”{table.title}（{period.label}）", fmt.title)
    ws.set_row(0, 30)
    for c, (_k, h, w) in enumerate(cols):
        ws.set_column(c, c, w)
        ws.write_string(1, c, h, fmt.header)
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
    for r, rec in enumerate(rows, start=2):
        for c, (k, col, kind) in enumerate(plan):
            value = rec.get(k)
            if k == "project":
                value = project_names.get(rec["_project"], value)
            elif col is not None and col.type == "date":
                value = typed(col, value)
            _put(ws, r, c, value, fmt, kind)
    last = max(2, 1 + len(rows))
    ws.autofilter(1, 0, last, n - 1)
    ws.freeze_panes(2, 3)
    if table.key == "indicators":
        c = [k for k, _h, _w in cols].index("light")
        for text, f in (("红", fmt.red), ("黄", fmt.yellow), ("绿", fmt.green)):
            ws.conditional_format(2, c, last, c, {"type": "cell", "criteria": "==", "value": f'"{text}"',
                                                  "format": f})
    s = 1
    ws.conditional_format(2, s, last, s, {"type": "text", "criteria": "begins with", "value": "沿用",
                                          "format": fmt.grey})
    ws.repeat_rows(1)
    _print_setup(ws, table.title, period)


def _write_submissions(wb, fmt, spec, period, submissions):
    ws = wb.add_worksheet("报送情况")
    headers = [("序号", 6), ("单位", 22), ("是否报送", 9), ("报送时间", 17), ("是否逾期", 9), ("结果", 8),
               ("错误", 6), ("警告", 6), ("文件", 40)]
    ws.merge_range(0, 0, 0, len(headers) - 1,
                   f"{spec.county}“十项重大工程”进度表报送情况（{period.label}，截止 "
                   f"{period.deadline(spec.deadline_day).isoformat()}）", fmt.title)
    for c, (h, w) in enumerate(headers):
        ws.set_column(c, c, w)
        ws.write_string(1, c, h, fmt.header)
    for r, s in enumerate(submissions, start=2):
        values = [r - 1, s["unit"], "是" if s["returned"] else "否", s["received"],
                  ("是" if s["late"] else "否") if s["returned"] else "", s["verdict"], s["errors"],
                  s["warnings"], s["file"]]
        for c, v in enumerate(values):
            _put(ws, r, c, v, fmt, "int" if isinstance(v, int) else "text")
    last = 1 + len(submissions)
    ws.autofilter(1, 0, last, len(headers) - 1)
    ws.conditional_format(2, 5, last, 5, {"type": "cell", "criteria": "==", "value": '"退回"', "format": fmt.red})
    ws.conditional_format(2, 5, last, 5, {"type": "cell", "criteria": "==", "value": '"未报"',
                                          "format": fmt.yellow})
    ws.freeze_panes(2, 2)
    ws.repeat_rows(1)
    _print_setup(ws, "报送情况", period)


def _write_findings(wb, fmt, spec, period, findings):
    ws = wb.add_worksheet("校验问题")
    headers = [("单位", 16), ("文件", 30), ("工作表", 10), ("单元格", 8), ("栏目", 14), ("规则", 7), ("级别", 6),
               ("说明", 60), ("填报值", 16)]
    ws.merge_range(0, 0, 0, len(headers) - 1, f"{spec.county}“十项重大工程”进度表校验问题（{period.label}）",
                   fmt.title)
    for c, (h, w) in enumerate(headers):
        ws.set_column(c, c, w)
        ws.write_string(1, c, h, fmt.header)
    for r, f in enumerate(findings, start=2):
        for c, v in enumerate([f.unit, f.file, f.sheet, f.cell, f.column, f.code, f.severity, f.message, f.seen]):
            _put(ws, r, c, v, fmt)
    last = max(2, 1 + len(findings))
    ws.autofilter(1, 0, last, len(headers) - 1)
    ws.freeze_panes(2, 1)
    ws.repeat_rows(1)
    _print_setup(ws, "校验问题", period)
