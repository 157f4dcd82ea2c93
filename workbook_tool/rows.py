"""The one row model: a row of any progress table, in a template, a return or the ledger.

A template is built from these rows, a return's checked rows become these rows, the ledger
stores them, carry-forward reads them and the master merges them. ``values`` holds plain data
keyed by the table's column keys; ``extra`` holds what the row's formulas need (direction,
kind, 序时进度, thresholds) and travels in the template's signed record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from .tables import INPUT, LOCKED, NEW, TABLES, Column
from .values import typed


@dataclass(frozen=True)
class Row:
    """One row of one progress table: whose, for which period, and what it says."""

    table: str                     # table key: indicators | tasks | projects | problems
    key: str                       # the stable row key of the template
    project: int                   # the project (工程) number
    kind: str                      # spec | blank (added by the unit) | carried (added earlier)
    unit: str = ""
    period: str = ""               # the period whose accepted return this state comes from
    values: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    excel_row: int = 0             # 1-based row in the sheet it was read from (0: not from a sheet)

    @property
    def ident(self) -> tuple[str, str]:
        return (self.table, self.key)

    @property
    def year(self) -> int:
        return int(self.period[:4]) if self.period else 0

    def is_input(self, col: Column) -> bool:
        return col.mode == INPUT or (col.mode == NEW and (self.kind == "blank" or col.key in self.opened))

    def is_locked(self, col: Column) -> bool:
        return col.mode == LOCKED or (col.mode == NEW and self.kind != "blank" and col.key not in self.opened)

    @property
    def opened(self) -> tuple:
        """NEW columns the unit fills again on a carried row (a new year's 年度计划投资)."""
        return tuple(self.extra.get("open", ()))


def latest_state(rows: Iterable[Row]) -> dict[tuple[str, str], Row]:
    """{(table, key): Row}: the newest row of each key, given rows in period order."""
    out: dict[tuple[str, str], Row] = {}
    for row in rows:
        out[row.ident] = row
    return out


def rows_from_records(records: Iterable[dict],
                      inputs: Optional[dict[tuple[str, str], dict[str, Any]]] = None) -> dict[str, list[Row]]:
    """Rebuild a template's rows from its signed records (+ the unit's submitted inputs)."""
    rows: dict[str, list[Row]] = {}
    for rec in records:
        table = TABLES[rec["t"]]
        values = {c.key: typed(c, rec["v"][c.key]) for c in table.columns if c.key in rec["v"]}
        if inputs:
            for k, v in inputs.get((rec["t"], rec["k"]), {}).items():
                if k not in rec["v"]:
                    values[k] = v
        rows.setdefault(rec["t"], []).append(Row(rec["t"], rec["k"], int(rec["p"]), rec["kind"], values=values,
                                                 extra=dict(rec.get("x", {}))))
    return rows


# -- rows of one unit ----------------------------------------------------------------------
