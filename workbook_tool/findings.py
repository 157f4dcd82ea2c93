"""Findings: what a check found, as data, and the catalogue of rule codes.

A finding is created where a problem is found and rendered only at the edge
(CLI, master workbook, feedback workbook).  Messages are Chinese templates
that tell the unit what to do; tests assert codes and cells, not wording.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

ERROR = "错误"
WARNING = "警告"


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str
    template: str


_RULES = [
    # -- the file as a whole ------------------------------------------------
    Rule("F001", ERROR, "无法读取", "文件无法作为工作簿读取（{detail}）。请用 Excel、WPS 或 LibreOffice 打开原模板填写后另存为 .xlsx 重新报送。"),
    Rule("F002", ERROR, "文件已加密", "文件设置了打开密码，无法读取。请联系该单位取消密码（文件→信息→保护工作簿→用密码进行加密，清空密码）后重新报送。"),
    Rule("F003", ERROR, "不是本系统模板", "文件中没有本系统模板的标识信息，无法识别填报单位。请使用总专班办公室下发的模板填写，不要另建表格或复制粘贴到新文件。"),
    Rule("F004", ERROR, "签名无效", "模板的标识信息被修改或不是本办公室签发（签名校验失败）。请使用总专班办公室下发的原模板重新填写。"),
    Rule("F005", ERROR, "模板版本不符", "模板格式版本为 {seen}，本系统需要版本 {expected}。请使用本期下发的模板重新填写。"),
    Rule("F006", WARNING, "其他期次或县的文件", "此文件是 {detail} 的模板，不属于本次汇总（{expected}），已跳过。"),
    Rule("F007", ERROR, "模板已作废", "此模板已被更新的模板取代（同一单位同一期次重新下发过）。请使用最新下发的模板重新填写。"),
    Rule("F008", WARNING, "重复报送", "同一单位报送了多份文件，以最新的一份为准；此文件未采用。"),
    Rule("F009", WARNING, "含宏文件", "文件含宏（.xlsm），只读取数值，宏不会被执行或保留。今后请另存为 .xlsx 报送。"),
    Rule("F010", ERROR, "文件过大或结构异常", "文件超出合理范围（{detail}），已拒收。请用下发的模板重新填写，不要粘贴大量数据。"),
    Rule("F011", ERROR, "文件含危险内容", "文件含不安全的内容（{detail}），已拒收。请用下发的模板重新填写后另存为 .xlsx。"),
    Rule("F012", WARNING, "含外部链接或对象", "文件含外部链接、数据连接或嵌入对象（{detail}），只读取数值。请删除后再报送。"),
    Rule("F013", ERROR, "模板被他人转发", "此模板是下发给「{detail}」的，却由其他发件人报送。请各单位使用本单位的模板填写。"),
    Rule("F014", ERROR, "读取时程序崩溃或超时", "文件「{file}」读取时程序崩溃、超时或内存超限（{detail}），已跳过，其他文件照常汇总。请该单位用下发的模板重新填写后另存为 .xlsx 报送。"),
    Rule("F015", ERROR, "不是普通文件", "收件箱中的「{file}」不是可读取的普通文件（{detail}），已跳过。请只把报回的文件本身复制进 inbox/，不要放链接、管道或设备文件。"),
    Rule("F016", ERROR, "文件或文件夹无法读取", "收件箱中的「{file}」无法读取（{detail}），其中的文件未汇总。请检查其权限或是否被其他程序占用，处理后重新运行汇总。"),
    # -- structure ----------------------------------------------------------
    Rule("S001", ERROR, "缺少工作表", "模板中的工作表「{detail}」被删除或改名。请使用原模板重新填写，不要删除或重命名工作表。"),
    Rule("S002", WARNING, "多余工作表", "文件中多了工作表「{detail}」，其内容不会被汇总。请删除多余的工作表。"),
    Rule("S003", ERROR, "行被增删或移动", "第 {row} 行的行标识不符（{detail}）。请不要插入、删除、移动或排序行，使用原模板重新填写。"),
    Rule("S004", ERROR, "锁定内容被修改", "锁定单元格的内容被修改：应为「{expected}」。请恢复原内容，只填写浅黄色单元格。"),
    Rule("S005", WARNING, "工作表保护被取消", "工作表「{detail}」的保护被取消。内容已逐格核对；今后请不要取消保护。"),
    Rule("S006", ERROR, "列被移动或表头被改", "表头「{expected}」不在原位置。请不要插入、删除或移动列。"),
    # -- values -------------------------------------------------------------
    Rule("V001", ERROR, "不是数字", "「{column}」应填写数字，不能填写「{seen}」。请只填写数字（如 12.5），说明文字请写在情况说明栏。"),
    Rule("V002", ERROR, "日期无法识别", "「{column}」应填写日期（如 2023-05-31），不能填写「{seen}」。"),
    Rule("V003", ERROR, "不在下拉选项中", "「{column}」只能选择：{expected}。请从下拉列表中选择，不要自行输入。"),
    Rule("V004", ERROR, "必填项为空", "「{column}」为必填项。{detail}"),
    Rule("V005", ERROR, "超出范围", "「{column}」的值「{seen}」超出允许范围：{expected}。"),
    Rule("V006", WARNING, "数值已自动规范", "「{column}」的值「{seen}」已按「{expected}」读取。请今后直接填写规范格式。"),
    Rule("V007", ERROR, "文字过长", "「{column}」不能超过 {expected} 个字，当前 {seen} 个字。请精简后填写。"),
    Rule("V008", ERROR, "公式引用其他文件", "「{column}」是引用其他文件的公式，无法核对。请直接填写数值。"),
    # -- cross-field and history -------------------------------------------
    Rule("X001", ERROR, "已完成缺少完成时间", "状态为「已完成」时必须填写「实际完成时间」。"),
    Rule("X002", ERROR, "已销号缺少销号时间", "销号状态为「已销号」时必须填写「实际销号时间」，且不能晚于本期截止日 {expected}。"),
    Rule("X003", ERROR, "完成投资超过总投资", "本年累计完成投资 {seen} 万元超过总投资 {expected} 万元，请核实。"),
    Rule("X004", ERROR, "累计值比上期减少", "累计值 {seen} 低于上期已报的 {expected}。累计数不应减少；如上期有误，请在说明栏写明原因并与办公室联系。"),
    Rule("X005", WARNING, "数值跳变", "{detail}请核实是否填写有误。"),
    Rule("X006", ERROR, "未说明滞后原因", "进度落后于序时进度（亮{seen}灯），请在「情况说明」中写明滞后原因和下步措施。"),
    Rule("X007", ERROR, "未销号问题被删除", "未销号的问题「{seen}」（{detail}）这一行被删除了。未销号的问题不能删除：请用原模板恢复该行，并填写销号状态和进展。"),
    Rule("X008", ERROR, "日期晚于本期", "「{column}」为 {seen}，晚于本期截止日 {expected}，请核实。"),
    Rule("X009", WARNING, "实际开工时间缺失", "建设状态为「{seen}」时请填写实际开工时间。"),
    Rule("X010", WARNING, "重报改了数", "本期已采用的报表被重报替换：「{column}」由「{expected}」改为「{seen}」。请确认改动无误。"),
    # -- annual plans (年度计划表, `plan --collect`) ----------------------------
    Rule("A001", ERROR, "日期不在计划年度内", "「{column}」为 {seen}，应在 {expected} 年内（{expected}-01-01 至 {expected}-12-31）。请改为本年度内的日期。"),
    Rule("A002", ERROR, "单位不在名录中", "「{column}」中的「{seen}」不在单位名录中{detail}请填写名录中的单位全称，多个单位用“、”分隔。"),
    Rule("A003", ERROR, "总投资小于年度计划投资", "总投资 {seen} 万元小于本年度计划投资 {expected} 万元。年度计划投资不能超过总投资，请核实。"),
    Rule("A004", ERROR, "月度计划减少", "月度计划是累计数：「{column}」的 {seen} 小于前面月份的 {expected}。请按累计数填写，后面月份不小于前面月份。"),
    Rule("A005", ERROR, "月度计划超过年度目标", "「{column}」的累计计划 {seen} 超过本年年度目标 {expected}。请核实年度目标或月度计划。"),
    Rule("A006", ERROR, "单位不属于本工程", "「{seen}」不是本工程的牵头或责任单位，不能作为{column}。请改为本工程的单位；确需增加单位的，请先与总专班办公室联系。"),
    Rule("A007", WARNING, "与其他牵头单位不一致", "{detail}已采用{expected}报送的值；本单位报送的「{seen}」未写入规格。请与该单位核对。"),
]

RULES = {rule.code: rule for rule in _RULES}


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Finding:
    """One problem found in one place of one return."""

    code: str
    unit: str = ""
    file: str = ""
    sheet: str = ""
    cell: str = ""
    column: str = ""
    seen: str = ""
    expected: str = ""
    detail: str = ""
    row: int = 0
    extra: tuple = field(default=(), compare=False)

    @property
    def rule(self) -> Rule:
        return RULES[self.code]

    @property
    def severity(self) -> str:
        return self.rule.severity

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def message(self) -> str:
        values = _Blank(
            column=self.column, seen=self.seen, expected=self.expected,
            detail=self.detail, row=self.row, file=self.file,
        )
        return self.rule.template.format_map(values)

    def where(self) -> str:
        parts = [p for p in (self.sheet, self.cell) if p]
        return "!".join(parts)

    def as_dict(self) -> dict:
        return {
            "unit": self.unit, "file": self.file, "sheet": self.sheet,
            "cell": self.cell, "column": self.column, "code": self.code,
            "severity": self.severity, "message": self.message, "seen": self.seen,
        }


def count_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {ERROR: 0, WARNING: 0}
    for f in findings:
        counts[f.severity] += 1
    return counts
