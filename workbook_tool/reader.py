"""One return → its metadata and plain rows with true positions (python-calamine).

Before calamine sees a file, its container is sniffed and bounded: encrypted
OLE files, zip bombs, DOCTYPEs, absurd sheet dimensions and other hostile
content are refused here, so one bad file never takes the run down.
"""
from __future__ import annotations

import datetime as dt
import functools
import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from . import signing
from .findings import Finding

# everything the zip module raises on a damaged or unsupported archive
ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, ValueError, RuntimeError,
              struct.error)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200
MAX_ROWS = 20000
MAX_COLS = 200
MAX_TOTAL_CELLS = 4_000_000       # across every sheet: many sheets each inside the bounds add up

_MODIFIED = re.compile(rb"<dcterms:modified[^>]*>([^<]+)</dcterms:modified>")
_ODS_MODIFIED = re.compile(rb"<dc:date>([^<]+)</dc:date>")


def col_number(letters: bytes | str) -> int:
    n = 0
    for ch in letters if isinstance(letters, str) else letters.decode("ascii"):
        n = n * 26 + ord(ch) - 64
    return n


@dataclass
class ReadResult:
    meta: dict | None = None
    records: list = field(default_factory=list)
    sheets: dict = field(default_factory=dict)     # sheet name → list of rows (lists of values)
    sheet_order: list = field(default_factory=list)
    saved: dt.datetime | None = None
    kind: str = ""                                   # xlsx | xlsm | xls | ods
    findings: list = field(default_factory=list)     # file-level findings
    fatal: bool = False
    unprotected: list = field(default_factory=list)       # sheets whose protection was removed
    external_formulas: list = field(default_factory=list)  # (sheet, cell) of formulas into other files

    def refuse(self, code: str, **kw: Any) -> ReadResult:
        self.findings.append(Finding(code, **kw))
        self.fatal = True
        return self


def sniff(data: bytes) -> str:
    if not data:
        return "empty"
    if data[:8] == OLE_MAGIC:
        return "ole"
    if data[:4] == b"PK\x03\x04":
        return "zip"
    if data[:5] == b"%PDF-":
        return "pdf"
    return "unknown"


def read_return(data: bytes, max_file_mb: float = 50, max_unpacked_mb: float = 200) -> ReadResult:
    """Read one candidate file; never raises for bad input.

    The size limits come from the county spec (``limits`` in county.yaml).
    """
    result = ReadResult()
    if len(data) > max_file_mb * 1024 * 1024:
        return result.refuse("F010", detail=f"文件 {len(data) / 1024 / 1024:.0f} MB，超过 {max_file_mb:g} MB")
    kind = sniff(data)
    if kind == "empty":
        return result.refuse("F001", detail="空文件")
    if kind == "pdf":
        return result.refuse("F001", detail="这是 PDF 文件，不是 Excel 工作簿")
    if kind == "unknown":
        return result.refuse("F001", detail="不是 Excel/WPS/LibreOffice 工作簿")
    if kind == "ole":
        if "EncryptedPackage".encode("utf-16-le") in data or _xls_filepass(data):
            return result.refuse("F002")
        result.kind = "xls"
    else:
        if not _check_zip(data, result, max_unpacked_mb * 1024 * 1024):
            return result
    return _parse(data, result)


_BIFF8_BOF = b"\x09\x08\x10\x00\x00\x06\x05\x00"


def _xls_filepass(data: bytes) -> bool:
    """An .xls saved with an open password: a FILEPASS record (0x002F) right after the workbook BOF."""
    at = data.find(_BIFF8_BOF)
    return at >= 0 and data[at + 20:at + 22] == b"\x2f\x00"


def _check_zip(data: bytes, result: ReadResult, max_unpacked: float = MAX_UNCOMPRESSED) -> bool:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except ZIP_ERRORS as exc:
        result.refuse("F001", detail=f"压缩包已损坏：{exc}")
        return False
    names = {i.filename for i in infos}
    total = sum(i.file_size for i in infos)
    if total > max_unpacked:
        result.refuse("F010", detail=f"解压后 {total / 1024 / 1024:.0f} MB，超过 {max_unpacked / 1024 / 1024:.0f} MB")
        return False
    for info in infos:
        if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 1_000_000:
            result.refuse("F010", detail=f"部件 {info.filename} 压缩比异常")
            return False
    if "mimetype" in names:
        try:
            mime = zf.read("mimetype")[:100]
        except ZIP_ERRORS as exc:
            result.refuse("F001", detail=f"压缩包已损坏：{exc}")
            return False
        if b"opendocument.spreadsheet" not in mime:
            result.refuse("F001", detail="不是电子表格（可能是文字文档或演示文稿）")
            return False
        result.kind = "ods"
        try:
            meta = zf.read("meta.xml") if "meta.xml" in names else b""
        except ZIP_ERRORS as exc:
            result.refuse("F001", detail=f"压缩包已损坏：{exc}")
            return False
        m = _ODS_MODIFIED.search(meta)
        result.saved = _parse_time(m.group(1)) if m else None
    elif "xl/workbook.xml" in names:
        result.kind = "xlsm" if "xl/vbaProject.bin" in names else "xlsx"
    elif "word/document.xml" in names:
        result.refuse("F001", detail="这是 Word 文档，不是 Excel 工作簿")
        return False
    else:
        result.refuse("F001", detail="不是 Excel 工作簿")
        return False
    try:
        if not _check_parts(zf, data, infos, result):
            return False
    except ZIP_ERRORS as exc:
        result.refuse("F001", detail=f"压缩包已损坏：{exc}")
        return False
    extras = sorted({n.split("/")[1] for n in names if n.startswith("xl/") and n.split("/")[1] in
                     ("externalLinks", "connections.xml", "embeddings", "activeX", "macrosheets")})
    if result.kind == "xlsm":
        result.findings.append(Finding("F009"))
    if extras:
        result.findings.append(Finding("F012", detail="、".join(extras)))
    return True


_SHEET_ENTRY = re.compile(rb'<sheet\b[^>]*?name="([^"]+)"[^>]*?r:id="([^"]+)"')
_REL = re.compile(rb'<Relationship\b[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"|'
                  rb'<Relationship\b[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"')
_FORMULA_WITH_BRACKET = re.compile(rb"<f[^>]*>[^<]*\[")
_EXTERNAL_FORMULA = re.compile(rb'<c\s[^>]*?r="([A-Z]{1,3}\d{1,7})"[^>]*>\s*<f[^>]*>([^<]*\[[^<]*)</f>')


def _chunks(zf, data: bytes, info, chunk=1 << 20):
    """One part's bytes, streamed; refuses a part that inflates beyond its declared size."""
    if info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename} 已加密")
    produced = 0
    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and data[info.header_offset:
                                                                              info.header_offset + 4] == b"PK\x03\x04":
        name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
        start = info.header_offset + 30 + name_len + extra_len
        raw = memoryview(data)[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            for at in range(0, min(len(raw), info.file_size), chunk):
                yield bytes(raw[at:min(at + chunk, info.file_size)])
            return
        inflater = zlib.decompressobj(-15)
        pending = bytes(raw)
        while True:
            out = inflater.decompress(pending, chunk)
            pending = inflater.unconsumed_tail
            if out:
                produced += len(out)
                if produced > info.file_size:
                    raise zipfile.BadZipFile(f"部件 {info.filename} 解压后超过声明的大小")
                yield out
            if inflater.eof or not (pending or out):
                return
    with zf.open(info) as fh:       # zipfile itself stops at the declared size
        while True:
            out = fh.read(chunk)
            if not out:
                return
            yield out


_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_BINARY_PARTS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".emf", ".wmf", ".bin", ".wdp",
                 ".jfif", ".webp", ".ico")


def _scan_part(zf, data, info, keep: bool):
    """Stream one part: True if it holds a DOCTYPE anywhere; its bytes when ``keep``. → (doctype, body)"""
    tail, kept = b"", []
    for chunk in _chunks(zf, data, info):
        if _DOCTYPE.search(tail + chunk):
            return True, None
        tail = chunk[-16:]
        if keep:
            kept.append(chunk)
    return False, b"".join(kept) if keep else None


def _sheet_parts(parts, names) -> set:
    """Every part calamine may read as a worksheet: xl/worksheets/* and the workbook's relationship targets."""
    import posixpath
    found = {n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml")}
    for m in _REL.finditer(parts.get("xl/_rels/workbook.xml.rels", b"")):
        target = (m.group(2) or m.group(3)).decode("utf-8", "replace")
        target = posixpath.normpath(target.lstrip("/") if target.startswith("/") else "xl/" + target)
        if target in names and target.endswith(".xml"):
            found.add(target)
    return found


def _check_parts(zf, data, infos, result) -> bool:
    """Every part streamed for a DOCTYPE; worksheets (and an .ods's content) bounded before calamine sees them."""
    names = {i.filename for i in infos}
    parts, sheets = {}, {}
    by_name = {i.filename: i for i in infos}
    # the workbook and its relationships first: they say which parts are worksheets
    for name in sorted(_WHOLE_PARTS & names):
        doctype, parts[name] = _scan_part(zf, data, by_name[name], keep=True)
        if doctype:
            return not result.refuse("F011", detail=f"部件 {name} 含 DOCTYPE/实体声明")
    sheet_names = _sheet_parts(parts, names) if result.kind != "ods" else {"content.xml"} & names
    cells = 0
    for info in infos:
        name = info.filename
        if name in parts or name.endswith("/") or name.lower().endswith(_BINARY_PARTS):
            continue
        doctype, body = _scan_part(zf, data, info, keep=name in sheet_names)
        if doctype:
            return not result.refuse("F011", detail=f"部件 {name} 含 DOCTYPE/实体声明")
        if body is None:
            continue
        extents = _ods_extents(body) if result.kind == "ods" else [_sheet_extent(body)]
        for rows, cols in extents:
            if rows is None:
                return not result.refuse("F010", detail=f"部件 {name} 的单元格引用格式异常")
            if rows > MAX_ROWS or cols > MAX_COLS:
                return not result.refuse("F010", detail=f"工作表 {name} 的范围超出模板（过多的行或列）")
            cells += rows * cols
        if cells > MAX_TOTAL_CELLS:
            return not result.refuse("F010", detail=f"各工作表合计超过 {MAX_TOTAL_CELLS:,} 个单元格")
        if result.kind != "ods":
            sheets[name] = body
    if "docProps/core.xml" in parts:
        m = _MODIFIED.search(parts["docProps/core.xml"])
        result.saved = _parse_time(m.group(1)) if m else None
    _sheet_details(parts, sheets, result)
    return True


_WHOLE_PARTS = {"docProps/core.xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels"}


def _sheet_details(parts, sheets, result):
    """What calamine cannot see: removed sheet protection, formulas into other workbooks (xlsx only)."""
    if result.kind not in ("xlsx", "xlsm") or "xl/_rels/workbook.xml.rels" not in parts:
        return
    import html
    rels = {}
    for m in _REL.finditer(parts["xl/_rels/workbook.xml.rels"]):
        rid, target = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        target = target.decode("utf-8")
        rels[rid.decode()] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    for m in _SHEET_ENTRY.finditer(parts.get("xl/workbook.xml", b"")):
        name = html.unescape(m.group(1).decode("utf-8"))
        part = rels.get(m.group(2).decode())
        body = sheets.get(part)
        if body is None:
            continue
        if b"<sheetProtection" not in body:
            result.unprotected.append(name)
        if not _FORMULA_WITH_BRACKET.search(body):
            continue
        for ext in _EXTERNAL_FORMULA.finditer(body):
            result.external_formulas.append((name, ext.group(1).decode("ascii")))


_TAG_ATTRS = rb"""((?:[^>"']|"[^"]*"|'[^']*')*)"""    # attributes, with '>' allowed inside quotes
_POSITION_TAG = re.compile(rb"<(?:[\w.-]+:)?(row|c|dimension)(?=[\s/>])" + _TAG_ATTRS + rb">")
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*(["'])(.*?)\1""", re.DOTALL)
_REF_ATTR = re.compile(rb"""(?:^|\s)ref\s*=\s*(["'])(.*?)\1""", re.DOTALL)
_CELL_REF = re.compile(rb"\s*\$?([A-Za-z]{1,3})\$?(\d{1,7})\s*")
_ROW_REF = re.compile(rb"\s*(\d{1,7})\s*")


def _sheet_extent(body: bytes):
    """(rows, columns) a worksheet part spans as calamine places its cells; (None, None) if unreadable.

    References are parsed whatever their quoting and spacing; rows and cells without ``r`` follow
    the one before, as calamine places them. A dimension is taken at its word too.
    """
    return _plain_extent(body) or _walk_extent(body)


def _walk_extent(body: bytes):
    row = col = max_row = max_col = 0
    for tag, attrs in _POSITION_TAG.findall(body):
        if tag == b"dimension":
            ref = _REF_ATTR.search(attrs)
            for corner in ref.group(2).split(b":") if ref else ():
                cell = _CELL_REF.fullmatch(corner) or _ROW_REF.fullmatch(corner)
                if cell is None:
                    return None, None
                if cell.re is _CELL_REF:
                    max_col = max(max_col, _column(cell.group(1)))
                max_row = max(max_row, int(cell.group(cell.re.groups)))
            continue
        ref = _R_ATTR.search(attrs)
        if tag == b"row":
            got = ref and _ROW_REF.fullmatch(ref.group(2))
            if ref and not got:
                return None, None
            row, col = (int(got.group(1)) if got else row + 1), 0
            max_row = max(max_row, row)
            continue
        if ref:
            got = _CELL_REF.fullmatch(ref.group(2))
            if got is None:
                return None, None
            col = _column(got.group(1))
            max_row = max(max_row, int(got.group(2)))
        else:
            col += 1
        max_col = max(max_col, col)
    return max_row, max_col


_TAG_START = re.compile(rb"<(?:[\w.-]+:)?(?:row|c)(?=[\s/>])")
_ANY_R = re.compile(rb"\sr\s*=")
_PLAIN_TAG = re.compile(rb'<(?:row|c) r="([A-Z]{0,3})(\d{1,7})"')
_DIMENSION_TAG = re.compile(rb"<(?:[\w.-]+:)?(dimension)(?=[\s/>])" + _TAG_ATTRS + rb">")


def _plain_extent(body: bytes):
    """The extent of a sheet written as Excel and LibreOffice write it (every row and cell with a plain
    ``r="B12"`` first), found without a Python loop per cell; None for anything else."""
    plain = _PLAIN_TAG.findall(body)
    if not (len(plain) == len(_TAG_START.findall(body)) == len(_ANY_R.findall(body))):
        return None
    rows = {r for _c, r in plain}
    cols = {c for c, _r in plain if c}
    max_row = max(map(int, rows), default=0)
    max_col = max(map(_column, cols), default=0)
    for _tag, attrs in _DIMENSION_TAG.findall(body):
        dims = _walk_extent(b"<dimension" + attrs + b">")
        if dims[0] is None:
            return None
        max_row, max_col = max(max_row, dims[0]), max(max_col, dims[1])
    return max_row, max_col


@functools.lru_cache(maxsize=1024)
def _column(letters: bytes) -> int:
    return col_number(letters.upper())


_ODS_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(table|table-row|table-cell|covered-table-cell)(?=[\s/>])"
                      + _TAG_ATTRS + rb">")
_REPEAT = re.compile(rb"""(?:^|\s)(?:[\w.-]+:)?number-(rows|columns)-repeated\s*=\s*(["'])(.*?)\2""", re.DOTALL)
_VALUE_TYPE = re.compile(rb"(?:^|\s)(?:[\w.-]+:)?value-type\s*=")


def _repeat(attrs: bytes):
    m = _REPEAT.search(attrs)
    if m is None:
        return 1
    got = _ROW_REF.fullmatch(m.group(3))
    return int(got.group(1)) if got else None


def _ods_extents(body: bytes) -> list:
    """[(rows, columns)] each table of an .ods content.xml spans, counting repeated rows and cells
    that hold something (LibreOffice repeats empty cells to the sheet's edge: those do not count)."""
    out = []
    row = col = max_row = max_col = 0
    row_repeat, row_used = 1, False
    for m in _ODS_TAG.finditer(body):
        closing, tag, attrs = m.group(1), m.group(2), m.group(3)
        empty = attrs.rstrip().endswith(b"/")
        if tag == b"table":
            if closing:
                out.append((max_row, max_col))
            row = col = max_row = max_col = 0
            continue
        if tag == b"table-row":
            if closing:
                if row_used:
                    max_row = max(max_row, row + row_repeat)
                row += row_repeat
                continue
            row_repeat, row_used, col = _repeat(attrs), False, 0
            if row_repeat is None:
                return [(None, None)]
            if empty:
                row += row_repeat
            continue
        if closing:
            continue
        repeat = _repeat(attrs)
        if repeat is None:
            return [(None, None)]
        if not empty or _VALUE_TYPE.search(attrs):
            row_used = True
            max_col = max(max_col, col + repeat)
        col += repeat
    if not out or max_row or max_col:
        out.append((max_row, max_col))
    return out


def _parse_time(raw: bytes):
    text = raw.decode("ascii", "replace").strip().rstrip("Z")
    text = text.split(".")[0]
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse(data: bytes, result: ReadResult) -> ReadResult:
    import python_calamine as calamine
    try:
        wb = calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        result.sheet_order = list(wb.sheet_names)
        meta_rows = None
        cells = 0
        for name in result.sheet_order:
            sheet = wb.get_sheet_by_name(name)
            if sheet.height > MAX_ROWS or sheet.width > MAX_COLS:
                return result.refuse("F010", detail=f"工作表「{name}」有 {sheet.height} 行 {sheet.width} 列")
            cells += sheet.height * sheet.width
            if cells > MAX_TOTAL_CELLS:
                return result.refuse("F010", detail=f"各工作表合计超过 {MAX_TOTAL_CELLS:,} 个单元格")
            rows = sheet.to_python(skip_empty_area=False)
            result.sheets[name] = rows
            if rows and rows[0] and rows[0][0] == signing.MARKER and meta_rows is None:
                meta_rows = rows
    except calamine.PasswordError:
        return result.refuse("F002")
    except Exception as exc:  # calamine raises several error types for broken files
        return result.refuse("F001", detail=f"{type(exc).__name__}: {str(exc)[:120]}")
    if meta_rows is None:
        return result.refuse("F003")
    try:
        result.meta, result.records = parse_meta(meta_rows)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, AttributeError):
        return result.refuse("F004")
    return result


def parse_meta(rows: list[list[Any]]) -> tuple[dict[str, str], list[Any]]:
    """The metadata sheet → (meta dict, row records)."""
    meta: dict[str, str] = {}
    i = 1
    while i < len(rows) and rows[i] and rows[i][0] != "rows":
        key, value = rows[i][0], rows[i][1] if len(rows[i]) > 1 else ""
        meta[str(key)] = _meta_text(value)
        i += 1
    if i >= len(rows):
        raise ValueError("no rows marker")
    count = int(float(rows[i][1]))
    records = []
    for r in rows[i + 1:i + 1 + count]:
        records.append(json.loads(r[0]))
    if len(records) != count:
        raise ValueError("row records missing")
    return meta, records


def _meta_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))   # LibreOffice may turn a numeric-looking text into a number
    return "" if value is None else str(value)
