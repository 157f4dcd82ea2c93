"""Annual plans (年度计划表): the year's targets, collected from the lead units like returns.

``generate_plans`` writes one locked, signed workbook per lead unit (the projects it leads):
the year's 年度目标 and cumulative monthly plan of every indicator, the year's 节点目标 and
计划完成时间 of every key task, the year's 年度计划投资 of every major project, last year's
values beside them (locked), and blank rows for new key tasks and major projects.
``collect_plans`` identifies the returned plans in ``inbox/`` by their signature, checks them
(findings are data), writes a feedback workbook for each bad one, and writes the accepted
values into the spec (spec_edit), with a report of every value added or changed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import io
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from xlsxwriter.utility import xl_rowcol_to_cell

from . import signing
from .checks import Bad, is_blank, normalize_date, normalize_enum, normalize_number
from .desk import Desk, DeskError, cannot_write, write_file
from .findings import ERROR, Finding, count_by_severity
from .inbox import scan
from .layout import (TABLE_PX, fit_columns, footer, natural_width, page_header, print_setup, row_height)
from .ledger import Ledger
from .reader import read_return
from .spec_edit import Change, apply_changes, shown
from .tables import INPUT, LOCKED, NEW, Column, Table
from .rows import Row
from .template import (FIRST_DATA_ROW, HEADER_ROWS, INSTRUCTION_SIZE, WORKBOOK_OPTIONS, Formats, LockedWorkbook,
                       _write_meta, _write_value, safe_filename)
from .values import canon, typed

KIND_LABELS = {"cumulative": "本年累计", "level": "水平值", "plan_cumulative": "规划期累计"}
YES_NO = ("是", "否")
NEW_TASK_ROWS = 3
LIST_SHEET = "单位名录"
REPORT_NAME = "计划汇总报告.txt"
FEEDBACK_DIR = "退回"
MONTHS = tuple(range(1, 13))


def plan_period(year: int) -> str:
    """The ledger's period of a year's plan (templates/<county>/plan-2024/)."""
    return f"plan-{year}"


def _col(key, header, type="text", mode=LOCKED, width=12, **kw) -> Column:
    return Column(key, header, type, mode, width, **kw)


def plan_tables(spec, year: int) -> list:
    """The plan's sheets for ``year``: one definition each (headers name the years)."""
    last = year - 1
    indicators = Table("plan_indicators", "年度指标计划表", "年度指标", (
        _col("project", "所属工程", width=12),
        _col("id", "编号", width=7),
        _col("name", "指标名称", width=16),
        _col("measure", "计量单位", width=6),
        _col("kind", "指标类型", width=8),
        _col("target", "规划目标", "number", width=7),
        _col("last_annual", f"{last}年度目标", "number", width=8),
        _col("annual", f"{year}年度目标", "number", INPUT, width=8),
        *(_col(f"m{m}", f"{m}月累计计划", "number", NEW, width=6) for m in MONTHS),
    ))
    tasks = Table("plan_tasks", "重点任务年度计划表", "重点任务", (
        _col("project", "所属工程", width=16),
        _col("id", "编号", width=8),
        _col("name", "重点任务", "text", NEW, width=24, max_length=100),
        _col("units", "责任单位", "text", NEW, width=14, max_length=200),
        _col("recurring", "每年滚动", "enum", NEW, width=8, choices=YES_NO),
        _col("last_milestone", f"{last}年节点目标", width=22),
        _col("last_due", f"{last}年计划完成时间", "date", width=12),
        _col("milestone", f"{year}年节点目标", "text", INPUT, width=24, max_length=300),
        _col("due", f"{year}年计划完成时间", "date", INPUT, width=12),
    ), addable=True, required_new=("name", "milestone", "due"))
    out = [indicators, tasks]
    if spec.uses("projects"):
        out.append(Table("plan_projects", "重大项目年度计划表", "重大项目", (
            _col("project", "所属工程", width=16),
            _col("id", "编号", width=8),
            _col("name", "项目名称", "text", NEW, width=22, max_length=100),
            _col("content", "建设内容", "text", NEW, width=24, max_length=300),
            _col("owner", "业主单位", "text", NEW, width=14, max_length=50),
            _col("total", "总投资(万元)", "number", NEW, width=11),
            _col("last_plan", f"{last}年度计划投资(万元)", "number", width=12),
            _col("plan", f"{year}年度计划投资(万元)", "number", INPUT, width=12),
            _col("planned_start", "计划开工时间", "date", NEW, width=12),
        ), addable=True, required_new=("name", "owner", "total", "plan")))
    return out


def lead_units(spec) -> list:
    """Units that lead at least one project, in registry order."""
    leads = {u for p in spec.projects for u in p.lead_units}
    return [u.name for u in spec.units if u.name in leads]


def led_projects(spec, unit) -> list:
    return [p for p in spec.projects if unit in p.lead_units]


# -- rows ------------------------------------------------------------------------------------------

def _in_year(day, year):
    return day if day is not None and day.year == year else None


def _own_milestone(task, year):
    """The year's 节点目标 when the spec gives one for it (not an earlier year's, which names that year)."""
    if task.milestone_by_year and year not in dict(task.milestone_by_year):
        return None
    return task.milestone_for(year) or None


def plan_rows(spec, unit: str, year: int) -> dict:
    """{table key: [Row]} of ``unit``'s plan for ``year``, pre-filled with what the spec holds."""
    last = year - 1
    has_last = last >= spec.plan_years[0]
    rows = {"plan_indicators": [], "plan_tasks": [], "plan_projects": []}
    for p in led_projects(spec, unit):
        if spec.uses("indicators"):
            for ind in p.indicators:
                cumulative = ind.kind == "cumulative" and ind.direction == "higher"
                values = {"project": p.label, "id": ind.id, "name": ind.name, "measure": ind.measure,
                          "kind": KIND_LABELS[ind.kind] + ("（越低越好）" if ind.direction == "lower" else ""),
                          "target": ind.target, "last_annual": ind.annual_for(last) if has_last else None,
                          "annual": ind.annual_for(year)}
                extra = {}
                if cumulative:
                    values.update({f"m{m}": v for m, v in ind.plan_for(year)})
                    extra["open"] = [f"m{m}" for m in MONTHS]
                rows["plan_indicators"].append(Row("plan_indicators", ind.id, p.no, "spec", values=values,
                                                   extra=extra))
        if spec.uses("tasks"):
            for task in p.tasks:
                rows["plan_tasks"].append(Row("plan_tasks", task.id, p.no, "spec", values={
                    "project": p.label, "id": task.id, "name": task.name, "units": "、".join(task.units),
                    "recurring": YES_NO[0] if task.recurring else YES_NO[1],
                    "last_milestone": task.milestone_for(last) if has_last else None,
                    "last_due": task.due_for(last) if has_last else None,
                    "milestone": _own_milestone(task, year), "due": _in_year(task.due_for(year), year),
                }))
            for n in range(1, NEW_TASK_ROWS + 1):
                rows["plan_tasks"].append(Row("plan_tasks", f"new-{plan_period(year)}-{p.no:02d}-{n}", p.no,
                                              "blank", values={"project": p.label}))
        if spec.uses("projects"):
            for major in p.major_projects:
                rows["plan_projects"].append(Row("plan_projects", major.id, p.no, "spec", values={
                    "project": p.label, "id": major.id, "name": major.name, "content": major.content,
                    "owner": major.owner, "total": major.total_investment,
                    "last_plan": major.annual_plan_for(last) if has_last else None,
                    "plan": major.annual_plan_for(year), "planned_start": major.planned_start,
                }))
            for n in range(1, spec.blank_projects + 1):
                rows["plan_projects"].append(Row("plan_projects", f"new-{plan_period(year)}-{p.no:02d}-{n}", p.no,
                                                 "blank", values={"project": p.label}))
    return rows


def _records(tables, rows) -> list:
    records = []
    for table in tables:
        for i, row in enumerate(rows.get(table.key, [])):
            locked = {c.key: canon(row.values.get(c.key)) for c in table.columns if row.is_locked(c)}
            records.append({"t": table.key, "k": row.key, "r": FIRST_DATA_ROW + i + 1, "kind": row.kind,
                            "p": row.project, "v": locked, "x": dict(row.extra)})
    return records


def _meta(spec, unit, year, tables, records, key) -> dict:
    meta = {"format": signing.FORMAT_VERSION, "county": spec.county, "code": spec.code,
            "period": plan_period(year), "unit": unit, "kind": "annual-plan", "year": str(year),
            "issued": dt.date(year, 1, 1).isoformat(), "tables": ",".join(t.key for t in tables)}
    meta["nonce"] = signing.nonce(key, spec.code, plan_period(year), unit, records)
    meta["signature"] = signing.sign(key, meta, records)
    return meta


# -- the workbook ------------------------------------------------------------------------------------

def write_plan(spec, unit, year, rows, key, target, notes=None, feedback=()) -> dict:
    """One lead unit's 年度计划表 to ``target`` (path or file object); → its signed metadata.

    ``notes`` {(sheet, cell): text} and ``feedback`` [(where, text)] make it a feedback workbook."""
    tables = plan_tables(spec, year)
    records = _records(tables, rows)
    meta = _meta(spec, unit, year, tables, records, key)
    buf = io.BytesIO()
    wb = LockedWorkbook(buf, WORKBOOK_OPTIONS)
    wb.set_properties({"title": f"{spec.county}“十项重大工程”{year}年度计划表", "author": spec.issuer,
                       "company": spec.issuer, "created": dt.datetime(year, 1, 1), "comments": "workbook-tool"})
    fmt = Formats(wb)
    _write_instructions(wb, fmt, spec, unit, year, rows, feedback)
    for table in tables:
        ws = _write_sheet(wb, fmt, spec, unit, year, table, rows.get(table.key, []))
        for (sheet, cell), text in sorted((notes or {}).items()):
            if sheet == table.sheet:
                ws.write_comment(cell, text, {"author": spec.issuer, "x_scale": 2.2, "y_scale": 1.6})
                ws.conditional_format(cell, {"type": "no_errors", "format": fmt.flagged})
    _write_unit_list(wb, spec)
    _write_meta(wb, meta, records)
    wb.close()
    if hasattr(target, "write"):
        target.write(buf.getvalue())
    else:
        write_file(Path(target), buf.getvalue())
    return meta


def _write_instructions(wb, fmt, spec, unit, year, rows, feedback):
    ws = wb.add_worksheet("填报说明")
    widths = (14, 100)
    ws.set_column(0, 0, widths[0])
    ws.set_column(1, 1, widths[1])
    ws.merge_range(0, 0, 0, 1, f"{spec.county}“十项重大工程”{year}年度计划表填报说明", fmt.title)
    ws.set_row(0, 32)
    lines = [
        ("填报单位", f"{unit}（牵头单位）"),
        ("计划年度", f"{year}年"),
        ("牵头工程", "；".join(p.label for p in led_projects(spec, unit))),
        ("联系办公室", spec.issuer),
        ("填报内容", f"各指标 {year} 年度目标和月度累计计划；各重点任务 {year} 年节点目标和计划完成时间"
                     + ("；各重大项目本年度计划投资" if spec.uses("projects") else "")
                     + f"。白色的 {year - 1} 年数值仅供参考。"),
        ("填报规则", "1. 只填写浅黄色单元格；白色单元格已锁定，不能修改。已填的数是规格中现有的值，需要调整的直接改写。"),
        ("", "2. 月度计划填写截至该月末的累计数（后面月份不小于前面月份，且不超过年度目标），至少填 3、6、9、12 月；"
             "只有“本年累计”类指标可填月度计划。"),
        ("", f"3. 日期按 {year}-06-30 格式填写，计划完成时间应在 {year} 年内。"),
        ("", "4. 新增重点任务、重大项目请填在各工程预留的空行中：任务须填名称、节点目标、计划完成时间（责任单位不填则为"
             "牵头单位，多个单位用“、”分隔）；项目须填名称、业主单位、总投资、年度计划投资（总投资不小于年度计划投资）。"),
        ("", "5. 不要插入、删除、移动行或列，不要增删、重命名工作表；填好后直接保存（文件名不限），发送给总专班办公室。"),
    ]
    alerts = set()
    if feedback:
        lines = [("退回意见", f"本单位报送的年度计划表有 {len(feedback)} 处问题，已在表中用红框标出并加批注。"
                              "请逐条修改后保存，再次报送（可直接修改本文件）。")] + \
                [("", f"{n}. {where}：{text}") for n, (where, text) in enumerate(feedback, start=1)] + lines
        alerts = set(range(len(feedback) + 1))
    for i, (label, text) in enumerate(lines):
        ws.write_string(i + 2, 0, label, fmt.bold)
        ws.write_string(i + 2, 1, text, fmt.alert if i in alerts else fmt.text)
        ws.set_row(i + 2, row_height([(label, widths[0]), (text, widths[1])], INSTRUCTION_SIZE, minimum=20))
    print_setup(ws, widths, title_rows=None, footer=footer(unit, f"{year}年度计划"))
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True})
    ws.activate()


def _widths(table, rows):
    widths, shrinkable = [], []
    for c, col in enumerate(table.columns):
        values = [row.values.get(col.key) for row in rows]
        if col.type == "text":
            widths.append(max(col.width, natural_width(values, col.header, cap=26)))
            shrinkable.append(c)
        else:                            # headers wrap: numbers and dates are measured by their values
            widths.append(max(col.width, natural_width(values, "", cap=14, floor=col.width)))
    return fit_columns(widths, shrinkable, 10, TABLE_PX)


def _write_sheet(wb, fmt, spec, unit, year, table, rows):
    ws = wb.add_worksheet(table.sheet)
    ncols = len(table.columns)
    widths = _widths(table, rows)
    for c, width in enumerate(widths):
        ws.set_column(c, c, width)
    ws.set_column(ncols, ncols, 14, fmt.hidden, {"hidden": True})
    ws.merge_range(0, 0, 0, ncols - 1, f"{spec.county}“十项重大工程”{table.title}（{year}年）", fmt.title)
    ws.set_row(0, 32)
    note = "浅黄色单元格为填报项" if rows else "本单位牵头的工程在本表中没有内容，无需填写。"
    ws.merge_range(1, 0, 1, ncols - 1, f"填报单位：{unit}　　计划年度：{year}年　　{note}", fmt.subtitle)
    ws.set_row(1, 20)
    for c, col in enumerate(table.columns):
        ws.write_string(2, c, col.header, fmt.header)
    ws.write_string(2, ncols, "行标识", fmt.hidden)
    ws.set_row(2, row_height([(col.header, widths[c]) for c, col in enumerate(table.columns)], minimum=20))
    for i, row in enumerate(rows):
        r = FIRST_DATA_ROW + i
        ws.set_row(r, row_height([(row.values.get(col.key), widths[c]) for c, col in enumerate(table.columns)]))
        for c, col in enumerate(table.columns):
            _write_value(ws, r, c, row.values.get(col.key), col, fmt.for_cell(col, row.is_input(col)))
        ws.write_string(r, ncols, row.key, fmt.hidden)
    if rows:
        _validations(ws, spec, year, table, rows)
    ws.freeze_panes(HEADER_ROWS, 3)
    print_setup(ws, widths, title_rows=(0, 2), key_cols=3, header=page_header(table.title),
                footer=footer(unit, f"{year}年度计划"))
    ws.protect("", {"select_locked_cells": True, "select_unlocked_cells": True,
                    "format_columns": True, "format_rows": True})
    return ws


def _rule(spec, year, col):
    if col.type == "number":
        return {"validate": "decimal", "criteria": ">=", "value": 0}, "请只填写大于或等于 0 的数字，不要写单位或文字。"
    if col.type == "date":
        y0, y1 = (year, year) if col.key == "due" else spec.plan_years
        return ({"validate": "date", "criteria": "between", "minimum": dt.date(y0, 1, 1),
                 "maximum": dt.date(y1, 12, 31)}, f"请按 {year}-06-30 格式填写 {y0}—{y1} 年内的日期。")
    if col.type == "enum":
        return {"validate": "list", "source": list(col.choices)}, "请从下拉列表中选择：" + "、".join(col.choices)
    if col.key == "owner":
        n = len(spec.units)
        return ({"validate": "list", "source": f"='{LIST_SHEET}'!$A$1:$A${n}"},
                "请从下拉列表中选择业主单位（单位名录中的全称）。")
    return {"validate": "length", "criteria": "<=", "value": col.max_length}, f"不超过 {col.max_length} 个字。"


def _validations(ws, spec, year, table, rows):
    for c, col in enumerate(table.columns):
        if not col.is_input:
            continue
        rule, message = _rule(spec, year, col)
        rule.update({"input_title": col.header[:32], "input_message": message[:255], "error_title": "填写有误",
                     "error_message": message[:255], "error_type": "stop", "ignore_blank": True})
        start = None
        for i, row in enumerate(rows + [None]):
            is_in = row is not None and row.is_input(col)
            if is_in and start is None:
                start = i
            elif not is_in and start is not None:
                ws.data_validation(FIRST_DATA_ROW + start, c, FIRST_DATA_ROW + i - 1, c, dict(rule))
                start = None


def _write_unit_list(wb, spec):
    ws = wb.add_worksheet(LIST_SHEET)
    for i, u in enumerate(spec.units):
        ws.write_string(i, 0, u.name)
    ws.protect("")
    ws.hide()


def generate_plans(desk: Desk, spec, year: int, units=None) -> tuple:
    """Write every lead unit's 年度计划表 for ``year``; → (spec, out_dir, [(unit, path, meta)])."""
    _check_year(spec, year)
    key = signing.load_key(desk.secret_path)
    out_dir = desk.root / "templates" / spec.code / plan_period(year)
    results = []
    for unit in units or lead_units(spec):
        path = out_dir / f"{safe_filename(unit)}.xlsx"
        meta = write_plan(spec, unit, year, plan_rows(spec, unit, year), key, path)
        results.append((unit, path, meta))
    with Ledger(desk.ledger_path(spec.code)) as ledger, ledger.transaction():
        for unit, path, meta in results:
            ledger.record_issued(spec.code, plan_period(year), unit, meta["nonce"], path.name)
    return spec, out_dir, results


def _check_year(spec, year):
    y0, y1 = spec.plan_years
    if not y0 <= year <= y1:
        raise DeskError(f"计划年度 {year} 不在{spec.county}的规划年度 {y0}—{y1} 内。请检查 --year。")


# -- reading and checking a returned plan -----------------------------------------------------------------

@dataclass
class PlanRow:
    table: str
    key: str
    project: int
    kind: str
    excel_row: int
    values: dict                      # typed input values (float, dt.date, text) and locked ones
    raw: dict = field(default_factory=dict)
    used: bool = True


@dataclass
class PlanEntry:
    path: str
    sha256: str
    received: dt.datetime | None
    origin: str | None = None
    unit: str | None = None
    nonce: str | None = None
    verdict: str = "rejected"         # accepted | rejected | superseded | skipped
    findings: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    records: list = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(f.is_error for f in self.findings)


def examine(cand, spec, year, key) -> PlanEntry:
    """Read and check one inbox candidate as a returned plan of ``year``."""
    e = PlanEntry(cand.path, cand.sha256, cand.received, cand.origin)
    if cand.problem:
        e.findings.append(Finding("F001", file=cand.path, detail=cand.problem))
        return e
    result = read_return(cand.data, spec.max_file_mb, spec.max_unpacked_mb)
    e.findings.extend(_at(f, cand.path) for f in result.findings)
    if result.fatal:
        return e
    meta = result.meta or {}
    if meta.get("format") != signing.FORMAT_VERSION:
        e.findings.append(Finding("F005", file=cand.path, seen=str(meta.get("format", "?")),
                                  expected=signing.FORMAT_VERSION))
        return e
    if not signing.verify(key, meta, result.records):
        e.findings.append(Finding("F004", file=cand.path))
        return e
    if meta.get("code") != spec.code or meta.get("period") != plan_period(year):
        e.verdict = "skipped"             # a monthly return, or another year's plan: not ours to judge
        return e
    unit = meta.get("unit")
    if unit not in lead_units(spec):
        e.findings.append(Finding("F003", file=cand.path))
        return e
    e.unit, e.nonce, e.records = unit, meta.get("nonce"), result.records
    e.findings = [_at(f, cand.path, unit) for f in e.findings]
    e.findings.extend(_at(f, cand.path, unit) for f in check_plan(result, spec, year, unit, e))
    e.verdict = "candidate"
    return e


def _at(f, path, unit=None):
    return dataclasses.replace(f, file=path, unit=unit or f.unit)


def check_plan(result, spec, year, unit, entry):
    """Structure, values and plan rules of one identified plan; fills ``entry.rows``; yields findings."""
    tables = plan_tables(spec, year)
    by_table = {}
    for rec in result.records:
        by_table.setdefault(rec["t"], []).append(rec)
    known = {t.sheet for t in tables} | {"填报说明", LIST_SHEET}
    for name, content in result.sheets.items():
        if name not in known and not (content and content[0] and content[0][0] == signing.MARKER) and any(
                any(not is_blank(v) for v in row) for row in content):
            yield Finding("S002", sheet=name, detail=name)
    for table in tables:
        grid = result.sheets.get(table.sheet)
        if grid is None:
            yield Finding("S001", sheet=table.sheet, detail=table.sheet)
            continue
        header = list(grid[2]) if len(grid) > 2 else []
        for c, col in enumerate(table.columns):
            if c >= len(header) or canon(header[c]).strip() != col.header:
                yield Finding("S006", sheet=table.sheet, cell=xl_rowcol_to_cell(2, c), expected=col.header)
                break
        key_col = len(table.columns)
        for rec in by_table.get(table.key, []):
            r = int(rec["r"])
            cells = list(grid[r - 1]) if r - 1 < len(grid) else []
            cells += [None] * (key_col + 1 - len(cells))
            if canon(cells[key_col]) != rec["k"]:
                yield Finding("S003", sheet=table.sheet, cell=f"A{r}", row=r,
                              detail=f"「{rec['v'].get('name') or rec['k']}」这一行被删除或移动")
                continue
            row = PlanRow(table.key, rec["k"], int(rec["p"]), rec["kind"], r, {})
            yield from _check_row(table, rec, cells, row, spec, year)
            entry.rows.append(row)
        last = max([int(rec["r"]) for rec in by_table.get(table.key, [])], default=HEADER_ROWS)
        for i in range(last, len(grid)):
            if any(not is_blank(v) for v in grid[i][:key_col + 1]):
                yield Finding("S003", sheet=table.sheet, cell=f"A{i + 1}", row=i + 1, detail="模板最后一行之后多出内容")
                break


def _check_row(table, rec, cells, row, spec, year):
    template_row = Row(table.key, rec["k"], int(rec["p"]), rec["kind"], extra=dict(rec.get("x", {})))
    sheet = table.sheet

    def at(c, code, **kw):
        return Finding(code, sheet=sheet, cell=xl_rowcol_to_cell(row.excel_row - 1, c), column=table.columns[c].header,
                       row=row.excel_row, **kw)

    for c, col in enumerate(table.columns):
        raw = cells[c]
        if template_row.is_locked(col):
            expected = rec["v"].get(col.key, "")
            if _locked_text(col, raw) != expected:
                yield at(c, "S004", expected=expected or "空", seen=canon(raw))
            row.values[col.key] = typed(col, expected)
            continue
        if not template_row.is_input(col):
            continue
        row.raw[col.key] = raw
        if is_blank(raw):
            row.values[col.key] = None
            continue
        try:
            if col.type == "number":
                value, note = normalize_number(raw)
                if value < 0:
                    raise Bad("V005", "大于或等于 0")
            elif col.type == "date":
                value, note = normalize_date(raw)
            elif col.type == "enum":
                value, note = normalize_enum(raw, col.choices)
            else:
                value, note = str(raw).strip(), None
                if len(value) > col.max_length:
                    yield at(c, "V007", expected=str(col.max_length), seen=str(len(value)))
                    continue
        except Bad as bad:
            yield at(c, bad.code, seen=canon(raw), expected=bad.expected)
            continue
        if note:
            yield at(c, "V006", seen=canon(raw), expected=note)
        row.values[col.key] = value
    row.used = row.kind != "blank" or any(row.values.get(k) not in (None, "") for k in row.raw)
    if row.used:
        yield from _plan_rules(table, row, spec, year, at)


def _locked_text(col, raw) -> str:
    if col.type == "date" and not is_blank(raw):
        try:
            return normalize_date(raw)[0].isoformat()
        except Bad:
            return canon(raw)
    return canon(raw)


def _plan_rules(table, row, spec, year, at):
    v = row.values
    index = table.index
    if row.kind == "blank":
        for key in table.required_new:
            if v.get(key) in (None, ""):
                yield at(index(key), "V004", detail="新增行填了内容时，此项必须填写。")
    if table.key == "plan_indicators":
        months = [(m, v.get(f"m{m}")) for m in MONTHS if isinstance(v.get(f"m{m}"), float)]
        top = None
        for m, value in months:
            if top is not None and value < top[1] - 1e-9:
                yield at(index(f"m{m}"), "A004", seen=shown(value), expected=shown(top[1]))
            top = (m, value) if top is None or value > top[1] else top
        annual = v.get("annual")
        if isinstance(annual, float):
            for m, value in months:
                if value > annual + 1e-9:
                    yield at(index(f"m{m}"), "A005", seen=shown(value), expected=shown(annual))
    if table.key == "plan_tasks":
        due = v.get("due")
        if isinstance(due, dt.date) and due.year != year:
            yield at(index("due"), "A001", seen=due.isoformat(), expected=str(year))
        if row.kind == "blank" and v.get("units"):
            yield from _check_units(v["units"], spec, row.project, at(index("units"), "V004"), "责任单位")
    if table.key == "plan_projects":
        total, plan = v.get("total"), v.get("plan")
        if isinstance(total, float) and isinstance(plan, float) and total + 1e-9 < plan:
            yield at(index("plan"), "A003", seen=shown(total), expected=shown(plan))
        start = v.get("planned_start")
        y0, y1 = spec.plan_years
        if row.kind == "blank" and isinstance(start, dt.date) and not y0 <= start.year <= y1:
            yield at(index("planned_start"), "X008", seen=start.isoformat(), expected=f"{y0}—{y1} 年")
        if row.kind == "blank" and v.get("owner"):
            yield from _check_units(v["owner"], spec, row.project, at(index("owner"), "V004"), "业主单位",
                                    single=True)


def split_units(text: str) -> list:
    return [p.strip() for p in re.split(r"[、，,；;/\s]+", str(text)) if p.strip()]


def _check_units(text, spec, project_no, where, what, single=False):
    project = next((p for p in spec.projects if p.no == project_no), None)
    names = split_units(text)
    if single and len(names) > 1:
        yield _replace(where, "A002", seen=str(text), detail="（业主单位只能填一个）。")
        return
    registry = [u.name for u in spec.units] + [a for u in spec.units for a in u.aliases]
    for name in names:
        canonical = spec.resolve(name)
        if canonical is None:
            close = difflib.get_close_matches(name, registry, n=1, cutoff=0.6) or \
                [n for n in registry if name in n or n in name][:1]
            yield _replace(where, "A002", seen=name, column=what,
                           detail=f"，是否应为「{close[0]}」？" if close else "。")
        elif project is not None and canonical is not None and canonical not in project.member_set:
            yield _replace(where, "A006", seen=name, column=what)


def _replace(f, code, **kw):
    return dataclasses.replace(f, code=code, **kw)


# -- collecting ------------------------------------------------------------------------------------------------

@dataclass
class PlanResult:
    county: str
    year: int
    entries: list
    accepted: list
    rejected: list
    missing: list
    changes: list
    written: list                    # spec files written
    findings: list
    report: Path
    feedback: list

    @property
    def counts(self) -> dict:
        return count_by_severity(self.findings)


def collect_plans(desk: Desk, spec, year: int, now=None) -> PlanResult:
    """Read the returned plans, check them, write feedback, and write accepted values into the spec."""
    folder = Path(spec.folder)
    _check_year(spec, year)
    key = signing.load_key(desk.secret_path, create=False)
    if not key:
        raise DeskError("找不到签名密钥（.workbook-tool-secret 或环境变量 WORKBOOK_TOOL_SECRET）。"
                        "请在生成计划表的同一办公桌上运行。")
    now = now or dt.datetime.now().replace(microsecond=0)
    period = plan_period(year)
    with Ledger(desk.ledger_path(spec.code)) as ledger:
        issued = ledger.issued_units(spec.code, period)
        if not issued:
            raise DeskError(f"{spec.county} 还没有生成过 {year} 年度计划表，无从汇总。"
                            f"请先运行 workbook-tool plan --year {year}。")
        entries = []
        for cand in scan(desk.inbox):
            e = examine(cand, spec, year, key)
            if e.received is None:
                e.received = ledger.first_seen(e.origin or e.sha256, e.path, now)
            if e.verdict == "candidate":
                nonces = ledger.issued(spec.code, period, e.unit)
                if nonces and e.nonce != nonces[-1]:
                    e.findings.append(Finding("F007", unit=e.unit, file=e.path))
            entries.append(e)
    winners = {}
    for e in sorted((e for e in entries if e.verdict == "candidate"), key=lambda e: (e.received, e.path), reverse=True):
        if e.unit in winners:
            e.verdict = "superseded"
            e.findings.append(Finding("F008", unit=e.unit, file=e.path))
        else:
            winners[e.unit] = e
    order = {u: i for i, u in enumerate(lead_units(spec))}
    accepted, rejected = [], []
    for unit in sorted(winners, key=lambda u: order.get(u, len(order))):
        e = winners[unit]
        e.verdict = "rejected" if e.has_errors else "accepted"
        (rejected if e.has_errors else accepted).append(e)
    changes = plan_changes(spec, year, accepted)
    out_dir = desk.consolidated(spec.code) / period
    feedback = _write_feedbacks(spec, year, key, rejected, out_dir / FEEDBACK_DIR)
    written = apply_changes(folder, spec, changes) if changes else []
    findings = [f for e in entries for f in e.findings]
    result = PlanResult(spec.county, year, entries, [e.unit for e in accepted], [e.unit for e in rejected],
                        [u for u in issued if u not in winners], changes, written, findings,
                        out_dir / REPORT_NAME, feedback)
    write_file(result.report, ("\n".join(report_lines(result)) + "\n").encode("utf-8"))
    return result


def _value(row, key):
    value = row.values.get(key)
    return None if value in (None, "") else value


def plan_changes(spec, year, accepted) -> list:
    """The values accepted plans add or change, in lead-unit order; a later unit's differing
    value for the same item gets an A007 warning and is not written."""
    items = {}
    for p in spec.projects:
        for kind, objs in (("indicator", p.indicators), ("task", p.tasks), ("major_project", p.major_projects)):
            for obj in objs:
                items[(kind, obj.id)] = (p, obj)
    taken = {}
    changes = []
    used_ids = {obj_id for _, obj_id in items}

    def offer(e, row, change):
        ident = (change.kind, change.id, change.key)
        if ident in taken:
            first = taken[ident]
            if first.new != change.new:
                e.findings.append(Finding("A007", unit=e.unit, file=e.path, sheet=_sheet(row.table),
                                          row=row.excel_row, detail=f"{change.describe().split('：')[0]}",
                                          expected=f"「{first.unit}」", seen=shown(change.new)))
            return
        taken[ident] = change
        changes.append(change)

    for e in accepted:
        for row in e.rows:
            if not row.used:
                continue
            if row.kind == "blank":
                change = _new_item(spec, year, e.unit, row, used_ids)
                if change is not None:
                    offer(e, row, change)
                continue
            kind = {"plan_indicators": "indicator", "plan_tasks": "task", "plan_projects": "major_project"}[row.table]
            found = items.get((kind, row.key))
            if found is None:
                continue
            _, obj = found
            for key, old, new in _row_values(obj, row, year):
                if new is not None and not _same(old, new):
                    offer(e, row, Change(kind, obj.id, key, year, old, new, unit=e.unit, name=obj.name))
    return changes


def _sheet(table_key):
    return {"plan_indicators": "年度指标", "plan_tasks": "重点任务", "plan_projects": "重大项目"}[table_key]


def _row_values(obj, row, year):
    if row.table == "plan_indicators":
        yield "annual", obj.annual_for(year), _value(row, "annual")
        months = {m: row.values[f"m{m}"] for m in MONTHS if isinstance(row.values.get(f"m{m}"), float)}
        if months and obj.kind == "cumulative":
            yield "plan", {m: v for m, v in obj.plan_for(year)}, months
    elif row.table == "plan_tasks":
        yield "milestone", obj.milestone_for(year), _value(row, "milestone")
        yield "due", obj.due_for(year), _value(row, "due")
    else:
        yield "annual_plan", obj.annual_plan_for(year), _value(row, "plan")


def _same(old, new) -> bool:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return abs(float(old) - float(new)) < 1e-9
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in old)
    return old == new


def _new_item(spec, year, unit, row, used_ids):
    """A used blank row → the Change adding a task or major project (None when already in the spec)."""
    project = next(p for p in spec.projects if p.no == row.project)
    v = row.values
    name = str(v.get("name") or "").strip()
    if row.table == "plan_tasks":
        kind, letter, existing = "task", "T", project.tasks
    else:
        kind, letter, existing = "major_project", "P", project.major_projects
    if any(obj.name.strip() == name for obj in existing):
        return None                      # added by an earlier run of --collect
    n = 1
    while f"{project.no:02d}-{letter}{n:02d}" in used_ids:
        n += 1
    new_id = f"{project.no:02d}-{letter}{n:02d}"
    used_ids.add(new_id)
    if kind == "task":
        fields = {"id": new_id, "name": name}
        units = [spec.resolve(u) or u for u in split_units(v.get("units") or "")]
        if units and units != list(project.lead_units):
            fields["units"] = units
        fields["milestone"] = {year: v["milestone"]}
        fields["due"] = {year: v["due"]}
        if v.get("recurring") == YES_NO[0]:
            fields["recurring"] = True
    else:
        fields = {"id": new_id, "name": name, "content": v.get("content") or "",
                  "owner": spec.resolve(split_units(v["owner"])[0]), "total_investment": v["total"],
                  "annual_plan": {year: v["plan"]}, "planned_start": v.get("planned_start")}
    return Change(kind, new_id, "", year, None, fields, project=project.no, unit=unit, name=name)


def _write_feedbacks(spec, year, key, rejected, folder: Path) -> list:
    if folder.exists():
        try:
            shutil.rmtree(folder)        # a unit accepted since keeps no old 退回 workbook
        except PermissionError:
            raise DeskError(cannot_write(folder) + "规格未做修改。") from None
    out = []
    from .feedback import plain_place
    for e in rejected:
        if any(f.code == "F007" for f in e.findings):
            continue                      # a stale plan: the unit uses its current plan workbook
        rows = _rows_back(spec, year, e)
        notes, feedback = {}, []
        for f in e.findings:
            if f.code == "F008":
                continue
            feedback.append((plain_place(f), f"[{f.severity}] {f.message}"))
            if f.sheet and f.cell:
                k = (f.sheet, f.cell)
                notes[k] = (notes[k] + "\n" if k in notes else "") + f"[{f.severity}] {f.message}"
        path = folder / f"{safe_filename(e.unit)}.xlsx"
        write_plan(spec, e.unit, year, rows, key, path, notes=notes, feedback=feedback)
        out.append(path)
    return out


def _rows_back(spec, year, e) -> dict:
    """The plan's rows as issued (from its signed records) with the unit's entries filled back in."""
    tables = {t.key: t for t in plan_tables(spec, year)}
    raw = {(r.table, r.key): r.raw for r in e.rows}
    rows = {}
    for rec in e.records:
        table = tables.get(rec["t"])
        if table is None:
            continue
        values = {c.key: typed(c, rec["v"][c.key]) for c in table.columns if c.key in rec["v"]}
        for k, v in raw.get((rec["t"], rec["k"]), {}).items():
            if not is_blank(v):
                values[k] = v
        rows.setdefault(rec["t"], []).append(Row(rec["t"], rec["k"], int(rec["p"]), rec["kind"], values=values,
                                                 extra=dict(rec.get("x", {}))))
    return rows


def report_lines(result: PlanResult) -> list:
    c = result.counts
    lines = [f"{result.county} {result.year} 年度计划汇总：报回 {len(result.accepted) + len(result.rejected)} 个牵头单位，"
             f"采用 {len(result.accepted)} 个，退回 {len(result.rejected)} 个，未报 {len(result.missing)} 个；"
             f"发现问题：错误 {c[ERROR]} 处，警告 {c['警告']} 处。"]
    for label, names in (("采用", result.accepted), ("退回", result.rejected), ("未报", result.missing)):
        if names:
            lines.append(f"{label}单位：" + "、".join(names))
    if result.changes:
        lines.append(f"写入规格的新增和修改（{len(result.changes)} 项，原值 → 新值）：")
        lines += [f"  {ch.describe()}（{ch.unit}）" for ch in result.changes]
        lines.append("已修改的规格文件：" + "、".join(result.written))
        lines.append(f"下一步：运行 workbook-tool check-spec 检查规格；之后生成的 {result.year} 年模板使用新计划，"
                     f"已经生成过的 {result.year} 年期次请重新运行 workbook-tool generate。")
    else:
        lines.append("规格没有新增或修改。")
    if result.findings:
        lines.append("校验问题：")
        for f in result.findings:
            place = "!".join(p for p in (f.sheet, f.cell) if p) or "文件"
            lines.append(f"  [{f.severity}] {f.code} {f.unit or '?'} {f.file} {place}：{f.message}")
    if result.feedback:
        lines.append(f"退回意见（请发回各单位）：{result.feedback[0].parent}")
    return lines
