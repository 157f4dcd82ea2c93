"""The office desk: working folders, the period, and the signing key's home."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path


class DeskError(Exception):
    """A problem the office can fix (bad option, missing folder, locked file)."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> "Period":
        m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})\s*", str(text))
        if not m:
            raise DeskError(f"期次 {text!r} 格式不对，应为 YYYY-MM，如 2023-05。")
        if not 1 <= int(m.group(2)) <= 12:
            raise DeskError(f"期次 {text!r} 中的月份 {int(m.group(2))} 不存在：月份应为 1 到 12，如 2023-05。")
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def deadline(self, day: int) -> dt.date:
        nxt = self.next()
        return dt.date(nxt.year, nxt.month, day)

    def next(self) -> "Period":
        return Period(self.year + (self.month == 12), self.month % 12 + 1)

    def previous(self) -> "Period":
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


class Desk:
    """The folders under ``--root``: specs/, templates/, inbox/, consolidated/, outbox/."""

    def __init__(self, root=".", mailbox=None):
        self.root = Path(root)
        self.mailbox = mailbox        # an extra mbox file or maildir folder to read returns from

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def templates(self, code: str, period: Period) -> Path:
        return self.root / "templates" / code / str(period)

    def consolidated(self, code: str, period: Period | None = None) -> Path:
        base = self.root / "consolidated" / code
        return base / str(period) if period else base

    def ledger_path(self, code: str) -> Path:
        return self.consolidated(code) / "ledger.sqlite"

    def spec_folder(self, spec_option: str | None) -> Path:
        if spec_option:
            path = Path(spec_option)
            # a relative --spec is read from the desk (--root), falling back to the current folder
            if not path.is_absolute() and (self.root / path).exists():
                path = self.root / path
            return path
        folders = sorted(p.parent for p in (self.root / "specs").glob("*/county.yaml"))
        if len(folders) == 1:
            return folders[0]
        if not folders:
            raise DeskError(f"在 {self.root / 'specs'} 下找不到规格文件。请用 --spec 指定，或先运行 workbook-tool init。")
        raise DeskError("有多个县的规格：" + "、".join(str(f) for f in folders) + "。请用 --spec 指定一个。")

    @property
    def secret_path(self) -> Path:
        return self.root / ".workbook-tool-secret"
