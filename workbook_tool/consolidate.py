"""The consolidate stage: inbox → identified, checked, merged → master, feedback, ledger."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from . import history, signing
from .checks import check_history, check_return, identify
from .desk import Desk, DeskError, Period, cannot_write, check_period
from .findings import ERROR, WARNING, Finding, count_by_severity
from .inbox import has_entries, scan, scan_mailbox
from .ledger import (Ledger, backup_ledger, check_key, check_ledger, period_has_results, record_fingerprint,
                     stored_fingerprint)
from .reader import read_return
from .spec import Spec
from .standing import units_data_for
from .tables import TABLES
from .feedback import write_feedback
from .template import safe_filename
from .values import canon
from xlsxwriter.utility import xl_rowcol_to_cell

MASTER_NAME = "汇总表.xlsx"
FEEDBACK_DIR = "退回"


@dataclass
class FileEntry:
    path: str
    sha256: str
    size: int
    received: dt.datetime | None
    sender: str | None = None
    unit: str | None = None
    period: str | None = None
    nonce: str | None = None
    saved: dt.datetime | None = None
    origin: str | None = None
    verdict: str = "rejected"
    findings: list = field(default_factory=list)
    checked: object = None
    records: list = field(default_factory=list)
    raw_name: str | None = None     # the file name's bytes (hex) when they are not valid UTF-8

    @property
    def codes(self) -> list:
        return sorted({f.code for f in self.findings})

    @property
    def stale(self) -> bool:
        return any(f.code == "F007" for f in self.findings)

    def as_json(self) -> dict:
        return {"path": self.path, "unit": self.unit, "verdict": self.verdict, "codes": self.codes,
                "period": self.period}


def consolidate(desk: Desk, spec: Spec, period: Period, progress: Optional[Callable] = None, jobs: int = 1,
                now: Optional[dt.datetime] = None, allow_empty: bool = False) -> "RunResult":
    """Run the whole stage; return what it decided (the summary, the --json object, and the findings).

    ``desk.mailbox``, when set, is read besides inbox/. ``now``: the time this desk sees the inbox
    (first-seen times of new files); the clock by default.
    """
    check_period(spec, period)
    key = signing.load_key(desk.secret_path, create=False)
    if not key:
        raise DeskError("找不到签名密钥（.workbook-tool-secret 或环境变量 WORKBOOK_TOOL_SECRET）。"
                        "请在生成模板的同一办公桌上运行汇总。")
    out_dir = desk.consolidated(spec.code, period)
    _refuse_before_touching(desk, spec, period, key, allow_empty)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _RunLock(desk.consolidated(spec.code) / ".lock"):
        _refuse_before_touching(desk, spec, period, key, allow_empty)     # again, now that the run is ours
        backup_ledger(desk, spec.code)
        with Ledger(desk.ledger_path(spec.code)) as ledger:
            recover_outputs(ledger, spec, period, out_dir)
            spec = history.spec_for_period(ledger, spec, period)
            if not ledger.issued_units(spec.code, str(period)):
                raise DeskError(f"{spec.county} {period} 还没有生成过模板，无从汇总。"
                                f"请先运行 workbook-tool generate --period {period}。")
            if stored_fingerprint(desk.ledger_path(spec.code)) is None:
                with ledger.transaction():
                    record_fingerprint(ledger, signing.fingerprint(key))
            return _run(desk, spec, period, key, ledger, out_dir, progress, jobs, now or _now())


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _refuse_before_touching(desk, spec, period, key, allow_empty):
    """A corrupt or lost ledger, another key, or an empty inbox after a good run: refuse, change nothing."""
    check_ledger(desk, spec.code)
    check_key(desk, spec.code, key)
    if allow_empty or desk.mailbox is not None or has_entries(desk.inbox):
        return
    seen = period_has_results(desk.ledger_path(spec.code), spec.code, str(period))
    if seen or (desk.consolidated(spec.code, period) / "汇总结果.json").exists():
        state = "不存在" if not desk.inbox.is_dir() else "是空的"
        raise DeskError(f"{desk.inbox} {state}，而 {period} 上次汇总时有 {seen} 个文件。照此汇总会清空本期的汇总表、"
                        "退回意见和文件记录，所以本次没有做任何修改。请把报回的文件放回 inbox/ 后重新运行；"
                        "如确实要清空本期结果，请加 --allow-empty。")


class _RunLock:
    """One consolidate per county at a time, on Windows and Linux alike.

    The lock is an exclusive SQLite transaction on a small file beside the ledger: SQLite locks
    with LockFileEx on Windows and fcntl on POSIX, and the system releases it when the process
    ends, however it ends (a crash leaves no stale lock behind).
    """

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> "_RunLock":
        import sqlite3
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = db = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            db.close()
            raise DeskError("另一个汇总正在运行（同一个县）。请等它结束后再运行。") from None
        return self

    def __exit__(self, *exc) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


@dataclass
class Assessment:
    """What the inbox says for one period, before anything is written."""

    entries: list                     # [FileEntry], every file seen, in path order
    winners: dict                     # unit → FileEntry: the return that counts for the unit
    accepted: dict                    # unit → FileEntry
    rejected: dict                    # unit → FileEntry

    @property
    def other_periods(self) -> dict:
        """{period: number of files}: files that belong to other periods (or counties)."""
        out: dict = {}
        for e in self.entries:
            if e.verdict == "skipped":
                out[e.period or "?"] = out.get(e.period or "?", 0) + 1
        return dict(sorted(out.items()))


def assess(desk: Desk, spec: Spec, period: Period, key: bytes, ledger: Ledger,
           progress: Optional[Callable[[int, Optional[int], str], None]] = None, jobs: int = 1,
           now: Optional[dt.datetime] = None) -> Assessment:
    """Identify and check every inbox file; write nothing but the first-seen times of new files.

    Reading and checking a return needs nothing but the return: with ``jobs`` > 1 it runs in
    a pool of processes. What needs the ledger (received times, stale templates, history) runs
    here after.
    """
    now = now or _now()
    entries = []
    senders: dict = {}                 # nonce → e-mail senders seen in this run
    candidates = scan(desk.inbox, spec.max_file_mb, spec.max_unpacked_mb)
    if desk.mailbox is not None:
        candidates = itertools.chain(candidates, scan_mailbox(desk.mailbox))
    for n, e in enumerate(_examine_all(candidates, spec, period, key, jobs), start=1):
        if e.verdict == "candidate":
            _check_issue(e, spec, period, ledger, senders)
        entries.append(e)
        if progress:
            progress(n, None, e.path)
    entries.sort(key=lambda e: e.path)
    # not by e-mail: the time this desk first saw the file (recorded for every file at once)
    unseen = [e for e in entries if e.received is None]
    seen = ledger.first_seen_many([(e.origin or e.sha256, e.path) for e in unseen], now)
    for e in unseen:
        e.received = seen[e.origin or e.sha256]

    # several returns from one unit: the one received last wins (never a time the sender wrote)
    by_unit: dict = {}
    for e in entries:
        if e.verdict == "candidate" or (e.unit and e.stale):
            by_unit.setdefault(e.unit, []).append(e)
    winners = {}
    for unit, group in by_unit.items():
        group.sort(key=lambda e: (e.received, e.path), reverse=True)
        winners[unit] = group[0]
        for older in group[1:]:
            older.verdict = "superseded"
            older.checked = None
            older.findings.append(Finding("F008", unit=unit, file=older.path))

    accepted, rejected = {}, {}
    earlier = ledger.states(spec.code, str(period), inclusive=False)
    for unit, e in sorted(winners.items()):
        if e.checked is None:          # a stale template: refused, the unit is told to use the new one
            rejected[unit] = e
            continue
        previous = list(earlier.get(unit, {}).values())
        checked = e.checked
        checked.findings.extend(check_history(checked.rows, period, unit, previous))
        e.findings.extend(_with_file(f, e.path) for f in checked.findings)
        if checked.has_errors:
            e.verdict = "rejected"
            rejected[unit] = e
        else:
            e.verdict = "accepted"
            e.checked.raw = {}            # only feedback needs the raw cells
            e.findings.extend(_resubmitted(spec, ledger, period, unit, e))
            accepted[unit] = e
    return Assessment(entries, winners, accepted, rejected)


def _resubmitted(spec, ledger, period, unit, e):
    """Warnings naming every cell a resubmission changed against the return it replaces."""
    before_sha = ledger.previous_version(spec.code, str(period), unit, e.sha256)
    if before_sha is None:
        return
    before = {r.ident: r.values for r in ledger.version_rows(spec.code, before_sha)}
    for row in e.checked.rows:
        old = before.get((row.table, row.key), {})
        table = TABLES[row.table]
        for c, col in enumerate(table.columns):
            if not col.is_input:
                continue
            new_v, old_v = row.values.get(col.key), old.get(col.key)
            if canon(new_v) != canon(old_v):
                yield Finding("X010", unit=unit, file=e.path, sheet=table.sheet,
                              cell=xl_rowcol_to_cell(row.excel_row - 1, c), column=col.header, row=row.excel_row,
                              seen=canon(new_v) or "空", expected=canon(old_v) or "空")


def _examine_all(candidates, spec, period, key, jobs):
    """Yield a FileEntry per candidate, in order, each read in a supervised worker process."""
    from .isolation import examine_all
    yield from examine_all(candidates, spec, period, key, jobs, _examine, _reading_failed)


def _reading_failed(cand, detail) -> FileEntry:
    """The entry for a file whose reader crashed, hung or ran out of memory: rejected, named, nothing more."""
    e = FileEntry(path=cand.path, sha256=cand.sha256, size=len(cand.data), received=cand.received,
                  sender=cand.sender, origin=cand.origin, raw_name=cand.raw_name)
    e.findings.append(Finding("F014", file=cand.path, detail=detail))
    return e


def _run(desk, spec, period, key, ledger, out_dir, progress, jobs, now):
    a = assess(desk, spec, period, key, ledger, progress, jobs, now)
    deadline = period.deadline(spec.deadline_day)
    late = sorted((u for u, e in a.winners.items() if e.received.date() > deadline), key=_unit_order(spec))
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    token = hashlib.sha256(f"{period}|{now.isoformat()}|{os.getpid()}".encode()).hexdigest()[:16]
    # one transaction per run: outputs are staged, the ledger commits, then the outputs swap in
    with ledger.transaction():
        for unit, e in a.accepted.items():
            ledger.record_version(spec.code, str(period), unit, e.sha256, e.received, e.path,
                                  e.checked.rows)
        ledger.set_standing(spec.code, str(period), {u: e.sha256 for u, e in a.accepted.items()})
        ledger.record_files(spec.code, str(period), [
            dict(path=e.path, sha256=e.sha256, size=e.size, received=e.received.isoformat(), unit=e.unit,
                 period=e.period, nonce=e.nonce, sender=e.sender, verdict=e.verdict, codes=e.codes,
                 raw_name=e.raw_name)
            for e in a.entries])
        summary, findings = _stage_outputs(desk, spec, period, key, ledger, out_dir, staging, a, late)
        (staging / TOKEN_NAME).write_text(token, encoding="utf-8")
        _fault_point("staged")
        ledger.set_published(spec.code, str(period), token)
        ledger.record_run(spec.code, str(period), now.isoformat(), summary)
        _retire(out_dir)                 # a master held open in Excel stops the run here: all stays as it was
        _fault_point("retired")
    _fault_point("committed")
    _swap_in(staging, out_dir)
    return RunResult(summary, tuple(findings))


@dataclass(frozen=True)
class RunResult(Mapping):
    """What one run decided: reads as the summary (the --json object, 汇总结果.json), and
    carries every finding as data for the CLI and tests to render."""

    summary: dict
    findings: tuple = ()

    def __getitem__(self, key):
        return self.summary[key]

    def __iter__(self):
        return iter(self.summary)

    def __len__(self):
        return len(self.summary)


TOKEN_NAME = ".run"


def _stage_outputs(desk, spec, period, key, ledger, out_dir, staging, a, late):
    """Master, feedback and summary, written into ``staging``; → (summary, findings)."""
    deadline = period.deadline(spec.deadline_day)
    units_data = units_data_for(spec, ledger, period)

    other = a.other_periods
    findings = [f for e in a.entries for f in e.findings if f.code != "F006"]
    if other:
        findings.append(Finding("F006", file=f"（{sum(other.values())} 个文件）",
                                detail="、".join(f"{p}：{n} 个" for p, n in other.items()),
                                expected=f"{spec.county} {period}"))
    from .master import write_master
    if staging.exists():
        shutil.rmtree(staging)
    (staging / FEEDBACK_DIR).mkdir(parents=True)
    submissions = _submissions(spec, a.entries, a.winners, deadline)
    write_master(spec, period, units_data, submissions, findings, staging / MASTER_NAME)
    templates = desk.templates(spec.code, period)
    for unit, e in sorted(a.rejected.items()):
        write_feedback(spec, period, key, e, staging / FEEDBACK_DIR / f"{safe_filename(unit)}.xlsx", templates)

    order = _unit_order(spec)
    summary = {
        "county": spec.county,
        "code": spec.code,
        "period": str(period),
        "expected": len(spec.responsible_units),
        "returned": len(a.winners),
        "accepted": sorted(a.accepted, key=order),
        "rejected": sorted(a.rejected, key=order),
        "missing": [u for u in spec.responsible_units if u not in a.winners],
        "late": late,
        "superseded": sorted(e.path for e in a.entries if e.verdict == "superseded"),
        "skipped": sorted(e.path for e in a.entries if e.verdict == "skipped"),
        "other_periods": other,
        "changed": sorted({f.unit for f in findings if f.code == "X010"}, key=order),
        "findings": count_by_severity(f for f in findings if f.code != "F006"),
        "master": str(out_dir / MASTER_NAME),
        "feedback": [str(out_dir / FEEDBACK_DIR / f"{safe_filename(u)}.xlsx") for u in sorted(a.rejected, key=order)],
        "files": [e.as_json() for e in a.entries],
    }
    (staging / SUMMARY_NAME).write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True),
                                        encoding="utf-8")
    return summary, findings


SUMMARY_NAME = "汇总结果.json"


def _old(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.old")


def _retire(out_dir: Path):
    """Move the previous outputs aside (one rename); a file held open in Excel/WPS refuses it."""
    old = _old(out_dir)
    if old.exists():
        shutil.rmtree(old)
    if not out_dir.exists():
        return
    held = _held_open(out_dir)
    if held:
        raise DeskError(cannot_write(held[0]) + "上一次的汇总结果和台账保持不变。")
    try:
        os.replace(out_dir, old)
    except PermissionError:
        raise DeskError(cannot_write(out_dir) + "上一次的汇总结果和台账保持不变。") from None


def _held_open(out_dir: Path) -> list:
    """Output files another program holds open (Excel and WPS deny others write access)."""
    held = []
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            try:
                with open(path, "r+b"):
                    pass
            except PermissionError:
                held.append(path)
    return held


def _swap_in(staging: Path, out_dir: Path):
    os.replace(staging, out_dir)
    _fault_point("swapped")
    (out_dir / TOKEN_NAME).unlink()
    shutil.rmtree(_old(out_dir), ignore_errors=True)


def recover_outputs(ledger: Ledger, spec: Spec, period: Period, out_dir: Path) -> None:
    """Finish or undo a publish that a crash interrupted, so outputs always match the ledger."""
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    old = _old(out_dir)
    token_file = staging / TOKEN_NAME
    committed = ledger.published(spec.code, str(period))
    if token_file.is_file() and committed and token_file.read_text(encoding="utf-8") == committed:
        if out_dir.exists() and not old.exists():
            os.replace(out_dir, old)
        _swap_in(staging, out_dir)
        return
    if staging.exists():
        shutil.rmtree(staging)
    if old.exists():
        if not out_dir.exists():
            os.replace(old, out_dir)
        else:
            shutil.rmtree(old)
    if (out_dir / TOKEN_NAME).exists():
        (out_dir / TOKEN_NAME).unlink()


def _fault_point(name):
    """Crash here on purpose when WORKBOOK_TOOL_FAULT names this point (crash-safety tests only)."""
    if os.environ.get("WORKBOOK_TOOL_FAULT") == name:
        os._exit(70)


def _with_file(f, path):
    return dataclasses.replace(f, file=path)


def _unit_order(spec):
    index = {u: i for i, u in enumerate(spec.responsible_units)}
    return lambda u: index.get(u, len(index))


def _examine(cand, spec, period, key) -> FileEntry:
    """Read, identify and check one candidate (no ledger needed: safe in a worker process)."""
    e = FileEntry(path=cand.path, sha256=cand.sha256, size=len(cand.data), received=cand.received,
                  sender=cand.sender, origin=cand.origin, raw_name=cand.raw_name)
    if cand.problem:
        e.findings.append(Finding(cand.code, file=cand.path, detail=cand.problem))
        return e
    result = read_return(cand.data, spec.max_file_mb, spec.max_unpacked_mb)
    e.saved = result.saved
    e.findings.extend(_with_file(f, cand.path) for f in result.findings)
    if result.fatal:
        return e
    status, found = identify(result, spec, period, key)
    meta = result.meta or {}
    e.findings.extend(_with_file(f, cand.path) for f in found)
    if status == "skip":
        e.verdict = "skipped"
        e.period = meta.get("period")
        return e
    if status == "reject":
        return e
    e.unit, e.period, e.nonce = meta["unit"], meta["period"], meta["nonce"]
    e.findings = [f if f.unit else _set_unit(f, e.unit) for f in e.findings]
    checked = check_return(result, spec, period, previous=None)
    e.checked, e.records = checked, result.records   # the cell grids are dropped here
    e.verdict = "candidate"
    return e


def _check_issue(e, spec, period, ledger, senders):
    """Refuse a stale template, or a template forwarded to (and returned by) somebody else.

    A template is forwarded when it comes from another unit's registered address, or when the
    same issued template (its nonce) has already come back from a different sender.
    """
    issued = ledger.issued(spec.code, str(period), e.unit)
    if issued and e.nonce in issued and e.nonce != issued[-1]:
        e.findings.append(Finding("F007", unit=e.unit, file=e.path))
        e.verdict, e.checked = "rejected", None
        return
    if not e.sender:
        return
    owner = spec.unit(e.unit)
    known = (ledger.senders(spec.code, e.nonce) | senders.get(e.nonce, set())) - {e.sender}
    wrong_address = owner.email and e.sender != owner.email.lower() and any(
        u.email and u.email.lower() == e.sender for u in spec.units)
    first_sender_elsewhere = known and not (owner.email and e.sender == owner.email.lower())
    senders.setdefault(e.nonce, set()).add(e.sender)
    if wrong_address or first_sender_elsewhere:
        e.findings.append(Finding("F013", unit=e.unit, file=e.path, detail=e.unit, seen=e.sender))
        e.verdict, e.checked = "rejected", None


def _set_unit(f, unit):
    return dataclasses.replace(f, unit=unit)


def _submissions(spec, entries, winners, deadline):
    out = []
    for unit in spec.responsible_units:
        e = winners.get(unit)
        if e is None:
            out.append(dict(unit=unit, returned=False, received=None, late=False, verdict="未报",
                            errors=0, warnings=0, file=""))
            continue
        counts = count_by_severity(e.findings)
        out.append(dict(unit=unit, returned=True, received=e.received, late=e.received.date() > deadline,
                        verdict={"accepted": "采用", "rejected": "退回"}[e.verdict],
                        errors=counts[ERROR], warnings=counts[WARNING], file=e.path))
    return out
