"""The office desk: working folders, the period, and the signing key's home."""
from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

if TYPE_CHECKING:
    from .spec import Spec


class DeskError(Exception):
    """A problem the office can fix (bad option, missing folder, locked file)."""


def cannot_write(path: Union[str, Path]) -> str:
    """What to tell the office when a file cannot be written (Windows: Excel or WPS holds it open)."""
    return (f"无法写入 {path}：文件可能正在 Excel/WPS 中打开，或文件夹没有写权限。"
            "请关闭该文件（或给文件夹写权限）后重新运行。")


def write_file(path: Union[str, Path], data: Union[bytes, Callable[[Path], object]]) -> Path:
    """Write ``data`` to ``path`` all at once: the old file stays whole until the new one is complete.

    ``data`` is bytes, or a function that writes the file at the path it is given. Every file a
    person may hold open in Excel or WPS (templates, 分发清单, master, feedback, bulletin, mail) is
    written here: Windows refuses to replace an open file, and that ends in a DeskError naming
    the file to close, never a traceback.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except PermissionError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise DeskError(cannot_write(path)) from None
    return path


UNKNOWN_ENCODING = "无法识别文件的编码。请用记事本打开，另存为“UTF-8”编码后重试。"


def read_text(path: Union[str, Path]) -> str:
    """A text file the office may have saved with Notepad or WPS: UTF-8 (a BOM is dropped),
    UTF-16 with a BOM, or GBK/GB18030 (the code page of Chinese Windows)."""
    path = Path(path)
    text = decode_text(path.read_bytes())
    if text is None:
        raise DeskError(f"{path}：{UNKNOWN_ENCODING}")
    return text


def decode_text(data: bytes) -> Optional[str]:
    """Bytes of a text file → text (UTF-8 with or without BOM, UTF-16 with BOM, GBK); None if none fits."""
    encodings: tuple[str, ...]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


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


def check_period(spec: Spec, period: Period) -> None:
    """Refuse a period outside the plan years (exit 1, a message saying which years are valid)."""
    y0, y1 = spec.plan_years
    if not y0 <= period.year <= y1:
        raise DeskError(f"期次 {period} 不在{spec.county}的规划年度 {y0}—{y1} 内。请检查 --period。")


class Desk:
    """The folders under ``--root``: specs/, templates/, inbox/, consolidated/, outbox/."""

    def __init__(self, root: Union[str, Path] = ".", mailbox: Union[str, Path, None] = None) -> None:
        self.root = Path(root)
        self.mailbox = mailbox        # an extra mbox file or maildir folder to read returns from

    def with_mailbox(self, mailbox: Union[str, Path]) -> "Desk":
        """This desk, also reading returns from an mbox file or a maildir folder."""
        mailbox = Path(mailbox)
        if not (mailbox.is_file() or (mailbox / "cur").is_dir()):
            raise DeskError(f"{mailbox} 不是 mbox 文件或 maildir 文件夹（应含 cur/、new/）。")
        return Desk(self.root, mailbox=mailbox)

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
        specs = self.root / "specs"
        # a county keeps its spec as YAML (county.yaml + projects/) or as one workbook (规格.xlsx)
        folders = sorted({p.parent for pattern in ("*/county.yaml", "*/规格.xlsx") for p in specs.glob(pattern)})
        if len(folders) == 1:
            return folders[0]
        if not folders:
            raise DeskError(f"在 {self.root / 'specs'} 下找不到规格文件。请用 --spec 指定，或先运行 workbook-tool init。")
        raise DeskError("有多个县的规格：" + "、".join(str(f) for f in folders) + "。请用 --spec 指定一个。")

    @property
    def secret_path(self) -> Path:
        return self.root / ".workbook-tool-secret"
