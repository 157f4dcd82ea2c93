"""Spec problems as data: the catalogue of codes, where a problem is, and the error that carries them.

Like the findings of returns (findings.py), a spec problem is created where it is found as
(code, location, params) and rendered only at the edge as ``file:line: message`` (YAML) or
``file sheet!cell: message`` (规格.xlsx).  Tests assert codes, not wording.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Iterable, Union

from ..desk import UNKNOWN_ENCODING


@dataclass(frozen=True)
class Location:
    """Where a value of a spec is: a YAML file and line, or a workbook sheet and cell."""

    file: str                 # as shown to the office, e.g. "shengsi/projects/01.yaml"
    line: int = 0             # YAML line (1-based); 0 with no sheet: the file as a whole
    sheet: str = ""           # workbook sheet
    cell: str = ""            # workbook cell, e.g. "D12" (or a row number "12")

    def __str__(self) -> str:
        if self.sheet:
            return f"{self.file} {self.sheet}!{self.cell}" if self.cell else f"{self.file} {self.sheet}"
        return f"{self.file}:{self.line}" if self.line else self.file

    def brief(self) -> str:
        """The place in a few characters, to name an earlier entry: ``01.yaml:8`` or ``单位!A5``."""
        if self.sheet:
            return f"{self.sheet}!{self.cell}" if self.cell else self.sheet
        return f"{PurePath(self.file).name}:{self.line}"

    @property
    def in_workbook(self) -> bool:
        return bool(self.sheet)


@dataclass(frozen=True)
class ProblemType:
    code: str
    title: str
    template: str


_CATALOGUE = [
    # -- files -------------------------------------------------------------------------------
    ProblemType("P001", "找不到规格", "{detail}"),
    ProblemType("P002", "文件编码无法识别", UNKNOWN_ENCODING),
    ProblemType("P003", "YAML 格式错误", "YAML 格式错误：{detail}"),
    ProblemType("P004", "文件内容不是键值对", "文件内容应为键值对（mapping）。"),
    ProblemType("P005", "没有工程", "没有工程文件：请在 projects/ 下为每项工程建一个 .yaml 文件。"),
    ProblemType("P006", "工作簿无法读取", "无法作为工作簿读取（{detail}）。请用 Excel 或 WPS 打开后另存为 .xlsx。"),
    ProblemType("P007", "YAML 与规格.xlsx 并存", "规格文件夹里同时有 county.yaml 和 规格.xlsx，不知道以哪个为准。"
                                              "请只保留一种：改用 规格.xlsx 时把 county.yaml 和 projects/ 移出文件夹。"),
    # -- keys, columns and value types ----------------------------------------------------------
    ProblemType("P010", "未知的键", "{what}中有未知的键 {key!r}{hint}"),
    ProblemType("P011", "缺少必填键", "{what}缺少必填键 {key!r}"),
    ProblemType("P012", "不是文字", "{name} 应为文字。"),
    ProblemType("P013", "不是数字", "{name} 应为数字，不能是 {value!r}。"),
    ProblemType("P014", "日期无法识别", "{name} 应为日期 YYYY-MM-DD，不能是 {value!r}。"),
    ProblemType("P015", "不是文字列表", "{name} 应为文字列表。"),
    ProblemType("P016", "不是列表", "{name} 应为{what}列表。"),
    ProblemType("P017", "不是键值对", "{what}应为键值对{hint}。"),
    ProblemType("P018", "不在可选值中", "{name} 只能是 {choices}，不能是 {value!r}。"),
    ProblemType("P019", "整数超出范围", "{name} 应为 {low} 到 {high} 之间的整数{meaning}。"),
    ProblemType("P020", "数值超出范围", "{name} 应在 {low} 到 {high} 之间{meaning}。"),
    ProblemType("P021", "不是所需的整数", "{name} 应为{meaning}，不能是 {value!r}。"),
    ProblemType("P022", "格式不对", "{name} {value!r} {rule}"),
    ProblemType("P023", "缺少必填列", "缺少必填列「{column}」：请在第 1 行加上这一列（可用 export-spec 导出的表头）。"),
    ProblemType("P024", "未知的列", "未知的列「{column}」{hint}"),
    ProblemType("P025", "必填项为空", "「{column}」为必填项，不能为空。"),
    ProblemType("P026", "缺少工作表", "缺少工作表「{sheet}」：请用 export-spec 导出的规格工作簿修改，不要删除或改名工作表。"),
    ProblemType("P027", "未知的设置项", "未知的设置项「{label}」{hint}"),
    # -- values by plan year ---------------------------------------------------------------------
    ProblemType("P030", "年份不在规划年度内", "{key} 中的年份 {year} 不在规划年度 {first}—{last} 内。"),
    ProblemType("P031", "不是分年度的文字", "{name} 应为文字（分年度写作 {{2024: 文字}}）。"),
    ProblemType("P032", "月度计划格式不对",
                "plan 应为 {{月份: 累计计划值}}，月份 1–12，如 {{3: 25, 6: 55}}；分年度写作 {{2024: {{3: 10, 6: 25}}}}。"),
    ProblemType("P033", "月度计划不是累计", "plan 是累计计划，后面月份的值不能小于前面的。"),
    ProblemType("P034", "一个值与分年度的值并存",
                "「{column}」与分年度的「{column}{year}」不能同时填写：每年相同就只填「{column}」，每年不同就只填各年。"),
    ProblemType("P035", "月度计划重复", "指标 {value!r} 的{year}月度计划已在 {other} 写过：每个指标每年只能有一行月度计划，"
                                     "“年度”空着的一行表示每年相同，不能再有分年度的行。"),
    # -- county settings ----------------------------------------------------------------------------
    ProblemType("P040", "规划年度格式不对", "plan_years 应为 [起始年, 结束年]，如 [2023, 2027]。"),
    ProblemType("P041", "进度表列表不对", "tables 应为在用进度表的列表，可选：{choices}。"),
    ProblemType("P042", "未知的进度表", "未知的进度表 {value!r}{hint} 可选：{choices}。"),
    ProblemType("P043", "进度表重复", "tables 中有重复的进度表。"),
    ProblemType("P044", "未使用的进度表有内容",
                "本县未使用{title}（tables 中没有 {table}），不能填写 {key}：请删去，或在 tables 中加上 {table}。"),
    # -- the unit registry and groups ---------------------------------------------------------------
    ProblemType("P050", "单位名称重复", "单位名称 {name!r} 重复（{other} 已有）。"),
    ProblemType("P051", "单位代码重复", "单位代码 {code} 与 {other!r} 重复：问题编号要靠它区分单位。"
                                     "请给其中一个单位写上不同的 code（1–8 个字母或数字）。"),
    ProblemType("P052", "组名与单位重名", "组名 {name!r} 与单位名称重复。"),
    ProblemType("P053", "组没有成员", "组 {name!r} 应列出成员单位。"),
    ProblemType("P054", "单位不在名录中", "{what} {name!r} 不在单位名录中{hint}"),
    ProblemType("P055", "不是单位名称", "{name} 中的 {value!r} 应为单位名称。"),
    ProblemType("P056", "牵头单位写成了组", "牵头单位不能写组 {name!r}：请写出具体牵头的单位。"),
    # -- projects and their rows ----------------------------------------------------------------------
    ProblemType("P060", "没有牵头单位", "至少要有一个牵头单位。"),
    ProblemType("P061", "单位不是本工程的", "单位 {name!r} 不是本工程的牵头或责任单位。请先把它加入本工程的 units。"),
    ProblemType("P062", "工程序号重复", "工程序号 {no} 重复（{other} 已使用）。"),
    ProblemType("P063", "缺少 id", "缺少 id，或 id 不是文字。"),
    ProblemType("P064", "id 重复", "id {value!r} 重复（{other} 已使用）。"),
    ProblemType("P065", "规划期累计指标只能越高越好", "plan_cumulative（规划期累计）指标只能是 direction: higher。"),
    ProblemType("P066", "规划期累计指标写了月度计划", "plan_cumulative 指标的序时进度按规划期已过月份计算，"
                                                   "不能再写 plan；请删去 plan，或改用 kind: cumulative。"),
    ProblemType("P067", "规划期累计指标的目标年份", "plan_cumulative 指标的目标年份应在规划年度 {first}—{last} 内。"),
    ProblemType("P068", "所属工程不存在", "所属工程 {value!r} 不在「工程」表中：请填写「工程」表里的序号。"),
    ProblemType("P069", "指标编号不存在", "指标编号 {value!r} 不在「指标」表中：请填写「指标」表里的编号。"),
    # -- names that become file names, mail headers and display names (hostile input) ----------
    ProblemType("P070", "单位名称过长", "单位名称 {name!r} 过长（{length} 个字，最多 {limit} 个字）。请用简称，全称可写在 aliases。"),
    ProblemType("P071", "单位名称含控制字符", "单位名称 {name!r} 含换行、制表符、空字符或不可见字符。请删除后重新输入名称。"),
    ProblemType("P072", "单位名称含不允许的字符", "单位名称 {name!r} 含不允许的字符 {chars}：名称会用作文件名和邮件收件人，"
                                            "不能含 < > @ , ; 引号 / \\ : * ? | 。请改用中文标点或删去。"),
    ProblemType("P073", "值含换行或控制字符", "{name} 的值 {value!r} 含换行或控制字符：它会写进邮件信头和文件。请写在一行内。"),
    ProblemType("P074", "两个单位的文件名相同", "单位 {name!r} 和 {other!r} 会写成同一个文件名 {file}.xlsx。请改其中一个的名称。"),
    ProblemType("P075", "规格文件过大", "{detail}"),
]

CATALOGUE = {p.code: p for p in _CATALOGUE}


@dataclass(frozen=True)
class SpecProblem:
    """One problem of a spec: a catalogue code, where it is, and the values its message names."""

    code: str
    location: Location
    params: tuple = field(default=())      # ((name, value), ...): frozen, and kept in order

    @property
    def message(self) -> str:
        return CATALOGUE[self.code].template.format(**dict(self.params))

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


class SpecError(Exception):
    """All problems found while loading a spec.

    ``issues`` holds the coded problems; ``problems`` their rendered lines (``file:line: message``),
    as the CLI prints them."""

    def __init__(self, problems: Iterable[Union[SpecProblem, str]]) -> None:
        problems = list(problems)
        self.issues = [p for p in problems if isinstance(p, SpecProblem)]
        self.problems = [str(p) for p in problems]
        super().__init__("\n".join(self.problems))

    @property
    def codes(self) -> list:
        return [p.code for p in self.issues]


class Problems:
    """Collects every problem of a spec, to be raised at once."""

    def __init__(self) -> None:
        self.found: list = []

    def add(self, code: str, where: Location, /, **params: Any) -> None:
        if code not in CATALOGUE:
            raise KeyError(code)
        self.found.append(SpecProblem(code, where, tuple(params.items())))

    def __bool__(self) -> bool:
        return bool(self.found)

    def error(self) -> SpecError:
        return SpecError(self.found)
