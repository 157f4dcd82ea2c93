"""How workbooks look on paper: fonts, text measure, row heights, column fitting, print setup.

One place for the decisions every workbook (template, feedback, master, 分发清单) shares:

- Fonts: titles and column headers in 黑体 (SimHei), the body in 宋体 (SimSun). 仿宋 is the
  body face of official *documents* (the bulletin uses it), but at the 9–10 pt of a table
  its thin strokes grey out on an office laser printer; 宋体 is what county offices' own
  Excel tables use and is present on every Windows and in WPS. Both carry the GB2312
  charset (134), so Excel/WPS pick a Chinese face if the named one is missing, and
  LibreOffice falls back through fontconfig to the installed CJK serif/sans face.
- Row heights: LibreOffice fits no row height to wrapped text on import, and Excel does
  not either for rows written with a height, so every row that wraps gets a computed one.
  The measure is deliberately generous: LibreOffice's CJK fallback (Noto CJK) has a line
  height of about 1.45 em, against Excel's 1.35 for 宋体.
- Legibility on A4: text is 10 pt; a sheet is fitted to the page width only while the
  scale stays at or above ``MIN_SCALE`` (text ≥ 8 pt). Text columns are first narrowed
  (their text wraps into more lines) down to a minimum; a table still too wide prints at
  100 % over several pages across, with the title rows and key columns repeated.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any, Iterable, Sequence, Union

TITLE_FONT = "黑体"
BODY_FONT = "宋体"
CHARSET_GB2312 = 134
BODY_SIZE = 10
TITLE_SIZE = 16
MIN_SCALE = 0.8              # 10 pt × 0.8 = 8 pt: the smallest text a reader gets on paper
LINE_FACTOR = 1.45           # points of row height per point of font size, per line
ROW_PADDING = 4              # points above and below the text of a row
DEFAULT_ROW = 15             # an unwrapped row of 10 pt text (LibreOffice's CJK faces are tall)

# A4 landscape (297 mm) less margins of 0.4 in each side, in pixels at 96 dpi; a small reserve
# for LibreOffice's slightly different column metric.
MARGIN_IN = 0.4
A4_LANDSCAPE_PX = (297 / 25.4 - 2 * MARGIN_IN) * 96 * 0.97
A4_PORTRAIT_PX = (210 / 25.4 - 2 * MARGIN_IN) * 96 * 0.97
A4_LANDSCAPE_PT_HIGH = (210 / 25.4 - 2 * 0.7) * 72 * 0.95   # printable height, top/bottom margins 0.7 in
# Tables are laid out for a 90 % fit to the page width (text at 9 pt): wider text columns mean
# fewer wrapped lines and fewer pages, and 9 pt still reads well above the 8 pt bound.
TABLE_SCALE = 0.9
TABLE_PX = A4_LANDSCAPE_PX / TABLE_SCALE


def font(size: float = BODY_SIZE, title: bool = False, **extra: Any) -> dict[str, Any]:
    """XlsxWriter format properties of a body or title/header font."""
    return {"font_name": TITLE_FONT if title else BODY_FONT, "font_size": size,
            "font_charset": CHARSET_GB2312, **extra}


def column_px(width: float) -> float:
    """Pixels of a column ``width`` characters wide (Excel's default 7-pixel digit)."""
    return 7 * width + 5 if width >= 1 else 12 * width


def _char_px(ch: str, size: float) -> float:
    px = size * 96 / 72
    if ord(ch) > 0x2E80 or ch in "—…“”‘’、，。；：！？（）【】《》":
        return px                     # a full-width glyph is one em wide
    if ch.isupper() or ch in "%@#&MW":
        return px * 0.68
    return px * 0.56


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:16]
    return str(value)


def wrapped_lines(value: object, width: float, size: float = BODY_SIZE) -> int:
    """How many lines ``value`` takes in a wrapping cell ``width`` characters wide.

    A greedy wrap, character by character (Chinese breaks anywhere; a Latin word that does
    not fit is counted as moving whole to the next line), with 3 % spare per line.
    """
    text = _text(value)
    if not text:
        return 1
    return _wrapped(text, float(width), float(size))


@functools.lru_cache(maxsize=65536)
def _wrapped(text: str, width: float, size: float) -> int:
    room = max(column_px(width) - 6, size)  # cell padding and borders
    lines = 0
    for paragraph in text.split("\n"):
        lines += 1
        used = 0.0
        word = 0.0
        for ch in paragraph:
            w = _char_px(ch, size) * 1.03
            if ch.isascii() and not ch.isspace():
                word += w
                if used + word > room and used > 0:
                    lines += 1
                    used = 0.0
                continue
            used += word
            word = 0.0
            if used + w > room:
                lines += 1
                used = 0.0
            used += w
        used += word
        while used > room:                # a Latin run longer than the whole cell
            lines += 1
            used -= room
    return lines


def row_height(cells: Iterable[tuple[object, float]], size: float = BODY_SIZE,
               minimum: float = DEFAULT_ROW) -> float:
    """A row height (points) that fits every ``(value, width)`` cell of the row."""
    lines = max([1] + [wrapped_lines(v, w, size) for v, w in cells])
    return max(minimum, math.ceil(lines * size * LINE_FACTOR + ROW_PADDING))


def text_px(value: object, size: float = BODY_SIZE) -> float:
    return sum(_char_px(ch, size) for ch in _text(value))


def natural_width(values: Iterable[object], header: object, cap: float = 36.0, floor: float = 6.0) -> float:
    """A column width (characters) that shows its longest value on one line, within ``cap``."""
    distinct = {_text(v) for v in values}               # columns repeat their values: measure each once
    longest = max([text_px(v) for v in distinct] + [text_px(header, BODY_SIZE) / 2])
    return max(floor, min(cap, (longest + 12) / 7))


def fit_columns(widths: Iterable[float], shrinkable: Sequence[int], minimum: float = 10.0,
                page_px: float = A4_LANDSCAPE_PX) -> list[float]:
    """Narrow the ``shrinkable`` (wrapping text) columns so the table fits ``page_px``.

    Every shrinkable column gives up the same share of its width above ``minimum`` until the
    table fits, or all of them are at ``minimum``.
    """
    widths = list(widths)
    total = sum(column_px(w) for w in widths)
    if total <= page_px:
        return widths
    spare = sum(max(0.0, widths[i] - minimum) for i in shrinkable) * 7
    if spare <= 0:
        return widths
    cut = min(1.0, (total - page_px) / spare)
    for i in shrinkable:
        if widths[i] > minimum:
            widths[i] = round(widths[i] - (widths[i] - minimum) * cut, 1)
    return widths


def print_setup(ws: Any, widths: Iterable[float], *, title_rows: Union[int, tuple[int, int], None], key_cols: int = 0,
                header: str = "", footer: str = "", page_px: float = A4_LANDSCAPE_PX,
                landscape: bool = True) -> float:
    """A4 page setup of a table sheet; → the print scale (1.0 when printed over several pages).

    Fitted to one page wide when that keeps text at or above ``MIN_SCALE``; otherwise printed
    at 100 % over several pages across, the first ``key_cols`` columns repeated on each.
    """
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(9)
    ws.set_margins(left=MARGIN_IN, right=MARGIN_IN, top=0.7, bottom=0.7)
    ws.center_horizontally()
    total = sum(column_px(w) for w in widths)
    scale = min(1.0, page_px / total) if total else 1.0
    if scale >= MIN_SCALE:
        ws.fit_to_pages(1, 0)
    else:
        scale = 1.0
        ws.set_print_scale(100)
        if key_cols:
            ws.repeat_columns(0, key_cols - 1)
    if title_rows is not None:
        ws.repeat_rows(*title_rows) if isinstance(title_rows, tuple) else ws.repeat_rows(title_rows)
    if header:
        ws.set_header(header, {"margin": 0.3})
    if footer:
        ws.set_footer(footer, {"margin": 0.3})
    return scale


def footer(left: str, right: str = "") -> str:
    """A footer in the body font: left text, "第 n 页，共 N 页" centred, right text.

    (No size code: "&9" followed by "2023年" would read as a font size of 92023.)
    """
    f = f'&"{BODY_FONT}"'
    return f"&L{f}{left}&C{f}第 &P 页，共 &N 页" + (f"&R{f}{right}" if right else "")


def page_header(title: str) -> str:
    return f'&C&"{TITLE_FONT}"{title}'


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The date ``n`` working days (Monday–Friday) after ``day``."""
    while n > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            n -= 1
    return day
