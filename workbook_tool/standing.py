"""What stands for a period: every unit's rows as the master and the bulletin show them.

Built from the ledger's latest accepted state of each row at or before the period, through
the same ``unit_rows`` that pre-fills templates: what a template carries forward and what the
master shows as 沿用 are one thing. Formulas are recomputed with the period's own 序时进度.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import recompute
from .desk import Period
from .rows import Row
from .tables import TABLES
from .carry import plan_cumulative_ids, unit_rows

if TYPE_CHECKING:
    from .ledger import Ledger
    from .spec import Spec

THIS_PERIOD = "本期"
NOT_REPORTED = "未报"


@dataclass(frozen=True)
class UnitData:
    """What the master shows for one unit."""

    unit: str
    status: str              # 本期 | 沿用YYYY-MM | 未报
    period: str | None       # the newest period of its data at or before this one
    rows: list[tuple[Row, str]]   # status per row, as status above


def carried(period_text: str) -> str:
    return f"沿用{period_text}"


def units_data_for(spec: Spec, ledger: Ledger, period: Period) -> list[UnitData]:
    """Every responsible unit's rows in ``period``: this period's, carried, or expected but 未报."""
    states = ledger.states(spec.code, str(period), inclusive=True)
    out = []
    for unit in spec.responsible_units:
        state = states.get(unit, {})
        rows: list[tuple[Row, str]] = []
        earlier, finished = earlier_years(ledger, spec, unit, period.year)
        for table_rows in unit_rows(spec, unit, period, list(state.values()), earlier, finished,
                                    keep_closed_from=str(period)).values():
            for r in table_rows:
                if r.kind == "blank":
                    continue
                old = state.get((r.table, r.key))
                recompute(TABLES[r.table], r, spec)
                status = NOT_REPORTED if old is None else \
                    (THIS_PERIOD if old.period == str(period) else carried(old.period))
                rows.append((Row(r.table, r.key, r.project, r.kind, unit, old.period if old else "",
                                 dict(r.values)), status))
        latest = max((r.period for r in state.values()), default=None)
        status = NOT_REPORTED if latest is None else (THIS_PERIOD if latest == str(period) else carried(latest))
        out.append(UnitData(unit, status, latest, rows))
    return out


def earlier_years(ledger: Ledger, spec: Spec, unit: str, year: int) -> tuple[dict[str, float], set[str]]:
    """(earlier, finished) for unit_rows from the ledger's year-end values before ``year``:
    the sum of each plan_cumulative indicator's year-end 本年累计 over the earlier plan years,
    and the tasks the unit reported 已完成 at the end of the latest earlier year it reported them."""
    y0 = spec.plan_years[0]
    ends = ledger.year_ends(spec.code, unit, year)
    earlier: dict[str, float] = {}
    for ind_id in plan_cumulative_ids(spec, unit):
        values = ends.get(("indicators", ind_id), {})
        earlier[ind_id] = sum(v.get("actual") or 0.0 for y, v in values.items()
                              if y >= y0 and isinstance(v.get("actual"), (int, float)))
    finished = {key for (table, key), values in ends.items()
                if table == "tasks" and values[max(values)].get("state") == TABLES["tasks"].finished}
    return earlier, finished
