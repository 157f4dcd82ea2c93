"""One return → its metadata and plain rows with true positions (python-calamine).

Before calamine sees a file, its container is sniffed and bounded: encrypted
OLE files, zip bombs, DOCTYPEs, absurd sheet dimensions and other hostile
content are refused here, so one bad file never takes the run down.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

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

_DIMENSION = re.compile(rb'<dimension\s+ref="([A-Z]+)?(\d+)?(?::([A-Z]+)(\d+))?"')
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

    def refuse(self, code, **kw):
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
    sheets, parts = {}, {}
    try:
        for info in infos:
            if not info.filename.endswith((".xml", ".rels", ".vml")):
                continue
            is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            whole = is_sheet or info.filename in _WHOLE_PARTS
            # a DOCTYPE can only stand in the prolog: other parts are read only that far
            body = _member(zf, data, info, None if whole else 4096)
            if info.filename in _WHOLE_PARTS:
                parts[info.filename] = body
            if b"<!DOCTYPE" in body[:4096].upper():
                result.refuse("F011", detail=f"部件 {info.filename} 含 DOCTYPE/实体声明")
                return False
            if is_sheet:
                if not _bounded(body):
                    result.refuse("F010", detail=f"工作表 {info.filename} 的范围超出模板（过多的行或列）")
                    return False
                sheets[info.filename] = body
            if info.filename == "docProps/core.xml":
                m = _MODIFIED.search(body)
                result.saved = _parse_time(m.group(1)) if m else None
        _sheet_details(parts, sheets, result)
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


def _member(zf, data: bytes, info, limit=None) -> bytes:
    """One part's bytes (the first ``limit`` only, when given), without zipfile's per-member overhead."""
    if info.flag_bits & 0x1:
        raise zipfile.BadZipFile(f"{info.filename} 已加密")
    if info.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) and data[info.header_offset:
                                                                              info.header_offset + 4] == b"PK\x03\x04":
        name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
        start = info.header_offset + 30 + name_len + extra_len
        raw = data[start:start + info.compress_size]
        if info.compress_type == zipfile.ZIP_STORED:
            return raw[:limit] if limit else raw
        inflater = zlib.decompressobj(-15)
        return inflater.decompress(raw, limit) if limit else inflater.decompress(raw) + inflater.flush()
    with zf.open(info) as fh:
        return fh.read(limit) if limit else fh.read()


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


_SUSPECT_REF = re.compile(rb'r="([A-Z]{0,3})(\d+)"')
_SUSPICIOUS = re.compile(rb'r="(?:[A-Z]{2,3}\d|[A-Z]?\d{5,}"|[A-Z]\d{5,})')   # literal start: fast scan


def _bounded(body: bytes) -> bool:
    """No row or cell reference beyond the bounds (checked before calamine allocates the grid)."""
    m = _DIMENSION.search(body[:2048])
    if m and m.group(4):
        if int(m.group(4)) > MAX_ROWS or col_number(m.group(3)) > MAX_COLS:
            return False
    elif m and m.group(2):
        if int(m.group(2)) > MAX_ROWS or (m.group(1) and col_number(m.group(1)) > MAX_COLS):
            return False
    # templates use one-letter columns and short row numbers: only unusual references are parsed
    pos = 0
    while True:
        hit = _SUSPICIOUS.search(body, pos)
        if hit is None:
            return True
        ref = _SUSPECT_REF.match(body, hit.start())
        if ref and (int(ref.group(2)) > MAX_ROWS or (ref.group(1) and col_number(ref.group(1)) > MAX_COLS)):
            return False
        pos = hit.end()


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
        for name in result.sheet_order:
            sheet = wb.get_sheet_by_name(name)
            if sheet.height > MAX_ROWS or sheet.width > MAX_COLS:
                return result.refuse("F010", detail=f"工作表「{name}」有 {sheet.height} 行 {sheet.width} 列")
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


def parse_meta(rows):
    """The metadata sheet → (meta dict, row records)."""
    meta = {}
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


def _meta_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))   # LibreOffice may turn a numeric-looking text into a number
    return "" if value is None else str(value)
