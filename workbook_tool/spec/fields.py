"""Declared fields and the one validator that walks a mapping against them.

Every spec object (county settings, unit, project, indicator, …) is a table of ``Field``s in
schema.py.  ``validate`` checks a mapping from any front end (YAML files, 规格.xlsx) against
its table — unknown keys with a did-you-mean, missing required keys, wrong types, bounds,
choices, values by plan year — and reports every problem on ``out`` instead of stopping.
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from .problems import Location, Problems


class Node(dict):
    """A mapping read from a spec source that knows where it is and where each key is."""

    def __init__(self, where: Location, items: Iterable = (), key_where: Optional[dict] = None,
                 names: Optional[dict] = None) -> None:
        super().__init__(items)
        self.where = where
        self.key_where = dict(key_where or {})
        self.names = dict(names or {})        # how the source names a key (规格.xlsx: 「列名」)
        self.reported: set = set()             # keys whose absence the source has reported already

    def at(self, key: Any = None) -> Location:
        if key is None:
            return self.where
        return self.key_where.get(key, self.where)

    def name(self, key: Any) -> str:
        return self.names.get(key, repr(key))


class Items(list):
    """A list read from a spec source that knows where it is and where each item is."""

    def __init__(self, where: Location, items: Iterable = (), item_where: Iterable = ()) -> None:
        super().__init__(items)
        self.where = where
        self.item_where = list(item_where)

    def at(self, index: int) -> Location:
        return self.item_where[index] if index < len(self.item_where) else self.where


INVALID = object()     # what a parser returns after reporting a problem: the field takes its default

Parser = Callable[[Any, "Field", "Context"], Any]


@dataclass(frozen=True)
class Context:
    """What a parser needs besides the value: where to report, how to name it, the plan years."""

    out: Problems
    where: Location
    name: str                       # the key as the source names it, for messages
    plan_years: tuple = (2023, 2027)


@dataclass(frozen=True)
class Field:
    """One key of a spec object: how to read it, and what it means to the office."""

    key: str
    parse: Parser
    label: str                      # Chinese name: the 规格.xlsx column and the 说明 sheet
    required: bool = False
    default: Any = None
    per_year: bool = False          # may be {year: value}: parsed to (single value, ((year, value), ...))
    choices: tuple = ()             # ((value, Chinese meaning), ...)
    bounds: tuple = ()              # (low, high)
    meaning: str = ""               # said in messages after a bound, e.g. （次月几日前报送）
    help: str = ""                  # the 说明 sheet's explanation
    table: tuple = ()               # the fields of a nested mapping (lights, limits, office …)
    hint: str = ""                  # how a nested mapping looks, e.g. ，如 {yellow: 10}
    checks: tuple = ()              # more checks(value, field, ctx) run on a parsed value: a hook


def validate(node: Node, table: Iterable[Field], out: Problems, what: str,
             plan_years: tuple = (2023, 2027)) -> dict:
    """{key: parsed value} for every field of ``table``, reporting every problem of ``node``."""
    table = tuple(table)
    keys = [f.key for f in table]
    for key in node:
        if key not in keys:
            out.add("P010", node.at(key), what=what, key=key, hint=suggest(str(key), keys))
    labels = {f.key: f.label for f in table}
    for key in sorted(f.key for f in table if f.required and f.key not in node and f.key not in node.reported):
        if node.at().in_workbook:                # an empty cell of a required column
            out.add("P025", node.at(key), column=labels[key])
        else:
            out.add("P011", node.at(), what=what, key=key)
    values = {}
    for f in table:
        values[f.key] = read_field(node, f, out, plan_years)
    return values


def read_field(node: Node, f: Field, out: Problems, plan_years: tuple) -> Any:
    value = node.get(f.key)
    ctx = Context(out, node.at(f.key), node.name(f.key), plan_years)
    if f.per_year:
        return by_year(value, f, ctx)
    if value is None:
        return f.default
    parsed = f.parse(value, f, ctx)
    if parsed is not INVALID:
        for check in f.checks:
            if check(parsed, f, ctx) is INVALID:
                parsed = INVALID
    return f.default if parsed is INVALID else parsed


def suggest(word: str, choices: Iterable) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"，是否应为 {close[0]!r}？" if close else "。"


# -- values by plan year ---------------------------------------------------------------------------

def is_year_key(key: Any) -> bool:
    return isinstance(key, (str, int)) and not isinstance(key, bool) and str(key).isdigit() \
        and int(key) >= 2000


def is_by_year(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(is_year_key(k) for k in value)


def by_year(value: Any, f: Field, ctx: Context) -> tuple:
    """A value, or {year: value} (years ≥ 2000) → (single value, ((year, value), ...))."""
    if not is_by_year(value):
        return one(value, f, ctx), ()
    first, last = ctx.plan_years
    years = []
    for k, v in value.items():
        year = int(k)
        where = value.at(k) if isinstance(value, Node) else ctx.where
        if not first <= year <= last:
            ctx.out.add("P030", where, key=f.key, year=year, first=first, last=last)
            continue
        years.append((year, one(v, f, Context(ctx.out, where, ctx.name, ctx.plan_years))))
    return None, tuple(sorted(years))


def one(value: Any, f: Field, ctx: Context) -> Any:
    if value is None:
        return f.default
    parsed = f.parse(value, f, ctx)
    return f.default if parsed is INVALID else parsed


# -- parsers: (value, field, ctx) → value, or INVALID after reporting --------------------------------

def as_is(value: Any, f: Field, ctx: Context) -> Any:
    return value


def text(value: Any, f: Field, ctx: Context) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        ctx.out.add("P031" if f.per_year else "P012", ctx.where, name=ctx.name)
        return INVALID
    return value.strip()


def number(value: Any, f: Field, ctx: Context) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        ctx.out.add("P013", ctx.where, name=ctx.name, value=value)
        return INVALID
    if f.bounds and not f.bounds[0] < value <= f.bounds[1]:
        ctx.out.add("P020", ctx.where, name=ctx.name, low=f.bounds[0], high=f.bounds[1], meaning=f.meaning)
        return INVALID
    return float(value)


def integer(value: Any, f: Field, ctx: Context) -> Any:
    """A whole number within ``bounds`` (a setting: deadline_day, resubmit_days …)."""
    low, high = f.bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        ctx.out.add("P019", ctx.where, name=ctx.name, low=low, high=high, meaning=f.meaning)
        return INVALID
    return value


def whole(value: Any, f: Field, ctx: Context) -> Any:
    """A whole number within ``bounds`` that names something (a project's no, a target year)."""
    low, high = f.bounds
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        ctx.out.add("P021", ctx.where, name=ctx.name, meaning=f.meaning, value=value)
        return INVALID
    return value


def date(value: Any, f: Field, ctx: Context) -> Any:
    if value == "":
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        ctx.out.add("P014", ctx.where, name=ctx.name, value=value)
        return INVALID


def text_list(value: Any, f: Field, ctx: Context) -> Any:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ctx.out.add("P015", ctx.where, name=ctx.name)
        return INVALID
    return [v.strip() for v in value]


def choice(value: Any, f: Field, ctx: Context) -> Any:
    keys = [k for k, _ in f.choices]
    if isinstance(value, bool) is not isinstance(keys[0], bool) or value not in keys:
        ctx.out.add("P018", ctx.where, name=ctx.name, choices=choices_text(f.choices), value=value)
        return INVALID
    return value


def choices_text(choices: tuple) -> str:
    shown = [f"{str(k).lower() if isinstance(k, bool) else k}（{label}）" for k, label in choices]
    return "、".join(shown[:-1]) + "或 " + shown[-1] if len(shown) > 1 else shown[0]


def mapping(value: Any, f: Field, ctx: Context) -> Any:
    """A nested mapping (lights, blank_rows, limits, office): validated against ``f.table``."""
    if not isinstance(value, Node):
        ctx.out.add("P017", ctx.where, what=f.key + " ", hint=f.hint)
        return INVALID
    for key in value:
        value.names.setdefault(key, repr(f"{f.key}.{key}"))
    return validate(value, f.table, ctx.out, f.key + " ", ctx.plan_years)


def month_plan(value: Any, f: Field, ctx: Context) -> Any:
    """{month: cumulative planned value} → ((month, value), ...)."""
    if isinstance(value, dict) and all(str(k).isdigit() for k in value):
        value = {int(k): v for k, v in value.items()}
    if (not isinstance(value, dict)
            or not all(isinstance(k, int) and 1 <= k <= 12 for k in value)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values())):
        ctx.out.add("P032", ctx.where)
        return INVALID
    plan = tuple(sorted((k, float(v)) for k, v in value.items()))
    values = [v for _, v in plan]
    if values != sorted(values):
        ctx.out.add("P033", ctx.where)
    return plan
