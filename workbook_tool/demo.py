"""Simulated units for the demo and the tests — apart from the product.

A simulated unit does only what a person can do with the template: it opens
the workbook, types into input cells and saves it (openpyxl here; the
end-to-end tests use a real LibreOffice).  It never touches the metadata.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import tempfile
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .tables import TABLES, Table

if TYPE_CHECKING:
    from .desk import Period
    from .spec import Spec

Echo = Callable[[str], object]


def open_template(path: Union[str, Path]) -> Any:
    """The workbook at ``path`` as openpyxl opens it (an ``openpyxl.Workbook``)."""
    import openpyxl
    return openpyxl.load_workbook(path)


def row_index(ws: Any, table: Table) -> dict[str, int]:
    """{row key: worksheet row number} from the hidden key column."""
    key_col = len(table.columns) + 1
    out: dict[str, int] = {}
    for r in range(4, ws.max_row + 1):
        value = ws.cell(r, key_col).value
        if value:
            out[str(value)] = r
    return out


def set_cell(wb: Any, table_key: str, row_key: str, column_key: str, value: Any) -> str:
    """Type ``value`` into one cell, addressed by row key and column key."""
    table = TABLES[table_key]
    ws = wb[table.sheet]
    r = row_index(ws, table)[row_key]
    cell = ws.cell(r, table.index(column_key) + 1)
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"        # typed as text (as Excel does after a leading apostrophe)
    return cell.coordinate


def rows_of(wb: Any, table_key: str) -> list[tuple[str, dict[str, Any]]]:
    """[(row key, {column key: value})] of one sheet, as the unit sees it."""
    table = TABLES[table_key]
    if table.sheet not in wb.sheetnames:
        return []
    ws = wb[table.sheet]
    out = []
    for key, r in row_index(ws, table).items():
        out.append((key, {c.key: ws.cell(r, i + 1).value for i, c in enumerate(table.columns)}))
    return out


def fill_correctly(wb: Any, period: Period, rng: random.Random) -> None:
    """Fill every input cell as a careful unit would."""
    month_share = period.month / 12
    for key, values in rows_of(wb, "indicators"):
        annual = values.get("annual") or 0
        before = values["actual"] if isinstance(values.get("actual"), (int, float)) else 0
        # a unit reads 序时进度 off the sheet: a level indicator is 100%, "lower is better" too
        share = _formula_number(values.get("schedule"), month_share)
        if isinstance(values.get("earlier"), (int, float)):
            share = month_share        # plan_cumulative: the unit reports this year's 本年累计 only
        lower = "<=0,1," in str(values.get("rate") or "")
        factor = rng.uniform(0.8, 1.0) if lower else rng.uniform(0.97, 1.2)
        actual = max(before, round(annual * share * factor, 2))
        set_cell(wb, "indicators", key, "actual", actual)
        set_cell(wb, "indicators", key, "note", "按计划推进")
    for key, values in rows_of(wb, "tasks"):
        set_cell(wb, "tasks", key, "progress", f"{period.label}：已按节点推进")
        set_cell(wb, "tasks", key, "state", "正常推进")
    for key, values in rows_of(wb, "projects"):
        if key.startswith("new-") and values.get("name") is None:
            continue
        plan = values.get("plan") or 0
        prev = values.get("invested") or 0
        invested = round(max(prev, plan * month_share * rng.uniform(0.9, 1.1)), 1)
        set_cell(wb, "projects", key, "invested", invested)
        set_cell(wb, "projects", key, "state", "在建")
        set_cell(wb, "projects", key, "started", values.get("started") or dt.date(period.year, 3, 1))
    for key, values in rows_of(wb, "problems"):
        if key.startswith("new-") and values.get("description") is None:
            continue
        set_cell(wb, "problems", key, "state", values.get("state") or "未销号")
        set_cell(wb, "problems", key, "progress", "正在协调")


def _formula_number(formula: object, default: float) -> float:
    try:
        return float(str(formula).lstrip("="))
    except ValueError:
        return default


def add_project(wb: Any, name: str, total: float, plan: float, invested: float, period: Period,
                state: str = "在建") -> str:
    """Use the first free blank row of the unit's 重大项目 sheet; returns its row key."""
    for key, values in rows_of(wb, "projects"):
        if key.startswith(f"new-{period}-") and values.get("name") is None:
            set_cell(wb, "projects", key, "name", name)
            set_cell(wb, "projects", key, "content", f"{name}建设")
            set_cell(wb, "projects", key, "total", total)
            set_cell(wb, "projects", key, "plan", plan)
            set_cell(wb, "projects", key, "invested", invested)
            set_cell(wb, "projects", key, "state", state)
            set_cell(wb, "projects", key, "planned_start", dt.date(period.year, 3, 1))
            set_cell(wb, "projects", key, "started", dt.date(period.year, 3, 15))
            set_cell(wb, "projects", key, "image", "主体施工中")
            return key
    raise LookupError("no blank project row left")


def add_problem(wb: Any, description: str, period: Period, state: str = "未销号",
                closed: Optional[dt.date] = None) -> str:
    """Use the first free blank row of the unit's 问题 sheet; returns its row key."""
    for key, values in rows_of(wb, "problems"):
        if key.startswith(f"new-{period}-") and values.get("description") is None:
            set_cell(wb, "problems", key, "description", description)
            set_cell(wb, "problems", key, "raised", dt.date(period.year, period.month, 10))
            set_cell(wb, "problems", key, "measures", "专班协调推进")
            set_cell(wb, "problems", key, "due", dt.date(period.year, 12, 31))
            set_cell(wb, "problems", key, "state", state)
            if closed:
                set_cell(wb, "problems", key, "closed", closed)
            set_cell(wb, "problems", key, "progress", "已列入清单")
            return key
    raise LookupError("no blank problem row left")


# -- ways a file reaches the office ----------------------------------------------------------

def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(src: Path, fmt: str, out_dir: Path) -> Path:
    """Convert with headless LibreOffice (xls/ods/pdf); returns the new file."""
    exe = soffice()
    if not exe:
        raise RuntimeError("LibreOffice is not installed")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([exe, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--convert-to", fmt,
                        "--outdir", str(out_dir), str(src)], check=True, capture_output=True, timeout=180)
    return out_dir / f"{src.stem}.{fmt.split(':')[0]}"


def zip_into(dest: Path, files: dict[str, Path]) -> None:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files.items():
            zf.write(path, name)


def mail_into(dest: Path, attachment: Path, sender: str, when: dt.datetime, subject: str = "进度表报送") -> None:
    msg = EmailMessage()
    msg["From"] = sender or "unit@example.invalid"
    msg["To"] = "office@example.invalid"
    msg["Subject"] = subject
    msg["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0800")
    msg.set_content("附件是本单位本月进度表，请查收。")
    msg.add_attachment(attachment.read_bytes(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=attachment.name)
    dest.write_bytes(bytes(msg))


def set_saved(path: Path, when: dt.datetime) -> None:
    """Set the workbook's own saved time (docProps/core.xml), as the application would on save."""
    import re
    src = Path(path).read_bytes()
    import io
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + when.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", body)
            zout.writestr(info, body)
    Path(path).write_bytes(out.getvalue())


def set_received(path: Path, when: dt.datetime) -> None:
    """Make the desk remember ``path`` as first seen at ``when`` (as if it had come in then).

    A file's received time is the desk's first sight of it, kept in the ledger; a simulated
    unit that answers late is simply seen late.
    """
    import hashlib
    from .ledger import Ledger
    path = Path(path)
    inbox = next(p for p in path.parents if p.name == "inbox")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    for ledger_path in sorted((inbox.parent / "consolidated").glob("*/ledger.sqlite")):
        with Ledger(ledger_path) as ledger:
            ledger.note_seen(sha, path.relative_to(inbox).as_posix(), when)


# -- the whole monthly cycle, twice ---------------------------------------------------------

def _place(desk: Path, wb_or_path: Any, name: str, when: dt.datetime, saved: dt.datetime | None = None) -> Path:
    dest = desk / "inbox" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(wb_or_path, Path):
        shutil.copyfile(wb_or_path, dest)
    else:
        wb_or_path.save(dest)
    if saved and dest.suffix == ".xlsx":
        set_saved(dest, saved)
    set_received(dest, when)
    return dest


def simulate_month(desk: Path, spec: Spec, period: Period, rng: random.Random, mistakes: bool,
                   echo: Echo = print) -> dict[str, Any]:
    """Fill every unit's template as units do and drop the returns in the inbox; returns the story.

    Units work independently (each with its own seeded random numbers), so they fill in parallel.
    """
    units = list(spec.responsible_units)
    deadline = period.deadline(spec.deadline_day)
    on_time = dt.datetime(deadline.year, deadline.month, max(1, deadline.day - 2), 10, 0)
    late_time = dt.datetime(deadline.year, deadline.month, deadline.day + 3, 16, 0)
    story: dict[str, Any] = {"silent": [units[-1]], "mistakes": {}, "twice": None, "xls": None, "zip": None,
                             "eml": None}
    if mistakes:
        plan = {units[1]: "text", units[2]: "fullwidth", units[3]: "nodate", units[4]: "closed-nodate"}
    else:
        plan = {units[0]: "went-down"}
    seed = rng.randrange(10**9)
    jobs = [(desk, spec, period, i, unit, plan.get(unit), mistakes, on_time, late_time, seed)
            for i, unit in enumerate(units) if unit not in story["silent"]]
    (desk / ".demo-scratch").mkdir(exist_ok=True)
    try:
        workers = min(os.cpu_count() or 1, MAX_WORKERS, len(jobs))
        if workers > 1:
            import concurrent.futures
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
                outcomes = list(pool.map(_simulate_unit, jobs))
        else:
            outcomes = [_simulate_unit(job) for job in jobs]
    finally:
        shutil.rmtree(desk / ".demo-scratch", ignore_errors=True)
    for unit, what, how in outcomes:
        if what:
            story["mistakes"][unit] = what
        if how:
            story[how] = unit
    return story


MAX_WORKERS = 61          # Windows waits on at most 63 handles: ProcessPoolExecutor allows 61 workers


def _pool_context():
    """fork where the system has it (fast), spawn elsewhere (Windows): the work is picklable either way."""
    import multiprocessing
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _simulate_unit(job):
    """One unit fills its template and sends it back; → (unit, mistake made, how it was sent)."""
    desk, spec, period, i, unit, what, mistakes, on_time, late_time, seed = job
    rng = random.Random(f"{seed}-{period}-{unit}")
    templates = desk / "templates" / spec.code / str(period)
    scratch = desk / ".demo-scratch"
    wb = open_template(templates / f"{_file(unit)}.xlsx")
    fill_correctly(wb, period, rng)
    if i == 0:
        if not [k for k, v in rows_of(wb, "projects") if v.get("name") and not k.startswith(f"new-{period}")]:
            add_project(wb, "菜园燃气管道工程", 12000, 3000, round(3000 * period.month / 12, 1), period)
        add_problem(wb, f"{period.label}新发现：项目用地报批进度慢", period)
    if what == "text":
        key = rows_of(wb, "indicators")[0][0] if rows_of(wb, "indicators") else None
        if key:
            set_cell(wb, "indicators", key, "actual", "约12亿")
        else:
            set_cell(wb, "tasks", rows_of(wb, "tasks")[0][0], "state", "推进中")
    elif what == "fullwidth":
        rows = rows_of(wb, "indicators")
        if rows:
            set_cell(wb, "indicators", rows[0][0], "actual", "１２０")
    elif what == "nodate":
        rows = rows_of(wb, "tasks")
        if rows:
            set_cell(wb, "tasks", rows[0][0], "state", "已完成")
    elif what == "closed-nodate":
        add_problem(wb, "码头泊位审批待省里批复", period, state="已销号")
    elif what == "went-down":
        carried = open_template(templates / f"{_file(unit)}.xlsx")   # last month's value, pre-filled
        cumulative = {ind.id for p in spec.projects for ind in p.indicators if ind.kind in ("cumulative", "plan_cumulative")}
        rows = [(k, v) for k, v in rows_of(carried, "indicators")
                if k in cumulative and isinstance(v.get("actual"), (int, float)) and v.get("actual")]
        if rows:
            set_cell(wb, "indicators", rows[0][0], "actual", round(rows[0][1]["actual"] * 0.5, 2))
    name = f"{rng.randrange(10**6):06d}-进度表.xlsx"
    when = late_time if i == 5 else on_time
    saved = when - dt.timedelta(hours=1)
    how = None
    if i == 6 and mistakes:                       # returns twice: an early draft, then the final one
        draft = open_template(templates / f"{_file(unit)}.xlsx")
        fill_correctly(draft, period, rng)
        _place(desk, draft, f"草稿/{unit}-初稿.xlsx", on_time - dt.timedelta(days=1), saved - dt.timedelta(days=1))
        how = "twice"
    if i == 7 and mistakes and soffice():          # saved as .xls by the unit
        own = scratch / f"u{i}"
        own.mkdir()
        tmp = own / f"u{i}.xlsx"
        wb.save(tmp)
        try:
            _place(desk, convert(tmp, "xls", own), f"{unit}.xls", on_time)
            return unit, what, "xls"
        except (RuntimeError, subprocess.SubprocessError, OSError):
            pass
    if i == 8:                                      # sent inside a zip
        tmp = scratch / f"{_file(unit)}.xlsx"
        wb.save(tmp)
        dest = desk / "inbox" / f"打包{period}.zip"
        zip_into(dest, {f"{unit}/进度表.xlsx": tmp})
        set_received(dest, on_time)
        return unit, what, "zip"
    if i == 9:                                      # forwarded by e-mail, saved as .eml
        tmp = scratch / f"{_file(unit)}.xlsx"
        wb.save(tmp)
        mail_into(desk / "inbox" / f"邮件{period}.eml", tmp, spec.unit(unit).email, on_time)
        return unit, what, "eml"
    _place(desk, wb, f"{period}/{name}", when, saved)
    return unit, what, how


def _demo_addresses(county_yaml: Path):
    """Give every unit of the demo desk an address (example.invalid: never deliverable)."""
    import re
    text = county_yaml.read_text(encoding="utf-8")
    counter = iter(range(1, 10_000))
    text = re.sub(r'(?m)^(\s+)email: ""', lambda m: f'{m.group(1)}email: "unit{next(counter):03d}@shengsi.example.invalid"',
                  text)
    county_yaml.write_text(text, encoding="utf-8")


def _file(unit):
    from .template import safe_filename
    return safe_filename(unit)


def run_demo(target: Union[str, Path], echo: Echo = print) -> dict[str, Any]:
    """Scaffold a desk, run two monthly cycles, return the last summary."""
    from .consolidate import consolidate
    from .desk import Desk, DeskError, Period
    from .spec import load_spec
    from .workflow import generate_templates, init_desk
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise DeskError(f"{target} 不是空文件夹，演示不会覆盖它。请指定一个新的文件夹。")
    target.mkdir(parents=True, exist_ok=True)
    init_desk(target, "shengsi")
    _demo_addresses(target / "specs" / "shengsi" / "county.yaml")
    rng = random.Random(2023)
    summaries = []
    for period_text, mistakes in (("2023-05", True), ("2023-06", False)):
        desk = Desk(target)
        spec = load_spec(desk.spec_folder("specs/shengsi"))
        spec, period, out_dir, results = generate_templates(desk, spec, Period.parse(period_text))
        echo(f"[{period.label}] 已生成 {len(results)} 个单位的模板：{out_dir}")
        story = simulate_month(target, spec, period, rng, mistakes)
        echo(f"[{period.label}] 模拟各单位填报：{len(spec.responsible_units) - len(story['silent'])} 个单位报回，"
             f"未报：{'、'.join(story['silent'])}"
             + (f"；填错：{'、'.join(f'{u}（{_MISTAKES[m]}）' for u, m in story['mistakes'].items())}"
                if story["mistakes"] else "")
             + (f"；报送两次：{story['twice']}" if story["twice"] else "")
             + (f"；存为 .xls：{story['xls']}" if story["xls"] else "")
             + (f"；压缩包：{story['zip']}；邮件：{story['eml']}" if story["zip"] else ""))
        summary = consolidate(desk, spec, period).summary
        summaries.append(summary)
        echo(f"[{period.label}] 汇总：采用 {len(summary['accepted'])}，退回 {len(summary['rejected'])}"
             f"（{'、'.join(summary['rejected']) or '无'}），未报 {len(summary['missing'])}"
             f"（{'、'.join(summary['missing']) or '无'}），逾期 {len(summary['late'])}，"
             f"错误 {summary['findings']['错误']} 处，警告 {summary['findings']['警告']} 处。")
        echo(f"[{period.label}] 汇总表：{summary['master']}")
        if summary["feedback"]:
            echo(f"[{period.label}] 退回意见：{Path(summary['feedback'][0]).parent}")
    return {"summaries": summaries}


_MISTAKES = {"text": "数字栏写了文字", "fullwidth": "全角数字", "nodate": "已完成未填完成时间",
             "closed-nodate": "已销号未填销号时间", "went-down": "累计值比上期减少"}
