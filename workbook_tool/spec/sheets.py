"""The shape of 规格.xlsx: its sheets and columns, derived from the field tables of schema.py.

export.py writes this shape and workbook_source.py reads it, so the two never drift apart.
Values given by plan year are columns per year (年度目标2024, 年度计划投资2024（万元）): an
office reads and fills a year's plan across one row, as in its own tables, and a
spreadsheet filter shows one year at a glance.  A column without a year holds the value for
every year; each row fills either it or the year columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from .fields import Field
from .schema import (BLANK_ROWS, COUNTY, DIRECTION_CHOICES, INDICATOR, KIND_CHOICES, LIGHTS, LIMITS, MAJOR,
                     OFFICE, PROBLEM, PROJECT, RECURRING_CHOICES, TABLE_KEYS, TABLE_TITLES, TASK, UNIT)

LISTS = "名录"                       # the hidden sheet of dropdown lists
GUIDE = "说明"
SETTINGS = "县设置"
PROJECT_NO = "所属工程"
SEPARATORS = re.compile(r"[、，,;；\n]+")
UNIT_KEYS = {"lead_units", "units", "partners", "owner", "members", "host_unit"}
MULTI_UNIT_KEYS = {"lead_units", "units", "partners", "members"}
LIST_KEYS = {"aliases"} | MULTI_UNIT_KEYS
CHOICE_LABELS = {"direction": DIRECTION_CHOICES, "kind": KIND_CHOICES, "recurring": (
    (True, "是"), (False, "否"))}
RECURRING_MEANING = dict(RECURRING_CHOICES)


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    field: Optional[Field] = None
    year: Optional[int] = None         # a per-year column holds this year's value
    required: bool = False

    @property
    def is_units(self) -> bool:
        return self.key in UNIT_KEYS

    @property
    def is_list(self) -> bool:
        return self.key in LIST_KEYS


def year_header(label: str, year: int) -> str:
    """年度目标 → 年度目标2024; 年度计划投资（万元） → 年度计划投资2024（万元）."""
    base, _, unit = label.partition("（")
    return f"{base}{year}" + (f"（{unit}" if unit else "")


def year_of(header: str, label: str) -> Optional[int]:
    base, _, unit = label.partition("（")
    m = re.fullmatch(re.escape(base) + r"(\d{4})" + (re.escape("（" + unit) if unit else ""), header)
    return int(m.group(1)) if m else None


def columns_of(table: tuple, years: tuple = (), skip: tuple = ()) -> list:
    """The columns of a field table: one per field, and one per plan year for per-year fields."""
    out = []
    for f in table:
        if f.key in skip:
            continue
        out.append(Column(f.label, f.key, f, required=f.required and not f.per_year))
        if f.per_year:
            out += [Column(year_header(f.label, y), f.key, f, year=y) for y in years]
    return out


@dataclass(frozen=True)
class Sheet:
    name: str
    key: str                          # units, groups, projects, or a project's list (indicators …)
    what: str                         # what one row is
    help: str
    columns: tuple

    def column(self, header: str) -> Optional[Column]:
        return next((c for c in self.columns if c.header == header), None)


def sheets(years: tuple = ()) -> tuple:
    """Every data sheet of 规格.xlsx (without 说明, 县设置 and the hidden 名录)."""
    no = Column(PROJECT_NO, "project", required=True)
    return (
        Sheet("单位", "units", "单位", "单位名录：每行一个单位。别名用顿号分隔。", tuple(columns_of(UNIT))),
        Sheet("组", "groups", "组", "“各乡镇”这类组：责任单位中写组名即等于写出全部成员。",
              (Column("组名", "name", required=True), Column("成员单位", "members", required=True))),
        Sheet("工程", "projects", "工程", "每行一项工程；各表的“所属工程”填这里的序号。",
              tuple(columns_of(PROJECT, skip=("indicators", "tasks", "major_projects", "problems")))),
        Sheet("指标", "indicators", "指标", "主要指标进度表的行：每行一个指标。",
              (no, *columns_of(INDICATOR, years, skip=("plan",)))),
        Sheet("月度计划", "plan", "月度计划", "指标的月度累计计划（可不填：不填时序时进度按 月份/12）。"
              "“年度”不填表示每年相同。",
              (Column("指标编号", "indicator", required=True), Column("年度", "year"),
               *(Column(f"{m}月", str(m)) for m in range(1, 13)))),
        Sheet("重点任务", "tasks", "重点任务", "重点任务进度表的行：每行一项任务。",
              (no, *columns_of(TASK, years))),
        Sheet("重大项目", "major_projects", "重大项目", "重大项目进度表的行：每行一个项目。",
              (no, *columns_of(MAJOR, years))),
        Sheet("问题", "problems", "问题", "问题销号进度表中办公室预先列出的问题。", (no, *columns_of(PROBLEM))),
    )


@dataclass(frozen=True)
class Setting:
    label: str
    path: tuple                        # ("county",), ("lights", "yellow"), ("tables", "indicators") …
    field: Optional[Field] = None
    help: str = ""


def settings() -> tuple:
    """The rows of 县设置: one per county setting; nested mappings flattened."""
    rows = []
    nested = {"office": OFFICE, "lights": LIGHTS, "blank_rows": BLANK_ROWS, "limits": LIMITS}
    for f in COUNTY:
        if f.key in nested:
            rows += [Setting(g.label, (f.key, g.key), g, g.help) for g in nested[f.key]]
        elif f.key == "plan_years":
            rows += [Setting("规划起始年", ("plan_years", 0), f, "规划的第一年，如 2023。"),
                     Setting("规划结束年", ("plan_years", 1), f, "规划的最后一年，如 2027。")]
        elif f.key == "tables":
            rows += [Setting(f"使用{TABLE_TITLES[t]}", ("tables", t), f, "是 或 否。") for t in TABLE_KEYS]
        elif f.key not in ("units", "groups"):
            rows.append(Setting(f.label, (f.key,), f, f.help))
    return tuple(rows)
