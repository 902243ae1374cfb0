"""The recorder's records on disk: what the ground has not acknowledged survives a
reset, a kill -9 and a crash of the executive.

Why not the state record (:mod:`flightsw.state_store`)? That one is a small document
rewritten whole about once a second; the recorder can hold megabytes that change a few
records at a time. So this is an append-friendly SQLite database in the run directory
(WAL journal): each cycle's additions and releases go in as one transaction
(:meth:`RecorderStore.apply`), together with the next downlink number. The shell
commits *before* any frame of that cycle leaves, so every number the ground can ever
see is covered by a committed ``next_seq``: a restarted executive continues the
numbering exactly (no skip, no number used twice) and sends again every record the
ground had not acknowledged.

WAL with ``synchronous=NORMAL`` survives the process dying at any instruction (kill -9);
a power cut may lose the last transactions (``synchronous=FULL`` would add an fsync per
cycle). A database that cannot be opened or read is moved aside (``.bad``), reported,
and replaced by an empty one: never a crash loop.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from flightsw.recorder import Changes

RECORDER_FILE = "recorder.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    frame BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass
class Saved:
    """What a boot found on disk."""

    records: list[tuple[int, int, bytes]] = field(default_factory=list)
    next_seq: int | None = None  # None: nothing was ever committed
    problems: list[str] = field(default_factory=list)


class RecorderStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.commits = 0
        self.problems: list[str] = []
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            self.problems.append(f"{self.path.name} unusable ({exc}): moved aside, "
                                 "starting empty")
            self._move_aside()
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # owner only, like the state
        os.close(fd)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
            conn.execute("SELECT count(*) FROM records").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.replace(p, Path(str(self.path) + suffix + ".bad"))

    def load(self) -> Saved:
        saved = Saved(problems=list(self.problems))
        try:
            saved.records = [(int(s), int(p), bytes(f)) for s, p, f in self._conn.execute(
                "SELECT seq, priority, frame FROM records ORDER BY seq")]
            row = self._conn.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
            saved.next_seq = None if row is None else int(row[0])
        except sqlite3.DatabaseError as exc:
            saved.problems.append(f"{self.path.name} unreadable ({exc}): moved aside, "
                                  "starting empty")
            saved.records, saved.next_seq = [], None
            self._conn.close()
            self._move_aside()
            self._conn = self._connect()
        return saved

    def apply(self, changes: Changes, next_seq: int) -> None:
        """One transaction: the records added, the numbers released, the next number."""
        conn = self._conn
        conn.execute("BEGIN")
        try:
            if changes.added:
                conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)",
                                 [(h.seq, int(h.priority), h.frame) for h in changes.added])
            if changes.removed:
                conn.executemany("DELETE FROM records WHERE seq = ?",
                                 [(s,) for s in changes.removed])
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('next_seq', ?)", (next_seq,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.commits += 1

    def close(self) -> None:
        self._conn.close()
