"""What a reader of a PDF sees, read with pdfminer.six: page sizes, glyphs, their sizes and places.

Glyphs are read in content-stream order (no layout analysis): LibreOffice draws a cell's text
in one run, so a cell's text is contiguous in that order whatever the columns around it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pdfminer.high_level import extract_pages
from pdfminer.layout import LTChar, LTContainer

A4 = (595.3, 841.9)


@dataclass(frozen=True)
class Glyph:
    text: str
    size: float
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass
class Page:
    number: int
    width: float
    height: float
    glyphs: list

    @property
    def text(self) -> str:
        return "".join(g.text for g in self.glyphs)


def _walk(item):
    if isinstance(item, LTChar):
        yield item
    elif isinstance(item, LTContainer):
        for child in item:
            yield from _walk(child)


def read_pdf(path) -> list:
    pages = []
    for n, layout in enumerate(extract_pages(str(path), laparams=None), start=1):
        glyphs = [Glyph(c.get_text(), c.size, c.x0, c.y0, c.x1, c.y1)
                  for c in _walk(layout) if c.get_text().strip()]
        pages.append(Page(n, layout.width, layout.height, glyphs))
    return pages


def is_a4(page) -> bool:
    size = sorted((page.width, page.height))
    return abs(size[0] - A4[0]) < 2 and abs(size[1] - A4[1]) < 2


def squeeze(text) -> str:
    """Text without whitespace: how a cell's wrapped text is compared with the PDF's."""
    return re.sub(r"\s+", "", str(text))


def overprinted(page, share=0.3) -> list:
    """Pairs of glyphs drawn over each other (their boxes overlap by more than ``share`` of the
    smaller box): text running into the next row, or two cells' text on one spot."""
    cells = {}
    found = []
    for g in page.glyphs:
        area = (g.x1 - g.x0) * (g.y1 - g.y0)
        if area <= 0:
            continue
        keys = {(int(x // 20), int(y // 20)) for x in (g.x0, g.x1) for y in (g.y0, g.y1)}
        seen = set()
        for key in keys:
            for other in cells.get(key, ()):
                if id(other) in seen:
                    continue
                seen.add(id(other))
                w = min(g.x1, other.x1) - max(g.x0, other.x0)
                h = min(g.y1, other.y1) - max(g.y0, other.y0)
                if w <= 0 or h <= 0:
                    continue
                small = min(area, (other.x1 - other.x0) * (other.y1 - other.y0))
                if w * h > share * small:
                    found.append((other.text, g.text, round(g.x0), round(g.y0)))
        for key in keys:
            cells.setdefault(key, []).append(g)
    return found
