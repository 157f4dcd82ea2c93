"""The spec's model: frozen dataclasses for the county, its units, projects and their rows."""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"   # no 0/O, 1/I: read aloud over the phone


def default_unit_code(name: str) -> str:
    """A short code derived from the unit's name only: never from its place in the registry."""
    n = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    chars = []
    for _ in range(4):
        n, r = divmod(n, len(CODE_ALPHABET))
        chars.append(CODE_ALPHABET[r])
    return "".join(chars)


@dataclass(frozen=True)
class Unit:
    name: str
    aliases: tuple = ()
    contact: str = ""
    phone: str = ""
    email: str = ""
    code: str = ""            # used in problem numbers; default derived from the name


# -- values by plan year -----------------------------------------------------------
# Wherever the spec takes one value it may take {year: value}. A single value means
# every year. A year without its own value takes the nearest earlier year's value,
# else the key's default (what a spec without the key would give).

def resolve_year(by_year: tuple, default: Any, year: Optional[int]) -> tuple:
    """(value, the year it comes from, or None for the default) for ``year``."""
    if year is None or not by_year:
        return default, None
    best = (default, None)
    for y, value in by_year:
        if y == year:
            return value, y
        if y < year:
            best = (value, y)
    return best


@dataclass(frozen=True)
class Indicator:
    id: str
    name: str
    measure: str
    target: float
    year: int
    direction: str
    kind: str
    annual: float             # the default 年度目标 (one value for every year)
    units: tuple
    plan: tuple = ()          # default plan: ((month, cumulative value), ...)
    annual_by_year: tuple = ()  # ((year, value), ...) when the spec gives 年度目标 per year
    plan_by_year: tuple = ()    # ((year, ((month, value), ...)), ...)
    plan_start: int = 0       # first plan year: where a plan_cumulative total starts

    def annual_for(self, year: Optional[int]) -> float:
        return resolve_year(self.annual_by_year, self.annual, year)[0]

    def plan_for(self, year: Optional[int]) -> tuple:
        """The month plan of ``year``; a year without its own plan has none (序时 = month/12):
        an earlier year's plan was measured against that year's 年度目标."""
        if not self.plan_by_year:
            return self.plan
        return dict(self.plan_by_year).get(year, ())

    def planned_share(self, period: Any) -> float:
        """序时进度 (0..1) of a period (anything with .year and .month; a bare month number
        means the default values, as before per-year specs)."""
        year, month = (None, period) if isinstance(period, int) else (period.year, period.month)
        if self.direction == "lower" or self.kind == "level":
            return 1.0
        if self.kind == "plan_cumulative" and year is not None:
            return self.plan_share(year, month)
        plan, annual = self.plan_for(year), self.annual_for(year)
        if plan and annual:
            done = 0.0
            for m, value in plan:
                if m <= month:
                    done = value
            return round(done / annual, 6)
        return round(month / 12, 6)

    def plan_share(self, year: int, month: int) -> float:
        """Months elapsed since the plan began ÷ the plan's months (up to the target year)."""
        start = self.plan_start or year
        months = max(1, (self.year - start + 1) * 12)
        elapsed = (year - start) * 12 + month
        return round(min(1.0, max(0.0, elapsed / months)), 6)


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    milestone: str
    due: Optional[dt.date]
    units: tuple
    partners: tuple = ()
    milestone_by_year: tuple = ()
    due_by_year: tuple = ()
    recurring: bool = False   # 每年滚动: restarts each year; otherwise a one-off task

    def milestone_for(self, year: Optional[int]) -> str:
        return resolve_year(self.milestone_by_year, self.milestone, year)[0]

    def due_for(self, year: Optional[int]) -> Optional[dt.date]:
        due = resolve_year(self.due_by_year, self.due, year)[0]
        if self.recurring and due is not None and year is not None and due.year != year:
            due = _same_day(due, year)   # a recurring task is due on the same day each year
        return due


def _same_day(day: dt.date, year: int) -> dt.date:
    try:
        return day.replace(year=year)
    except ValueError:                  # 29 February
        return day.replace(year=year, day=28)


@dataclass(frozen=True)
class MajorProject:
    id: str
    name: str
    content: str
    owner: str
    total_investment: Optional[float]
    annual_plan: Optional[float]
    planned_start: Optional[dt.date]
    annual_plan_by_year: tuple = ()

    def annual_plan_for(self, year: Optional[int]) -> Optional[float]:
        return resolve_year(self.annual_plan_by_year, self.annual_plan, year)[0]


@dataclass(frozen=True)
class Problem:
    id: str
    description: str
    raised: Optional[dt.date]
    units: tuple
    measures: str
    due: Optional[dt.date]


@dataclass(frozen=True)
class Project:
    no: int
    name: str
    convener: str
    lead_units: tuple
    units: tuple           # responsible units, groups expanded, canonical names
    goal: str
    indicators: tuple = ()
    tasks: tuple = ()
    major_projects: tuple = ()
    problems: tuple = ()
    file: str = ""
    short: str = ""            # a short name for charts (optional key ``short``)

    @property
    def all_units(self) -> tuple:
        seen = dict.fromkeys(self.lead_units)
        seen.update(dict.fromkeys(self.units))
        return tuple(seen)

    @functools.cached_property
    def member_set(self) -> frozenset:
        return frozenset(self.all_units)

    @property
    def label(self) -> str:
        return f"{self.no:02d} {self.name}"

    @property
    def short_label(self) -> str:
        """"05 交通强县" style: the spec's ``short`` name, or one derived from the full name."""
        return f"{self.no:02d} {self.short or short_name(self.name)}"


@dataclass(frozen=True)
class Spec:
    county: str
    code: str
    issuer: str
    office_unit: str
    office_contact: str
    office_phone: str
    office_email: str
    plan_years: tuple
    tables: tuple
    deadline_day: int
    yellow: float
    blank_projects: int
    blank_problems: int
    units: tuple
    groups: dict = field(hash=False, compare=False)
    max_file_mb: float = 50          # a return larger than this is refused (F010)
    max_unpacked_mb: float = 200     # so is one that unpacks to more (zip bombs)
    max_read_seconds: float = 60     # one return's reading and checks, in its worker process (F014)
    max_memory_mb: float = 1024      # that worker's address space (POSIX) (F014)
    resubmit_days: int = 3           # working days a unit has to send back a corrected return
    projects: tuple = ()
    folder: str = ""

    @functools.cached_property
    def _by_name(self) -> dict:
        return {u.name: u for u in self.units}

    def unit(self, name: str) -> Unit:
        return self._by_name[name]

    def unit_code(self, name: str) -> str:
        """The unit's code in problem numbers: its own, never its place in the registry."""
        return self._by_name[name].code or default_unit_code(name)

    @property
    def years_in_use(self) -> tuple:
        """Plan years from the first up to the latest year the spec gives values for."""
        y0, y1 = self.plan_years
        last = max([y0] + [y for p in self.projects for y in _years_given(p)])
        return tuple(range(y0, min(last, y1) + 1))

    def year_warnings(self, year: int) -> list:
        """Values missing for ``year`` where the spec gives values by year, and what is used instead."""
        return year_warnings(self, year)

    @functools.cached_property
    def responsible_set(self) -> frozenset:
        return frozenset(self.responsible_units)

    def resolve(self, name: str) -> Optional[str]:
        for unit in self.units:
            if name == unit.name or name in unit.aliases:
                return unit.name
        return None

    @functools.cached_property
    def responsible_units(self) -> tuple:
        """Every unit that gets a template, in registry order (computed once)."""
        used = set()
        for project in self.projects:
            used.update(project.all_units)
        return tuple(u.name for u in self.units if u.name in used)

    def projects_of(self, unit: str) -> tuple:
        return tuple(p for p in self.projects if unit in p.member_set)

    def uses(self, table: str) -> bool:
        return table in self.tables


def _years_given(project: Project) -> set[int]:
    years: set[int] = set()
    for ind in project.indicators:
        years.update(y for y, _ in ind.annual_by_year)
        years.update(y for y, _ in ind.plan_by_year)
    for task in project.tasks:
        years.update(y for y, _ in task.milestone_by_year)
        years.update(y for y, _ in task.due_by_year)
    for major in project.major_projects:
        years.update(y for y, _ in major.annual_plan_by_year)
    return years


def _shown(value) -> str:
    if value is None or value == "" or value == ():
        return "空"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "{" + ", ".join(f"{m}: {v:g}" for m, v in value) + "}"
    return str(value)


def year_warnings(spec: Spec, year: int) -> list:
    """One line per value the spec gives by year but not for ``year``, saying what is used instead."""
    lines = []

    def gap(project: Project, what: str, item: Union[Indicator, Task, MajorProject], key: str, label: str,
            by_year: tuple, value: object, source: Optional[int]) -> None:
        if not by_year or year in dict(by_year):
            return
        if source is not None:
            instead = f"沿用 {source} 年的 {_shown(value)}"
        elif key == "plan":
            instead = "不按月度计划，序时进度按 月份/12 计算"
        else:
            instead = f"使用默认值 {_shown(value)}"
        lines.append(f"{Path(project.file).name} {what} {item.id}（{item.name}）：没有 {year} 年的 {key}"
                     f"（{label}），{instead}。如需 {year} 年的值，请在 {key} 中加上 {year}: …")

    for p in spec.projects:
        for ind in p.indicators:
            gap(p, "指标", ind, "annual", "年度目标", ind.annual_by_year,
                *resolve_year(ind.annual_by_year, ind.annual, year))
            gap(p, "指标", ind, "plan", "月度计划", ind.plan_by_year, (), None)
        for task in p.tasks:
            gap(p, "重点任务", task, "milestone", "节点目标", task.milestone_by_year,
                *resolve_year(task.milestone_by_year, task.milestone, year))
            due, source = resolve_year(task.due_by_year, task.due, year)
            gap(p, "重点任务", task, "due", "计划完成时间", task.due_by_year, task.due_for(year), source)
        for major in p.major_projects:
            gap(p, "重大项目", major, "annual_plan", "年度计划投资", major.annual_plan_by_year,
                *resolve_year(major.annual_plan_by_year, major.annual_plan, year))
    return lines


PLACEHOLDER = re.compile(r"^\s*(待.{0,8}(确认|确定|补充|填写)|待定|暂无|TBD|TODO|xxx+|？+|\?+)\s*$", re.I)


def is_placeholder(text: Any) -> bool:
    """A contact written as a reminder rather than a value (待办公室确认, 待定, TBD)."""
    return bool(text) and bool(PLACEHOLDER.match(str(text)))


def short_name(name: str, limit: int = 8) -> str:
    """A chart label from a project's full name: quoted slogans and the 工程 suffix dropped.

    扩大有效投资“千项万亿”工程 → 扩大有效投资; 世界一流强港和交通强省建设工程 → 世界一流强港和交通…
    """
    text = re.sub(r"“[^”]*”", "", name)
    text = re.sub(r"(建设)?工程$", "", text).strip("和及、 ") or name
    return text if len(text) <= limit else text[:limit - 1] + "…"


