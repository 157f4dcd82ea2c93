"""The progress tables (四张进度表): one definition each.

A column says what it holds (type), who fills it (mode) and what rules apply.
Templates, checks, feedback and the master all read these definitions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

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
)

TABLES = {t.key: t for t in (INDICATORS, TASKS, PROJECTS, PROBLEMS)}


def tables_of(spec) -> list:
    return [TABLES[key] for key in spec.tables]


# -- computations shared by templates, checks and the master -----------------------

def indicator_rate(actual, annual, direction):
    """完成率 as a fraction, or None when it cannot be computed."""
    if actual is None or annual in (None, 0):
        return None
    if direction == "lower":
        if actual <= 0:
            return 1.0
        return annual / actual
    return actual / annual


def indicator_row_rate(values, direction, kind):
    """完成率 of an indicator row: a plan_cumulative indicator adds the earlier plan years'
    values to this year's and measures the total against the plan target (规划目标)."""
    actual = values.get("actual")
    actual = actual if isinstance(actual, (int, float)) and not isinstance(actual, bool) else None
    if kind == "plan_cumulative":
        earlier = values.get("earlier")
        earlier = earlier if isinstance(earlier, (int, float)) else 0.0
        return indicator_rate(None if actual is None else earlier + actual, values.get("target"), direction)
    return indicator_rate(actual, values.get("annual"), direction)


def light(rate, schedule, yellow_points):
    """绿 on or ahead of schedule, 黄 up to ``yellow_points`` behind, 红 further behind."""
    if rate is None or schedule is None:
        return ""
    gap = (rate - schedule) * 100
    if gap >= -1e-9:
        return "绿"
    if gap >= -yellow_points - 1e-9:
        return "黄"
    return "红"


def investment_rate(invested, plan):
    if invested is None or not plan:
        return None
    return invested / plan
