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
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .reader import ZIP_ERRORS

IGNORED_NAMES = {"README.md", "Thumbs.db", "desktop.ini", ".DS_Store"}
MAX_MEMBER_BYTES = 60 * 1024 * 1024
MAX_MEMBERS = 500


@dataclass
class Candidate:
    path: str                 # relative to the inbox; "outer!member" for archive members
    data: bytes
    received: dt.datetime | None  # the e-mail's Date; None: the desk's first sight of ``origin``
    sender: str | None = None
    problem: str | None = None  # set when the container itself could not be opened
    origin: str | None = None   # sha256 of the file as it lies in the inbox (the zip, not its member)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def scan(inbox: Path):
    """Yield every candidate under ``inbox`` (one file in memory at a time), in a stable order."""
    inbox = Path(inbox)
    if not inbox.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(inbox):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name in IGNORED_NAMES or name.startswith((".", "~$")):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(inbox).as_posix()
            try:
                data = full.read_bytes()
            except OSError as exc:
                yield Candidate(rel, b"", None, problem=f"无法读取：{exc}")
                continue
            # never a modification time: copying or touching a file must not change when it came in
            origin = hashlib.sha256(data).hexdigest()
            for cand in expand(rel, data, None):
                cand.origin = origin
                yield cand


def expand(path: str, data: bytes, received: dt.datetime, sender=None, depth=0) -> list:
    """A file → the candidates in it (itself, or its archive members / attachments)."""
    lower = path.lower()
    if depth < 2 and (lower.endswith(".eml") or _looks_like_mail(data)):
        return _from_mail(path, data, received, depth)
    if depth < 2 and _is_plain_zip(data):
        return _from_zip(path, data, received, sender, depth)
    return [Candidate(path, data, received, sender)]


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


def _from_zip(path, data, received, sender, depth):
    out = []
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in zf.infolist() if not i.is_dir()]
    except ZIP_ERRORS as exc:
        return [Candidate(path, data, received, sender, problem=f"压缩包无法打开：{exc}")]
    if len(infos) > MAX_MEMBERS:
        return [Candidate(path, data, received, sender, problem=f"压缩包内文件过多（{len(infos)} 个）")]
    for info in infos:
        name = _member_name(info)
        base = name.rsplit("/", 1)[-1]
        if base in IGNORED_NAMES or base.startswith((".", "~$")) or name.startswith("__MACOSX/"):
            continue
        member = f"{path}!{name}"
        if info.file_size > MAX_MEMBER_BYTES:
            out.append(Candidate(member, b"", received, sender, problem="压缩包内文件过大"))
            continue
        try:
            body = zf.read(info)
        except ZIP_ERRORS as exc:
            out.append(Candidate(member, b"", received, sender, problem=f"压缩包内文件无法解压：{exc}"))
            continue
        out.extend(expand(member, body, received, sender, depth + 1))
    return out


def _from_mail(path, data, received, depth):
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
        out = []
        for part in msg.iter_attachments():
            name = part.get_filename() or "附件"
            body = part.get_payload(decode=True) or b""
            out.extend(expand(f"{path}!{name}", body, received, sender, depth + 1))
        return out
    except Exception as exc:  # the e-mail parser raises many kinds of errors on broken mail
        return [Candidate(path, data, received, problem=f"邮件无法解析：{type(exc).__name__}")]


def scan_mailbox(path: Path):
    """Yield the candidates attached to every message of a maildir folder or an mbox file."""
    import mailbox
    path = Path(path)
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
            for cand in _from_mail(f"{label}!{key}", data, None, 0):
                cand.origin = origin
                yield cand
    finally:
        box.close()
