"""The spec's objects as declared field tables: key, parser, required, default, per-year, label.

One table per object; ``fields.validate`` walks a mapping against it.  The labels are the
column headers of 规格.xlsx and the words of its 说明 sheet, so a new key added here is
checked, exported and explained without touching the validator.
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

from .fields import (INVALID, Context, Field, Items, as_is, choice, date, integer, mapping, month_plan, number,
                     suggest, text, text_list, whole)

TABLE_KEYS = ("indicators", "tasks", "projects", "problems")
TABLE_TITLES = {"indicators": "主要指标进度表", "tasks": "重点任务进度表", "projects": "重大项目进度表",
                "problems": "问题销号进度表"}
ITEM_KEYS = {"indicators": "indicators", "tasks": "tasks", "projects": "major_projects",
             "problems": "problems"}       # progress table → the project key holding its rows

DIRECTIONS = ("higher", "lower")
KINDS = ("cumulative", "level", "plan_cumulative")
DIRECTION_CHOICES = (("higher", "越高越好"), ("lower", "越低越好"))
KIND_CHOICES = (("cumulative", "本年累计"), ("level", "水平值"),
                ("plan_cumulative", "规划期累计：单位报本年累计，按规划期合计"))
RECURRING_CHOICES = ((True, "每年滚动的任务"), (False, "一次性任务"))


def check_county_code(value: Any, f: Field, ctx: Context) -> Any:
    if value and not re.fullmatch(r"[a-z][a-z0-9_-]*", value):
        ctx.out.add("P022", ctx.where, name="县代码 code", value=value, rule="只能用小写英文字母、数字、- 和 _。")
        return INVALID
    return value


def year_span(value: Any, f: Field, ctx: Context) -> Any:
    """[first year, last year] → (first, last)."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(y, int) and not isinstance(y, bool) for y in value) or value[0] > value[1]):
        ctx.out.add("P040", ctx.where)
        return INVALID
    return tuple(value)


def table_list(value: Any, f: Field, ctx: Context) -> Any:
    """The progress tables in use, in their standard order."""
    choices = ", ".join(TABLE_KEYS)
    if not isinstance(value, list) or not value:
        ctx.out.add("P041", ctx.where, choices=choices)
        return INVALID
    for i, name in enumerate(value):
        if name not in TABLE_KEYS:
            where = value.at(i) if isinstance(value, Items) else ctx.where
            ctx.out.add("P042", where, value=name, hint=suggest(str(name), TABLE_KEYS), choices=choices)
    if len(set(map(str, value))) != len(value):
        ctx.out.add("P043", ctx.where)
    return tuple(t for t in TABLE_KEYS if t in value)


_ADDRESS_PART = r"[^@\s<>,;:\"'()\[\]\\]+"


def check_email(value: Any, f: Field, ctx: Context) -> Any:
    """One plain address: nothing that would make a header an address list."""
    if value and not re.fullmatch(rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}", value):
        ctx.out.add("P022", ctx.where, name="邮箱地址", value=value, rule="格式不对（应只有一个地址，如 fgj@example.cn）。")
        return INVALID
    return value


def _controls(value: str, categories=("Cc", "Zl", "Zp")) -> bool:
    return any(unicodedata.category(ch) in categories for ch in value)


def single_line(value: Any, f: Field, ctx: Context) -> Any:
    """A value that goes into mail headers and file properties: one line, no control characters."""
    if isinstance(value, str) and _controls(value):
        ctx.out.add("P073", ctx.where, name=ctx.name, value=value)
        return INVALID
    return value


UNIT_NAME_MAX = 40
# address syntax (a name goes into To:), path separators and what Windows refuses in a file name
NAME_FORBIDDEN = set('<>@,;"\'/\\:*?|')


def check_unit_name(value: Any, f: Field, ctx: Context) -> Any:
    """A unit name becomes a file name and a mail display name: short, one line, no address syntax."""
    names = value if isinstance(value, list) else [value]
    for name in names:
        if not isinstance(name, str) or not name:
            continue
        if len(name) > UNIT_NAME_MAX:
            ctx.out.add("P070", ctx.where, name=name, length=len(name), limit=UNIT_NAME_MAX)
            return INVALID
        if _controls(name, ("Cc", "Cf", "Zl", "Zp")):
            ctx.out.add("P071", ctx.where, name=name)
            return INVALID
        bad = "".join(sorted({ch for ch in name if ch in NAME_FORBIDDEN}))
        if bad:
            ctx.out.add("P072", ctx.where, name=name, chars=bad)
            return INVALID
    return value


def check_unit_code(value: Any, f: Field, ctx: Context) -> Any:
    if value and not re.fullmatch(r"[0-9A-Za-z]{1,8}", value):
        ctx.out.add("P022", ctx.where, name="单位代码", value=value, rule="只能用 1–8 个英文字母或数字。")
        return INVALID
    return value


LIGHTS = (
    Field("yellow", number, "黄灯阈值（百分点）", default=10.0, bounds=(0, 100), meaning="（百分点）",
          help="完成率落后序时进度不超过这么多百分点亮黄灯，更多亮红灯；默认 10。"),
)
BLANK_ROWS = (
    Field("projects", integer, "重大项目空白行数", default=3, bounds=(0, 50),
          help="模板中供单位新增重大项目的空白行数，默认 3。"),
    Field("problems", integer, "问题空白行数", default=3, bounds=(0, 50),
          help="模板中供单位新增问题的空白行数，默认 3。"),
)
LIMITS = (
    Field("max_file_mb", number, "报回文件大小上限（MB）", default=50.0, bounds=(0, 1024), meaning="（单位 MB）",
          help="超过这个大小的报回文件拒收，默认 50。"),
    Field("max_unpacked_mb", number, "解压后大小上限（MB）", default=200.0, bounds=(0, 4096), meaning="（单位 MB）",
          help="解压后超过这个大小的报回文件拒收（防压缩炸弹），默认 200。"),
    Field("max_read_seconds", number, "单个文件读取时限（秒）", default=60.0, bounds=(0, 3600), meaning="（单位 秒）",
          help="读取和检查一个报回文件超过这么多秒即放弃该文件（F014），默认 60。"),
    Field("max_memory_mb", number, "单个文件读取内存上限（MB）", default=1024.0, bounds=(0, 65536),
          meaning="（单位 MB）", help="读取一个报回文件的进程最多用这么多内存（F014；Windows 上不限），默认 1024。"),
)
OFFICE = (
    Field("host_unit", text, "办公室所在单位", default="", help="总专班办公室设在哪个单位（须在单位名录中）。"),
    Field("contact", text, "办公室联系人", default="", checks=(single_line,), help="印在模板填报说明上。"),
    Field("phone", text, "办公室电话", default="", checks=(single_line,), help="印在模板填报说明上。"),
    Field("email", text, "办公室邮箱", default="", checks=(single_line,),
          help="印在模板填报说明上，也是报回邮件的收件地址。"),
)

COUNTY = (
    Field("county", text, "县名", required=True, default="", checks=(single_line,), help="如 嵊泗县。"),
    Field("code", text, "县代码", required=True, default="", checks=(check_county_code,),
          help="小写英文字母、数字、- 和 _，如 shengsi：文件夹和台账用它区分各县。"),
    Field("issuer", text, "发文单位", default="", checks=(single_line,), help="模板和简报的落款；不填为“某县“十项重大工程”总专班办公室”。"),
    Field("office", mapping, "办公室", table=OFFICE, hint=""),
    Field("plan_years", year_span, "规划年度", default=(2023, 2027),
          help="规划的起止年份，如 2023 和 2027。"),
    Field("tables", table_list, "在用进度表", required=True, default=(),
          help="本县使用哪几张进度表。"),
    Field("deadline_day", integer, "报送截止日", default=5, bounds=(1, 28), meaning="（次月几日前报送）",
          help="每月报送截止日：次月几日前报送（1–28）。"),
    Field("lights", mapping, "亮灯", table=LIGHTS, hint="，如 {yellow: 10}"),
    Field("blank_rows", mapping, "空白行", table=BLANK_ROWS),
    Field("units", as_is, "单位名录", required=True, default=()),
    Field("groups", as_is, "分组", default=None),
    Field("limits", mapping, "安全上限", table=LIMITS, hint="，如 {max_file_mb: 50, max_unpacked_mb: 200}"),
    Field("resubmit_days", integer, "退回重报工作日", default=3, bounds=(1, 30),
          meaning="（退回后几个工作日内重新报送）", help="退回后几个工作日内重新报送（1–30），默认 3。"),
)


UNIT_NAME_CHECKS: tuple = (check_unit_name,)
"""Checks of a unit's name (address syntax, control characters, names that collide as file
names …): each is ``check(name, field, ctx)`` returning INVALID after reporting."""

UNIT = (
    Field("name", text, "单位名称", required=True, default="", checks=UNIT_NAME_CHECKS,
          help="单位的规范名称：模板文件名、汇总表都用它。"),
    Field("aliases", text_list, "别名", default=[], checks=UNIT_NAME_CHECKS,
          help="同一单位的其他写法，用顿号“、”分隔，如 县人社保局。"),
    Field("contact", text, "联系人", default="", checks=(single_line,)),
    Field("phone", text, "电话", default="", checks=(single_line,)),
    Field("email", text, "邮箱", default="", checks=(check_email,),
          help="模板和退回意见发到这里；报回邮件的发件人也按它核对。"),
    Field("code", text, "单位代码", default="", checks=(check_unit_code,),
          help="1–8 个字母或数字，问题编号用它；不填时由单位名称生成。"),
)

PROJECT = (
    Field("no", whole, "序号", required=True, default=0, bounds=(1, 99), meaning="工程序号（1–10）"),
    Field("name", text, "工程名称", required=True, default=""),
    Field("short", text, "简称", default="", help="图表用的简短名称；不填时由工程名称生成。"),
    Field("convener", text, "召集人", required=True, default=""),
    Field("lead_units", as_is, "牵头单位", required=True, help="用顿号“、”分隔；不能写组名。"),
    Field("units", as_is, "责任单位", required=True, help="用顿号“、”分隔；可写“各乡镇”等组名。"),
    Field("goal", text, "目标任务", required=True, default="", help="文件中目标任务的原文。"),
    Field("indicators", as_is, "主要指标"),
    Field("tasks", as_is, "重点任务"),
    Field("major_projects", as_is, "重大项目"),
    Field("problems", as_is, "问题"),
)

INDICATOR = (
    Field("id", as_is, "编号", required=True, help="如 01-I01：全县唯一，定下后不要改（行标识靠它）。"),
    Field("name", text, "指标名称", required=True, default=""),
    Field("measure", text, "计量单位", required=True, default=""),
    Field("target", number, "目标值", required=True),
    Field("year", whole, "目标年份", required=True, default=0, bounds=(2000, 2100), meaning="目标年份，如 2027"),
    Field("direction", choice, "方向", required=True, default="higher", choices=DIRECTION_CHOICES),
    Field("kind", choice, "类型", default="level", choices=KIND_CHOICES,
          help="本年累计：单位报本年累计；水平值：报当前水平；规划期累计：报本年累计，按规划期合计。"),
    Field("annual", number, "年度目标", per_year=True,
          help="不填时：本年累计类且目标年份为规划末年的，取目标值÷规划年数，否则取目标值。"),
    Field("plan", month_plan, "月度计划", per_year=True),
    Field("units", as_is, "责任单位", help="不填为本工程的牵头单位；须是本工程的牵头或责任单位。"),
)

TASK = (
    Field("id", as_is, "编号", required=True, help="如 01-T01：全县唯一，定下后不要改。"),
    Field("name", text, "任务名称", required=True, default=""),
    Field("milestone", text, "节点目标", per_year=True, default=""),
    Field("due", date, "计划完成时间", per_year=True),
    Field("units", as_is, "责任单位", help="不填为本工程的牵头单位。"),
    Field("partners", as_is, "配合单位"),
    Field("recurring", choice, "每年滚动", default=False, choices=RECURRING_CHOICES,
          help="是：每年 1 月从“未启动”重新开始；否：一次性任务。"),
)

MAJOR = (
    Field("id", as_is, "编号", required=True, help="如 01-P01：全县唯一，定下后不要改。"),
    Field("name", text, "项目名称", required=True, default=""),
    Field("content", text, "建设内容", default=""),
    Field("owner", as_is, "业主单位", required=True),
    Field("total_investment", number, "总投资（万元）", required=True),
    Field("annual_plan", number, "年度计划投资（万元）", required=True, per_year=True),
    Field("planned_start", date, "计划开工时间"),
)

PROBLEM = (
    Field("id", as_is, "编号", required=True, help="如 01-Q01：全县唯一，定下后不要改。"),
    Field("description", text, "问题描述", required=True, default=""),
    Field("raised", date, "提出时间"),
    Field("units", as_is, "责任单位", help="不填为本工程的牵头单位。"),
    Field("measures", text, "解决措施", default=""),
    Field("due", date, "计划销号时间"),
)

ITEM_TABLES = {"indicators": (INDICATOR, "指标"), "tasks": (TASK, "重点任务"),
               "major_projects": (MAJOR, "重大项目"), "problems": (PROBLEM, "问题")}
