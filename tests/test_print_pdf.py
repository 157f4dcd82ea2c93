"""The demo's outputs and a bulletin, printed to PDF by LibreOffice, read as the office reads them:
A4 pages, page numbers, every cell's text whole, no line printed over another, nothing below
8 pt, no error values.

All documents are converted in one soffice run per session (about 15 s).
"""
import os
import shutil
import subprocess
import tempfile

import openpyxl
import pytest

from conftest import objects
from workbook_tool import demo
from workbook_tool.bulletin import Quarter, make_bulletin

from e2e.pdf_read import is_a4, overprinted, read_pdf, squeeze

pytestmark = pytest.mark.libreoffice

if not demo.soffice():
    if os.environ.get("CI"):
        raise RuntimeError("LibreOffice is required in CI (.ci/run installs it)")
    pytest.skip("LibreOffice is not installed", allow_module_level=True)

MIN_POINTS = 7.95                 # the legibility bound: 8 pt on paper, after any fit-to-page shrink
ERROR_VALUES = ("#VALUE!", "###", "#DIV/0!", "#NAME?", "#REF!", "#N/A", "#NUM!", "Err:")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """{name: (source file, [Page])} for the master, a template, a township template with empty
    tables, a feedback workbook, the distribution list and the bulletin of the demo desk."""
    root = tmp_path_factory.mktemp("print") / "desk"
    demo.run_demo(root, echo=lambda *_: None)
    _spec, _data, bulletin = make_bulletin(*objects(root, "specs/shengsi", "2023-05")[:2], Quarter.parse("2023Q2"))
    templates = root / "templates/shengsi/2023-06"
    sources = {
        "master": root / "consolidated/shengsi/2023-06/汇总表.xlsx",
        "template": templates / "县发改局.xlsx",
        "township": templates / "花鸟乡.xlsx",
        "feedback": next((root / "consolidated/shengsi/2023-05/退回").glob("*.xlsx")),
        "distribution": templates / "分发清单.xlsx",
        "bulletin": bulletin,
    }
    work = root.parent / "pdf"
    work.mkdir()
    staged = []
    for name, src in sources.items():
        dest = work / f"{name}{src.suffix}"
        shutil.copyfile(src, dest)
        staged.append(str(dest))
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([demo.soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
                        "--convert-to", "pdf", "--outdir", str(work), *staged],
                       check=True, capture_output=True, timeout=300)
    return {name: (src, read_pdf(work / f"{name}.pdf")) for name, src in sources.items()}


def test_every_page_is_a4(printed):
    for name, (_src, pages) in printed.items():
        assert pages, name
        assert all(is_a4(p) for p in pages), name


def test_the_bulletin_is_portrait_and_numbers_its_pages(printed):
    _src, pages = printed["bulletin"]
    assert all(p.height > p.width for p in pages)
    for page in pages:
        assert f"—{page.number}—" in squeeze(page.text), page.number


def test_nothing_below_the_legibility_bound(printed):
    for name, (_src, pages) in printed.items():
        smallest = min((g.size, p.number, g.text) for p in pages for g in p.glyphs)
        assert smallest[0] >= MIN_POINTS, (name, smallest)


def test_no_text_printed_over_other_text(printed):
    for name, (_src, pages) in printed.items():
        for page in pages:
            assert overprinted(page) == [], (name, page.number, overprinted(page)[:5])


def test_no_error_values(printed):
    for name, (_src, pages) in printed.items():
        text = "".join(p.text for p in pages)
        assert not [e for e in ERROR_VALUES if e in text], name


def test_every_cell_prints_whole(printed):
    """Each text cell of every printed sheet is found, whole and in order, in the PDF."""
    for name in ("master", "template", "township", "feedback", "distribution"):
        src, pages = printed[name]
        text = squeeze("".join(p.text for p in pages))
        wb = openpyxl.load_workbook(src)
        checked = 0
        for ws in wb.worksheets:
            if ws.sheet_state != "visible":
                continue
            hidden = {k for k, d in ws.column_dimensions.items() if d.hidden}
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str) and cell.value.strip() and cell.column_letter not in hidden \
                            and not cell.value.startswith("="):
                        assert squeeze(cell.value) in text, (name, ws.title, cell.coordinate, cell.value)
                        checked += 1
        assert checked > 20, name


def test_township_tables_say_there_is_nothing_to_fill(printed):
    _src, pages = printed["township"]
    assert any("本单位本期无需填写本表" in p.text for p in pages)


def test_feedback_prints_the_resubmission_date_and_plain_places(printed):
    _src, pages = printed["feedback"]
    first = squeeze(pages[0].text)
    assert "重新报送截止" in first and "进度表第" in first and "!" not in first
