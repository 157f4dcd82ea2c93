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

from .tables import TABLES


def open_template(path):
    import openpyxl
    return openpyxl.load_workbook(path)


def row_index(ws, table):
    """{row key: worksheet row number} from the hidden key column."""
    key_col = len(table.columns) + 1
    out = {}
    for r in range(4, ws.max_row + 1):
        value = ws.cell(r, key_col).value
        if value:
            out[str(value)] = r
    return out


def set_cell(wb, table_key, row_key, column_key, value):
    """Type ``value`` into one cell, addressed by row key and column key."""
    table = TABLES[table_key]
    ws = wb[table.sheet]
    r = row_index(ws, table)[row_key]
    cell = ws.cell(r, table.index(column_key) + 1)
    cell.value = value
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"        # typed as text (as Excel does after a leading apostrophe)
    return cell.coordinate


def rows_of(wb, table_key):
    """[(row key, {column key: value})] of one sheet, as the unit sees it."""
    table = TABLES[table_key]
    if table.sheet not in wb.sheetnames:
        return []
    ws = wb[table.sheet]
    out = []
    for key, r in row_index(ws, table).items():
        out.append((key, {c.key: ws.cell(r, i + 1).value for i, c in enumerate(table.columns)}))
    return out


def fill_correctly(wb, period, rng: random.Random, progress=0.5):
    """Fill every input cell as a careful unit would; returns what was typed."""
    typed = {}
    month_share = period.month / 12
    for key, values in rows_of(wb, "indicators"):
        annual = values.get("annual") or 0
        actual = round(annual * month_share * rng.uniform(0.95, 1.25), 2)
        typed[("indicators", key, "actual")] = set_cell(wb, "indicators", key, "actual", actual) and actual
        set_cell(wb, "indicators", key, "note", "按计划推进")
    for key, values in rows_of(wb, "tasks"):
        set_cell(wb, "tasks", key, "progress", f"{period.label}：已按节点推进")
        set_cell(wb, "tasks", key, "state", "正常推进")
        typed[("tasks", key, "state")] = "正常推进"
    for key, values in rows_of(wb, "projects"):
        if key.startswith("new-") and values.get("name") is None:
            continue
        plan = values.get("plan") or 0
        prev = values.get("invested") or 0
        invested = round(max(prev, plan * month_share * rng.uniform(0.9, 1.1)), 1)
        set_cell(wb, "projects", key, "invested", invested)
        set_cell(wb, "projects", key, "state", "在建")
        set_cell(wb, "projects", key, "started", values.get("started") or dt.date(period.year, 3, 1))
        typed[("projects", key, "invested")] = invested
    for key, values in rows_of(wb, "problems"):
        if key.startswith("new-") and values.get("description") is None:
            continue
        set_cell(wb, "problems", key, "state", values.get("state") or "未销号")
        set_cell(wb, "problems", key, "progress", "正在协调")
    return typed


def add_project(wb, name, total, plan, invested, period, state="在建"):
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


def add_problem(wb, description, period, state="未销号", closed=None):
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
        subprocess.run([exe, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", fmt,
                        "--outdir", str(out_dir), str(src)], check=True, capture_output=True, timeout=180)
    return out_dir / f"{src.stem}.{fmt.split(':')[0]}"


def zip_into(dest: Path, files: dict):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path in files.items():
            zf.write(path, name)


def mail_into(dest: Path, attachment: Path, sender: str, when: dt.datetime, subject="进度表报送"):
    msg = EmailMessage()
    msg["From"] = sender or "unit@example.invalid"
    msg["To"] = "office@example.invalid"
    msg["Subject"] = subject
    msg["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0800")
    msg.set_content("附件是本单位本月进度表，请查收。")
    msg.add_attachment(attachment.read_bytes(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet", filename=attachment.name)
    dest.write_bytes(bytes(msg))


def set_saved(path: Path, when: dt.datetime):
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


def set_received(path: Path, when: dt.datetime):
    ts = when.timestamp()
    os.utime(path, (ts, ts))
