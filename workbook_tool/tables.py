"""The progress tables (四张进度表): one definition each.

A column says what it holds (type), who fills it (mode) and what rules apply.
Templates, checks, feedback and the master all read these definitions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from .spec import Spec


# column modes
LOCKED = "locked"          # written from the spec, never edited by the unit
INPUT = "input"            # filled by the unit
NEW = "new"                # locked on listed rows, filled by the unit on its own added rows
FORMULA = "formula"        # computed; recomputed in Python at consolidation

TASK_STATES = ("未启动", "正常推进", "滞后", "已完成")
BUILD_STATES = ("前期", "在建", "竣工")
PROBLEM_STATES = ("未销号", "已销号", "延期")
LIGHTS = ("绿", "黄", "红")


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    type: str = "text"        # text | number | date | enum | formula
    mode: str = LOCKED
    width: float = 12
    choices: tuple = ()
    max_length: int = 500
    required: bool = False     # required on every row that is reported
    num_format: str = ""

    @property
    def is_input(self) -> bool:
        return self.mode in (INPUT, NEW)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    sheet: str
    columns: tuple
    addable: bool = False      # units may add rows in pre-provisioned blank rows
    required_new: tuple = field(default=())  # required on an added row that is used
    # -- what this table does besides its columns: a new table defines these here, nowhere else --
    compute: Optional[Callable] = None         # (row, spec): fill the row's formula values (never trust a return)
    formulas: Optional[Callable] = None        # (col, row, ref) → (formula text, cached value) in a template
    cross_checks: Optional[Callable] = None    # (row, period, at) → findings within one row
    history_checks: Optional[Callable] = None  # (row, old row, growth, at) → findings against the last state
    overdue: tuple = ()                        # (date column, finished state): rows past due shown red
    finished: str = ""                         # the state that ends a row (已完成, 已销号)
    leaves_when_finished: bool = False         # a finished row leaves the next templates (a closed problem)
    year_to_date: tuple = ()                   # values that restart each plan year (本年累计 …)
    reopens_each_year: tuple = ()              # values a unit-added row gives again each year (年度计划投资)
    lagging: str = ""                          # a state value shown red (滞后)
    deleted_code: str = "S003"                 # the rule a template row deleted by the unit breaks

    def column(self, key: str) -> Column:
        for col in self.columns:
            if col.key == key:
                return col
        raise KeyError(key)

    def index(self, key: str) -> int:
        for i, col in enumerate(self.columns):
            if col.key == key:
                return i
        raise KeyError(key)

    @property
    def keys(self) -> tuple:
        return tuple(c.key for c in self.columns)


def _c(key, header, type="text", mode=LOCKED, width=12, **kw):
    return Column(key, header, type, mode, width, **kw)


INDICATORS = Table(
    "indicators", "主要指标进度表", "主要指标",
    (
        _c("project", "所属工程", width=18),
        _c("name", "指标名称", width=26),
        _c("measure", "计量单位", width=9),
        _c("target", "规划目标", "number", width=10),
        _c("year", "目标年份", "number", width=8, num_format="0"),
        _c("annual", "年度目标", "number", width=10),
        _c("actual", "本年累计完成", "number", INPUT, width=12, required=True),
        # plan_cumulative indicators only: earlier plan years' accepted year-end values (from the
        # ledger); 完成率 is then (往年累计完成 + 本年累计完成) ÷ 规划目标
        _c("earlier", "往年累计完成", "number", width=11),
        _c("rate", "完成率", "formula", FORMULA, width=9),
        _c("schedule", "序时进度", "formula", FORMULA, width=9),
        _c("light", "亮灯", "formula", FORMULA, width=6),
        _c("units", "责任单位", width=16),
        _c("note", "情况说明", "text", INPUT, width=30, max_length=500),
    ),
    compute=lambda row, spec: _indicator_compute(row, spec),
    formulas=lambda col, row, ref: _indicator_formula(col, row, ref),
    cross_checks=lambda row, period, at: _indicator_cross(row, period, at),
    history_checks=lambda row, old, growth, at: _cumulative_history(row, old, growth, at, "actual", ""),
    year_to_date=("actual",),
)

TASKS = Table(
    "tasks", "重点任务进度表", "重点任务",
    (
        _c("project", "所属工程", width=18),
        _c("name", "重点任务", width=30),
        _c("units", "责任单位", width=14),
        _c("partners", "配合单位", width=14),
        _c("milestone", "节点目标", width=24),
        _c("due", "计划完成时间", "date", width=12),
        _c("progress", "进展情况", "text", INPUT, width=30, max_length=500, required=True),
        _c("state", "状态", "enum", INPUT, width=10, choices=TASK_STATES, required=True),
        _c("done", "实际完成时间", "date", INPUT, width=12),
        _c("issues", "存在问题", "text", INPUT, width=24, max_length=500),
    ),
    cross_checks=lambda row, period, at: _task_cross(row, period, at),
    overdue=("due", "已完成"),
    finished="已完成",
    lagging="滞后",
)

PROJECTS = Table(
    "projects", "重大项目进度表", "重大项目",
    (
        _c("project", "所属工程", width=18),
        _c("name", "项目名称", "text", NEW, width=24, max_length=100),
        _c("content", "建设内容", "text", NEW, width=26, max_length=300),
        _c("owner", "业主单位", width=14),
        _c("total", "总投资(万元)", "number", NEW, width=11),
        _c("plan", "年度计划投资(万元)", "number", NEW, width=11),
        _c("invested", "本年累计完成投资(万元)", "number", INPUT, width=12, required=True),
        _c("rate", "年度投资完成率", "formula", FORMULA, width=10),
        _c("state", "建设状态", "enum", INPUT, width=9, choices=BUILD_STATES, required=True),
        _c("planned_start", "计划开工时间", "date", NEW, width=12),
        _c("started", "实际开工时间", "date", INPUT, width=12),
        _c("image", "形象进度", "text", INPUT, width=24, max_length=300),
        _c("issues", "存在问题", "text", INPUT, width=22, max_length=500),
    ),
    addable=True,
    required_new=("name", "total", "plan"),
    compute=lambda row, spec: _project_compute(row),
    formulas=lambda col, row, ref: _project_formula(col, row, ref),
    cross_checks=lambda row, period, at: _project_cross(row, period, at),
    history_checks=lambda row, old, growth, at: _cumulative_history(row, old, growth, at, "invested", "万元"),
    year_to_date=("invested",),
    reopens_each_year=("plan",),
)

PROBLEMS = Table(
    "problems", "问题销号进度表", "问题销号",
    (
        _c("project", "所属工程", width=18),
        _c("code", "问题编号", width=14),
        _c("description", "问题描述", "text", NEW, width=30, max_length=300),
        _c("raised", "提出时间", "date", NEW, width=12),
        _c("units", "责任单位", width=14),
        _c("measures", "解决措施", "text", NEW, width=26, max_length=300),
        _c("due", "计划销号时间", "date", NEW, width=12),
        _c("state", "销号状态", "enum", INPUT, width=10, choices=PROBLEM_STATES, required=True),
        _c("closed", "实际销号时间", "date", INPUT, width=12),
        _c("progress", "进展说明", "text", INPUT, width=26, max_length=500),
    ),
    addable=True,
    required_new=("description", "raised", "due"),
    cross_checks=lambda row, period, at: _problem_cross(row, period, at),
    overdue=("due", "已销号"),
    finished="已销号",
    leaves_when_finished=True,
    deleted_code="X007",
)

TABLES = {t.key: t for t in (INDICATORS, TASKS, PROJECTS, PROBLEMS)}


def tables_of(spec: Spec) -> list[Table]:
    return [TABLES[key] for key in spec.tables]


# -- computations shared by templates, checks and the master -----------------------

def indicator_rate(actual: Optional[float], annual: Optional[float], direction: Optional[str]) -> Optional[float]:
    """完成率 as a fraction, or None when it cannot be computed."""
    if actual is None or annual is None or annual == 0:
        return None
    if direction == "lower":
        if actual <= 0:
            return 1.0
        return annual / actual
    return actual / annual


def indicator_row_rate(values: dict, direction: Optional[str], kind: Optional[str]) -> Optional[float]:
    """完成率 of an indicator row: a plan_cumulative indicator adds the earlier plan years'
    values to this year's and measures the total against the plan target (规划目标)."""
    actual = values.get("actual")
    actual = actual if isinstance(actual, (int, float)) and not isinstance(actual, bool) else None
    if kind == "plan_cumulative":
        earlier = values.get("earlier")
        earlier = earlier if isinstance(earlier, (int, float)) else 0.0
        return indicator_rate(None if actual is None else earlier + actual, values.get("target"), direction)
    return indicator_rate(actual, values.get("annual"), direction)


def light(rate: Optional[float], schedule: Optional[float], yellow_points: float) -> str:
    """绿 on or ahead of schedule, 黄 up to ``yellow_points`` behind, 红 further behind."""
    if rate is None or schedule is None:
        return ""
    gap = (rate - schedule) * 100
    if gap >= -1e-9:
        return "绿"
    if gap >= -yellow_points - 1e-9:
        return "黄"
    return "红"


def investment_rate(invested: Optional[float], plan: Optional[float]) -> Optional[float]:
    if invested is None or not plan:
        return None
    return invested / plan


# -- per-table behaviour (attached to the definitions above) -------------------------------------

def _indicator_compute(row, spec) -> None:
    v = row.values
    rate = indicator_row_rate(v, row.extra.get("direction"), row.extra.get("kind"))
    schedule = row.extra.get("schedule", 1.0)
    v["rate"] = rate
    v["schedule"] = schedule
    v["light"] = light(rate, schedule, spec.yellow) if rate is not None else ""


def _project_compute(row) -> None:
    v = row.values
    v["rate"] = investment_rate(v.get("invested"), v.get("plan"))


def _guarded(text: str) -> str:
    """Text typed into a number cell (or a bad plan) leaves the cell empty, never #VALUE!."""
    return f'=IFERROR({text},"")'


def _indicator_formula(col, row, ref) -> tuple:
    rate = indicator_row_rate(row.values, row.extra.get("direction"), row.extra.get("kind"))
    schedule = row.extra.get("schedule", 1.0)
    if col.key == "rate":
        a, t = ref("actual"), ref("annual")
        if row.extra.get("kind") == "plan_cumulative":
            e, g = ref("earlier"), ref("target")
            text = f'IF(AND(ISNUMBER({a}),ISNUMBER({g})),IF({g}=0,"",(N({e})+{a})/{g}),"")'
        elif row.extra.get("direction") == "lower":
            text = f'IF(AND(ISNUMBER({a}),ISNUMBER({t})),IF({t}=0,"",IF({a}<=0,1,{t}/{a})),"")'
        else:
            text = f'IF(AND(ISNUMBER({a}),ISNUMBER({t})),IF({t}=0,"",{a}/{t}),"")'
        return _guarded(text), "" if rate is None else rate
    if col.key == "schedule":
        return f"={schedule:.6g}", schedule
    if col.key == "light":
        y = row.extra.get("yellow", 10) / 100
        rt, sc = ref("rate"), ref("schedule")
        text = (f'IF(NOT(ISNUMBER({rt})),"",IF({rt}>={sc}-0.0000001,"绿",'
                f'IF({rt}>={sc}-{y:.6g}-0.0000001,"黄","红")))')
        return _guarded(text), light(rate, schedule, row.extra.get("yellow", 10))
    raise KeyError(col.key)


def _project_formula(col, row, ref) -> tuple:
    if col.key != "rate":
        raise KeyError(col.key)
    inv, plan = row.values.get("invested"), row.values.get("plan")
    rate = investment_rate(inv if isinstance(inv, (int, float)) else None,
                           plan if isinstance(plan, (int, float)) else None)
    i, p = ref("invested"), ref("plan")
    return _guarded(f'IF(AND(ISNUMBER({i}),ISNUMBER({p})),IF({p}=0,"",{i}/{p}),"")'), "" if rate is None else rate


def _indicator_cross(row, period, at):
    v = row.values
    if v.get("light") in ("黄", "红") and not v.get("note"):
        yield at("note", code="X006", seen=v["light"])


def _task_cross(row, period, at):
    v, end = row.values, period.end.isoformat()
    if v.get("state") == "已完成" and not v.get("done"):
        yield at("done", code="X001")
    if v.get("done") and v["done"] > end:
        yield at("done", code="X008", seen=v["done"], expected=end)


def _problem_cross(row, period, at):
    v, end = row.values, period.end.isoformat()
    if v.get("state") == "已销号" and (not v.get("closed") or v["closed"] > end):
        yield at("closed", code="X002", seen=v.get("closed") or "", expected=end)
    elif v.get("closed") and v["closed"] > end:
        yield at("closed", code="X008", seen=v["closed"], expected=end)
    if v.get("raised") and v["raised"] > end:
        yield at("raised", code="X008", seen=v["raised"], expected=end)


def _project_cross(row, period, at):
    v, end = row.values, period.end.isoformat()
    invested, total, plan = v.get("invested"), v.get("total"), v.get("plan")
    if invested is not None and total and invested > total + 1e-9:
        yield at("invested", code="X003", seen=f"{invested:g}", expected=f"{total:g}")
    elif invested is not None and plan and invested > 3 * plan:
        yield at("invested", code="X005", seen=f"{invested:g}",
                 detail=f"本年累计完成投资 {invested:g} 万元是年度计划 {plan:g} 万元的 {invested / plan:.1f} 倍。")
    if v.get("state") in ("在建", "竣工") and not v.get("started"):
        yield at("started", code="X009", seen=v["state"])
    if v.get("started") and v["started"] > end:
        yield at("started", code="X008", seen=v["started"], expected=end)


def _cumulative_history(row, old_row, growth, at, key, measure):
    """A year-to-date value may not go down, and a jump beyond what time explains is a warning."""
    if key == "actual" and row.extra.get("kind") != "cumulative":
        return
    value, before = row.values.get(key), old_row.values.get(key)
    if not isinstance(before, (int, float)) or value is None:
        return
    total = row.values.get("total")
    if value < before - 1e-9:
        yield at(key, code="X004", seen=f"{value:g}", expected=f"{before:g}")
    elif before > 0 and value > growth * before and not (total and value > total):
        what = "本年累计完成投资" if key == "invested" else "累计值"
        yield at(key, code="X005", seen=f"{value:g}",
                 detail=f"{what}从上期的 {before:g}{measure} 跳到 {value:g}{measure}，远超序时进度的增长。")
