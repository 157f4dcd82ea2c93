"""The one row model: a row of any progress table, as one unit reported it for one period.

The ledger stores these, carry-forward reads them, the master merges them. Values are plain
JSON-able data (numbers, ISO date text, text, None) keyed by the table's column keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Row:
    """One row of one progress table: whose, for which period, and what it says."""

    table: str                     # table key: indicators | tasks | projects | problems
    key: str                       # the stable row key of the template
    project: int                   # the project (工程) number
    kind: str                      # spec | blank | carried
    unit: str = ""
    period: str = ""               # the period whose accepted return this state comes from
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> tuple:
        return (self.table, self.key)

    @property
    def year(self) -> int:
        return int(self.period[:4]) if self.period else 0


def latest_state(rows) -> dict:
    """{(table, key): Row}: the newest row of each key, given rows in period order."""
    out: dict = {}
    for row in rows:
        out[row.ident] = row
    return out
