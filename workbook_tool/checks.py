"""Checks: a read return → findings and normalised rows.

One function per rule family; each yields findings (data) instead of raising.
Excel's own validation is a courtesy: every rule is checked again here.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Sequence, Union, cast

from xlsxwriter.utility import xl_rowcol_to_cell

from . import signing
from .findings import Finding
from .rows import Row
from .tables import FORMULA, TABLES
from .template import FIRST_DATA_ROW
from .values import canon

if TYPE_CHECKING:
    from .desk import Period
    from .reader import ReadResult
    from .spec import Spec
    from .tables import Table


class Bad(Exception):
    """A value that cannot be read unambiguously."""

    def __init__(self, code, expected=""):
        self.code = code
        self.expected = expected


@dataclass
class Checked:
    findings: list
    rows: list                     # [Row], with their sheet rows
    raw: dict                      # (table, key) → {column: raw cell value}

    @property
    def has_errors(self) -> bool:
        return any(f.is_error for f in self.findings)


# -- normalisation of single values ------------------------------------------------------

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE_PATTERNS = [
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]


def _fold(text: str) -> str:
    """Full-width digits and punctuation → ASCII; spaces trimmed."""
    return unicodedata.normalize("NFKC", text).strip().replace("，", ",")


def normalize_number(raw: object, measure: str = "") -> tuple[float, Optional[str]]:
    """(value, note) — note is the text it was read as when it had to be normalised."""
    if isinstance(raw, bool):
        raise Bad("V001")
    if isinstance(raw, (int, float)):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise Bad("V001")
        return float(raw), None
    text = str(raw)
    folded = _fold(text)
    value_text = folded
    percent = False
    if measure and value_text.endswith(measure) and measure != "%":
        value_text = value_text[:-len(measure)].strip()
    if value_text.endswith("%"):
        if measure != "%":
            raise Bad("V001")
        value_text = value_text[:-1].strip()
        percent = True
    if _THOUSANDS.match(value_text):
        value_text = value_text.replace(",", "")
    if not _PLAIN_NUMBER.match(value_text):
        raise Bad("V001")
    value = float(value_text)
    if value in (float("inf"), float("-inf")):
        raise Bad("V001")
    changed = value_text != text.strip() or percent
    return value, (f"{value:g}" if changed else None)


def normalize_date(raw: object) -> tuple[dt.date, Optional[str]]:
    if isinstance(raw, dt.datetime):
        return raw.date(), None
    if isinstance(raw, dt.date):
        return raw, None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raise Bad("V002")
    text = _fold(str(raw))
    for i, pattern in enumerate(_DATE_PATTERNS):
        m = pattern.match(text)
        if m:
            try:
                value = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise Bad("V002") from None
            exact = i == 0 and text == value.isoformat() and text == str(raw)
            return value, (None if exact else value.isoformat())
    raise Bad("V002")


def normalize_enum(raw: object, choices: Sequence[str]) -> tuple[str, Optional[str]]:
    text = _fold(str(raw)).replace(" ", "")
    if text in choices:
        return text, None
    raise Bad("V003", "、".join(choices))


def is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


# -- identification -------------------------------------------------------------------

def identify(result: ReadResult, spec: Spec, period: Period, key: bytes) -> tuple[str, list[Finding]]:
    """('ok' | 'skip' | 'reject', [Finding]) for a read return's metadata."""
    meta = result.meta or {}
    if meta.get("format") != signing.FORMAT_VERSION:
        return "reject", [Finding("F005", seen=str(meta.get("format", "?")), expected=signing.FORMAT_VERSION)]
    if not signing.verify(key, meta, result.records):
        return "reject", [Finding("F004")]
    if meta.get("code") != spec.code or meta.get("period") != str(period):
        detail = f"{meta.get('county', '?')} {meta.get('period', '?')}"
        return "skip", [Finding("F006", detail=detail, expected=f"{spec.county} {period}")]
    if meta.get("unit") not in spec.responsible_set:
        return "reject", [Finding("F003")]
    return "ok", []


# -- the checks of one identified return ---------------------------------------------------

def check_return(result: ReadResult, spec: Spec, period: Period,
                 previous: Optional[Iterable[Row]] = ()) -> Checked:
    """Structure, values and cross-field checks of an identified return, then the history
    checks against ``previous`` (the unit's rows accepted in the last earlier period, as
    ledger CarryRows); ``previous=None`` leaves the history to :func:`check_history`.
    """
    unit = cast("dict[str, Any]", result.meta)["unit"]     # identified: it has its metadata
    findings = []                      # file-level findings stay with the reader's result
    rows, raw_cells = [], {}

    expected_sheets = [TABLES[t].sheet for t in spec.tables]
    for sheet in expected_sheets:
        if sheet not in result.sheets:
            findings.append(Finding("S001", unit=unit, sheet=sheet, detail=sheet))
    known = set(expected_sheets) | {"填报说明"}
    for name, content in result.sheets.items():
        if name in known or (content and content[0] and content[0][0] == signing.MARKER):
            continue
        if any(any(not is_blank(v) for v in row) for row in content):
            findings.append(Finding("S002", unit=unit, sheet=name, detail=name))

    for name in result.unprotected:
        if name in expected_sheets:
            findings.append(Finding("S005", unit=unit, sheet=name, detail=name))
    external = set(result.external_formulas)

    by_table: dict = {}
    for record in result.records:
        by_table.setdefault(record["t"], []).append(record)

    for table_key in spec.tables:
        table = TABLES[table_key]
        sheet = table.sheet
        grid = result.sheets.get(sheet)
        if grid is None:
            continue
        records = by_table.get(table_key, [])
        findings.extend(_check_headers(table, grid, unit))
        key_col = len(table.columns)
        found = _row_positions(grid, key_col)
        known_keys = {rec["k"] for rec in records}
        for record in records:
            r = int(record["r"])
            if _key_at(grid, r, key_col) != record["k"]:
                if record["k"] not in found:
                    findings.append(_deleted_row(table, record, unit))
                    continue
                r = found[record["k"]]      # moved (a row above was deleted): read it where it is
            cells = list(grid[r - 1]) + [None] * (key_col + 1 - len(grid[r - 1]))
            record = {**record, "r": r}
            row, raw, row_findings = _check_row(table, record, cells, spec, period, unit, sheet, external)
            findings.extend(row_findings)
            if row is None:
                continue
            findings.extend(_cross_checks(table, row, spec, period, unit, sheet))
            rows.append(row)
            raw_cells[(table_key, row.key)] = raw
        for key_, r in sorted(found.items(), key=lambda kv: kv[1]):
            if key_ not in known_keys:
                findings.append(Finding("S003", unit=unit, sheet=sheet, cell=f"A{r}", row=r,
                                        detail=f"行标识「{key_}」不是本模板的"))
        # rows typed below the template's last row: inserted or pasted rows
        last = max([int(rec["r"]) for rec in records], default=3)
        for i in range(last, len(grid)):
            if any(not is_blank(v) for v in grid[i][:key_col + 1]):
                findings.append(Finding("S003", unit=unit, sheet=sheet, cell=f"A{i + 1}", row=i + 1,
                                        detail="模板最后一行之后多出内容"))
                break

    checked = Checked(findings=[_with_unit(f, unit) for f in findings], rows=rows, raw=raw_cells)
    if previous is not None:
        checked.findings.extend(check_history(rows, period, unit, previous))
    return checked


def _key_at(grid, r, key_col) -> str:
    if r - 1 >= len(grid):
        return ""
    cells = grid[r - 1]
    return canon(cells[key_col]) if key_col < len(cells) else ""


def _row_positions(grid, key_col) -> dict:
    """{row key: 1-based sheet row} of every keyed data row, wherever it now is."""
    out = {}
    for i in range(FIRST_DATA_ROW, len(grid)):
        key_ = _key_at(grid, i + 1, key_col)
        if key_ and key_ not in out:
            out[key_] = i + 1
    return out


def _deleted_row(table, record, unit) -> Finding:
    """A template row that is gone: an open problem (X007, named by its number) or any other row."""
    v = record.get("v", {})
    r = int(record["r"])
    if table.deleted_code == "X007" and record.get("kind") != "blank":
        return Finding("X007", unit=unit, sheet=table.sheet, row=r, seen=v.get("code") or record["k"],
                       detail=v.get("description", ""))
    return Finding("S003", unit=unit, sheet=table.sheet, cell=f"A{r}", row=r,
                   detail=f"「{v.get('name') or record['k']}」这一行被删除")


def check_history(rows: Iterable[Row], period: Period, unit: str, previous: Iterable[Row]) -> Iterator[Finding]:
    """Findings against the unit's latest accepted state of each row: cumulative values and jumps.

    Only rows of the same plan year compare: year-to-date values start afresh in January.
    (Vanished open problems are found in :func:`check_return`, against the unit's own template.)
    """
    same_year = {(c.table, c.key): c for c in previous if c.period[:4] == str(period.year)}
    for row in rows:
        old = same_year.get((row.table, row.key))
        if old is not None:
            yield from _history_row(TABLES[row.table], row, old, period, unit)


def _expected_growth(row, old, period) -> float:
    """How much a year-to-date value grows from ``old`` to now by the time of year alone (序时)."""
    now, before = row.values.get("schedule"), old.values.get("schedule")
    if isinstance(now, (int, float)) and isinstance(before, (int, float)) and before > 0 and now > 0:
        return max(1.0, now / before)
    old_month = int(old.period[5:7]) if len(old.period) >= 7 else period.month
    return max(1.0, period.month / max(1, old_month))


def _history_row(table, row, old_row, period, unit):
    if table.history_checks is None:
        return
    growth = 2 * _expected_growth(row, old_row, period)   # a jump: more than twice what time predicts
    yield from table.history_checks(row, old_row, growth, _locator(table, row, unit, table.sheet))


def _locator(table, row, unit, sheet):
    """at(column key, **finding fields) → a Finding at that column of ``row``."""
    def at(key: str, **kw: Any) -> Finding:
        c = table.index(key)
        return Finding(cell=xl_rowcol_to_cell(row.excel_row - 1, c), column=table.columns[c].header,
                       sheet=sheet, unit=unit, row=row.excel_row, **kw)
    return at


def _with_unit(f, unit):
    return f if f.unit else dataclasses.replace(f, unit=unit)


def _check_headers(table, grid, unit):
    header = grid[2] if len(grid) > 2 else []
    for c, col in enumerate(table.columns):
        seen = header[c] if c < len(header) else None
        if canon(seen) != col.header:
            yield Finding("S006", unit=unit, sheet=table.sheet, cell=xl_rowcol_to_cell(2, c),
                          column=col.header, expected=col.header, seen=canon(seen))
            return


def _typed_locked(col, text):
    if text == "":
        return None
    if col.type == "number":
        return float(text)
    return text


def _check_row(table, record, cells, spec, period, unit, sheet, external=frozenset()):
    r = int(record["r"])
    kind = record["kind"]
    findings = []
    values, raw = {}, {}
    value: Union[float, dt.date, str]
    locked = record["v"]

    def where(c: int) -> dict[str, Any]:
        return dict(unit=unit, sheet=sheet, cell=xl_rowcol_to_cell(r - 1, c), column=table.columns[c].header,
                    row=r)

    is_blank_row = kind == "blank"
    for c, col in enumerate(table.columns):
        cell = cells[c]
        raw[col.key] = cell
        if col.mode == FORMULA:
            continue
        if col.key in locked:
            if canon(_comparable(cell, col)) != locked[col.key]:
                findings.append(Finding("S004", expected=locked[col.key] or "（空）", seen=canon(cell),
                                        **where(c)))
            values[col.key] = _typed_locked(col, locked[col.key])
            continue
        values[col.key] = None
        if (sheet, xl_rowcol_to_cell(r - 1, c)) in external:
            findings.append(Finding("V008", seen=canon(cell), **where(c)))
            continue
        if is_blank(cell):
            continue
        measure = locked.get("measure", "")
        try:
            if col.type == "number":
                value, note = normalize_number(cell, measure)
                if value < 0:
                    findings.append(Finding("V005", seen=canon(cell), expected="不能为负数", **where(c)))
                    continue
            elif col.type == "date":
                value, note = normalize_date(cell)
                y0, y1 = spec.plan_years
                if not dt.date(y0 - 1, 1, 1) <= value <= dt.date(y1, 12, 31):
                    findings.append(Finding("V005", seen=value.isoformat(),
                                            expected=f"{y0}—{y1} 年内的日期", **where(c)))
                    continue
                value = value.isoformat()
            elif col.type == "enum":
                value, note = normalize_enum(cell, col.choices)
            else:
                value, note = str(cell) if not isinstance(cell, float) else canon(cell), None
                if isinstance(cell, (dt.date, dt.datetime)):
                    value = canon(cell)
                if len(value) > col.max_length:
                    findings.append(Finding("V007", seen=str(len(value)), expected=str(col.max_length),
                                            **where(c)))
                    continue
        except Bad as bad:
            findings.append(Finding(bad.code, seen=canon(cell), expected=bad.expected, **where(c)))
            continue
        if note is not None:
            findings.append(Finding("V006", seen=canon(cell), expected=note, **where(c)))
        values[col.key] = value

    used = not is_blank_row or any(values.get(col.key) is not None or not is_blank(raw.get(col.key))
                                   for col in table.columns if col.is_input)
    if not used:
        return None, raw, findings
    required = [col for col in table.columns if col.required]
    if is_blank_row:
        required += [table.column(k) for k in table.required_new]
    for col in required:
        c = table.index(col.key)
        if values.get(col.key) is None and is_blank(raw.get(col.key)):
            detail = "请填写后重新报送。"
            if is_blank_row:
                detail = "新增的行要把项目/问题的基本信息填写完整。"
            findings.append(Finding("V004", detail=detail, **where(c)))
    row = Row(table.key, record["k"], int(record["p"]), kind, unit, str(period), values,
              dict(record.get("x", {})), excel_row=r)
    recompute(table, row, spec)
    return row, raw, findings


def _comparable(cell, col):
    if col.type == "date" and isinstance(cell, str):
        try:
            return normalize_date(cell)[0]
        except Bad:
            return cell
    return cell


def recompute(table: Table, row: Row, spec: Spec) -> None:
    """Fill a row's formula values (rate, 序时进度, light) from its inputs: never trust cached results."""
    if table.compute is not None:
        table.compute(row, spec)


def _cross_checks(table, row, spec, period, unit, sheet):
    if table.cross_checks is not None:
        yield from table.cross_checks(row, period, _locator(table, row, unit, sheet))
