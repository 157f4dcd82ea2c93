"""The feedback workbook (退回意见) for a rejected return.

It is the unit's own signed template with its values filled back in, every bad cell marked and
noted in plain words, every remark listed on 填报说明 with the date to send it back by. Fixed and
returned, it is accepted like the template it came from. A return refused because its template
was re-issued (F007) gets the unit's current template instead.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, cast

from .layout import working_days_after
from .rows import rows_from_records
from .tables import TABLES
from .template import safe_filename, write_template

if TYPE_CHECKING:
    from .checks import Checked
    from .consolidate import FileEntry
    from .desk import Period
    from .findings import Finding
    from .spec import Spec


def write_feedback(spec: Spec, period: Period, key: bytes, e: FileEntry, path: Path, templates: Path) -> None:
    """The 退回 workbook of a rejected return ``e`` (a consolidate FileEntry) at ``path``."""
    unit = cast(str, e.unit)          # a rejected return was identified: its unit is known
    if e.checked is None:
        # a stale template: the feedback is the unit's current template, to fill in afresh
        current = templates / f"{safe_filename(unit)}.xlsx"
        if current.is_file():
            path.write_bytes(current.read_bytes())
        return
    checked = cast("Checked", e.checked)
    inputs: dict[tuple[str, str], dict[str, Any]] = {}
    for (table, row_key), raw in checked.raw.items():
        inputs[(table, row_key)] = {k: v for k, v in raw.items() if v not in (None, "")}
    # rows that failed structure checks have no raw cells; the template's rows still come back
    rows = rows_from_records(e.records, inputs)
    for table in spec.tables:
        rows.setdefault(table, [])
    notes: dict[tuple[str, str], str] = {}
    feedback: list[tuple[str, str]] = []
    for f in e.findings:
        if f.code == "F008":
            continue
        feedback.append((plain_place(f), f"[{f.severity}] {f.message}"))
        if f.cell and f.sheet:
            key_ = (f.sheet, f.cell)
            notes[key_] = (notes[key_] + "\n" if key_ in notes else "") + f"[{f.severity}] {f.message}"
    resubmit = resubmit_date(spec, period, e.received)
    due = f"请改正后于 {resubmit.year}年{resubmit.month}月{resubmit.day}日前重新报送。"
    notes = {k: f"{v}\n{due}" for k, v in notes.items()}
    write_template(spec, unit, period, rows, key, path, notes=notes, feedback=feedback, resubmit=resubmit)


def resubmit_date(spec: Spec, period: Period, received: Optional[dt.datetime]) -> dt.date:
    """The date a rejected return is due back: ``resubmit_days`` working days after the later of
    the deadline and the day it was received (from the inbox, not the clock: reruns stay identical)."""
    base = max(period.deadline(spec.deadline_day), received.date() if received else dt.date.min)
    return working_days_after(base, spec.resubmit_days)


def plain_place(f: Finding) -> str:
    """Where a finding is, in words a unit reads: 主要指标进度表第 4 行「本年累计完成」."""
    titles = {t.sheet: t.title for t in TABLES.values()}
    if not f.sheet:
        return "整个文件"
    place = titles.get(f.sheet, f"工作表“{f.sheet}”")
    row = f.row
    if not row and f.cell:
        digits = "".join(ch for ch in f.cell if ch.isdigit())
        row = int(digits) if digits else 0
    if row:
        place += f"第 {row} 行"
    if f.column:
        place += f"「{f.column}」"
    elif f.cell:
        place += f"（{f.cell} 单元格）"
    return place
