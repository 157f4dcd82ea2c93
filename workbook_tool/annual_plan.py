"""Annual plans (年度计划表): the year's targets, collected from the lead units like returns.

``generate_plans`` writes one locked, signed workbook per lead unit (the projects it leads):
the year's 年度目标 and cumulative monthly plan of every indicator, the year's 节点目标 and
计划完成时间 of every key task, the year's 年度计划投资 of every major project, last year's
values beside them (locked), and blank rows for new key tasks and major projects.
Collecting the returned plans is plan_collect.py.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Optional, Sequence, Union

from . import signing
from .desk import Desk, DeskError, write_file
from .layout import TABLE_PX, fit_columns, footer, natural_width, page_header, print_setup, row_height
from .ledger import Ledger
from .rows import Row
from .tables import INPUT, LOCKED, NEW, Column, Table
from .template import (FIRST_DATA_ROW, HEADER_ROWS, INSTRUCTION_SIZE, WORKBOOK_OPTIONS, Formats, LockedWorkbook,
                       _write_meta, _write_value, safe_filename)
from .values import canon

if TYPE_CHECKING:
    from .spec import Project, Spec

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


def plan_tables(spec: Spec, year: int) -> list[Table]:
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


def lead_units(spec: Spec) -> list[str]:
    """Units that lead at least one project, in registry order."""
    leads = {u for p in spec.projects for u in p.lead_units}
    return [u.name for u in spec.units if u.name in leads]


def led_projects(spec: Spec, unit: str) -> list[Project]:
    return [p for p in spec.projects if unit in p.lead_units]


# -- rows ------------------------------------------------------------------------------------------

def _in_year(day, year):
    return day if day is not None and day.year == year else None


def _own_milestone(task, year):
    """The year's 节点目标 when the spec gives one for it (not an earlier year's, which names that year)."""
    if task.milestone_by_year and year not in dict(task.milestone_by_year):
        return None
    return task.milestone_for(year) or None


def plan_rows(spec: Spec, unit: str, year: int) -> dict[str, list[Row]]:
    """{table key: [Row]} of ``unit``'s plan for ``year``, pre-filled with what the spec holds."""
    last = year - 1
    has_last = last >= spec.plan_years[0]
    rows: dict = {"plan_indicators": [], "plan_tasks": [], "plan_projects": []}
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

def write_plan(spec: Spec, unit: str, year: int, rows: dict[str, list[Row]], key: bytes,
               target: Union[str, Path, BinaryIO], notes: Optional[dict[tuple[str, str], str]] = None,
               feedback: Sequence[tuple[str, str]] = ()) -> dict:
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


def generate_plans(desk: Desk, spec: Spec, year: int,
                   units: Optional[Sequence[str]] = None) -> tuple[Spec, Path, list[tuple[str, Path, dict]]]:
    """Write every lead unit's 年度计划表 for ``year``; → (spec, out_dir, [(unit, path, meta)])."""
    check_year(spec, year)
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


def check_year(spec: Spec, year: int) -> None:
    y0, y1 = spec.plan_years
    if not y0 <= year <= y1:
        raise DeskError(f"计划年度 {year} 不在{spec.county}的规划年度 {y0}—{y1} 内。请检查 --year。")


# -- reading and checking a returned plan -----------------------------------------------------------------
