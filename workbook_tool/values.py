"""Cell values in canonical form: one text form for signatures and comparisons, and back."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tables import Column


def canon(value: Any) -> str:
    """The text form of a cell value used in signatures and comparisons."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        if value != value:  # NaN
            return ""
        return f"{float(value):.10g}"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def typed(col: Column, value: Any) -> Any:
    """A stored (JSON or canonical text) value → the Python value to write in a cell."""
    if value in (None, ""):
        return None
    if col.type == "date" and isinstance(value, str):
        try:
            return dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if col.type == "number" and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
