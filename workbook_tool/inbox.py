"""Find candidate files in the inbox: plain files, zip members, .eml attachments.

No cell logic here. The inbox is only read, never modified.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import io
import os
import stat
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union, cast

from .reader import ZIP_ERRORS

IGNORED_NAMES = {"README.md", "Thumbs.db", "desktop.ini", ".DS_Store"}
MAX_ENTRIES = 10_000          # archive members and attachments from any one received file, all levels
MAX_DEPTH = 2                 # archives in archives (or mails) are opened this deep


@dataclass
class Candidate:
    path: str                 # relative to the inbox; "outer!member" for archive members
    data: bytes
    received: dt.datetime | None  # the e-mail's Date; None: the desk's first sight of ``origin``
    sender: str | None = None
    problem: str | None = None  # set when the container itself could not be opened
    origin: str | None = None   # sha256 of the file as it lies in the inbox (the zip, not its member)
    code: str = "F001"          # the finding a problem is reported as
    raw_name: str | None = None  # hex of the name's bytes when they are not valid UTF-8 (path shows U+FFFD)

    def __post_init__(self) -> None:
        try:
            self.path.encode("utf-8")
        except UnicodeEncodeError:         # undecodable bytes of a file name (surrogateescape)
            raw = self.path.encode("utf-8", "surrogateescape" if _lone_escapes(self.path) else "surrogatepass")
            self.raw_name = self.raw_name or raw.hex()
            self.path = raw.decode("utf-8", "replace")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def _lone_escapes(text: str) -> bool:
    return all(0xDC80 <= ord(ch) <= 0xDCFF for ch in text if 0xD800 <= ord(ch) <= 0xDFFF)


class _Budget:
    """What one received file may unpack to, across every nesting level."""

    def __init__(self, max_bytes: float, entries: int = MAX_ENTRIES):
        self.entries, self.bytes, self.spent = entries, max_bytes, False

    def take(self, entries: int = 0, size: int = 0) -> str | None:
        """Spend; → why not, when over the budget (and from then on)."""
        if self.spent:
            return "spent"
        self.entries -= entries
        self.bytes -= size
        if self.entries < 0:
            self.spent = True
            return f"压缩包或邮件内的文件过多（超过 {MAX_ENTRIES:,} 个）"
        if self.bytes < 0:
            self.spent = True
            return "压缩包解压后过大"
        return None


def scan(inbox: Path, max_file_mb: float = 50, max_unpacked_mb: float = 200) -> Iterator[Candidate]:
    """Yield every candidate under ``inbox`` (one file in memory at a time), in a stable order.

    Only regular files inside the inbox are read, their size checked before any read; FIFOs,
    devices, sockets, links leaving the inbox and unreadable files or folders become findings.
    """
    inbox = Path(inbox)
    if not inbox.is_dir():
        return
    root = os.path.realpath(inbox)
    errors: list[OSError] = []
    max_bytes = int(max_file_mb * 1024 * 1024)
    for dirpath, dirnames, filenames in os.walk(inbox, onerror=errors.append):
        yield from _folder_errors(errors, inbox)
        kept = []
        for d in sorted(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith("."):
                continue
            if os.path.islink(full):
                if not _inside(os.path.realpath(full), root):
                    yield Candidate(_rel(full, inbox) + "/", b"", _EPOCH, problem="链接指向收件箱以外的文件夹",
                                    code="F015")
                continue                    # a link inside the inbox: its folder is scanned anyway
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name in IGNORED_NAMES or name.startswith((".", "~$")):
                continue
            full = os.path.join(dirpath, name)
            rel = _rel(full, inbox)
            got = _read_regular(full, root, max_bytes)
            if isinstance(got, Candidate):
                got.path = rel
                got.__post_init__()
                yield got
                continue
            # never a modification time: copying or touching a file must not change when it came in
            origin = hashlib.sha256(got).hexdigest()
            for cand in expand(rel, got, None, budget=_Budget(max_unpacked_mb * 1024 * 1024),
                               max_bytes=max_bytes):
                cand.origin = origin
                yield cand
    yield from _folder_errors(errors, inbox)


_EPOCH = dt.datetime(1970, 1, 1)


def has_entries(inbox: Path) -> bool:
    """Whether the inbox holds anything ``scan`` would report (a file, or a folder it cannot read)."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return False
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(inbox, onerror=errors.append):
        if errors:
            return True
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(os.path.islink(os.path.join(dirpath, d)) for d in dirnames):
            return True
        if any(n not in IGNORED_NAMES and not n.startswith((".", "~$")) for n in filenames):
            return True
    return bool(errors)


def _rel(full: str, inbox: Path) -> str:
    return Path(full).relative_to(inbox).as_posix()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _folder_errors(errors: list[OSError], inbox: Path) -> Iterator[Candidate]:
    while errors:
        exc = errors.pop(0)
        where = _rel(exc.filename, inbox) if exc.filename and str(exc.filename) != str(inbox) else "."
        yield Candidate(where.rstrip("/") + "/", b"", _EPOCH, problem=f"文件夹无法读取：{_why(exc)}", code="F016")


def _why(exc: OSError) -> str:
    import errno
    reasons: dict[Optional[int], str] = {errno.EACCES: "没有读取权限", errno.EPERM: "没有读取权限",
                                         errno.ENOENT: "已被移走或删除", errno.ELOOP: "链接循环"}
    return reasons.get(exc.errno, exc.strerror or type(exc).__name__)


def _read_regular(full: str, root: str, max_bytes: int) -> Union[bytes, Candidate]:
    """A regular file's bytes — or a problem Candidate saying why it was not read."""
    problem = lambda text, code: Candidate("", b"", _EPOCH, problem=text, code=code)  # noqa: E731
    try:
        if os.path.islink(full):
            target = os.path.realpath(full)
            if not _inside(target, root):
                return problem("链接指向收件箱以外的文件", "F015")
            full = target
        st = os.stat(full)
        if not stat.S_ISREG(st.st_mode):
            return problem(_kind(st.st_mode), "F015")
        if st.st_size > max_bytes:
            return problem(f"文件 {st.st_size / 1024 / 1024:.0f} MB，超过 {max_bytes / 1024 / 1024:g} MB", "F010")
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())          # the file opened is the file checked
            if not stat.S_ISREG(st.st_mode):
                return problem(_kind(st.st_mode), "F015")
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            return problem(f"文件超过 {max_bytes / 1024 / 1024:g} MB", "F010")
        return data
    except OSError as exc:
        return problem(f"无法读取：{_why(exc)}", "F016")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "命名管道（FIFO）"
    if stat.S_ISSOCK(mode):
        return "套接字"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "设备文件"
    if stat.S_ISDIR(mode):
        return "文件夹"
    return "特殊文件"


def expand(path: str, data: bytes, received: Optional[dt.datetime], sender: Optional[str] = None, depth: int = 0,
           budget: Optional[_Budget] = None, max_bytes: Optional[int] = None) -> Iterator[Candidate]:
    """A file → the candidates in it (itself, or its archive members / attachments), one at a time.

    Members and attachments count against ``budget`` (entries and unpacked bytes) across every
    nesting level; once it is spent, the received file gets one finding and nothing more is opened.
    """
    budget = budget or _Budget(200 * 1024 * 1024)
    lower = path.lower()
    if depth < MAX_DEPTH and (lower.endswith(".eml") or _looks_like_mail(data)):
        yield from _from_mail(path, data, received, depth, budget, max_bytes)
        return
    if depth < MAX_DEPTH and data[:4] == b"PK\x03\x04":
        count = zip_entry_count(data)
        if count is not None and count > budget.entries:
            if budget.take(entries=count) != "spent":
                yield Candidate(path, b"", received, sender, problem=f"压缩包内文件过多（{count:,} 个）", code="F010")
            return
        if _is_plain_zip(data):
            yield from _from_zip(path, data, received, sender, depth, budget, max_bytes)
            return
    yield Candidate(path, data, received, sender)


def zip_entry_count(data: bytes) -> Optional[int]:
    """The number of entries a zip's end record announces, read before any ZipFile is built; None if absent."""
    at = data.rfind(b"PK\x05\x06", max(0, len(data) - 65557))
    if at < 0 or at + 22 > len(data):
        return None
    count = struct.unpack_from("<H", data, at + 10)[0]
    return MAX_ENTRIES + 1 if count == 0xFFFF else count     # zip64: more than any budget allows


def _looks_like_mail(data: bytes) -> bool:
    head = data[:2048]
    return (head[:4] != b"PK\x03\x04" and head[:4] != b"\xd0\xcf\x11\xe0"
            and b"\nContent-Type:" in head and (head.startswith(b"From") or b"\nFrom:" in head
                                                 or head.startswith(b"Received:") or b"MIME-Version" in head))


def _is_plain_zip(data: bytes) -> bool:
    """A zip archive that is not itself a workbook (xlsx/ods are zips too)."""
    if data[:4] != b"PK\x03\x04":
        return False
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except ZIP_ERRORS:
        return False
    return "[Content_Types].xml" not in names and "mimetype" not in names


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:   # not flagged UTF-8: Chinese Windows zips use GBK
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _from_zip(path: str, data: bytes, received: Optional[dt.datetime], sender: Optional[str], depth: int,
              budget: _Budget, max_bytes: Optional[int]) -> Iterator[Candidate]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except ZIP_ERRORS as exc:
        yield Candidate(path, data, received, sender, problem=f"压缩包无法打开：{exc}")
        return
    over = budget.take(entries=len(infos))
    if over:
        if over != "spent":
            yield Candidate(path, b"", received, sender, problem=over, code="F010")
        return
    for info in infos:
        name = _member_name(info)
        base = name.rsplit("/", 1)[-1]
        if base in IGNORED_NAMES or base.startswith((".", "~$")) or name.startswith("__MACOSX/"):
            continue
        member = f"{path}!{name}"
        if max_bytes is not None and info.file_size > max_bytes:
            yield Candidate(member, b"", received, sender, problem="压缩包内文件过大", code="F010")
            continue
        over = budget.take(size=info.file_size)
        if over:
            if over != "spent":
                yield Candidate(path, b"", received, sender, problem=over, code="F010")
            return
        try:
            body = zf.read(info)
        except ZIP_ERRORS as exc:
            yield Candidate(member, b"", received, sender, problem=f"压缩包内文件无法解压：{exc}")
            continue
        yield from expand(member, body, received, sender, depth + 1, budget, max_bytes)


def _from_mail(path: str, data: bytes, received: Optional[dt.datetime], depth: int, budget: _Budget,
               max_bytes: Optional[int]) -> Iterator[Candidate]:
    try:
        msg = email.message_from_bytes(data, policy=email.policy.default)
        sender = email.utils.parseaddr(str(msg.get("From", "")))[1].lower() or None
        date = msg.get("Date")
        if date:
            try:
                parsed = email.utils.parsedate_to_datetime(str(date))
                if parsed.tzinfo is not None:
                    parsed = parsed.astimezone().replace(tzinfo=None)
                received = parsed.replace(microsecond=0)
            except (TypeError, ValueError):
                pass
        parts: list[Union[Candidate, tuple[str, bytes]]] = []
        for part in msg.iter_attachments():
            name = part.get_filename() or "附件"
            body = cast(bytes, part.get_payload(decode=True) or b"")   # decode=True: bytes, or None
            over = budget.take(entries=1, size=len(body))
            if over:
                if over != "spent":
                    parts.append(Candidate(path, b"", received, problem=over, code="F010"))
                break
            parts.append((f"{path}!{name}", body))
    except Exception as exc:  # the e-mail parser raises many kinds of errors on broken mail
        yield Candidate(path, data, received, problem=f"邮件无法解析：{type(exc).__name__}")
        return
    for item in parts:
        if isinstance(item, Candidate):
            yield item
        else:
            yield from expand(item[0], item[1], received, sender, depth + 1, budget, max_bytes)


def scan_mailbox(path: Union[str, Path]) -> Iterator[Candidate]:
    """Yield the candidates attached to every message of a maildir folder or an mbox file."""
    import mailbox
    path = Path(path)
    box: mailbox.Mailbox[Any]
    if path.is_dir() and (path / "cur").is_dir():
        box, label = mailbox.Maildir(str(path), create=False), path.name
    elif path.is_file():
        box, label = mailbox.mbox(str(path), create=False), path.name
    else:
        raise FileNotFoundError(path)
    try:
        for key in sorted(box.keys()):
            try:
                data = box.get_bytes(key)
            except (OSError, KeyError) as exc:
                yield Candidate(f"{label}!{key}", b"", None, problem=f"邮件无法读取：{exc}")
                continue
            origin = hashlib.sha256(data).hexdigest()
            for cand in _from_mail(f"{label}!{key}", data, None, 0, _Budget(200 * 1024 * 1024), None):
                cand.origin = origin
                yield cand
    finally:
        box.close()
