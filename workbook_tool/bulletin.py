"""The quarterly bulletin (工作简报): the quarter's tables "aired" (晾晒) as a .docx.

Figures come from the ledger through the same functions that write the master
workbook, so the bulletin and the masters cannot disagree.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .desk import Desk, DeskError, Period, write_file
from .history import spec_for_period
from .standing import units_data_for
from .ledger import Ledger
from .master import overview, table_rows
from .spec import load_spec

FONT = "仿宋"
TITLE_FONT = "方正小标宋简体"


@dataclass(frozen=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> "Quarter":
        m = re.fullmatch(r"\s*(\d{4})\s*[Qq]([1-4])\s*", str(text))
        if not m:
            raise DeskError(f"季度 {text!r} 格式不对，应为如 2023Q2。")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self):
        return f"{self.year}Q{self.q}"

    @property
    def label(self):
        return f"{self.year}年第{'一二三四'[self.q - 1]}季度"

    @property
    def months(self):
        return [Period(self.year, 3 * (self.q - 1) + i) for i in (1, 2, 3)]


@dataclass
class BulletinData:
    quarter: Quarter
    period: Period                      # the latest consolidated month of the quarter
    months: list                        # consolidated months of the quarter
    projects: list                      # overview rows (same as the master's 总览)
    totals: dict
    red: list                           # [(project, indicator, unit, rate)]
    ranking: list                       # [(unit, months on time and accepted, months expected)]
    tables: dict = field(default_factory=dict)


def gather(desk: Desk, spec, quarter: Quarter) -> BulletinData:
    summaries = {}
    for period in quarter.months:
        path = desk.consolidated(spec.code, period) / "汇总结果.json"
        if path.is_file():
            summaries[period] = json.loads(path.read_text(encoding="utf-8"))
    if not summaries:
        raise DeskError(f"{quarter.label}还没有汇总结果：请先对本季度各月运行 workbook-tool consolidate。")
    latest = max(summaries)
    ledger_path = desk.ledger_path(spec.code)
    with Ledger(ledger_path) as ledger:
        spec = spec_for_period(ledger, spec, latest)      # the spec as it stood for that month
        data = table_rows(spec, units_data_for(spec, ledger, latest))
    last = summaries[latest]
    returned = set(last["accepted"]) | set(last["rejected"])
    submissions = [{"unit": u, "returned": u in returned} for u in spec.responsible_units]
    projects = overview(spec, latest, data, submissions)
    totals = {}
    for row in projects:
        for key, value in row.items():
            if key not in ("no", "name") and isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + value
    names = {p.no: p.name for p in spec.projects}
    red = [(names[r["_project"]], r["name"], r["_unit"], r.get("rate"))
           for r in data.get("indicators", []) if r.get("light") == "红"]
    score = {u: 0 for u in spec.responsible_units}
    for summary in summaries.values():
        for unit in summary["accepted"]:
            if unit not in summary["late"] and unit in score:
                score[unit] += 1
    order = {u: i for i, u in enumerate(spec.responsible_units)}
    ranking = sorted(((u, s, len(summaries)) for u, s in score.items()), key=lambda t: (-t[1], order[t[0]]))
    return BulletinData(quarter, latest, sorted(summaries), projects, totals, red, ranking, data)


def sentences(spec, d: BulletinData) -> list:
    """The overview paragraph, figure by figure."""
    t = d.totals
    out = [f"截至{d.period.label}底，全县“十项重大工程”{len(spec.projects)}个工程专班共"
           f"{len(spec.responsible_units)}个责任单位参与月度调度，本季度汇总{len(d.months)}个月的进度表。"]
    if spec.uses("indicators"):
        n = t.get("light_绿", 0) + t.get("light_黄", 0) + t.get("light_红", 0) + t.get("light_none", 0)
        out.append(f"主要指标{n}项，其中绿灯{t.get('light_绿', 0)}项、黄灯{t.get('light_黄', 0)}项、"
                   f"红灯{t.get('light_红', 0)}项，未报{t.get('light_none', 0)}项。")
    if spec.uses("tasks"):
        out.append(f"重点任务已完成{t.get('task_已完成', 0)}项、正常推进{t.get('task_正常推进', 0)}项、"
                   f"滞后{t.get('task_滞后', 0)}项、未启动{t.get('task_未启动', 0)}项。")
    if spec.uses("projects"):
        plan, done = t.get("invest_plan", 0), t.get("invest_done", 0)
        rate = f"，完成率{done / plan:.1%}" if plan else ""
        out.append(f"重大项目{t.get('invest_count', 0)}个，年度计划投资{plan:,.1f}万元，"
                   f"本年累计完成投资{done:,.1f}万元{rate}。")
    if spec.uses("problems"):
        out.append(f"问题清单已销号{t.get('problem_closed', 0)}个、未销号{t.get('problem_open', 0)}个，"
                   f"本月新增{t.get('problem_new', 0)}个。")
    return out


def plan_totals(spec, d: BulletinData) -> list:
    """One sentence per plan_cumulative indicator row: the total since the plan began
    (earlier years' accepted year-end values + this year's) against the plan target."""
    names = {p.no: p.name for p in spec.projects}
    out = []
    for r in d.tables.get("indicators", []):
        earlier, actual, target = r.get("earlier"), r.get("actual"), r.get("target")
        if not isinstance(earlier, (int, float)):
            continue                       # not a plan_cumulative indicator
        measure = r.get("measure") or ""
        target = target if isinstance(target, (int, float)) else 0.0
        if not isinstance(actual, (int, float)):
            out.append(f"{names.get(r['_project'], '')}：{r.get('name')}（{r['_unit']}）本年未报，"
                       f"往年累计完成{earlier:g}{measure}，规划目标{target:g}{measure}。")
            continue
        total = earlier + actual
        rate = f"，完成{total / target:.1%}" if target else ""
        out.append(f"{names.get(r['_project'], '')}：{r.get('name')}（{r['_unit']}）规划期累计完成"
                   f"{total:g}{measure}（往年{earlier:g}、本年{actual:g}），规划目标{target:g}{measure}{rate}。")
    return out


def issue_number(spec, quarter: Quarter) -> int:
    return (quarter.year - spec.plan_years[0]) * 4 + quarter.q


def write_bulletin(spec, d: BulletinData, path: Path):
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    document = docx.Document()
    style = document.styles["Normal"]
    style.font.name = FONT
    style.font.size = Pt(14)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)
    red = RGBColor(0xC0, 0x00, 0x00)

    def para(text, size=14, bold=False, color=None, align=None, font=FONT):
        p = document.add_paragraph()
        run = p.add_run(text)
        run.font.size, run.bold = Pt(size), bold
        run.font.name = font
        run._element.rPr.rFonts.set(qn("w:eastAsia"), font)
        if color:
            run.font.color.rgb = color
        if align:
            p.alignment = align
        return p

    date = d.period.deadline(spec.deadline_day)
    para("“十项重大工程”工作简报", 26, True, red, WD_ALIGN_PARAGRAPH.CENTER, TITLE_FONT)
    para(f"第 {issue_number(spec, d.quarter)} 期", 14, False, None, WD_ALIGN_PARAGRAPH.CENTER)
    para(f"{spec.issuer}　　　　　　{date.year}年{date.month}月{date.day}日", 14, False, None,
         WD_ALIGN_PARAGRAPH.CENTER)
    para("━" * 26, 12, False, red, WD_ALIGN_PARAGRAPH.CENTER)
    para(f"{spec.county}“十项重大工程”{d.quarter.label}进展情况", 18, True, None, WD_ALIGN_PARAGRAPH.CENTER)

    para("一、总体情况", 16, True)
    para("".join(sentences(spec, d)))
    for line in plan_totals(spec, d):
        para(line)

    para("二、各工程“四张进度表”晾晒" if len(spec.tables) == 4 else "二、各工程进度表晾晒", 16, True)
    sections = []
    if spec.uses("indicators"):
        sections.append(("主要指标", ["绿灯", "黄灯", "红灯", "未报"],
                         ["light_绿", "light_黄", "light_红", "light_none"]))
    if spec.uses("tasks"):
        sections.append(("重点任务", ["已完成", "正常推进", "滞后", "未启动"],
                         ["task_已完成", "task_正常推进", "task_滞后", "task_未启动"]))
    if spec.uses("projects"):
        sections.append(("重大项目", ["项目数", "计划投资(万元)", "完成投资(万元)"],
                         ["invest_count", "invest_plan", "invest_done"]))
    if spec.uses("problems"):
        sections.append(("问题销号", ["未销号", "已销号", "本月新增"],
                         ["problem_open", "problem_closed", "problem_new"]))
    for n, (title, headers, keys) in enumerate(sections, start=1):
        para(f"（{'一二三四'[n - 1]}）{title}", 15, True)
        table = document.add_table(rows=1, cols=len(headers) + 1)
        table.style = "Table Grid"
        for c, h in enumerate(["工程"] + headers):
            table.rows[0].cells[c].text = h
        for row in d.projects:
            cells = table.add_row().cells
            cells[0].text = row["name"]
            for c, key in enumerate(keys, start=1):
                value = row.get(key, 0)
                cells[c].text = f"{value:,.1f}" if isinstance(value, float) else str(value)
        cells = table.add_row().cells
        cells[0].text = "合计"
        for c, key in enumerate(keys, start=1):
            value = d.totals.get(key, 0)
            cells[c].text = f"{value:,.1f}" if isinstance(value, float) else str(value)

    para("三、红灯指标", 16, True)
    if d.red:
        for project, name, unit, rate in d.red:
            shown = f"，完成率{rate:.1%}" if isinstance(rate, (int, float)) else ""
            para(f"{project}：{name}（{unit}{shown}）")
    else:
        para("本季度无红灯指标。")

    para("四、报送情况排名", 16, True)
    para(f"按本季度{len(d.months)}个月按时报送且通过校验的次数排名：")
    table = document.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for c, h in enumerate(("名次", "单位", "按时且无误的月数")):
        table.rows[0].cells[c].text = h
    place, last_score = 0, None
    for i, (unit, score, months) in enumerate(d.ranking, start=1):
        if score != last_score:
            place, last_score = i, score
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = str(place), unit, f"{score}/{months}"

    core = document.core_properties
    core.title = f"{spec.county}“十项重大工程”工作简报 {d.quarter.label}"
    core.author = spec.issuer
    fixed = dt.datetime.combine(date, dt.time(0))
    core.created = core.modified = fixed
    core.last_modified_by = spec.issuer
    core.revision = 1
    write_file(path, lambda tmp: document.save(str(tmp)))


def make_bulletin(root, spec_option, quarter_text):
    desk = Desk(root)
    spec = load_spec(desk.spec_folder(spec_option))
    quarter = Quarter.parse(quarter_text)
    data = gather(desk, spec, quarter)
    path = desk.consolidated(spec.code) / str(quarter) / "工作简报.docx"
    write_bulletin(spec, data, path)
    return spec, data, path
