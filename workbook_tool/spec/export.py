"""A county's spec → one workbook, 规格.xlsx (``workbook-tool export-spec``).

Written with XlsxWriter from the loaded, normalised Spec: the workbook loads back to the same
spec (``check-spec --json`` equal).  Enumerations and units are picked from dropdowns; the
unit list sits on a hidden sheet referred to by range (a literal list is capped at 255
characters); a 说明 sheet explains every sheet and column.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Union

import xlsxwriter

from ..desk import write_file
from ..layout import font
from .model import Indicator, Project, Spec
from .sheets import (CHOICE_LABELS, GUIDE, LISTS, MULTI_UNIT_KEYS, PROJECT_NO, SETTINGS, Column, Sheet,
                     settings, sheets)

DATA_ROWS = 500            # rows of each sheet that carry the dropdowns (room to add rows)


def export_spec(spec: Spec, out: Union[str, Path]) -> Path:
    """Write ``spec`` as one workbook at ``out`` (all at once: an open old copy stays whole)."""
    return write_file(Path(out), lambda tmp: _write(spec, tmp))


def _write(spec: Spec, path: Path) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False})
    wb.set_properties({"title": f"{spec.county}十项重大工程规格", "created": dt.datetime(2000, 1, 1)})
    fmt = {"head": wb.add_format(font(title=True, bold=True, bg_color="#D9E1F2", border=1, text_wrap=True)),
           "body": wb.add_format(font(valign="top", text_wrap=True)),
           "date": wb.add_format(font(num_format="yyyy-mm-dd", valign="top")),
           "title": wb.add_format(font(size=14, title=True, bold=True))}
    guide = wb.add_worksheet(GUIDE)
    setting_ws = wb.add_worksheet(SETTINGS)
    years = tuple(range(spec.plan_years[0], spec.plan_years[1] + 1))
    data = sheets(years)
    worksheets = {s.name: wb.add_worksheet(s.name) for s in data}
    lists = wb.add_worksheet(LISTS)
    ranges = _write_lists(lists, spec)
    lists.hide()
    _write_guide(guide, data, fmt)
    _write_settings(setting_ws, spec, fmt, ranges)
    for sheet in data:
        rows = list(ROWS[sheet.key](spec))
        _write_sheet(worksheets[sheet.name], sheet, rows, fmt, ranges)
    wb.close()


def _write_lists(ws: Any, spec: Spec) -> dict:
    """Dropdown sources on the hidden sheet: {name: absolute range}."""
    columns = {"units": [u.name for u in spec.units],
               "units_and_groups": [u.name for u in spec.units] + list(spec.groups),
               "projects": [p.no for p in spec.projects]}
    ranges = {}
    for i, (name, values) in enumerate(columns.items()):
        col = chr(ord("A") + i)
        ws.write_string(0, i, name)
        for r, value in enumerate(values, start=1):
            ws.write(r, i, value) if isinstance(value, int) else ws.write_string(r, i, value)
        ranges[name] = f"={LISTS}!${col}$2:${col}${max(2, len(values) + 1)}"
    return ranges


def _write_guide(ws: Any, data: tuple, fmt: dict) -> None:
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 24)
    ws.set_column(2, 2, 80)
    ws.write_string(0, 0, "规格工作簿说明", fmt["title"])
    lines = [("", "", "本工作簿就是本县的规格：修改后运行 workbook-tool check-spec --spec <文件夹> 检查，"
                      "有误时会列出每处问题所在的工作表和单元格。不要改工作表名和第 1 行的列名。"),
             (SETTINGS, "", "县名、规划年度、在用进度表、截止日、亮灯阈值、办公室联系方式：每行一项，填在“值”列。")]
    for sheet in data:
        lines.append((sheet.name, "", sheet.help))
        for c in sheet.columns:
            if c.year is None:
                text = (c.field.help if c.field else "") or ""
                if c.field and c.field.per_year:
                    text += "（每年相同时填这一列；每年不同时改填后面各年的列）"
                lines.append(("", c.header + ("（必填）" if c.required else ""), text))
    ws.write_row(2, 0, ["工作表", "列", "说明"], fmt["head"])
    for r, row in enumerate(lines, start=3):
        for c, text in enumerate(row):
            ws.write_string(r, c, text, fmt["body"])


def _write_settings(ws: Any, spec: Spec, fmt: dict, ranges: dict) -> None:
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 40)
    ws.set_column(2, 2, 60)
    ws.write_row(0, 0, ["项目", "值", "说明"], fmt["head"])
    ws.freeze_panes(1, 0)
    for r, setting in enumerate(settings(), start=1):
        ws.write_string(r, 0, setting.label, fmt["body"])
        _write_value(ws, r, 1, _setting_value(spec, setting.path), fmt)
        ws.write_string(r, 2, setting.help, fmt["body"])
        if setting.path[0] == "tables":
            ws.data_validation(r, 1, r, 1, {"validate": "list", "source": ["是", "否"]})
        elif setting.path == ("office", "host_unit"):
            ws.data_validation(r, 1, r, 1, {"validate": "list", "source": ranges["units"]})


def _setting_value(spec: Spec, path: tuple) -> Any:
    key = path[-1]
    if path[0] == "tables":
        return "是" if key in spec.tables else "否"
    if path[0] == "plan_years":
        return spec.plan_years[key]
    attribute = {"host_unit": "office_unit", "contact": "office_contact", "phone": "office_phone",
                 "email": "office_email", "projects": "blank_projects", "problems": "blank_problems"}
    return getattr(spec, attribute.get(key, key) if path[0] in ("office", "blank_rows") else key)


def _write_sheet(ws: Any, sheet: Sheet, rows: list, fmt: dict, ranges: dict) -> None:
    ws.write_row(0, 0, [c.header for c in sheet.columns], fmt["head"])
    ws.freeze_panes(1, 0)
    for i, c in enumerate(sheet.columns):
        ws.set_column(i, i, 30 if c.key in ("goal", "name", "description", "content", "milestone") else 14)
        _validation(ws, i, c, ranges)
    for r, values in enumerate(rows, start=1):
        for i, c in enumerate(sheet.columns):
            _write_value(ws, r, i, values.get((c.key, c.year)), fmt)


def _validation(ws: Any, col: int, c: Column, ranges: dict) -> None:
    rule = None
    if c.key in CHOICE_LABELS:
        rule = {"validate": "list", "source": [label for _, label in CHOICE_LABELS[c.key]]}
    elif c.key == "owner":
        rule = {"validate": "list", "source": ranges["units"],
                "error_message": "请从下拉列表中选择单位名录中的单位。"}
    elif c.key in MULTI_UNIT_KEYS:
        # several units go in one cell, separated by 、: the dropdown helps, a stop alert would refuse
        rule = {"validate": "list", "source": ranges["units_and_groups"], "error_type": "information",
                "error_message": "不在单位名录中的单位会在 check-spec 时报错；多个单位用顿号“、”分隔。"}
    elif c.header == PROJECT_NO:
        rule = {"validate": "list", "source": ranges["projects"],
                "error_message": "请填写「工程」表中的序号。"}
    if rule:
        ws.data_validation(1, col, DATA_ROWS, col, rule)


def _write_value(ws: Any, r: int, c: int, value: Any, fmt: dict) -> None:
    if value is None or value == "":
        return
    if isinstance(value, dt.date):
        ws.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), fmt["date"])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ws.write_number(r, c, value, fmt["body"])
    else:
        ws.write_string(r, c, str(value), fmt["body"])


# -- rows: {(key, year or None): value} per row of each sheet -----------------------------------------

def _joined(names: Any) -> str:
    return "、".join(names)


def _units_rows(spec: Spec) -> list:
    return [{("name", None): u.name, ("aliases", None): _joined(u.aliases), ("contact", None): u.contact,
             ("phone", None): u.phone, ("email", None): u.email, ("code", None): u.code} for u in spec.units]


def _group_rows(spec: Spec) -> list:
    return [{("name", None): name, ("members", None): _joined(members)} for name, members in spec.groups.items()]


def _project_rows(spec: Spec) -> list:
    return [{("no", None): p.no, ("name", None): p.name, ("short", None): p.short, ("convener", None): p.convener,
             ("lead_units", None): _joined(p.lead_units), ("units", None): _joined(p.units),
             ("goal", None): p.goal} for p in spec.projects]


def _by_year(row: dict, key: str, single: Any, by_year: tuple) -> None:
    row[(key, None)] = single
    for year, value in by_year:
        row[(key, year)] = value


def _owners(p: Project, units: tuple) -> str:
    return "" if units == p.lead_units else _joined(units)


def default_annual(i: Indicator, plan_years: tuple) -> float:
    """The 年度目标 a spec without ``annual`` gives (see build.build_indicator)."""
    first, last = plan_years
    if i.kind in ("cumulative", "plan_cumulative") and i.year == last:
        return round(i.target / (last - first + 1), 4)
    return i.target


def _indicator_rows(spec: Spec) -> list:
    rows = []
    for p in spec.projects:
        for i in p.indicators:
            row = {("project", None): p.no, ("id", None): i.id, ("name", None): i.name,
                   ("measure", None): i.measure, ("target", None): i.target, ("year", None): i.year,
                   ("direction", None): dict(CHOICE_LABELS["direction"])[i.direction],
                   ("kind", None): dict(CHOICE_LABELS["kind"])[i.kind], ("units", None): _owners(p, i.units)}
            single = None if i.annual_by_year or i.annual == default_annual(i, spec.plan_years) else i.annual
            _by_year(row, "annual", single, i.annual_by_year)
            rows.append(row)
    return rows


def _plan_rows(spec: Spec) -> list:
    rows = []
    for i in (i for p in spec.projects for i in p.indicators):
        plans = ([(None, i.plan)] if i.plan else []) + list(i.plan_by_year)
        for year, plan in plans:
            rows.append({("indicator", None): i.id, ("year", None): year,
                         **{(str(m), None): v for m, v in plan}})
    return rows


def _task_rows(spec: Spec) -> list:
    rows = []
    for p in spec.projects:
        for t in p.tasks:
            row = {("project", None): p.no, ("id", None): t.id, ("name", None): t.name,
                   ("units", None): _owners(p, t.units), ("partners", None): _joined(t.partners),
                   ("recurring", None): "是" if t.recurring else "否"}
            _by_year(row, "milestone", t.milestone, t.milestone_by_year)
            _by_year(row, "due", t.due, t.due_by_year)
            rows.append(row)
    return rows


def _major_rows(spec: Spec) -> list:
    rows = []
    for p in spec.projects:
        for m in p.major_projects:
            row = {("project", None): p.no, ("id", None): m.id, ("name", None): m.name,
                   ("content", None): m.content, ("owner", None): m.owner,
                   ("total_investment", None): m.total_investment, ("planned_start", None): m.planned_start}
            _by_year(row, "annual_plan", m.annual_plan, m.annual_plan_by_year)
            rows.append(row)
    return rows


def _problem_rows(spec: Spec) -> list:
    return [{("project", None): p.no, ("id", None): q.id, ("description", None): q.description,
             ("raised", None): q.raised, ("units", None): _owners(p, q.units), ("measures", None): q.measures,
             ("due", None): q.due} for p in spec.projects for q in p.problems]


ROWS = {"units": _units_rows, "groups": _group_rows, "projects": _project_rows, "indicators": _indicator_rows,
        "plan": _plan_rows, "tasks": _task_rows, "major_projects": _major_rows, "problems": _problem_rows}
