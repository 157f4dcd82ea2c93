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
from typing import TYPE_CHECKING, Optional, Sequence, Union

from .desk import Desk, DeskError, Period, write_file
from .history import spec_for_period
from .standing import units_data_for
from .ledger import Ledger
from .master import overview, table_rows

if TYPE_CHECKING:
    from docx.document import Document
    from docx.enum.text import WD_PARAGRAPH_ALIGNMENT
    from docx.styles.style import CharacterStyle
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph
    from docx.text.run import Run

    from .spec import Spec

# GB/T 9704 (党政机关公文格式) as the reference for the bulletin's layout. Each face names the
# font offices install (…_GB2312) and, as its w:altName in the font table, the face Windows ships.
BODY_FONT = ("仿宋_GB2312", "仿宋")
TITLE_FONT = ("方正小标宋简体", "黑体")
HEADING1_FONT = ("黑体", "SimHei")
HEADING2_FONT = ("楷体_GB2312", "楷体")
TABLE_HEADER_FONT = HEADING1_FONT
PAGE_NUMBER_FONT = ("宋体", "SimSun")
FONT = BODY_FONT[0]
SIZE_2 = 22         # 二号
SIZE_3 = 16         # 三号
SIZE_4 = 14         # 四号
SIZE_TABLE = 12     # 小四
LINE_PT = 28        # fixed line spacing: 22 lines of 28 pt on the 22.5 cm text block
MASTHEAD_RED = "C00000"
RANKING_NAMED = 20  # a tied group of more units than this names the first ones and counts the rest


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

    def __str__(self) -> str:
        return f"{self.year}Q{self.q}"

    @property
    def label(self) -> str:
        return f"{self.year}年第{'一二三四'[self.q - 1]}季度"

    @property
    def months(self) -> list[Period]:
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


def gather(desk: Desk, spec: Spec, quarter: Quarter) -> BulletinData:
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
    totals: dict = {}
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


def sentences(spec: Spec, d: BulletinData) -> list[str]:
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


def plan_totals(spec: Spec, d: BulletinData) -> list[str]:
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


def issue_number(spec: Spec, quarter: Quarter) -> int:
    return (quarter.year - spec.plan_years[0]) * 4 + quarter.q


def write_bulletin(spec: Spec, d: BulletinData, path: Path) -> None:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    document = docx.Document()
    doc = _Doc(document)
    date = d.period.deadline(spec.deadline_day)
    center = WD_ALIGN_PARAGRAPH.CENTER

    # 版头: the red masthead, issue number, issuer and date over a red rule
    doc.para("“十项重大工程”工作简报", TITLE_FONT, 26, align=center, color=MASTHEAD_RED, line=None)
    doc.para(f"第 {issue_number(spec, d.quarter)} 期", BODY_FONT, SIZE_3, align=center)
    rule = doc.para(f"{spec.issuer}\t{date.year}年{date.month}月{date.day}日", BODY_FONT, SIZE_4)
    doc.right_tab(rule)
    doc.red_rule(rule)
    doc.para("", BODY_FONT, SIZE_3)
    doc.para(f"{spec.county}“十项重大工程”{d.quarter.label}进展情况", TITLE_FONT, SIZE_2, align=center,
             line=36)
    doc.para("", BODY_FONT, SIZE_3)

    doc.heading1("一、总体情况")
    doc.body("".join(sentences(spec, d)))
    for line in plan_totals(spec, d):
        doc.body(line)

    doc.heading1("二、各工程“四张进度表”晾晒" if len(spec.tables) == 4 else "二、各工程进度表晾晒")
    sections = []
    if spec.uses("indicators"):
        sections.append(("主要指标", ["绿灯", "黄灯", "红灯", "未报"],
                         ["light_绿", "light_黄", "light_红", "light_none"]))
    if spec.uses("tasks"):
        sections.append(("重点任务", ["已完成", "正常推进", "滞后", "未启动"],
                         ["task_已完成", "task_正常推进", "task_滞后", "task_未启动"]))
    if spec.uses("projects"):
        sections.append(("重大项目", ["项目数", "计划投资（万元）", "完成投资（万元）"],
                         ["invest_count", "invest_plan", "invest_done"]))
    if spec.uses("problems"):
        sections.append(("问题销号", ["未销号", "已销号", "本月新增"],
                         ["problem_open", "problem_closed", "problem_new"]))

    def shown(value: object) -> str:
        return f"{value:,.1f}" if isinstance(value, float) else str(value)

    for n, (title, headers, keys) in enumerate(sections, start=1):
        doc.heading2(f"（{'一二三四'[n - 1]}）{title}")
        rows = [[row["name"]] + [shown(row.get(k, 0)) for k in keys] for row in d.projects]
        rows.append(["合计"] + [shown(d.totals.get(k, 0)) for k in keys])
        doc.table(["工程"] + headers, rows)

    doc.heading1("三、红灯指标")
    if d.red:
        for i, (project, name, unit, rate) in enumerate(d.red, start=1):
            shown_rate = f"，完成率{rate:.1%}" if isinstance(rate, (int, float)) else ""
            doc.body(f"{i}. {project}：{name}（{unit}{shown_rate}）。")
    else:
        doc.body("本季度无红灯指标。")

    doc.heading1("四、报送情况排名")
    doc.body(f"按本季度{len(d.months)}个月按时报送且通过校验的次数排名（共{len(d.ranking)}个单位）：")
    for line in ranking_lines(d.ranking):
        doc.body(line)

    doc.page_numbers()
    core = document.core_properties
    core.title = f"{spec.county}“十项重大工程”工作简报 {d.quarter.label}"
    core.author = spec.issuer
    fixed = dt.datetime.combine(date, dt.time(0))
    core.created = core.modified = fixed
    core.last_modified_by = spec.issuer
    core.revision = 1
    write_file(path, lambda tmp: document.save(str(tmp)))


def ranking_lines(ranking: Sequence[tuple[str, int, int]]) -> list[str]:
    """The ranking, ties grouped: 并列第1名（40个单位，3/3个月）：县发改局、…; the last group named too."""
    groups: list = []
    for unit, score, months in ranking:
        if groups and groups[-1][0] == score:
            groups[-1][2].append(unit)
        else:
            place = sum(len(g[2]) for g in groups) + 1
            groups.append((score, place, [unit], months))
    lines = []
    for i, (score, place, units, months) in enumerate(groups):
        names = "、".join(units if len(units) <= RANKING_NAMED or i == len(groups) - 1
                         else units[:RANKING_NAMED]) + ("等" if len(units) > RANKING_NAMED
                                                        and i != len(groups) - 1 else "")
        rank = f"并列第{place}名（{len(units)}个单位" if len(units) > 1 else f"第{place}名（"
        rank += f"，{score}/{months}个月）" if len(units) > 1 else f"{score}/{months}个月）"
        lines.append(f"{rank}：{names}。")
    return lines


class _Doc:
    """A python-docx document laid out after GB/T 9704: A4, its margins, fonts, fixed 28 pt lines."""

    def __init__(self, document: Document) -> None:
        from docx.shared import Cm, Pt
        self.document = document
        section = document.sections[0]
        section.page_width, section.page_height = Cm(21), Cm(29.7)
        section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
        section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
        section.footer_distance = Cm(2.5)
        section.header_distance = Cm(1.5)
        self.text_width = Cm(21 - 2.8 - 2.6)
        normal = document.styles["Normal"]
        self.fonts(normal, BODY_FONT, SIZE_3)
        pf = normal.paragraph_format
        pf.space_before = pf.space_after = Pt(0)
        self._fixed_line(pf, LINE_PT)
        self._font_table()

    # -- fonts -------------------------------------------------------------------------
    @staticmethod
    def fonts(target: Union[Run, CharacterStyle], face: tuple[str, str], size: Optional[float] = None,
              bold: Optional[bool] = None, color: Optional[str] = None) -> None:
        """Set a run's or a style's font for Latin and East Asian text (w:rFonts w:eastAsia)."""
        from docx.oxml.ns import qn
        from docx.shared import Pt, RGBColor
        font = target.font
        font.name = face[0]
        if size:
            font.size = Pt(size)
        if bold is not None:
            font.bold = bold
        if color:
            font.color.rgb = RGBColor.from_string(color)
        rpr = target._element.get_or_add_rPr()
        rfonts = rpr.get_or_add_rFonts()
        for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
            rfonts.set(qn(attr), face[0])
        rfonts.set(qn("w:hint"), "eastAsia")

    def _font_table(self):
        """Name each face's stand-in (w:altName) and GB2312 charset, for machines without it."""
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls
        part = None
        for rel in self.document.part.rels.values():
            if rel.reltype.endswith("/fontTable"):
                part = rel.target_part
        if part is None:
            return
        from lxml import etree
        root = etree.fromstring(part.blob)
        known = {el.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}name") for el in root}
        for name, alt in (BODY_FONT, TITLE_FONT, HEADING1_FONT, HEADING2_FONT, PAGE_NUMBER_FONT):
            if name in known:
                continue
            root.append(parse_xml(
                f'<w:font {nsdecls("w")} w:name="{name}"><w:altName w:val="{alt}"/><w:charset w:val="86"/>'
                f'<w:family w:val="auto"/><w:pitch w:val="variable"/></w:font>'))
        part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)

    @staticmethod
    def _fixed_line(pf, points):
        from docx.enum.text import WD_LINE_SPACING
        from docx.shared import Pt
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(points)

    # -- paragraphs ----------------------------------------------------------------------
    def para(self, text: str, face: tuple[str, str], size: float, align: Optional[WD_PARAGRAPH_ALIGNMENT] = None,
             color: Optional[str] = None, line: Optional[float] = LINE_PT, indent: bool = False,
             bold: bool = False) -> Paragraph:
        from docx.oxml.ns import qn
        from docx.shared import Pt
        p = self.document.add_paragraph()
        if text:
            self.fonts(p.add_run(text), face, size, bold=bold, color=color)
        pf = p.paragraph_format
        if line:
            self._fixed_line(pf, line)
        else:
            pf.line_spacing = 1.0
        if align is not None:
            p.alignment = align
        if indent:                      # two characters: in character units, and in points for others
            pf.first_line_indent = Pt(2 * size)
            p._p.get_or_add_pPr().get_or_add_ind().set(qn("w:firstLineChars"), "200")
        return p

    def body(self, text: str) -> Paragraph:
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        return self.para(text, BODY_FONT, SIZE_3, align=WD_ALIGN_PARAGRAPH.JUSTIFY, indent=True)

    def heading1(self, text: str) -> Paragraph:
        return self.para(text, HEADING1_FONT, SIZE_3, indent=True)

    def heading2(self, text: str) -> Paragraph:
        return self.para(text, HEADING2_FONT, SIZE_3, indent=True)

    def right_tab(self, p: Paragraph) -> None:
        """Issuer on the left, date flush right: a right tab stop at the text width."""
        from docx.enum.text import WD_TAB_ALIGNMENT
        p.paragraph_format.tab_stops.add_tab_stop(self.text_width, WD_TAB_ALIGNMENT.RIGHT)

    def red_rule(self, p: Paragraph) -> None:
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls
        border = parse_xml(f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="18" w:space="6" '
                           f'w:color="{MASTHEAD_RED}"/></w:pBdr>')
        # schema order: pBdr before shd, tabs, spacing, ind, jc …
        p._p.get_or_add_pPr().insert_element_before(
            border, "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
            "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid",
            "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc",
            "w:textDirection", "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId",
            "w:cnfStyle", "w:rPr", "w:sectPr", "w:pPrChange")

    def page_numbers(self) -> None:
        """"— 1 —" centred at the foot of every page (a PAGE field), 四号 宋体 as GB/T 9704 sets."""
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls
        footer = self.document.sections[0].footer
        p = footer.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        self.fonts(p.add_run("— "), PAGE_NUMBER_FONT, SIZE_4)
        for xml in (f'<w:fldChar {nsdecls("w")} w:fldCharType="begin"/>',
                    f'<w:instrText {nsdecls("w")} xml:space="preserve"> PAGE </w:instrText>',
                    f'<w:fldChar {nsdecls("w")} w:fldCharType="separate"/>', None,
                    f'<w:fldChar {nsdecls("w")} w:fldCharType="end"/>'):
            run = p.add_run("1" if xml is None else None)
            self.fonts(run, PAGE_NUMBER_FONT, SIZE_4)
            if xml is not None:
                run._r.append(parse_xml(xml))
        self.fonts(p.add_run(" —"), PAGE_NUMBER_FONT, SIZE_4)

    # -- tables --------------------------------------------------------------------------
    def table(self, headers: list[str], rows: list[list[str]]) -> DocxTable:
        """A table in 小四 with columns fitted to their content, the header row repeated on each page."""
        from docx.enum.table import WD_TABLE_ALIGNMENT
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.oxml import parse_xml
        from docx.oxml.ns import nsdecls, qn
        from docx.shared import Emu
        widths = column_widths([headers] + rows, int(self.text_width), SIZE_TABLE)
        table = self.document.add_table(rows=1 + len(rows), cols=len(headers))
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        tbl_pr = table._tbl.tblPr
        for old in tbl_pr.findall(qn("w:tblW")):
            tbl_pr.remove(old)
        tbl_pr.append(parse_xml(f'<w:tblW {nsdecls("w")} w:w="{sum(widths) // 635}" w:type="dxa"/>'))
        if tbl_pr.find(qn("w:tblLayout")) is None:
            tbl_pr.append(parse_xml(f'<w:tblLayout {nsdecls("w")} w:type="fixed"/>'))
        for col, width in zip(table.columns, widths):
            col.width = Emu(width)
        for r, values in enumerate([headers] + rows):
            row = table.rows[r]
            if r == 0:
                row._tr.get_or_add_trPr().append(parse_xml(f'<w:tblHeader {nsdecls("w")}/>'))
            for c, (cell, value) in enumerate(zip(row.cells, values)):
                cell.width = Emu(widths[c])          # w:tcW on every cell
                p = cell.paragraphs[0]
                face = TABLE_HEADER_FONT if r == 0 or (c == 0 and value == "合计") else BODY_FONT
                self.fonts(p.add_run(value), face, SIZE_TABLE)
                self._fixed_line(p.paragraph_format, SIZE_TABLE + 8)
                p.paragraph_format.first_line_indent = 0
                p.alignment = WD_ALIGN_PARAGRAPH.LEFT if (c == 0 and r > 0 and value != "合计") \
                    else WD_ALIGN_PARAGRAPH.CENTER
        return table


def text_points(text: object, size: float) -> float:
    return sum(size if ord(ch) > 0x2E80 else size * 0.55 for ch in str(text))


def column_widths(rows: Sequence[Sequence[object]], total_emu: int, size: float) -> list[int]:
    """Widths (EMU) fitted to content: every column as wide as its longest value (headers may wrap
    to two lines), the first column (project names) taking what is left of the text width."""
    emu_per_pt = 12700
    pad = 2 * 5.4 + 2                               # cell margins and borders, in points
    ncols = len(rows[0])
    need = []
    for c in range(ncols):
        longest = max(text_points(r[c], size) for r in rows[1:]) if len(rows) > 1 else 0
        head = text_points(rows[0][c], size)
        need.append(max(longest, head / 2 + size, 2 * size) + pad)
    total_pt = total_emu / emu_per_pt
    rest = total_pt - sum(need[1:])
    if rest >= min(need[0], total_pt * 0.3):
        need[0] = min(need[0], rest) if need[0] < rest else rest
    else:                                            # scale the number columns down to leave the names room
        share = (total_pt * 0.7) / sum(need[1:])
        need = [total_pt * 0.3] + [n * share for n in need[1:]]
    if sum(need) < total_pt:                          # spread what is left over the number columns
        extra = (total_pt - sum(need)) / max(1, ncols - 1)
        need = [need[0]] + [n + extra for n in need[1:]]
    return [int(n * emu_per_pt) // 635 * 635 for n in need]


def make_bulletin(desk: Desk, spec: Spec, quarter: Quarter) -> tuple[Spec, BulletinData, Path]:
    """Write the quarter's 工作简报.docx; → (spec, data, path)."""
    data = gather(desk, spec, quarter)
    path = desk.consolidated(spec.code) / str(quarter) / "工作简报.docx"
    write_bulletin(spec, data, path)
    return spec, data, path
