"""The rows of one unit's template for one period: the spec's rows with carried values.

What a unit's template pre-fills is the latest accepted state of each row before the period
(from the ledger), rolled over at a plan-year boundary; the master shows the same rows as 沿用.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Collection, Optional, Sequence

from .desk import Period
from .rows import Row
from .tables import INPUT, NEW, TABLES, tables_of
from .values import canon, typed

if TYPE_CHECKING:
    from .spec import Project, Spec, Task


def problem_code(spec: Spec, project: Project, unit: str, period: Period, n: int) -> str:
    """问题编号 of a blank problem row: project, period, the unit's own code, slot.

    Nothing in it depends on where the unit stands in the registry."""
    return f"{project.no:02d}-{period.year % 100:02d}{period.month:02d}-{spec.unit_code(unit)}-{n}"


def plan_cumulative_ids(spec: Spec, unit: str) -> list[str]:
    """Ids of the plan_cumulative indicators ``unit`` reports (their earlier years come from the ledger)."""
    return [ind.id for p in spec.projects_of(unit) for ind in p.indicators
            if ind.kind == "plan_cumulative" and unit in ind.units]


def rollover(row: Row, old: Row, period: Period, task: Optional[Task] = None) -> bool:
    """Adjust a row carried across a plan-year boundary; False when it leaves the template.

    Year-to-date values (本年累计, 本年累计完成投资) start afresh. A recurring task (每年滚动)
    starts the year at 未启动; a one-off task completed in an earlier year leaves later
    years' templates (it stays in the ledger's history), unless the spec re-targets it to
    this year or later; a one-off task not completed carries on. Locked values (this year's
    年度目标, 年度计划投资, 节点目标) come from the spec, never from last year's row; a project
    the unit added itself gets its 年度计划投资 cell open again for the new year.
    """
    table = TABLES[row.table]
    for key in table.year_to_date:
        if key in row.values:
            row.values[key] = None
    if row.kind == "carried" and table.reopens_each_year:
        for key in table.reopens_each_year:   # a row the unit added: it gives the new year's value
            row.values[key] = None
        row.extra["open"] = list(table.reopens_each_year)
    if task is None:
        return True
    completed = old.values.get("state") == table.finished
    due = row.values.get("due")
    retargeted = isinstance(due, dt.date) and due >= dt.date(period.year, 1, 1)
    if task is not None and task.recurring or completed and retargeted:
        for key in ("progress", "done", "issues"):
            row.values[key] = None
        row.values["state"] = "未启动"
        return True
    return not completed


def _retargeted(task, year) -> bool:
    due = task.due_for(year)
    return due is not None and due >= dt.date(year, 1, 1)


def unit_rows(spec: Spec, unit: str, period: Period, carry: Sequence[Row] = (),
              earlier: Optional[dict[str, float]] = None, finished: Collection[str] = (),
              keep_closed_from: str | None = None) -> dict[str, list[Row]]:
    """{table key: [Row]} for ``unit`` in ``period``, carried values pre-filled.

    ``carry``: the unit's latest accepted state of each row (ledger rows). Problems closed in
    an earlier period leave the list; ``keep_closed_from`` (a period) keeps those closed from
    that period on (the master shows what was closed this month).
    ``earlier``: {indicator id: sum of the earlier plan years' accepted year-end values} for
    the unit's plan_cumulative indicators. ``finished``: keys of tasks the unit reported
    已完成 at the end of an earlier year. Both come from the ledger (Ledger.year_end_values).
    """
    build = _UnitRows(spec, unit, period, carry, earlier or {}, finished, keep_closed_from)
    rows: dict[str, list[Row]] = {t.key: [] for t in tables_of(spec)}
    for project in spec.projects_of(unit):
        for key, out in rows.items():
            out.extend(getattr(build, key)(project))
    return rows


class _UnitRows:
    """The rows one table of one project holds for a unit in a period (a method per table)."""

    def __init__(self, spec, unit, period, carry, earlier, finished, keep_closed_from):
        self.spec, self.unit, self.period, self.year = spec, unit, period, period.year
        self.carry, self.earlier, self.finished = carry, earlier, finished
        self.keep_closed_from = keep_closed_from
        self.carried = {(c.table, c.key): c for c in carry}

    def is_gone(self, old: Optional[Row]) -> bool:
        """A problem closed before the period (the master keeps those closed this period)."""
        return old is not None and TABLES[old.table].leaves_when_finished and \
            old.values.get("state") == TABLES[old.table].finished and \
            (self.keep_closed_from is None or old.period < self.keep_closed_from)

    def prefill(self, row: Row, item: Optional[Task] = None) -> bool:
        """Pre-fill from the carried row; False when the row leaves this year's template."""
        old = self.carried.get((row.table, row.key))
        if old is None:
            return True
        same_year = old.period[:4] == str(self.year)
        for col in TABLES[row.table].columns:
            if not row.is_input(col) and not (col.mode == NEW and row.kind == "carried"):
                continue
            value = old.values.get(col.key)
            if col.key in row.values and row.values[col.key] not in (None, "") and col.mode != INPUT:
                continue
            row.values[col.key] = typed(col, value)
        kept = (*TABLES[row.table].year_to_date, "state")
        row.extra["prev"] = {k: canon(v) for k, v in old.values.items() if k in kept and same_year}
        return same_year or rollover(row, old, self.period, item)

    def indicators(self, project: Project) -> list[Row]:
        out = []
        for ind in project.indicators:
            if self.unit not in ind.units:
                continue
            row = Row("indicators", ind.id, project.no, "spec", values={
                "project": project.name, "name": ind.name, "measure": ind.measure,
                "target": ind.target, "year": ind.year, "annual": ind.annual_for(self.year),
                "earlier": (float(self.earlier.get(ind.id, 0.0)) if ind.kind == "plan_cumulative" else None),
                "units": "、".join(ind.units),
            }, extra={"direction": ind.direction, "kind": ind.kind,
                      "schedule": ind.planned_share(self.period), "yellow": self.spec.yellow})
            self.prefill(row)
            out.append(row)
        return out

    def tasks(self, project: Project) -> list[Row]:
        out = []
        for task in project.tasks:
            if self.unit not in task.units:
                continue
            old = self.carried.get(("tasks", task.id))
            if (task.id in self.finished and not task.recurring and not _retargeted(task, self.year)
                    and (old is None or old.period[:4] != str(self.year))):
                continue             # a one-off task completed in an earlier year
            row = Row("tasks", task.id, project.no, "spec", values={
                "project": project.name, "name": task.name, "units": "、".join(task.units),
                "partners": "、".join(task.partners), "milestone": task.milestone_for(self.year),
                "due": task.due_for(self.year),
            })
            if self.prefill(row, task):
                out.append(row)
        return out

    def projects(self, project: Project) -> list[Row]:
        out = []
        for major in project.major_projects:
            if major.owner != self.unit:
                continue
            row = Row("projects", major.id, project.no, "spec", values={
                "project": project.name, "name": major.name, "content": major.content,
                "owner": major.owner, "total": major.total_investment,
                "plan": major.annual_plan_for(self.year), "planned_start": major.planned_start,
            })
            self.prefill(row)
            out.append(row)
        _added_rows(out, self.carry, "projects", project, self.unit, self.period, self.spec.blank_projects,
                    {"project": project.name, "owner": self.unit}, self.prefill)
        return out

    def problems(self, project: Project) -> list[Row]:
        out = []
        for problem in project.problems:
            if self.unit not in problem.units:
                continue
            row = Row("problems", problem.id, project.no, "spec", values={
                "project": project.name, "code": problem.id, "description": problem.description,
                "raised": problem.raised, "units": "、".join(problem.units),
                "measures": problem.measures, "due": problem.due,
            })
            self.prefill(row)
            if not self.is_gone(self.carried.get(("problems", problem.id))):   # closed in an earlier period
                out.append(row)
        _added_rows(out, self.carry, "problems", project, self.unit, self.period, self.spec.blank_problems,
                    {"project": project.name, "units": self.unit}, self.prefill, is_gone=self.is_gone,
                    code=lambda n: problem_code(self.spec, project, self.unit, self.period, n))
        return out


def _added_rows(out, carry, table, project, unit, period, blanks, fixed, prefill, code=None,
                is_gone=lambda old: False):
    """Rows a unit added in earlier periods (carried) and fresh blank rows."""
    for old in carry:
        if old.table != table or old.kind not in ("blank", "carried") or old.project != project.no:
            continue
        if is_gone(old):
            continue                     # closed problems leave the list
        row = Row(table, old.key, project.no, "carried", values=dict(fixed))
        if not prefill(row):
            continue
        row.values.update(fixed)
        if "code" in old.values:
            row.values["code"] = old.values["code"]
        out.append(row)
    for n in range(1, blanks + 1):
        key = f"new-{period}-{project.no:02d}-{n}"
        row = Row(table, key, project.no, "blank", values=dict(fixed))
        if code:
            row.values["code"] = code(n)
        out.append(row)
