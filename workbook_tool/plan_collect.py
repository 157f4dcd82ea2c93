"""Collecting the annual plans (年度计划表) returned by the lead units: identify, check, write back.

``collect_plans`` identifies the returned plans in ``inbox/`` by their signature, checks them
(findings are data), writes a feedback workbook for each bad one, and writes the accepted
values into the spec (spec_edit: YAML or 规格.xlsx), with a report of every value added or changed.
The plan workbooks themselves are made in annual_plan.py.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from xlsxwriter.utility import xl_rowcol_to_cell

from . import signing
from .checks import Bad, is_blank, normalize_date, normalize_enum, normalize_number
from .desk import Desk, DeskError, cannot_write, write_file
from .findings import ERROR, Finding, count_by_severity
from .inbox import scan
from .ledger import Ledger
from .reader import read_return
from .annual_plan import (FEEDBACK_DIR, LIST_SHEET, MONTHS, REPORT_NAME, YES_NO, check_year, lead_units, plan_period,
                          plan_tables, write_plan)
from .rows import Row
from .spec_edit import Change, apply_changes, shown
from .template import HEADER_ROWS, safe_filename
from .values import canon, typed

if TYPE_CHECKING:
    from .inbox import Candidate
    from .reader import ReadResult
    from .spec import Spec


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


def examine(cand: Candidate, spec: Spec, year: int, key: bytes) -> PlanEntry:
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


def check_plan(result: ReadResult, spec: Spec, year: int, unit: str, entry: PlanEntry) -> Iterator[Finding]:
    """Structure, values and plan rules of one identified plan; fills ``entry.rows``; yields findings."""
    tables = plan_tables(spec, year)
    by_table: dict = {}
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
    value: Union[float, dt.date, str]

    def at(c: int, code: str, **kw: Any) -> Finding:
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


def collect_plans(desk: Desk, spec: Spec, year: int, now: Optional[dt.datetime] = None) -> PlanResult:
    """Read the returned plans, check them, write feedback, and write accepted values into the spec."""
    folder = Path(spec.folder)
    check_year(spec, year)
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
            if e.verdict == "candidate" and e.unit:
                nonces = ledger.issued(spec.code, period, e.unit)
                if nonces and e.nonce != nonces[-1]:
                    e.findings.append(Finding("F007", unit=e.unit, file=e.path))
            entries.append(e)
    winners: dict = {}
    for e in sorted((e for e in entries if e.verdict == "candidate" and e.unit), key=lambda e: (e.received, e.path),
                    reverse=True):
        if e.unit in winners:
            e.verdict = "superseded"
            e.findings.append(Finding("F008", unit=e.unit or "", file=e.path))
        else:
            winners[e.unit] = e
    order = {u: i for i, u in enumerate(lead_units(spec))}
    accepted: list = []
    rejected: list = []
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


def plan_changes(spec: Spec, year: int, accepted: list[PlanEntry]) -> list[Change]:
    """The values accepted plans add or change, in lead-unit order; a later unit's differing
    value for the same item gets an A007 warning and is not written."""
    items = {}
    for p in spec.projects:
        for kind, objs in (("indicator", p.indicators), ("task", p.tasks), ("major_project", p.major_projects)):
            for obj in objs:
                items[(kind, obj.id)] = (p, obj)
    taken: dict = {}
    changes = []
    used_ids = {obj_id for _, obj_id in items}

    def offer(e: PlanEntry, row: PlanRow, change: Change) -> None:
        ident = (change.kind, change.id, change.key)
        if ident in taken:
            first = taken[ident]
            if first.new != change.new:
                e.findings.append(Finding("A007", unit=e.unit or "", file=e.path, sheet=_sheet(row.table),
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
                    offer(e, row, Change(kind, obj.id, key, year, old, new, unit=e.unit or "", name=obj.name))
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
        fields: dict = {"id": new_id, "name": name}
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
        notes: dict = {}
        feedback: list = []
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
    rows: dict = {}
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
