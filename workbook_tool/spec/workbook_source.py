"""The workbook front end: 规格.xlsx → the same Nodes the YAML front end gives, located by cell.

Reads values only (openpyxl, read-only); every value keeps its sheet and cell, so the one
validator reports ``规格.xlsx 指标!D12: …``.  Columns are found by their header in row 1, in
any order; a missing required column is reported once, an unknown one with a did-you-mean.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import Any, Optional

import openpyxl
from openpyxl.utils import get_column_letter

from .fields import Items, Node, suggest
from .problems import Location, Problems
from .sheets import CHOICE_LABELS, SEPARATORS, SETTINGS, Column, Sheet, settings, sheets, year_of

REQUIRED_SHEETS = (SETTINGS, "单位", "工程", "指标", "重点任务", "重大项目", "问题")


def read_workbook(shown: str, data: bytes, out: Problems, file: str) -> tuple:
    """(county Node, [(project Node, file), ...]) of a spec workbook; (None, []) if unreadable."""
    grids = _grids(shown, data, out)
    if grids is None:
        return None, []
    for name in REQUIRED_SHEETS:
        if name not in grids:
            out.add("P026", Location(shown, sheet=name), sheet=name)
    county = _settings(grids.get(SETTINGS, []), shown, out)
    tables = {s.key: _table(s, grids.get(s.name, []), shown, out) for s in sheets()}
    county["units"] = _items(Location(shown, sheet="单位"), tables["units"])
    county["groups"] = _groups(tables["groups"], shown, out)
    return county, [(p, file) for p in _projects(tables, shown, out)]


def _grids(shown: str, data: bytes, out: Problems) -> Optional[dict]:
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the office's to fix
        out.add("P006", Location(shown), detail=type(exc).__name__)
        return None
    try:
        grids = {}
        for ws in wb.worksheets:
            ws.reset_dimensions()             # WPS may write wrong dimensions
            grids[ws.title] = [tuple(_cell(v) for v in row) for row in ws.iter_rows(values_only=True)]
        return grids
    finally:
        wb.close()


def _cell(value: Any) -> Any:
    """A cell as the YAML front end would give it: text stripped, dates as YYYY-MM-DD, 12.0 as 12."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip() or None
    return value


def _items(where: Location, nodes: list) -> Items:
    return Items(where, nodes, [n.at() for n in nodes])


# -- one sheet of rows -------------------------------------------------------------------------------

def _header(sheet: Sheet, grid: list, shown: str, out: Problems) -> dict:
    """{column index: Column} from row 1, reporting unknown and missing columns."""
    found = {}
    labels = [c.header for c in sheet.columns]
    for i, header in enumerate(grid[0] if grid else ()):
        if header is None:
            continue
        header = str(header)
        column = sheet.column(header) or _year_column(sheet, header)
        if column is None:
            where = Location(shown, sheet=sheet.name, cell=f"{get_column_letter(i + 1)}1")
            out.add("P024", where, column=header, hint=suggest(header, labels))
        else:
            found[i] = column
    return found


def _year_column(sheet: Sheet, header: str) -> Optional[Column]:
    for c in sheet.columns:
        if c.field is not None and c.field.per_year and c.year is None:
            year = year_of(header, c.header)
            if year is not None:
                return Column(header, c.key, c.field, year=year)
    return None


def _table(sheet: Sheet, grid: list, shown: str, out: Problems) -> list:
    """One Node per filled row of a sheet."""
    columns = _header(sheet, grid, shown, out)
    present = {c.header for c in columns.values()}
    missing = [c for c in sheet.columns if c.required and c.header not in present]
    for c in missing:
        if grid:
            out.add("P023", Location(shown, sheet=sheet.name, cell="1:1"), column=c.header)
    nodes = []
    for r, row in enumerate(grid[1:], start=2):
        if all(v is None for v in row):
            continue
        node = _row(sheet, columns, row, r, shown, out)
        node.reported.update(c.key for c in missing)
        nodes.append(node)
    return nodes


def _row(sheet: Sheet, columns: dict, row: tuple, r: int, shown: str, out: Problems) -> Node:
    node = Node(Location(shown, sheet=sheet.name, cell=f"A{r}"))
    years: dict = {}
    for i, column in columns.items():
        where = Location(shown, sheet=sheet.name, cell=f"{get_column_letter(i + 1)}{r}")
        value = row[i] if i < len(row) else None
        if column.year is not None:
            if value is not None:
                years.setdefault(column.key, []).append((column, where, value))
            continue
        node.key_where[column.key] = where
        node.names[column.key] = f"「{column.header}」"
        if value is not None:
            node[column.key] = _value(column, value, where)
    for key, given in years.items():
        _per_year(node, key, given, out)
    return node


def _value(column: Column, value: Any, where: Location) -> Any:
    if column.is_list:
        parts = [p.strip() for p in SEPARATORS.split(str(value)) if p.strip()]
        return Items(where, parts, [where] * len(parts))
    if column.key in CHOICE_LABELS:
        labels = {label: key for key, label in CHOICE_LABELS[column.key]}
        return labels.get(value, value)
    return value


def _per_year(node: Node, key: str, given: list, out: Problems) -> None:
    """Year columns → {year: value} under ``key``, unless the one-value column is filled too."""
    column, where, _ = given[0]
    if key in node:
        label = column.field.label
        out.add("P034", node.at(key), column=label.partition("（")[0], year=column.year)
        return
    node[key] = Node(where, ((str(c.year), v) for c, _, v in given), {str(c.year): w for c, w, _ in given})
    node.key_where[key] = where
    node.names[key] = f"「{column.field.label}」"


# -- the county settings -----------------------------------------------------------------------------

def _settings(grid: list, shown: str, out: Problems) -> Node:
    """县设置 (label | value rows) → the mapping county.yaml holds."""
    county = Node(Location(shown, sheet=SETTINGS))
    rows = {s.label: s for s in settings()}
    tables: list = []
    for r, row in enumerate(grid[1:], start=2):
        label, value = (list(row) + [None, None])[:2]
        if label is None:
            continue
        where = Location(shown, sheet=SETTINGS, cell=f"B{r}")
        setting = rows.get(str(label))
        if setting is None:
            out.add("P027", Location(shown, sheet=SETTINGS, cell=f"A{r}"), label=label, hint=suggest(str(label), rows))
            continue
        head, key = setting.path[0], setting.path[-1]
        if head == "tables":
            if value not in (None, "是", "否"):
                out.add("P018", where, name=f"「{label}」", choices="是或否", value=value)
            elif value == "是":
                tables.append(key)
                county.key_where.setdefault("tables", where)
            continue
        target = county
        if len(setting.path) == 2 and head != "plan_years":
            target = county.setdefault(head, Node(where))
            county.key_where.setdefault(head, where)
        if head == "plan_years":
            span = county.setdefault("plan_years", Items(where, [None, None], [where, where]))
            county.key_where.setdefault("plan_years", where)
            span[key] = value
            continue
        target.key_where[key] = where
        target.names[key] = f"「{label}」"
        if value is not None:
            target[key] = value
    county["tables"] = Items(county.at("tables"), tables)
    return county


def _groups(nodes: list, shown: str, out: Problems) -> Node:
    groups = Node(Location(shown, sheet="组"))
    for node in nodes:
        name = node.get("name")
        if name is None:
            continue
        groups[str(name)] = node.get("members") or Items(node.at("members"))
        groups.key_where[str(name)] = node.at("name")
    return groups


# -- projects and their rows ---------------------------------------------------------------------------

def _projects(tables: dict, shown: str, out: Problems) -> list:
    projects: dict[Any, Node] = {}
    for node in tables["projects"]:
        projects.setdefault(_number_text(node.get("no")), node)
    for key in ("indicators", "tasks", "major_projects", "problems"):
        for node in tables[key]:
            no = node.pop("project", None)
            if "project" in node.reported:
                continue
            project = projects.get(_number_text(no))
            if project is None:
                out.add("P068", node.at("project"), value=no)
                continue
            if key not in project:
                project[key] = Items(node.at())
                project.key_where[key] = node.at()
            project[key].append(node)
            project[key].item_where.append(node.at())
    _attach_plans(tables["plan"], tables["indicators"], out)
    return list(projects.values())


def _number_text(value: Any) -> Any:
    """A project number typed as text ("1", "01") is the number."""
    return int(value) if isinstance(value, str) and value.isdigit() else value


def _attach_plans(plans: list, indicators: list, out: Problems) -> None:
    """月度计划 rows → each indicator's ``plan``: {month: value}, or {year: {month: value}}."""
    by_id = {str(n.get("id")): n for n in indicators if n.get("id") is not None}
    for row in plans:
        ident, year = row.pop("indicator", None), row.pop("year", None)
        if ident is None:
            continue
        indicator = by_id.get(str(ident))
        if indicator is None:
            out.add("P069", row.at("indicator"), value=ident)
            continue
        months = Node(row.at(), ((k, v) for k, v in row.items()), row.key_where)
        plan = indicator.get("plan")
        if plan is None:
            plan = indicator["plan"] = Node(row.at())
            indicator.key_where["plan"] = row.at()
        clash = (year is None and len(plan) > 0) or (year is not None and (str(year) in plan or
                                                                             _has_months(plan)))
        if clash:
            out.add("P035", row.at("year"), value=str(ident), year=f" {year} 年" if year else "",
                    other=plan.at().brief())
        elif year is None:
            plan.update(months)
            plan.key_where.update(months.key_where)
        else:
            plan[str(year)] = months
            plan.key_where[str(year)] = row.at()


def _has_months(plan: Node) -> bool:
    return any(not str(k).isdigit() or int(k) < 2000 for k in plan)
