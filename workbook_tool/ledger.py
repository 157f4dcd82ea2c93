"""The ledger: every file seen, every template issued, every accepted value (SQLite, WAL)."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from pathlib import Path

from .template import CarryRow

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
CREATE TABLE IF NOT EXISTS accepted (
    county TEXT NOT NULL, period TEXT NOT NULL, unit TEXT NOT NULL, tab TEXT NOT NULL,
    key TEXT NOT NULL, project INTEGER NOT NULL, kind TEXT NOT NULL, ord INTEGER NOT NULL,
    vals TEXT NOT NULL, sha256 TEXT NOT NULL, received TEXT NOT NULL,
    PRIMARY KEY (county, period, unit, tab, key)
);
CREATE TABLE IF NOT EXISTS sent (
    county TEXT NOT NULL, period TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    recipient TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (county, period, file, sha256)
);
CREATE INDEX IF NOT EXISTS accepted_unit ON accepted (county, unit, period);
"""


class Ledger:
    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextlib.contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- templates issued ---------------------------------------------------------
    def record_issued(self, county, period, unit, nonce, file):
        row = self.db.execute("SELECT seq FROM issued WHERE county=? AND period=? AND unit=? AND nonce=?",
                              (county, period, unit, nonce)).fetchone()
        if row:
            return
        seq = self.db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM issued WHERE county=? AND period=?",
                              (county, period)).fetchone()[0]
        self.db.execute("INSERT INTO issued VALUES (?, ?, ?, ?, ?, ?)",
                        (county, period, unit, nonce, file, seq))

    def issued(self, county, period, unit) -> list:
        """Nonces issued to ``unit`` for ``period``, oldest first."""
        return [r[0] for r in self.db.execute(
            "SELECT nonce FROM issued WHERE county=? AND period=? AND unit=? ORDER BY seq",
            (county, period, unit))]

    def record_files(self, county, period, entries):
        self.db.execute("DELETE FROM files WHERE county=? AND period=?", (county, period))
        self.db.executemany(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(county, period, e["path"], e["sha256"], e["size"], e["received"], e.get("unit"),
              e.get("period"), e.get("nonce"), e.get("sender"), e["verdict"],
              ",".join(e.get("codes", ()))) for e in entries])
        self.record_raw_names(county, period, entries)

    def record_raw_names(self, county, period, entries):
        """File names that are not valid UTF-8: shown with U+FFFD in ``files.path``, kept here byte for byte."""
        self.db.execute("CREATE TABLE IF NOT EXISTS raw_names (county TEXT NOT NULL, period TEXT NOT NULL, "
                        "path TEXT NOT NULL, sha256 TEXT NOT NULL, raw_hex TEXT NOT NULL)")
        self.db.execute("DELETE FROM raw_names WHERE county=? AND period=?", (county, period))
        self.db.executemany("INSERT INTO raw_names VALUES (?, ?, ?, ?, ?)",
                            [(county, period, e["path"], e["sha256"], e["raw_name"]) for e in entries
                             if e.get("raw_name")])

    def replace_accepted(self, county, period, unit, sha256, received, rows):
        """Store one accepted return's rows: [(table, key, project, kind, values dict)]."""
        self.db.execute("DELETE FROM accepted WHERE county=? AND period=? AND unit=?", (county, period, unit))
        self.db.executemany(
            "INSERT INTO accepted VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(county, period, unit, t, k, p, kind, i, json.dumps(v, ensure_ascii=False, sort_keys=True),
              sha256, received) for i, (t, k, p, kind, v) in enumerate(rows)])

    def record_run(self, county, period, finished, summary):
        self.db.execute("INSERT INTO runs (county, period, finished, summary) VALUES (?, ?, ?, ?)",
                        (county, period, finished, json.dumps(summary, ensure_ascii=False, sort_keys=True)))

    def latest_accepted(self, county, unit, upto: str, inclusive=True):
        """(period, [CarryRow]) of the unit's newest accepted return up to ``upto``."""
        op = "<=" if inclusive else "<"
        row = self.db.execute(
            f"SELECT MAX(period) FROM accepted WHERE county=? AND unit=? AND period {op} ?",
            (county, unit, upto)).fetchone()
        if not row or row[0] is None:
            return None, []
        period = row[0]
        rows = [CarryRow(t, k, p, kind, period, json.loads(v)) for t, k, p, kind, v in self.db.execute(
            "SELECT tab, key, project, kind, vals FROM accepted WHERE county=? AND unit=? AND period=? "
            "ORDER BY ord", (county, unit, period))]
        return period, rows

    def latest_all(self, county, upto: str, inclusive=True) -> dict:
        """{unit: (period, [CarryRow])}: every unit's newest accepted return up to ``upto``, in one query."""
        op = "<=" if inclusive else "<"
        out = {}
        cur = self.db.execute(
            f"SELECT a.unit, a.period, a.tab, a.key, a.project, a.kind, a.vals FROM accepted a "
            f"JOIN (SELECT unit, MAX(period) AS p FROM accepted WHERE county=? AND period {op} ? GROUP BY unit) m "
            f"ON a.unit = m.unit AND a.period = m.p WHERE a.county=? ORDER BY a.unit, a.ord",
            (county, upto, county))
        for unit, period, t, k, p, kind, v in cur:
            entry = out.setdefault(unit, (period, []))
            entry[1].append(CarryRow(t, k, p, kind, period, json.loads(v)))
        return out

    def carry(self, county, unit, period: str) -> list:
        """Rows to pre-fill ``period``'s template: the newest accepted before it."""
        return self.latest_accepted(county, unit, period, inclusive=False)[1]

    def was_sent(self, county, period, file, sha256) -> bool:
        return self.db.execute("SELECT 1 FROM sent WHERE county=? AND period=? AND file=? AND sha256=?",
                               (county, period, file, sha256)).fetchone() is not None

    def record_sent(self, county, period, file, sha256, recipient):
        self.db.execute("INSERT OR IGNORE INTO sent VALUES (?, ?, ?, ?, ?, ?)",
                        (county, period, file, sha256, recipient, dt.datetime.now().isoformat(timespec="seconds")))

    def senders(self, county, nonce) -> set:
        """E-mail senders that returned the template ``nonce`` in earlier runs."""
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT sender FROM files WHERE county=? AND nonce=? AND sender IS NOT NULL",
            (county, nonce))}

    def history(self, county, unit, tab, key) -> list:
        """[(period, values)] of one row over time, oldest first."""
        return [(p, json.loads(v)) for p, v in self.db.execute(
            "SELECT period, vals FROM accepted WHERE county=? AND unit=? AND tab=? AND key=? ORDER BY period",
            (county, unit, tab, key))]
