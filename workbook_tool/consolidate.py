"""The consolidate stage: inbox → identified, checked, merged → master, feedback, ledger."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import signing
from .checks import check_history, check_return, identify
from .desk import Desk, DeskError, Period
from .findings import ERROR, WARNING, Finding, count_by_severity
from .inbox import has_entries, scan, scan_mailbox
from .ledger import (Ledger, backup_ledger, check_key, check_ledger, period_has_results, record_fingerprint,
                     stored_fingerprint)
from .reader import read_return
from .spec import load_spec
from .template import rows_from_records, safe_filename, write_template

MASTER_NAME = "汇总表.xlsx"
FEEDBACK_DIR = "退回"


@dataclass
class FileEntry:
    path: str
    sha256: str
    size: int
    received: dt.datetime
    sender: str | None = None
    unit: str | None = None
    period: str | None = None
    nonce: str | None = None
    saved: dt.datetime | None = None
    verdict: str = "rejected"
    findings: list = field(default_factory=list)
    checked: object = None
    records: list = field(default_factory=list)
    raw_name: str | None = None     # the file name's bytes (hex) when they are not valid UTF-8

    @property
    def codes(self) -> list:
        return sorted({f.code for f in self.findings})

    def as_json(self) -> dict:
        return {"path": self.path, "unit": self.unit, "verdict": self.verdict, "codes": self.codes}


@dataclass
class UnitData:
    """What the master shows for one unit."""

    unit: str
    status: str              # 本期 | 沿用上期 | 未报
    period: str | None
    rows: list               # [(table, key, project, kind, values)]


def units_data_for(spec, ledger, period) -> list:
    """What the master shows for every unit in ``period``: its accepted rows, or its last ones."""
    out = []
    latest = ledger.latest_all(spec.code, str(period), inclusive=True)
    for unit in spec.responsible_units:
        got_period, rows = latest.get(unit, (None, []))
        if got_period == str(period):
            status = "本期"
        elif got_period:
            status = f"沿用{got_period}"
        else:
            status = "未报"
        out.append(UnitData(unit, status, got_period, [(r.table, r.key, r.project, r.kind, r.values) for r in rows]))
    return out


def consolidate(root, spec_option, period_text, progress=None, jobs=1, mailbox=None, allow_empty=False) -> dict:
    """Run the whole stage; return the summary (the --json object)."""
    desk = Desk(root)
    spec = load_spec(desk.spec_folder(spec_option))
    period = Period.parse(period_text)
    key = signing.load_key(desk.secret_path, create=False)
    if not key:
        raise DeskError("找不到签名密钥（.workbook-tool-secret 或环境变量 WORKBOOK_TOOL_SECRET）。"
                        "请在生成模板的同一办公桌上运行汇总。")
    out_dir = desk.consolidated(spec.code, period)
    if mailbox is not None:
        mailbox = Path(mailbox)
        if not (mailbox.is_file() or (mailbox / "cur").is_dir()):
            raise DeskError(f"{mailbox} 不是 mbox 文件或 maildir 文件夹（应含 cur/、new/）。")
        desk = Desk(root, mailbox=mailbox)
    _refuse_before_touching(desk, spec, period, key, allow_empty)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _RunLock(desk.consolidated(spec.code) / ".lock"):
        _refuse_before_touching(desk, spec, period, key, allow_empty)     # again, now that the run is ours
        backup_ledger(desk, spec.code)
        with Ledger(desk.ledger_path(spec.code)) as ledger:
            if stored_fingerprint(desk.ledger_path(spec.code)) is None:
                with ledger.transaction():
                    record_fingerprint(ledger, signing.fingerprint(key))
            return _run(desk, spec, period, key, ledger, out_dir, progress, jobs)


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
    def __init__(self, path: Path):
        self.path = path
        self.fh = None

    def __enter__(self):
        import fcntl
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise DeskError("另一个汇总正在运行（同一个县）。请等它结束后再运行。") from None
        return self

    def __exit__(self, *exc):
        import fcntl
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def assess(desk, spec, period, key, ledger, progress=None, jobs=1):
    """Identify and check every inbox file; write nothing. → (entries, winners, accepted, rejected)

    Reading and checking a return needs nothing but the return: with ``jobs`` > 1 it runs in
    a pool of processes. What needs the ledger (stale templates, history) runs here after.
    """
    entries = []
    senders = {}                       # nonce → e-mail senders seen in this run
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

    # several returns from one unit: the newest wins
    by_unit = {}
    for e in entries:
        if e.verdict == "candidate":
            by_unit.setdefault(e.unit, []).append(e)
    winners = {}
    for unit, group in by_unit.items():
        group.sort(key=lambda e: (e.saved or e.received, e.received, e.path), reverse=True)
        winners[unit] = group[0]
        for older in group[1:]:
            older.verdict = "superseded"
            older.checked = None
            older.findings.append(Finding("F008", unit=unit, file=older.path))

    accepted, rejected = {}, {}
    earlier = ledger.latest_all(spec.code, str(period), inclusive=False)
    for unit, e in sorted(winners.items()):
        previous = earlier.get(unit, (None, []))[1]
        checked = check_history(e.checked, e.records, period, unit, previous)
        e.findings.extend(_with_file(f, e.path) for f in checked.findings)
        if checked.has_errors:
            e.verdict = "rejected"
            rejected[unit] = e
        else:
            e.verdict = "accepted"
            e.checked.raw = {}            # only feedback needs the raw cells
            accepted[unit] = e
    return entries, winners, accepted, rejected


def _examine_all(candidates, spec, period, key, jobs):
    """Yield a FileEntry per candidate, in order, each read in a supervised worker process."""
    from .isolation import examine_all
    yield from examine_all(candidates, spec, period, key, jobs, _examine, _reading_failed)


def _reading_failed(cand, detail) -> FileEntry:
    """The entry for a file whose reader crashed, hung or ran out of memory: rejected, named, nothing more."""
    e = FileEntry(path=cand.path, sha256=cand.sha256, size=len(cand.data), received=cand.received,
                  sender=cand.sender, raw_name=cand.raw_name)
    e.findings.append(Finding("F014", file=cand.path, detail=detail))
    return e


def _run(desk, spec, period, key, ledger, out_dir, progress, jobs=1):
    entries, winners, accepted, rejected = assess(desk, spec, period, key, ledger, progress, jobs)

    deadline = period.deadline(spec.deadline_day)
    late = sorted((u for u, e in winners.items() if e.received.date() > deadline), key=_unit_order(spec))
    # one transaction per run: if the outputs cannot be published, the ledger stays as it was
    with ledger.transaction():
        for unit, e in accepted.items():
            ledger.replace_accepted(spec.code, str(period), unit, e.sha256, e.received.isoformat(),
                                    [r.ledger_row() for r in e.checked.rows if r.used])
        ledger.record_files(spec.code, str(period), [
            dict(path=e.path, sha256=e.sha256, size=e.size, received=e.received.isoformat(), unit=e.unit,
                 period=e.period, nonce=e.nonce, sender=e.sender, verdict=e.verdict, codes=e.codes,
                 raw_name=e.raw_name)
            for e in entries])
        summary, findings = _write_outputs(spec, period, key, ledger, out_dir, entries, winners, accepted,
                                           rejected, late)
        ledger.record_run(spec.code, str(period), dt.datetime.now().isoformat(timespec="seconds"), summary)
    summary["_findings"] = findings
    return summary


def _write_outputs(spec, period, key, ledger, out_dir, entries, winners, accepted, rejected, late):
    """Master, feedback and summary, staged then published; → (summary, findings)."""
    deadline = period.deadline(spec.deadline_day)
    units_data = units_data_for(spec, ledger, period)

    findings = [f for e in entries for f in e.findings]
    from .master import write_master
    staging = out_dir.with_name(f".{out_dir.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    (staging / FEEDBACK_DIR).mkdir(parents=True)
    submissions = _submissions(spec, entries, winners, deadline)
    write_master(spec, period, units_data, submissions, findings, staging / MASTER_NAME)
    for unit, e in sorted(rejected.items()):
        _write_feedback(spec, period, key, e, staging / FEEDBACK_DIR / f"{safe_filename(unit)}.xlsx")

    order = _unit_order(spec)
    summary = {
        "county": spec.county,
        "code": spec.code,
        "period": str(period),
        "expected": len(spec.responsible_units),
        "returned": len(winners),
        "accepted": sorted(accepted, key=order),
        "rejected": sorted(rejected, key=order),
        "missing": [u for u in spec.responsible_units if u not in winners],
        "late": late,
        "superseded": sorted(e.path for e in entries if e.verdict == "superseded"),
        "skipped": sorted(e.path for e in entries if e.verdict == "skipped"),
        "findings": count_by_severity(f for f in findings if f.code != "F006"),
        "master": str(out_dir / MASTER_NAME),
        "feedback": [str(out_dir / FEEDBACK_DIR / f"{safe_filename(u)}.xlsx") for u in sorted(rejected, key=order)],
        "files": [e.as_json() for e in entries],
    }
    (staging / "汇总结果.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True),
                                         encoding="utf-8")
    _fault_point("before-publish")
    _publish(staging, out_dir)
    return summary, findings


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
                  sender=cand.sender, raw_name=cand.raw_name)
    if cand.problem:
        e.findings.append(Finding(cand.code, file=cand.path, detail=cand.problem))
        return e
    result = read_return(cand.data, spec.max_file_mb, spec.max_unpacked_mb)
    e.saved = result.saved
    e.findings.extend(_with_file(f, cand.path) for f in result.findings)
    if result.fatal:
        return e
    status, found = identify(result, spec, period, key)
    meta = result.meta
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


def _write_feedback(spec, period, key, e, path):
    checked = e.checked
    inputs = {}
    for (table, row_key), raw in checked.raw.items():
        inputs[(table, row_key)] = {k: v for k, v in raw.items() if v not in (None, "")}
    # rows that failed structure checks have no raw cells; the template's rows still come back
    rows = rows_from_records(e.records, inputs)
    for table in spec.tables:
        rows.setdefault(table, [])
    notes, feedback = {}, []
    for f in e.findings:
        if f.code == "F008":
            continue
        where = f"{f.sheet}!{f.cell}" if f.cell else (f.sheet or "整个文件")
        feedback.append((where, f"[{f.severity}] {f.message}"))
        if f.cell and f.sheet:
            key_ = (f.sheet, f.cell)
            notes[key_] = (notes[key_] + "\n" if key_ in notes else "") + f"[{f.severity}] {f.message}"
    write_template(spec, e.unit, period, rows, key, path, notes=notes, feedback=feedback)


def _publish(staging: Path, out_dir: Path):
    """Move the staged outputs into place; a master held open elsewhere gets a clear message."""
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for item in sorted(staging.iterdir()):
            target = out_dir / item.name
            if item.is_dir():
                if target.exists():
                    old = out_dir / f".{item.name}.old"
                    if old.exists():
                        shutil.rmtree(old)
                    os.replace(target, old)
                    os.replace(item, target)
                    shutil.rmtree(old)
                else:
                    os.replace(item, target)
            else:
                os.replace(item, target)
    except PermissionError as exc:
        raise DeskError(f"无法写入 {exc.filename}：文件可能正在 Excel/WPS 中打开，或文件夹没有写权限。"
                        "请关闭该文件后重新运行汇总；上一次的汇总结果保持不变。") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
