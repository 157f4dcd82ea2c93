"""Changing cells of a spec workbook (规格.xlsx) in place, by sheet, row id and column.

For programs that write accepted values into the spec — the annual plan collection writes a
year's 年度目标 or a new key task here when the county keeps its spec as a workbook.  Rows are
found by their id, never by position; a missing row or a missing per-year column is added.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Union

import openpyxl
from openpyxl.utils import get_column_letter

from ..desk import write_file
from .sheets import SETTINGS

# the column(s) that identify a row of each sheet (others: 编号)
ROW_KEYS = {SETTINGS: ("项目",), "单位": ("单位名称",), "组": ("组名",), "工程": ("序号",),
            "月度计划": ("指标编号", "年度")}
VALUE_COLUMN = {SETTINGS: "值"}


@dataclass(frozen=True)
class CellChange:
    """One cell changed: where, which row and column, the value before and after."""

    sheet: str
    cell: str
    row_id: Any
    column: str
    old: Any
    new: Any


def update_spec_workbook(path: Union[str, Path], changes: Iterable[tuple]) -> list:
    """Set cells of the spec workbook at ``path``: each change is (sheet, row id, column header, value).

    The row id is the row's 编号 (序号 in 工程, 单位名称 in 单位, 组名 in 组, the setting's name in
    县设置, and (指标编号, 年度) in 月度计划, 年度 None for every year).  A row not found is
    appended with its id filled in; a column not found (such as 年度目标2028) is added at the
    right.  Returns a CellChange for every cell whose value changed; the file is replaced all at
    once (a DeskError names it when Excel holds it open)."""
    path = Path(path)
    wb = openpyxl.load_workbook(path)
    done = []
    for sheet, row_id, column, value in changes:
        ws = wb[sheet]
        keys = ROW_KEYS.get(sheet, ("编号",))
        ids = row_id if isinstance(row_id, tuple) else (row_id,)
        col = _column(ws, VALUE_COLUMN.get(sheet, column))
        r = _row(ws, keys, ids)
        cell = ws.cell(r, col)
        new = dt.datetime(value.year, value.month, value.day) if type(value) is dt.date else value
        if cell.value != new:
            done.append(CellChange(sheet, f"{get_column_letter(col)}{r}", row_id, column, cell.value, value))
            cell.value = new
            if isinstance(new, dt.datetime):
                cell.number_format = "yyyy-mm-dd"
    if done:
        write_file(path, lambda tmp: wb.save(tmp))
    wb.close()
    return done


def _headers(ws: Any) -> list:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def _column(ws: Any, header: str) -> int:
    headers = _headers(ws)
    if header in headers:
        return headers.index(header) + 1
    col = len(headers) + 1
    while col > 1 and headers[col - 2] is None:
        col -= 1
    ws.cell(1, col, header)._style = ws.cell(1, max(1, col - 1))._style
    return col


def _row(ws: Any, keys: tuple, ids: tuple) -> int:
    cols = [_column(ws, k) for k in keys]
    last = 1
    for r in range(2, ws.max_row + 1):
        values = [ws.cell(r, c).value for c in cols]
        if any(v not in (None, "") for v in values):
            last = r
        if all(_same(v, i) for v, i in zip(values, ids)):
            return r
    r = last + 1
    for c, i in zip(cols, ids):
        if i is not None:
            ws.cell(r, c, i)
    return r


def _same(cell: Any, wanted: Any) -> bool:
    if cell in (None, "") or wanted is None:
        return cell in (None, "") and wanted is None
    return str(cell).strip() == str(wanted).strip()
