"""Golden files: one template and one master, compared part by part as normalised XML.

Like XlsxWriter's own test suite (test/helperfunctions.py), every XML part of the xlsx is turned
into a canonical text (one element per line, attributes sorted, indentation by depth) and compared
with the copy kept in tests/golden/<case>/<part>. Nothing is ignored: the outputs are byte-identical
by design (fixed signing key, fixed received times, document times taken from the period).

After an intended change in what the workbooks contain, regenerate the copies with one command
and review the diff:

    python3 -m pytest tests/test_golden.py --update-golden
    git diff tests/golden/
"""
import datetime as dt
import difflib
import hashlib
import io
import shutil
import zipfile
from pathlib import Path
from xml.dom import Node

import pytest
import xlsxwriter
from click.testing import CliRunner
from defusedxml.minidom import parseString

from workbook_tool import demo
from workbook_tool.cli import main
from workbook_tool.desk import Period
from workbook_tool.spec import load_spec
from workbook_tool.workflow import init_desk

from conftest import Office

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = "python3 -m pytest tests/test_golden.py --update-golden"
KEY = "9f" * 32                           # a fixed office key: signatures and nonces are stable
SPEC = "specs/shengsi"
PERIOD = "2023-05"
TEMPLATE_UNIT = "县民政局"                # a unit with rows in all four tables
ACCEPTED = ["县民政局", "县教育局"]
REJECTED = "县卫生健康局"

MAX_LINES = 1500                          # a longer part is kept as block digests and its first lines
HEAD_LINES = 300
BLOCK_LINES = 100
DIFF_LINES = 40                           # a failure shows at most this many lines of diff


# -- building the outputs (once per module) -----------------------------------------------------

def _cli(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict:
    """{case: xlsx bytes}: 嵊泗's 2023-05 template of one unit, and the master of three returns."""
    root = tmp_path_factory.mktemp("golden") / "desk"
    root.mkdir()
    init_desk(root, "shengsi")
    (root / ".workbook-tool-secret").write_text(KEY + "\n", encoding="ascii")
    units = sorted({TEMPLATE_UNIT, REJECTED, *ACCEPTED})
    _cli("generate", "--root", str(root), "--spec", SPEC, "--period", PERIOD,
         *[arg for u in units for arg in ("--units", u)])
    out_dir = root / "templates" / "shengsi" / PERIOD
    office = Office(root, load_spec(root / SPEC), Period.parse(PERIOD), out_dir)
    on_time, late = dt.datetime(2023, 6, 2, 10, 15), dt.datetime(2023, 6, 7, 16, 40)
    for unit in ACCEPTED:
        office.drop(office.filled(unit), f"{unit}.xlsx", when=late if unit == ACCEPTED[-1] else on_time)
    bad = office.filled(REJECTED)
    demo.set_cell(bad, "tasks", demo.rows_of(bad, "tasks")[0][0], "state", "进行中")
    office.drop(bad, "退回/进度表.xlsx", when=on_time)
    _cli("consolidate", "--root", str(root), "--spec", SPEC, "--period", PERIOD, "--jobs", "1")
    return {
        "template": (out_dir / f"{TEMPLATE_UNIT}.xlsx").read_bytes(),
        "master": (root / "consolidated" / "shengsi" / PERIOD / "汇总表.xlsx").read_bytes(),
    }


# -- normalising an xlsx --------------------------------------------------------------------

def _escape(text: str, attribute: bool = False) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")
    return text.replace('"', "&quot;") if attribute else text


def _element_lines(node, depth: int, out: list):
    indent = "  " * depth
    attrs = "".join(f' {k}="{_escape(v, True)}"' for k, v in sorted(node.attributes.items()))
    children = [c for c in node.childNodes if c.nodeType == Node.ELEMENT_NODE]
    texts = [c for c in node.childNodes if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE)]
    if not children:
        text = "".join(t.data for t in texts)
        out.append(f"{indent}<{node.tagName}{attrs}>{_escape(text)}</{node.tagName}>" if text
                   else f"{indent}<{node.tagName}{attrs}/>")
        return
    out.append(f"{indent}<{node.tagName}{attrs}>")
    for child in node.childNodes:
        if child.nodeType == Node.ELEMENT_NODE:
            _element_lines(child, depth + 1, out)
        elif child in texts and child.data.strip():          # mixed content: text between elements
            out.append(f"{indent}  {_escape(child.data)}")
    out.append(f"{indent}</{node.tagName}>")


def normalise_xml(data: bytes) -> list:
    """One XML part → lines: one element per line, attributes sorted, whitespace between tags dropped."""
    lines = []
    if data.startswith(b"<?xml"):
        lines.append(data[:data.index(b"?>") + 2].decode("utf-8"))
    _element_lines(parseString(data).documentElement, 0, lines)
    return lines


def normalise_part(name: str, data: bytes) -> list:
    if name.endswith((".xml", ".rels", ".vml")):
        return normalise_xml(data)
    return [f"binary part: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"]


def _digest(lines) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:16]


def stored_form(lines: list) -> str:
    """What is kept for one part: the whole text, or for a long part its block digests and first lines."""
    if len(lines) <= MAX_LINES:
        return "\n".join(lines) + "\n"
    head = [f"<!-- {len(lines)} lines: too long to keep whole; sha256 of every {BLOCK_LINES} lines, "
            f"then the first {HEAD_LINES} lines -->"]
    for start in range(0, len(lines), BLOCK_LINES):
        block = lines[start:start + BLOCK_LINES]
        head.append(f"<!-- lines {start + 1}-{start + len(block)}: {_digest(block)} -->")
    return "\n".join(head + lines[:HEAD_LINES]) + "\n"


def normalised(xlsx: bytes) -> dict:
    """{part name: normalised text}, parts in sorted order (their order in the zip does not matter)."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as zf:
        return {name: "\n".join(normalise_part(name, zf.read(name))) + "\n" for name in sorted(zf.namelist())}


# -- the golden copies --------------------------------------------------------------------

PARTS = "PARTS.txt"


def write_golden(folder: Path, parts: dict):
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    index = [f"# the parts of tests/golden/{folder.name}, normalised by tests/test_golden.py "
             f"(XlsxWriter {xlsxwriter.__version__}); regenerate: {UPDATE}"]
    for name, text in parts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(stored_form(text.splitlines()), encoding="utf-8", newline="\n")
        index.append(name)
    (folder / PARTS).write_text("\n".join(index) + "\n", encoding="utf-8", newline="\n")


def read_golden(folder: Path) -> tuple:
    """(part names, header line of the index) of a golden copy; ([], "") when there is none."""
    index = folder / PARTS
    if not index.is_file():
        return [], ""
    lines = index.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")], lines[0] if lines else ""


def compare(folder: Path, parts: dict, scratch: Path) -> str:
    """'' when ``parts`` match the golden copy in ``folder``; else a short explanation with a diff."""
    case = folder.name
    names, header = read_golden(folder)
    if not names:
        return f"no golden copy in {folder}: create it with {UPDATE}"
    if names != list(parts):
        return (f"{case}: the parts differ from the golden copy.\n  only in the golden copy: "
                f"{sorted(set(names) - set(parts))}\n  only now: {sorted(set(parts) - set(names))}")
    differing = []
    for name, text in parts.items():
        want = (folder / name).read_text(encoding="utf-8")
        got = stored_form(text.splitlines())
        if got != want:
            differing.append((name, want, got))
    if not differing:
        return ""
    for name, text in parts.items():               # the whole normalised text, for a closer look
        path = scratch / case / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    name, want, got = differing[0]
    diff = list(difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{case}/{name}",
                                     f"now/{case}/{name}", n=2, lineterm=""))
    if len(diff) > DIFF_LINES:
        diff = diff[:DIFF_LINES] + [f"... ({len(diff) - DIFF_LINES} more diff lines)"]
    return "\n".join([
        f"{case}: {len(differing)} part(s) differ from the golden copy: {', '.join(d[0] for d in differing)}",
        *diff,
        f"The whole normalised parts as they are now: {scratch / case}",
        f"Golden copy: {header.lstrip('# ')}",
        f"If the change is intended: {UPDATE}, then review git diff tests/golden/",
    ])


@pytest.mark.parametrize("case", ["template", "master"])
def test_output_matches_the_golden_copy(outputs, case, request, tmp_path):
    parts = normalised(outputs[case])
    if request.config.getoption("--update-golden"):
        write_golden(GOLDEN / case, parts)
        return
    problem = compare(GOLDEN / case, parts, tmp_path)
    if problem:
        pytest.fail(problem, pytrace=False)


# -- the comparison itself ---------------------------------------------------------------------

def test_normalising_ignores_attribute_order_and_whitespace_but_not_values():
    a = b'<?xml version="1.0"?>\n<a x="1" y="2">\n  <b>text</b>\n  <c/>\n</a>'
    b = b'<?xml version="1.0"?><a y="2"  x="1"><b>text</b><c></c></a>'
    assert normalise_xml(a) == normalise_xml(b)
    assert normalise_xml(a) == ['<?xml version="1.0"?>', '<a x="1" y="2">', "  <b>text</b>", "  <c/>", "</a>"]
    assert normalise_xml(a) != normalise_xml(b.replace(b"text", b"text "))
    assert normalise_xml(a) != normalise_xml(b.replace(b'x="1"', b'x="2"'))


def test_a_changed_cell_fails_with_a_short_diff(outputs, tmp_path):
    parts = normalised(outputs["template"])
    write_golden(tmp_path / "golden" / "template", parts)
    assert compare(tmp_path / "golden" / "template", parts, tmp_path / "now") == ""
    sheet = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    changed = dict(parts)
    changed[sheet] = parts[sheet].replace("<c ", '<c t="x" ', 1)
    problem = compare(tmp_path / "golden" / "template", changed, tmp_path / "now")
    assert f"1 part(s) differ from the golden copy: {sheet}" in problem
    assert "\n-" in problem and "\n+" in problem and UPDATE in problem
    assert len(problem.splitlines()) <= DIFF_LINES + 8


def test_a_long_part_keeps_block_digests_that_locate_a_change():
    lines = [f"<row r=\"{i}\"/>" for i in range(1, MAX_LINES + 251)]
    stored = stored_form(lines)
    assert len(stored.splitlines()) < HEAD_LINES + 30
    later = list(lines)
    later[MAX_LINES + 10] = '<row r="changed"/>'
    diff = [d for d in difflib.unified_diff(stored.splitlines(), stored_form(later).splitlines(), lineterm="")
            if d.startswith(("-<!--", "+<!--"))]
    assert len(diff) == 2 and f"lines {MAX_LINES + 1}-{MAX_LINES + BLOCK_LINES}" in diff[0]
