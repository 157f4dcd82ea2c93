"""The ledger: the one truth of a desk (SQLite, WAL).

It records every file seen (and when it was first seen), every template issued, every
return ever accepted with its rows, and which return stands for each (unit, period) after the
latest run. A run recomputes what stands for its period from the files it sees; the master,
status, carry-forward, reminders and the bulletin all read what stands from here.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional

if TYPE_CHECKING:
    from .desk import Desk, DeskError

from .rows import Row

SCHEMA = """
CREATE TABLE IF NOT EXISTS issued (
    county TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, nonce TEXT NOT NULL,
    file TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (county, period, unit, nonce)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, county TEXT NOT NULL, period TEXT NOT NULL,
    finished TEXT NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    county TEXT NOT NULL, period TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, received TEXT NOT NULL, unit TEXT, file_period TEXT, nonce TEXT,
    sender TEXT, verdict TEXT NOT NULL, codes TEXT NOT NULL,
    PRIMARY KEY (county, period, path, sha256)
);
CREATE TABLE IF NOT EXISTS seen (
    sha256 TEXT PRIMARY KEY, first_seen TEXT NOT NULL, path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    county TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, sha256 TEXT NOT NULL,
    received TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY (county, period, unit, sha256)
);
CREATE TABLE IF NOT EXISTS version_rows (
    county TEXT NOT NULL, sha256 TEXT NOT NULL, tab TEXT NOT NULL, key TEXT NOT NULL,
    project INTEGER NOT NULL, kind TEXT NOT NULL, ord INTEGER NOT NULL, vals TEXT NOT NULL,
    PRIMARY KEY (county, sha256, tab, key)
);
CREATE TABLE IF NOT EXISTS standing (
    county TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (county, period, unit)
);
CREATE TABLE IF NOT EXISTS sent (
    county TEXT NOT NULL, period TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    recipient TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (county, period, file, sha256)
);
CREATE TABLE IF NOT EXISTS published (
    county TEXT NOT NULL, period TEXT NOT NULL, token TEXT NOT NULL,
    PRIMARY KEY (county, period)
);
CREATE TABLE IF NOT EXISTS spec_snapshots (
    county TEXT NOT NULL, period TEXT NOT NULL, files TEXT NOT NULL,
    PRIMARY KEY (county, period)
);
CREATE INDEX IF NOT EXISTS standing_unit ON standing (county, unit, period);
"""


def _stamp(when: dt.datetime) -> str:
    return when.replace(microsecond=0).isoformat()


class Ledger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._migrate()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator["Ledger"]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        """Ledgers written before `standing` existed kept one accepted set per (unit, period)."""
        old = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='accepted'").fetchone()
        if not old:
            return
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO versions SELECT DISTINCT county, period, unit, sha256, received, '' "
                "FROM accepted")
            self.db.execute("INSERT OR IGNORE INTO standing SELECT DISTINCT county, period, unit, sha256 "
                            "FROM accepted")
            self.db.execute("INSERT OR IGNORE INTO version_rows SELECT county, sha256, tab, key, project, kind, "
                            "ord, vals FROM accepted")
            self.db.execute("DROP TABLE accepted")

    # -- files seen -------------------------------------------------------------------
    def first_seen(self, sha256: str, path: str, now: dt.datetime) -> dt.datetime:
        """When this desk first saw a file with these bytes (recorded now if never before)."""
        self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (sha256, _stamp(now), path))
        row = self.db.execute("SELECT first_seen FROM seen WHERE sha256=?", (sha256,)).fetchone()
        return dt.datetime.fromisoformat(row[0])

    def first_seen_many(self, items: list, now: dt.datetime) -> dict:
        """{sha256: first seen} for [(sha256, path)], recording the new ones as seen ``now`` (one commit)."""
        if not items:
            return {}
        with self.transaction():
            self.db.executemany("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                                [(sha, _stamp(now), path) for sha, path in items])
        out = {}
        shas = sorted({sha for sha, _path in items})
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for sha, when in self.db.execute(f"SELECT sha256, first_seen FROM seen WHERE sha256 IN ({marks})", chunk):
                out[sha] = dt.datetime.fromisoformat(when)
        return out

    def note_seen(self, sha256: str, path: str, when: dt.datetime) -> None:
        """Record that the desk first saw these bytes at ``when`` (kept if already known)."""
        self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (sha256, _stamp(when), path))

    # -- templates issued ---------------------------------------------------------------
    def record_issued(self, county: str, period: str, unit: str, nonce: str, file: str) -> None:
        row = self.db.execute("SELECT seq FROM issued WHERE county=? AND period=? AND unit=? AND nonce=?",
                              (county, period, unit, nonce)).fetchone()
        if row:
            return
        seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued WHERE county=? AND period=?",
                              (county, period)).fetchone()[0]
        self.db.execute("INSERT INTO issued VALUES (?, ?, ?, ?, ?, ?)",
                        (county, period, unit, nonce, file, seq))

    def issued(self, county: str, period: str, unit: str) -> list[str]:
        """Nonces issued to ``unit`` for ``period``, oldest first."""
        return [r[0] for r in self.db.execute(
            "SELECT nonce FROM issued WHERE county=? AND period=? AND unit=? ORDER BY seq",
            (county, period, unit))]

    def issued_units(self, county: str, period: str) -> dict[str, str]:
        """{unit: file name of its newest template} for ``period``."""
        out: dict[str, str] = {}
        for unit, file in self.db.execute(
                "SELECT unit, file FROM issued WHERE county=? AND period=? ORDER BY seq", (county, period)):
            out[unit] = file
        return out

    def record_spec(self, county: str, period: str, files: dict) -> None:
        """The spec's files as they stood when ``period`` was (last) generated."""
        self.db.execute("INSERT OR REPLACE INTO spec_snapshots VALUES (?, ?, ?)",
                        (county, period, json.dumps(files, sort_keys=True)))

    def spec_files(self, county: str, period: str) -> dict:
        row = self.db.execute("SELECT files FROM spec_snapshots WHERE county=? AND period=?",
                              (county, period)).fetchone()
        return json.loads(row[0]) if row else {}

    # -- one run ------------------------------------------------------------------------------
    def record_files(self, county: str, period: str, entries: list[dict]) -> None:
        self.db.execute("DELETE FROM files WHERE county=? AND period=?", (county, period))
        self.db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(county, period, e["path"], e["sha256"], e["size"], e["received"], e.get("unit"),
              e.get("period"), e.get("nonce"), e.get("sender"), e["verdict"],
              ",".join(e.get("codes", ()))) for e in entries])
        self.record_raw_names(county, period, entries)

    def record_raw_names(self, county: str, period: str, entries: list[dict]) -> None:
        """File names that are not valid UTF-8: shown with U+FFFD in ``files.path``, kept here byte for byte."""
        self.db.execute("CREATE TABLE IF NOT EXISTS raw_names (county TEXT NOT NULL, period TEXT NOT NULL, "
                        "path TEXT NOT NULL, sha256 TEXT NOT NULL, raw_hex TEXT NOT NULL)")
        self.db.execute("DELETE FROM raw_names WHERE county=? AND period=?", (county, period))
        self.db.executemany("INSERT INTO raw_names VALUES (?, ?, ?, ?, ?)",
                            [(county, period, e["path"], e["sha256"], e["raw_name"]) for e in entries
                             if e.get("raw_name")])

    def record_version(self, county: str, period: str, unit: str, sha256: str, received: dt.datetime, path: str,
                       rows: Iterable[Row]) -> None:
        """Keep an accepted return's rows for good (history is never rewritten)."""
        self.db.execute("INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?, ?)",
                        (county, period, unit, sha256, _stamp(received), path))
        self.db.executemany(
            "INSERT OR IGNORE INTO version_rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(county, sha256, r.table, r.key, r.project, r.kind, i,
              json.dumps(dict(r.values), ensure_ascii=False, sort_keys=True)) for i, r in enumerate(rows)])

    def set_standing(self, county: str, period: str, standing: dict[str, str]) -> None:
        """What stands for ``period`` after this run: {unit: sha256}; everything else is dropped."""
        self.db.execute("DELETE FROM standing WHERE county=? AND period=?", (county, period))
        self.db.executemany("INSERT INTO standing VALUES (?, ?, ?, ?)",
                            [(county, period, u, sha) for u, sha in sorted(standing.items())])

    def set_published(self, county: str, period: str, token: str) -> None:
        """The run whose staged outputs belong with this ledger state (see consolidate.recover_outputs)."""
        self.db.execute("INSERT OR REPLACE INTO published VALUES (?, ?, ?)", (county, period, token))

    def published(self, county: str, period: str) -> str | None:
        row = self.db.execute("SELECT token FROM published WHERE county=? AND period=?", (county, period)).fetchone()
        return row[0] if row else None

    def record_run(self, county: str, period: str, finished: str, summary: Any) -> None:
        self.db.execute("INSERT INTO runs (county, period, finished, summary) VALUES (?, ?, ?, ?)",
                        (county, period, finished, json.dumps(summary, ensure_ascii=False, sort_keys=True)))

    # -- what stands ----------------------------------------------------------------------------
    def standing(self, county: str, period: str) -> dict[str, str]:
        """{unit: sha256} of the returns that stand for ``period``."""
        return dict(self.db.execute("SELECT unit, sha256 FROM standing WHERE county=? AND period=?",
                                    (county, period)))

    def version_rows(self, county: str, sha256: str, unit: str = "", period: str = "") -> list[Row]:
        return [Row(t, k, p, kind, unit, period, json.loads(v)) for t, k, p, kind, v in self.db.execute(
            "SELECT tab, key, project, kind, vals FROM version_rows WHERE county=? AND sha256=? ORDER BY ord",
            (county, sha256))]

    def previous_version(self, county: str, period: str, unit: str, sha256: str) -> str | None:
        """The newest other return of (unit, period) accepted before this one, if any."""
        row = self.db.execute(
            "SELECT sha256 FROM versions WHERE county=? AND period=? AND unit=? AND sha256<>? "
            "AND received <= (SELECT COALESCE(MAX(received), '9999') FROM versions "
            "                 WHERE county=? AND period=? AND unit=? AND sha256=?) "
            "ORDER BY received DESC, sha256 DESC LIMIT 1",
            (county, period, unit, sha256, county, period, unit, sha256)).fetchone()
        return row[0] if row else None

    def states(self, county: str, upto: str, inclusive: bool = True,
               unit: str | None = None) -> dict[str, dict[tuple[str, str], Row]]:
        """{unit: {(table, key): Row}}: each row's latest standing state at or before ``upto``.

        A row a unit reported in June and not in July (because July's template lacked it) keeps
        its June state: carry-forward goes by period order and no open problem can vanish.
        """
        op = "<=" if inclusive else "<"
        sql = (f"SELECT s.unit, s.period, r.tab, r.key, r.project, r.kind, r.vals FROM standing s "
               f"JOIN version_rows r ON r.county = s.county AND r.sha256 = s.sha256 "
               f"WHERE s.county=? AND s.period {op} ?")
        args: list = [county, upto]
        if unit is not None:
            sql += " AND s.unit=?"
            args.append(unit)
        sql += " ORDER BY s.unit, s.period, r.ord"
        out: dict[str, dict[tuple[str, str], Row]] = {}
        for u, period, t, k, p, kind, v in self.db.execute(sql, args):
            out.setdefault(u, {})[(t, k)] = Row(t, k, p, kind, u, period, json.loads(v))
        return out

    def carry(self, county: str, unit: str, period: str) -> list[Row]:
        """Rows to pre-fill ``period``'s template: each row's latest state before it."""
        return list(self.states(county, period, inclusive=False, unit=unit).get(unit, {}).values())

    def latest_period(self, county: str, unit: str, upto: str) -> str | None:
        row = self.db.execute("SELECT MAX(period) FROM standing WHERE county=? AND unit=? AND period<=?",
                              (county, unit, upto)).fetchone()
        return row[0] if row else None

    def history(self, county: str, unit: str, tab: str, key: str) -> list[tuple[str, dict]]:
        """[(period, values)] of one row over time as it stands, oldest first."""
        return [(p, json.loads(v)) for p, v in self.db.execute(
            "SELECT s.period, r.vals FROM standing s JOIN version_rows r ON r.county = s.county "
            "AND r.sha256 = s.sha256 WHERE s.county=? AND s.unit=? AND r.tab=? AND r.key=? ORDER BY s.period",
            (county, unit, tab, key))]

    # -- mail ------------------------------------------------------------------------------------
    def was_sent(self, county: str, period: str, file: str, sha256: str) -> bool:
        return self.db.execute("SELECT 1 FROM sent WHERE county=? AND period=? AND file=? AND sha256=?",
                               (county, period, file, sha256)).fetchone() is not None

    def record_sent(self, county: str, period: str, file: str, sha256: str, recipient: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                        (county, period, file, sha256, recipient, dt.datetime.now().isoformat(timespec="seconds")))

    def senders(self, county: str, nonce: str) -> set[str]:
        """E-mail senders that returned the template ``nonce`` in earlier runs."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT sender FROM files WHERE county=? AND nonce=? AND sender IS NOT NULL",
            (county, nonce))}

    def year_ends(self, county: str, unit: str, before_year: int) -> dict[tuple[str, str], dict[int, dict]]:
        """{(table, key): {year: values}}: each row's latest standing values in every year
        before ``before_year`` (the year-end state, by period order)."""
        out: dict[tuple[str, str], dict[int, dict]] = {}
        for period, t, k, v in self.db.execute(
                "SELECT s.period, r.tab, r.key, r.vals FROM standing s JOIN version_rows r "
                "ON r.county = s.county AND r.sha256 = s.sha256 WHERE s.county=? AND s.unit=? AND s.period < ? "
                "ORDER BY s.period, r.ord", (county, unit, f"{before_year:04d}")):
            out.setdefault((t, k), {})[int(period[:4])] = json.loads(v)
        return out

    def year_end_values(self, county: str, unit: str, table: str, key: str, before_year: int,
                        column: str = "actual") -> dict[int, Any]:
        """{year: value} of one row's ``column`` at the end of each year before ``before_year``."""
        found = self.year_ends(county, unit, before_year).get((table, key), {})
        return {year: values.get(column) for year, values in found.items()}


# -- opening the ledger safely, its backups, the key it was kept under -----------------------------------

REQUIRED_TABLES = {"issued", "runs", "files", "versions", "version_rows", "standing"}
LEGACY_TABLES = {"issued", "runs", "files", "accepted"}     # before `standing` (migrated on opening)
BACKUP_DIR = "备份"
BACKUPS_KEPT = 5


def open_ledger(desk: Desk, code: str) -> Ledger:
    """The county's ledger, after ``check_ledger`` found it sound (or absent on a fresh desk)."""
    check_ledger(desk, code)
    return Ledger(desk.ledger_path(code))


def check_ledger(desk: Desk, code: str) -> None:
    """Refuse (DeskError) a ledger that is corrupt, or empty, missing or without its tables while the
    desk has history; reads only, changes nothing."""
    path = desk.ledger_path(code)
    history = has_history(desk, code)
    if not path.exists() or path.stat().st_size == 0:
        if history:
            state = "不见了" if not path.exists() else "是空文件（0 字节）"
            raise _refuse(desk, code, f"台账 {path} {state}，但本办公桌已有汇总结果（{history}）：历史数据会丢失")
        return
    try:
        db = _read_only(path)
        try:
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise _refuse(desk, code, f"台账 {path} 已损坏或不是台账文件（{exc}）") from None
    if check != "ok":
        raise _refuse(desk, code, f"台账 {path} 已损坏（{check}）")
    missing = min(REQUIRED_TABLES - tables, LEGACY_TABLES - tables, key=len)
    if missing and (history or tables & (REQUIRED_TABLES | LEGACY_TABLES)):
        raise _refuse(desk, code, f"台账 {path} 缺少数据表 {'、'.join(sorted(missing))}")


def has_history(desk: Desk, code: str) -> str:
    """The periods the desk has consolidated outputs for ('' when none)."""
    base = desk.consolidated(code)
    done = sorted(p.parent.name for p in base.glob("*/汇总结果.json")) if base.is_dir() else []
    return "、".join(done)


def _refuse(desk: Desk, code: str, what: str) -> DeskError:
    from .desk import DeskError
    backup = newest_backup(desk, code)
    if backup:
        how = f"请把最近的备份 {backup} 复制为 {desk.ledger_path(code)} 后重新运行"
    else:
        how = f"没有找到台账备份（{desk.consolidated(code) / BACKUP_DIR}），请从本机的其他备份恢复 ledger.sqlite 后重新运行"
    return DeskError(f"{what}。为免丢失历史，本次没有做任何修改。{how}。")


def _read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that changes nothing on disk: no journal files either, unless a WAL is there to read."""
    path = Path(path).resolve()
    wal = path.with_name(path.name + "-wal").exists()
    return sqlite3.connect(f"{path.as_uri()}?{'mode=ro' if wal else 'immutable=1'}", uri=True, timeout=30)


def newest_backup(desk: Desk, code: str) -> Optional[Path]:
    """The newest backup that is itself a sound ledger, or None."""
    for candidate in sorted((desk.consolidated(code) / BACKUP_DIR).glob("ledger-*.sqlite"), reverse=True):
        try:
            db = _read_only(candidate)
            try:
                ok = db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            finally:
                db.close()
        except sqlite3.DatabaseError:
            continue
        if ok:
            return candidate
    return None


def backup_ledger(desk: Desk, code: str, keep: int = BACKUPS_KEPT) -> Optional[Path]:
    """Copy the ledger (sqlite3's backup API: consistent even in WAL mode) to 备份/, keeping ``keep``."""
    path = desk.ledger_path(code)
    if not path.exists() or path.stat().st_size == 0:
        return None
    folder = desk.consolidated(code) / BACKUP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"ledger-{dt.datetime.now():%Y%m%d-%H%M%S-%f}.sqlite"
    partial = target.with_name(f".{target.name}.partial")
    src = sqlite3.connect(str(path), timeout=30)
    try:
        dst = sqlite3.connect(str(partial))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    partial.replace(target)
    for old in sorted(folder.glob("ledger-*.sqlite"))[:-keep]:
        old.unlink()
    return target


def stored_fingerprint(path: str | Path) -> str | None:
    """The signing key's fingerprint the ledger was kept under (read only), or None."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    db = _read_only(path)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone():
            return None
        row = db.execute("SELECT value FROM meta WHERE name='key_fingerprint'").fetchone()
        return row[0] if row else None
    finally:
        db.close()


def issued_before(path: str | Path) -> bool:
    """Whether templates were ever issued from this ledger (read only)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return False
    db = _read_only(path)
    try:
        return bool(db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='issued'").fetchone()
                    and db.execute("SELECT 1 FROM issued LIMIT 1").fetchone())
    finally:
        db.close()


def record_fingerprint(ledger: Ledger, value: str) -> None:
    ledger.db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
    ledger.db.execute("INSERT OR REPLACE INTO meta VALUES ('key_fingerprint', ?)", (value,))


def period_has_results(path: str | Path, county: str, period: str) -> int:
    """How many files the ledger recorded for (county, period) (read only)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    db = _read_only(path)
    try:
        return db.execute("SELECT COUNT(*) FROM files WHERE county=? AND period=?", (county, period)).fetchone()[0]
    finally:
        db.close()


def check_key(desk: Desk, code: str, key: bytes) -> None:
    """Refuse (DeskError) a key other than the one the desk's templates were issued under; reads only."""
    from . import signing
    from .desk import DeskError
    stored = stored_fingerprint(desk.ledger_path(code))
    current = signing.fingerprint(key)
    if stored and stored != current:
        raise DeskError(
            f"签名密钥与本办公桌下发模板时所用的不同（台账记录的密钥指纹 {stored}，现在的密钥 {current}）。"
            "用这把密钥，所有报回文件都会被判为签名无效。本次没有做任何修改。"
            f"请从备份恢复原来的 {desk.secret_path}（或改正环境变量 WORKBOOK_TOOL_SECRET）后重新运行。")
