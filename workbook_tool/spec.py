"""Specs: YAML files → validated, frozen spec objects.

Every problem is collected and reported at once as ``file:line: message``;
near-miss unit names get a did-you-mean suggestion.
"""
from __future__ import annotations

import datetime as dt
import difflib
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .desk import UNKNOWN_ENCODING, decode_text

TABLE_KEYS = ("indicators", "tasks", "projects", "problems")
DIRECTIONS = ("higher", "lower")
KINDS = ("cumulative", "level", "plan_cumulative")
KIND_NAMES = "cumulative（本年累计）、level（水平值）或 plan_cumulative（规划期累计：单位报本年累计，按规划期合计）"


class SpecError(Exception):
    """All problems found while loading a spec."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# -- YAML with line numbers ---------------------------------------------------

class _Map(dict):
    """A mapping that remembers the line of itself and of each key."""

    line = 0
    key_lines: dict


class _Seq(list):
    line = 0
    item_lines: list


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's safe loader when available (ten times faster), with line numbers kept."""


def _construct_map(loader, node):
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        # Keys stay plain text: YAML 1.1 would read `no:` as False and `3:` as an int.
        if isinstance(key_node, yaml.ScalarNode):
            key = key_node.value
        else:
            key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.MarkedYAMLError(
                problem=f"重复的键 {key!r}", problem_mark=key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_seq(loader, node):
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_str(loader, node):
    return loader.construct_scalar(node)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)
# Dates stay strings so that we can report them with our own message.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)


# -- the model ------------------------------------------------------------------

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

def resolve_year(by_year: tuple, default, year):
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

    def planned_share(self, period) -> float:
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
    resubmit_days: int = 3           # working days a unit has to send back a corrected return
    max_read_seconds: float = 60     # one return's reading and checks, in its worker process (F014)
    max_memory_mb: float = 1024      # that worker's address space (POSIX) (F014)
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


# -- loading --------------------------------------------------------------------

COUNTY_KEYS = {"county", "code", "issuer", "office", "plan_years", "tables", "deadline_day",
               "lights", "blank_rows", "units", "groups", "limits", "resubmit_days"}
COUNTY_REQUIRED = {"county", "code", "plan_years", "tables", "units"}
OFFICE_KEYS = {"host_unit", "contact", "phone", "email"}
UNIT_KEYS = {"name", "aliases", "contact", "phone", "email", "code"}
PROJECT_KEYS = {"no", "name", "short", "convener", "lead_units", "units", "goal", "indicators", "tasks",
                "major_projects", "problems"}
PROJECT_REQUIRED = {"no", "name", "convener", "lead_units", "units", "goal"}
INDICATOR_KEYS = {"id", "name", "measure", "target", "year", "direction", "kind", "annual",
                  "plan", "units"}
INDICATOR_REQUIRED = {"id", "name", "measure", "target", "year", "direction"}
TASK_KEYS = {"id", "name", "milestone", "due", "units", "partners", "recurring"}
TASK_REQUIRED = {"id", "name"}
MAJOR_KEYS = {"id", "name", "content", "owner", "total_investment", "annual_plan", "planned_start"}
MAJOR_REQUIRED = {"id", "name", "owner", "total_investment", "annual_plan"}
PROBLEM_KEYS = {"id", "description", "raised", "units", "measures", "due"}
PROBLEM_REQUIRED = {"id", "description"}


LIMITS_DEFAULT = {"max_file_mb": 50.0, "max_unpacked_mb": 200.0, "max_read_seconds": 60.0,
                  "max_memory_mb": 1024.0}
LIMITS_RANGE = {"max_file_mb": (1024, "MB"), "max_unpacked_mb": (4096, "MB"), "max_read_seconds": (3600, "秒"),
                "max_memory_mb": (65536, "MB")}


class _Collector:
    """Collects problems with their file and line."""

    def __init__(self, root: Path):
        self.root = root
        self.problems: list[str] = []

    def add(self, path: Path, line: int, message: str):
        try:
            shown = path.relative_to(self.root.parent)
        except ValueError:
            shown = path
        self.problems.append(f"{shown}:{line}: {message}")


def _line(node, key=None):
    if key is not None and isinstance(node, _Map):
        return node.key_lines.get(key, node.line)
    return getattr(node, "line", 0) or 1


def load_spec(folder) -> Spec:
    """Load and validate ``specs/<county>/``; raise SpecError with every problem."""
    return parse_spec(read_spec_sources(folder), folder)


def read_spec_sources(folder) -> dict:
    """{relative path: text} of a spec folder: county.yaml and projects/*.yaml.

    A file that is not UTF-8 is kept as bytes, for parse_spec to report."""
    folder = Path(folder)
    county_file = folder / "county.yaml"
    if not folder.is_dir():
        raise SpecError([f"{folder}: 找不到规格文件夹。请用 --spec 指定如 specs/shengsi 的文件夹。"])
    if not county_file.is_file():
        raise SpecError([f"{county_file}: 找不到 county.yaml。每个县的规格文件夹需要一个 county.yaml。"])
    paths = [county_file]
    if (folder / "projects").is_dir():
        paths += sorted((folder / "projects").glob("*.yaml"))
    texts = {}
    problems = [f"{path}:1: {p}" for path in paths for p in [yaml_bounds_problem(path)] if p]
    if problems:
        raise SpecError(problems)
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpecError([f"{path}:1: 文件无法读取（{exc.strerror or exc}）。"]) from None
        text = decode_text(data)          # UTF-8 with or without BOM, or GBK as Chinese Windows saves it
        texts[path.relative_to(folder).as_posix()] = data if text is None else text
    return texts


def spec_digest(texts: dict) -> str:
    """sha256 over a spec's sources (relative paths and contents), for snapshots."""
    h = hashlib.sha256()
    for rel in sorted(texts):
        data = texts[rel] if isinstance(texts[rel], bytes) else texts[rel].encode("utf-8")
        h.update(rel.encode("utf-8") + b"\0" + str(len(data)).encode() + b"\0" + data)
    return h.hexdigest()


def parse_spec(texts: dict, folder="spec") -> Spec:
    """Parse and validate a spec from its sources {relative path: text} (as read_spec_sources
    gives them, or as kept in a snapshot); ``folder`` names the files in messages."""
    folder = Path(folder)
    out = _Collector(folder)
    county_file = folder / "county.yaml"
    if "county.yaml" not in texts:
        raise SpecError([f"{county_file}: 找不到 county.yaml。每个县的规格文件夹需要一个 county.yaml。"])
    doc = _read_yaml(county_file, texts["county.yaml"], out)
    if doc is None:
        raise SpecError(out.problems)
    base = _load_county(doc, county_file, out)
    project_files = sorted(rel for rel in texts if rel.startswith("projects/") and rel.endswith(".yaml")
                           and "/" not in rel[len("projects/"):])
    if not project_files:
        out.add(county_file, 1, "没有工程文件：请在 projects/ 下为每项工程建一个 .yaml 文件。")
    projects = []
    for rel in project_files:
        path = folder / rel
        pdoc = _read_yaml(path, texts[rel], out)
        if pdoc is not None and base is not None:
            project = _load_project(pdoc, path, base, out)
            if project is not None:
                projects.append(project)
    if base is not None:
        _check_projects(projects, base, out)
    if out.problems:
        raise SpecError(out.problems)
    projects.sort(key=lambda p: p.no)
    return Spec(**{**base, "projects": tuple(projects), "folder": str(folder)})


MAX_YAML_MB = 4                 # a county's spec is tens of KB
MAX_YAML_NODES = 200_000        # nodes after expanding every alias (a spec has a few thousand)


def yaml_bounds_problem(path: Path, text: str | None = None):
    """Why a YAML file is too big to load, counted before it is built (size; nodes with aliases expanded)."""
    if text is None:
        size = path.stat().st_size
        if size > MAX_YAML_MB * 1024 * 1024:
            return f"文件 {size / 1024 / 1024:.1f} MB，超过 {MAX_YAML_MB} MB：规格文件不应这么大。"
        return None
    sizes, stack, total = {}, [[0, None]], 0
    try:
        for event in yaml.parse(text, Loader=_LineLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append([1, event.anchor])
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                count, anchor = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                count, anchor = 1, event.anchor
            elif isinstance(event, yaml.AliasEvent):
                count, anchor = sizes.get(event.anchor, 1), None
            else:
                continue
            if anchor:
                sizes[anchor] = count
            stack[-1][0] += count
            total = stack[0][0]
            if total > MAX_YAML_NODES or stack[-1][0] > MAX_YAML_NODES:
                return (f"展开别名（*引用）后超过 {MAX_YAML_NODES:,} 个节点：文件里有大量嵌套的 &锚点/*引用。"
                        "规格文件不需要锚点和引用，请删除它们。")
    except yaml.YAMLError:
        return None                   # the loader reports it with its line
    return None


def _read_yaml(path: Path, text, out: _Collector):
    if isinstance(text, bytes):          # none of UTF-8 (BOM or not), UTF-16 or GBK fits
        out.add(path, 1, UNKNOWN_ENCODING)
        return None
    problem = yaml_bounds_problem(path, text)
    if problem:
        out.add(path, 1, problem)
        return None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        out.add(path, line, f"YAML 格式错误：{exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        out.add(path, 1, f"YAML 格式错误：{exc}")
        return None
    if not isinstance(doc, _Map):
        out.add(path, 1, "文件内容应为键值对（mapping）。")
        return None
    return doc


def _check_keys(node, allowed, required, path, out, what):
    for key in node:
        if key not in allowed:
            hint = _suggest(str(key), allowed)
            out.add(path, _line(node, key), f"{what}中有未知的键 {key!r}{hint}")
    for key in sorted(required - set(node)):
        out.add(path, _line(node), f"{what}缺少必填键 {key!r}")


def _suggest(word, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"，是否应为 {close[0]!r}？" if close else "。"


def _text(node, key, path, out, default=None, required=True):
    value = node.get(key, default)
    if value is None:
        if required:
            return ""
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        out.add(path, _line(node, key), f"{key!r} 应为文字。")
        return ""
    return value.strip()


def _number(node, key, path, out, required=True):
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out.add(path, _line(node, key), f"{key!r} 应为数字，不能是 {value!r}。")
        return None
    return float(value)


def _date(node, key, path, out):
    value = node.get(key)
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        out.add(path, _line(node, key), f"{key!r} 应为日期 YYYY-MM-DD，不能是 {value!r}。")
        return None


def _list_of_text(node, key, path, out):
    value = node.get(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        out.add(path, _line(node, key), f"{key!r} 应为文字列表。")
        return []
    return [v.strip() for v in value]


def _number_value(value, key, line, path, out):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        out.add(path, line, f"{key!r} 应为数字，不能是 {value!r}。")
        return None
    return float(value)


def _text_value(value, key, line, path, out):
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        out.add(path, line, f"{key!r} 应为文字（分年度写作 {{2024: 文字}}）。")
        return ""
    return value.strip()


def _date_value(value, key, line, path, out):
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        out.add(path, line, f"{key!r} 应为日期 YYYY-MM-DD，不能是 {value!r}。")
        return None


def _plan_value(raw_plan, line, path, out):
    """{month: cumulative planned value} → ((month, value), ...)."""
    if raw_plan is None:
        return ()
    if isinstance(raw_plan, dict) and all(str(k).isdigit() for k in raw_plan):
        raw_plan = {int(k): v for k, v in raw_plan.items()}
    if (not isinstance(raw_plan, dict)
            or not all(isinstance(k, int) and 1 <= k <= 12 for k in raw_plan)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw_plan.values())):
        out.add(path, line, "plan 应为 {月份: 累计计划值}，月份 1–12，如 {3: 25, 6: 55}；"
                            "分年度写作 {2024: {3: 10, 6: 25}}。")
        return ()
    plan = tuple(sorted((k, float(v)) for k, v in raw_plan.items()))
    values = [v for _, v in plan]
    if values != sorted(values):
        out.add(path, line, "plan 是累计计划，后面月份的值不能小于前面的。")
    return plan


def _is_year_key(key) -> bool:
    return isinstance(key, (str, int)) and not isinstance(key, bool) and str(key).isdigit() \
        and int(key) >= 2000


def _by_year(node, key, path, out, plan_years, parse):
    """A value, or {year: value} (years ≥ 2000) → (single value, ((year, value), ...)).

    ``parse(value, line)`` checks and converts one value (reporting on ``out``)."""
    value = node.get(key)
    if not (isinstance(value, dict) and value and all(_is_year_key(k) for k in value)):
        return parse(value, _line(node, key)), ()
    y0, y1 = plan_years
    years = []
    for k, v in value.items():
        year = int(k)
        if not y0 <= year <= y1:
            out.add(path, _line(value, k), f"{key} 中的年份 {year} 不在规划年度 {y0}—{y1} 内。")
            continue
        years.append((year, parse(v, _line(value, k))))
    return None, tuple(sorted(years))


def _years_given(project) -> set:
    years = set()
    for ind in project.indicators:
        years.update(y for y, _ in ind.annual_by_year)
        years.update(y for y, _ in ind.plan_by_year)
    for task in project.tasks:
        years.update(y for y, _ in task.milestone_by_year)
        years.update(y for y, _ in task.due_by_year)
    for major in project.major_projects:
        years.update(y for y, _ in major.annual_plan_by_year)
    return years


def _load_county(doc, path, out):
    _check_keys(doc, COUNTY_KEYS, COUNTY_REQUIRED, path, out, "county.yaml ")
    code = _text(doc, "code", path, out)
    if code and not re.fullmatch(r"[a-z][a-z0-9_-]*", code):
        out.add(path, _line(doc, "code"), f"code 只能用小写英文字母、数字、- 和 _，不能是 {code!r}。")
    years = doc.get("plan_years")
    plan_years = (2023, 2027)
    if years is not None:
        if (not isinstance(years, list) or len(years) != 2
                or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
                or years[0] > years[1]):
            out.add(path, _line(doc, "plan_years"), "plan_years 应为 [起始年, 结束年]，如 [2023, 2027]。")
        else:
            plan_years = tuple(years)
    tables = doc.get("tables") or []
    if not isinstance(tables, list) or not tables:
        out.add(path, _line(doc, "tables"), f"tables 应为在用进度表的列表，可选：{', '.join(TABLE_KEYS)}。")
        tables = []
    for i, name in enumerate(tables):
        if name not in TABLE_KEYS:
            out.add(path, tables.item_lines[i], f"未知的进度表 {name!r}{_suggest(str(name), TABLE_KEYS)}"
                    f" 可选：{', '.join(TABLE_KEYS)}。")
    if len(set(tables)) != len(tables):
        out.add(path, _line(doc, "tables"), "tables 中有重复的进度表。")
    deadline_day = doc.get("deadline_day", 5)
    if not isinstance(deadline_day, int) or isinstance(deadline_day, bool) or not 1 <= deadline_day <= 28:
        out.add(path, _line(doc, "deadline_day"), "deadline_day 应为 1 到 28 之间的整数（次月几日前报送）。")
        deadline_day = 5
    lights = doc.get("lights") or _Map()
    yellow = 10.0
    if not isinstance(lights, dict):
        out.add(path, _line(doc, "lights"), "lights 应为键值对，如 {yellow: 10}。")
    else:
        _check_keys(lights, {"yellow"}, set(), path, out, "lights ")
        value = _number(lights, "yellow", path, out)
        if value is not None:
            if not 0 < value <= 100:
                out.add(path, _line(lights, "yellow"), "lights.yellow 应为 0 到 100 之间的百分点数。")
            else:
                yellow = value
    blank = doc.get("blank_rows") or _Map()
    blank_projects, blank_problems = 3, 3
    if isinstance(blank, dict):
        _check_keys(blank, {"projects", "problems"}, set(), path, out, "blank_rows ")
        for key in ("projects", "problems"):
            v = blank.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 50):
                out.add(path, _line(blank, key), f"blank_rows.{key} 应为 0 到 50 之间的整数。")
        blank_projects = blank.get("projects", 3) if isinstance(blank.get("projects", 3), int) else 3
        blank_problems = blank.get("problems", 3) if isinstance(blank.get("problems", 3), int) else 3
    else:
        out.add(path, _line(doc, "blank_rows"), "blank_rows 应为键值对。")

    limits = doc.get("limits") or _Map()
    found_limits = dict(LIMITS_DEFAULT)
    if not isinstance(limits, dict):
        out.add(path, _line(doc, "limits"), "limits 应为键值对，如 {max_file_mb: 50, max_unpacked_mb: 200}。")
    else:
        _check_keys(limits, set(LIMITS_DEFAULT), set(), path, out, "limits ")
        for key, (top, what) in LIMITS_RANGE.items():
            value = _number(limits, key, path, out)
            if value is not None and not 0 < value <= top:
                out.add(path, _line(limits, key), f"limits.{key} 应在 0 到 {top} 之间（单位 {what}）。")
            elif value is not None:
                found_limits[key] = value

    resubmit_days = doc.get("resubmit_days", 3)
    if not isinstance(resubmit_days, int) or isinstance(resubmit_days, bool) or not 1 <= resubmit_days <= 30:
        out.add(path, _line(doc, "resubmit_days"),
                "resubmit_days 应为 1 到 30 之间的整数（退回后几个工作日内重新报送）。")
        resubmit_days = 3

    units = []
    names = {}
    codes = {}
    raw_units = doc.get("units") or []
    if not isinstance(raw_units, list):
        out.add(path, _line(doc, "units"), "units 应为单位列表。")
        raw_units = []
    for i, node in enumerate(raw_units):
        if not isinstance(node, dict):
            out.add(path, raw_units.item_lines[i], "每个单位应为键值对，至少有 name。")
            continue
        _check_keys(node, UNIT_KEYS, {"name"}, path, out, "单位")
        name = _text(node, "name", path, out)
        aliases = _list_of_text(node, "aliases", path, out)
        for spelled in [name, *aliases]:
            if not spelled:
                continue
            problem = unit_name_problem(spelled)
            if problem:
                out.add(path, _line(node, "name"), problem)
            if spelled in names:
                out.add(path, _line(node, "name"), f"单位名称 {spelled!r} 重复（第 {names[spelled]} 行已有）。")
            names[spelled] = _line(node, "name")
        email = _text(node, "email", path, out)
        if email and not re.fullmatch(r"[^@\s<>,;:\"'()\[\]\\]+@[^@\s<>,;:\"'()\[\]\\]+\.[^@\s<>,;:\"'()\[\]\\]+",
                                      email):
            out.add(path, _line(node, "email"), f"邮箱地址 {email!r} 格式不对（应只有一个地址，如 fgj@example.cn）。")
        for key in ("contact", "phone"):
            _single_line(node, key, path, out)
        unit_code = _text(node, "code", path, out)
        if unit_code and not re.fullmatch(r"[0-9A-Za-z]{1,8}", unit_code):
            out.add(path, _line(node, "code"), f"单位代码 {unit_code!r} 只能用 1–8 个英文字母或数字。")
        unit_code = unit_code.upper() or default_unit_code(name)
        if unit_code in codes:
            out.add(path, _line(node, "code") if "code" in node else _line(node, "name"),
                    f"单位代码 {unit_code} 与 {codes[unit_code]!r} 重复：问题编号要靠它区分单位。"
                    f"请给其中一个单位写上不同的 code（1–8 个字母或数字）。")
        codes.setdefault(unit_code, name)
        units.append(Unit(name=name, aliases=tuple(aliases), contact=_text(node, "contact", path, out),
                          phone=_text(node, "phone", path, out), email=email, code=unit_code))
    _same_file_names(units, names, path, out)

    def resolve(name):
        for u in units:
            if name == u.name or name in u.aliases:
                return u.name
        return None

    groups = {}
    raw_groups = doc.get("groups") or _Map()
    if not isinstance(raw_groups, dict):
        out.add(path, _line(doc, "groups"), "groups 应为 组名: [成员单位…] 的键值对。")
        raw_groups = _Map()
    for gname, members in raw_groups.items():
        if gname in names:
            out.add(path, _line(raw_groups, gname), f"组名 {gname!r} 与单位名称重复。")
        if not isinstance(members, list) or not members:
            out.add(path, _line(raw_groups, gname), f"组 {gname!r} 应列出成员单位。")
            continue
        resolved = []
        for j, member in enumerate(members):
            canonical = resolve(member) if isinstance(member, str) else None
            if canonical is None:
                out.add(path, members.item_lines[j],
                        f"组 {gname!r} 的成员 {member!r} 不在单位名录中{_suggest_unit(member, names)}")
            else:
                resolved.append(canonical)
        groups[gname] = tuple(resolved)

    office = doc.get("office") or _Map()
    office_unit = ""
    if isinstance(office, dict):
        _check_keys(office, OFFICE_KEYS, set(), path, out, "office ")
        host = _text(office, "host_unit", path, out)
        if host:
            office_unit = resolve(host) or ""
            if not office_unit:
                out.add(path, _line(office, "host_unit"),
                        f"办公室所在单位 {host!r} 不在单位名录中{_suggest_unit(host, names)}")
    else:
        out.add(path, _line(doc, "office"), "office 应为键值对。")
        office = _Map()
    county = _text(doc, "county", path, out)
    _single_line(doc, "county", path, out)
    _single_line(doc, "issuer", path, out)
    for key in ("contact", "phone", "email"):
        _single_line(office, key, path, out)
    return dict(
        county=county, code=code,
        issuer=_text(doc, "issuer", path, out) or f"{county}“十项重大工程”总专班办公室",
        office_unit=office_unit, office_contact=_text(office, "contact", path, out),
        office_phone=_text(office, "phone", path, out), office_email=_text(office, "email", path, out),
        plan_years=plan_years, tables=tuple(t for t in TABLE_KEYS if t in tables),
        deadline_day=deadline_day, yellow=yellow, blank_projects=blank_projects,
        blank_problems=blank_problems, units=tuple(units), groups=groups,
        **found_limits, resubmit_days=resubmit_days, _names=names,
    )


UNIT_NAME_MAX = 40
# address syntax (a name goes into To:), path separators and what Windows refuses in a file name
_NAME_FORBIDDEN = set('<>@,;"\'/\\:*?|')


def unit_name_problem(name: str):
    """Why ``name`` cannot be a unit's name (it becomes a file name and a mail display name), or None."""
    if len(name) > UNIT_NAME_MAX:
        return f"单位名称 {name!r} 过长（{len(name)} 个字，最多 {UNIT_NAME_MAX} 个字）。请用简称，全称可写在 aliases。"
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return f"单位名称 {name!r} 含换行、制表符、空字符或不可见字符。请删除后重新输入名称。"
    bad = "".join(sorted({ch for ch in name if ch in _NAME_FORBIDDEN}))
    if bad:
        return (f"单位名称 {name!r} 含不允许的字符 {bad}：名称会用作文件名和邮件收件人，"
                "不能含 < > @ , ; 引号 / \\ : * ? | 。请改用中文标点或删去。")
    return None


def _single_line(node, key, path, out):
    value = node.get(key) if isinstance(node, dict) else None
    if isinstance(value, str) and any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value):
        out.add(path, _line(node, key), f"{key} 的值 {value!r} 含换行或控制字符：它会写进邮件信头和文件。"
                                       "请写在一行内。")


def _same_file_names(units, lines, path, out):
    """Distinct unit names that would write the same template file (县/发改局 and 县:发改局)."""
    from .template import safe_filename
    seen = {}
    for u in units:
        if not u.name:
            continue
        key = safe_filename(u.name).casefold()
        if key in seen and seen[key] != u.name:
            out.add(path, lines.get(u.name, 0), f"单位 {seen[key]!r} 和 {u.name!r} 会写成同一个文件名 {safe_filename(u.name)}.xlsx。"
                             "请改其中一个的名称。")
        seen.setdefault(key, u.name)


def _suggest_unit(name, names) -> str:
    if not isinstance(name, str):
        return "。"
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    if not close:
        # Chinese unit names differ by one or two characters: compare by containment too.
        close = [n for n in names if name and (name in n or n in name)][:1]
    return f"，是否应为 {close[0]!r}？" if close else "。请在 county.yaml 的 units 中登记该单位。"


def _load_project(doc, path, base, out):
    _check_keys(doc, PROJECT_KEYS, PROJECT_REQUIRED, path, out, "工程文件")
    names = base["_names"]
    groups = base["groups"]
    units_by_name = {u.name: u for u in base["units"]}

    def canonical(name):
        if name in units_by_name:
            return name
        for u in base["units"]:
            if name in u.aliases:
                return u.name
        return None

    def unit_list(node, key, allow_groups=True):
        seq = node.get(key) or []
        if isinstance(seq, str):
            seq = _Seq([seq])
            seq.item_lines = [_line(node, key)]
        if not isinstance(seq, list):
            out.add(path, _line(node, key), f"{key!r} 应为单位列表。")
            return ()
        result = []
        lines = getattr(seq, "item_lines", [_line(node, key)] * len(seq))
        for i, name in enumerate(seq):
            line = lines[i] if i < len(lines) else _line(node, key)
            if not isinstance(name, str):
                out.add(path, line, f"{key!r} 中的 {name!r} 应为单位名称。")
                continue
            name = name.strip()
            if allow_groups and name in groups:
                result.extend(groups[name])
                continue
            found = canonical(name)
            if found is None:
                out.add(path, line, f"单位 {name!r} 不在单位名录中{_suggest_unit(name, list(names) + list(groups))}")
            else:
                result.append(found)
        return tuple(dict.fromkeys(result))

    no = doc.get("no")
    if not isinstance(no, int) or isinstance(no, bool) or not 1 <= no <= 99:
        out.add(path, _line(doc, "no"), f"no 应为工程序号（1–10），不能是 {no!r}。")
        no = 0
    lead = unit_list(doc, "lead_units", allow_groups=False)
    if not lead and "lead_units" in doc:
        out.add(path, _line(doc, "lead_units"), "至少要有一个牵头单位。")
    members = unit_list(doc, "units")
    served = set(lead) | set(members)

    def owners(node, key, default):
        if key not in node:
            return default
        found = unit_list(node, key)
        for name in found:
            if name not in served:
                out.add(path, _line(node, key),
                        f"单位 {name!r} 不是本工程的牵头或责任单位。请先把它加入本工程的 units。")
        return tuple(n for n in found if n in served) or default

    def items(key, allowed, required, what):
        seq = doc.get(key) or []
        if not isinstance(seq, list):
            out.add(path, _line(doc, key), f"{key!r} 应为列表。")
            return []
        result = []
        for i, node in enumerate(seq):
            if not isinstance(node, dict):
                out.add(path, seq.item_lines[i], f"{what}应为键值对。")
                continue
            _check_keys(node, allowed, required, path, out, what)
            result.append(node)
        return result

    indicators = []
    for node in items("indicators", INDICATOR_KEYS, INDICATOR_REQUIRED, "指标"):
        target = _number(node, "target", path, out)
        direction = node.get("direction", "higher")
        if direction not in DIRECTIONS:
            out.add(path, _line(node, "direction"),
                    f"direction 只能是 higher（越高越好）或 lower（越低越好），不能是 {direction!r}。")
        kind = node.get("kind", "level")
        if kind not in KINDS:
            out.add(path, _line(node, "kind"), f"kind 只能是 {KIND_NAMES}，不能是 {kind!r}。")
        year = node.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
            out.add(path, _line(node, "year"), f"year 应为目标年份，如 2027，不能是 {year!r}。")
            year = 0
        if kind == "plan_cumulative":
            if direction == "lower":
                out.add(path, _line(node, "kind"), "plan_cumulative（规划期累计）指标只能是 direction: higher。")
            if "plan" in node:
                out.add(path, _line(node, "plan"), "plan_cumulative 指标的序时进度按规划期已过月份计算，"
                        "不能再写 plan；请删去 plan，或改用 kind: cumulative。")
            if year and not base["plan_years"][0] <= year <= base["plan_years"][1]:
                out.add(path, _line(node, "year"), f"plan_cumulative 指标的目标年份应在规划年度 "
                        f"{base['plan_years'][0]}—{base['plan_years'][1]} 内。")
        annual, annual_by_year = _by_year(
            node, "annual", path, out, base["plan_years"],
            lambda v, line: _number_value(v, "annual", line, path, out))
        if annual is None and target is not None:
            span = base["plan_years"][1] - base["plan_years"][0] + 1
            annual = round(target / span, 4) \
                if kind in ("cumulative", "plan_cumulative") and year == base["plan_years"][1] else target
        plan, plan_by_year = _by_year(node, "plan", path, out, base["plan_years"],
                                      lambda v, line: _plan_value(v, line, path, out))
        indicators.append(Indicator(
            id=str(node.get("id", "")), name=_text(node, "name", path, out),
            measure=_text(node, "measure", path, out), target=target or 0.0, year=year,
            direction=direction, kind=kind, annual=annual or 0.0,
            units=owners(node, "units", lead), plan=plan or (),
            annual_by_year=tuple((y, v or 0.0) for y, v in annual_by_year),
            plan_by_year=plan_by_year, plan_start=base["plan_years"][0],
        ))
        _remember_id(node, path, out)

    tasks = []
    for node in items("tasks", TASK_KEYS, TASK_REQUIRED, "重点任务"):
        milestone, milestone_by_year = _by_year(
            node, "milestone", path, out, base["plan_years"],
            lambda v, line: _text_value(v, "milestone", line, path, out))
        due, due_by_year = _by_year(node, "due", path, out, base["plan_years"],
                                    lambda v, line: _date_value(v, "due", line, path, out))
        recurring = node.get("recurring", False)
        if not isinstance(recurring, bool):
            out.add(path, _line(node, "recurring"),
                    f"recurring 只能是 true（每年滚动的任务）或 false（一次性任务），不能是 {recurring!r}。")
            recurring = False
        tasks.append(Task(
            id=str(node.get("id", "")), name=_text(node, "name", path, out),
            milestone=milestone or "", due=due,
            units=owners(node, "units", lead), partners=unit_list(node, "partners"),
            milestone_by_year=milestone_by_year, due_by_year=due_by_year, recurring=recurring,
        ))
        _remember_id(node, path, out)

    majors = []
    for node in items("major_projects", MAJOR_KEYS, MAJOR_REQUIRED, "重大项目"):
        owner = owners(node, "owner", ())
        if "owner" in node and not owner:
            owner = ()
        annual_plan, annual_plan_by_year = _by_year(
            node, "annual_plan", path, out, base["plan_years"],
            lambda v, line: _number_value(v, "annual_plan", line, path, out))
        majors.append(MajorProject(
            id=str(node.get("id", "")), name=_text(node, "name", path, out),
            content=_text(node, "content", path, out), owner=owner[0] if owner else "",
            total_investment=_number(node, "total_investment", path, out),
            annual_plan=annual_plan,
            planned_start=_date(node, "planned_start", path, out),
            annual_plan_by_year=annual_plan_by_year,
        ))
        _remember_id(node, path, out)

    problems = []
    for node in items("problems", PROBLEM_KEYS, PROBLEM_REQUIRED, "问题"):
        problems.append(Problem(
            id=str(node.get("id", "")), description=_text(node, "description", path, out),
            raised=_date(node, "raised", path, out), units=owners(node, "units", lead),
            measures=_text(node, "measures", path, out), due=_date(node, "due", path, out),
        ))
        _remember_id(node, path, out)

    goal = _text(doc, "goal", path, out)
    return Project(
        no=no, name=_text(doc, "name", path, out), convener=_text(doc, "convener", path, out),
        lead_units=lead, units=tuple(u for u in members if u not in lead), goal=goal,
        indicators=tuple(indicators), tasks=tuple(tasks), major_projects=tuple(majors),
        problems=tuple(problems), file=str(path), short=_text(doc, "short", path, out),
    ), doc


def _remember_id(node, path, out):
    ids = out.__dict__.setdefault("ids", {})
    value = node.get("id")
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value).strip() == "":
        out.add(path, _line(node), "缺少 id，或 id 不是文字。")
        return
    value = str(value)
    if not re.fullmatch(r"[0-9A-Za-z_.-]+", value):
        out.add(path, _line(node, "id"), f"id {value!r} 只能用字母、数字、- _ . 。")
    if value in ids:
        prev_path, prev_line = ids[value]
        out.add(path, _line(node, "id"), f"id {value!r} 重复（{prev_path.name}:{prev_line} 已使用）。")
    else:
        ids[value] = (path, _line(node, "id"))


def _check_projects(loaded, base, out):
    seen = {}
    for i, (project, doc) in enumerate(list(loaded)):
        if project.no in seen and project.no:
            out.add(Path(project.file), _line(doc, "no"),
                    f"工程序号 {project.no} 重复（{Path(seen[project.no]).name} 已使用）。")
        seen[project.no] = project.file
        if "major_projects" in doc and "projects" not in base["tables"] and project.major_projects:
            out.add(Path(project.file), _line(doc, "major_projects"),
                    "本县未使用重大项目进度表（county.yaml 的 tables 没有 projects），不能填写 major_projects。")
        if "problems" in doc and "problems" not in base["tables"] and project.problems:
            out.add(Path(project.file), _line(doc, "problems"),
                    "本县未使用问题销号进度表（county.yaml 的 tables 没有 problems）。")
        if project.indicators and "indicators" not in base["tables"]:
            out.add(Path(project.file), _line(doc, "indicators"),
                    "本县未使用主要指标进度表（county.yaml 的 tables 没有 indicators）。")
        if project.tasks and "tasks" not in base["tables"]:
            out.add(Path(project.file), _line(doc, "tasks"),
                    "本县未使用重点任务进度表（county.yaml 的 tables 没有 tasks）。")
        loaded[i] = project
    base.pop("_names", None)


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

    def gap(project, what, item, key, label, by_year, value, source):
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


def is_placeholder(text) -> bool:
    """A contact written as a reminder rather than a value (待办公室确认, 待定, TBD)."""
    return bool(text) and bool(PLACEHOLDER.match(str(text)))


def short_name(name: str, limit: int = 8) -> str:
    """A chart label from a project's full name: quoted slogans and the 工程 suffix dropped.

    扩大有效投资“千项万亿”工程 → 扩大有效投资; 世界一流强港和交通强省建设工程 → 世界一流强港和交通…
    """
    text = re.sub(r"“[^”]*”", "", name)
    text = re.sub(r"(建设)?工程$", "", text).strip("和及、 ") or name
    return text if len(text) <= limit else text[:limit - 1] + "…"


def spec_as_json(spec: Spec) -> dict:
    """The loaded, normalised spec as plain JSON data."""
    def date(d):
        return d.isoformat() if d else None

    def years(by_year, convert=lambda v: v):
        return {str(y): convert(v) for y, v in by_year}

    return {
        "county": spec.county,
        "code": spec.code,
        "years_in_use": list(spec.years_in_use),
        "warnings": [line for year in spec.years_in_use for line in spec.year_warnings(year)],
        "issuer": spec.issuer,
        "plan_years": list(spec.plan_years),
        "tables": list(spec.tables),
        "deadline_day": spec.deadline_day,
        "lights": {"yellow": spec.yellow},
        "resubmit_days": spec.resubmit_days,
        "units": [{"name": u.name, "code": u.code, "aliases": list(u.aliases), "contact": u.contact,
                   "phone": u.phone, "email": u.email} for u in spec.units],
        "groups": {k: list(v) for k, v in spec.groups.items()},
        "projects": [{
            "no": p.no, "name": p.name, "convener": p.convener,
            "lead_units": list(p.lead_units), "units": list(p.units), "goal": p.goal,
            "indicators": [{
                "id": i.id, "name": i.name, "measure": i.measure, "target": i.target,
                "year": i.year, "direction": i.direction, "kind": i.kind, "annual": i.annual,
                "annual_by_year": years(i.annual_by_year),
                "plan": {str(m): v for m, v in i.plan},
                "plan_by_year": years(i.plan_by_year, lambda plan: {str(m): v for m, v in plan}),
                "units": list(i.units),
            } for i in p.indicators],
            "tasks": [{"id": t.id, "name": t.name, "milestone": t.milestone,
                       "milestone_by_year": years(t.milestone_by_year), "due": date(t.due),
                       "due_by_year": years(t.due_by_year, date), "recurring": t.recurring,
                       "units": list(t.units), "partners": list(t.partners)} for t in p.tasks],
            "major_projects": [{"id": m.id, "name": m.name, "content": m.content, "owner": m.owner,
                                "total_investment": m.total_investment, "annual_plan": m.annual_plan,
                                "annual_plan_by_year": years(m.annual_plan_by_year),
                                "planned_start": date(m.planned_start)} for m in p.major_projects],
            "problems": [{"id": q.id, "description": q.description, "raised": date(q.raised),
                          "units": list(q.units), "measures": q.measures, "due": date(q.due)}
                         for q in p.problems],
        } for p in spec.projects],
    }
