"""Mission control's archive: every record the ground received, in SQLite (WAL).

One file holds everything an operator or a test may ask about later:

- ``telemetry``: one row per point (downlink seq, onboard time, ground receive time,
  name, value) - the shape that time-range queries and plots want;
- ``events``, ``verifications`` (every stage), ``products`` (payload data products),
  ``hellos`` (both directions, with whether the dictionary hashes matched);
- ``commands``: the command log, one row per command with the time of each stage;
- ``link_errors``: frames that did not decode (counted in full; the first ones kept).

Times: ``time_s`` is spacecraft time (UTC seconds) from the envelope; ``rx_s`` is the
ground's receive time (UTC seconds, from :class:`flightsw.clock.RealClock`).

Writes are buffered and committed in one transaction per :meth:`Archive.flush`, because
the flight side can downlink thousands of records per second at lockstep speed. WAL mode
lets the CLI and scripts read (see :mod:`ground.archive_reader`) while the ground writes.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ground.command_log import CommandRecord, Stage

SCHEMA_VERSION = 1
MAX_LINK_ERROR_ROWS = 10_000
"""Undecodable frames beyond this many are counted but not stored (bounded disk)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, name TEXT, value);
CREATE INDEX IF NOT EXISTS telemetry_by_name ON telemetry (name, id);
CREATE TABLE IF NOT EXISTS points (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, name TEXT,
    severity TEXT, text TEXT, args_json TEXT);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, cmd_seq INTEGER,
    name TEXT, stage TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS verifications_by_cmd ON verifications (cmd_seq);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, body_json TEXT);
CREATE TABLE IF NOT EXISTS hellos (
    id INTEGER PRIMARY KEY, direction TEXT, seq INTEGER, time_s REAL, rx_s REAL,
    dictionary_hash TEXT, dictionary_version TEXT, matches INTEGER);
CREATE TABLE IF NOT EXISTS commands (
    cmd_seq INTEGER PRIMARY KEY, name TEXT, args_json TEXT, stage TEXT, reason TEXT,
    failed_at TEXT, queued_s REAL, sent_s REAL, accepted_s REAL, completed_s REAL,
    failed_s REAL, onboard_time_s REAL);
CREATE TABLE IF NOT EXISTS link_errors (
    id INTEGER PRIMARY KEY, rx_s REAL, size INTEGER, reason TEXT, head_hex TEXT);
"""

_INSERTS = {
    "telemetry": "INSERT INTO telemetry (seq, time_s, rx_s, name, value) VALUES (?,?,?,?,?)",
    "points": "INSERT OR IGNORE INTO points (name) VALUES (?)",
    "events": "INSERT INTO events (seq, time_s, rx_s, name, severity, text, args_json) "
              "VALUES (?,?,?,?,?,?,?)",
    "verifications": "INSERT INTO verifications (seq, time_s, rx_s, cmd_seq, name, stage, "
                     "reason) VALUES (?,?,?,?,?,?,?)",
    "products": "INSERT INTO products (seq, time_s, rx_s, body_json) VALUES (?,?,?,?)",
    "hellos": "INSERT INTO hellos (direction, seq, time_s, rx_s, dictionary_hash, "
              "dictionary_version, matches) VALUES (?,?,?,?,?,?,?)",
    "link_errors": "INSERT INTO link_errors (rx_s, size, reason, head_hex) VALUES (?,?,?,?)",
}
_UPSERT_COMMAND = (
    "INSERT OR REPLACE INTO commands (cmd_seq, name, args_json, stage, reason, failed_at, "
    "queued_s, sent_s, accepted_s, completed_s, failed_s, onboard_time_s) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the archive file; read-only connections never create or change it."""
    if readonly:
        uri = f"file:{Path(path).resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


class Archive:
    """The writer. Buffer with the ``add_*`` methods, then :meth:`flush` once a cycle."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn = connect(path)
        self._conn.executescript(SCHEMA)
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _INSERTS}
        self._commands: dict[int, tuple[Any, ...]] = {}
        self.rows_written: dict[str, int] = {t: 0 for t in (*_INSERTS, "commands")}
        self.flushes = 0
        self.flush_time_s = 0.0  # time spent committing (for the insert rate)
        self.link_errors_seen = self._count("link_errors")
        self._points = {r[0] for r in self._conn.execute("SELECT name FROM points")}

    # --- buffering ------------------------------------------------------------------
    def add_telemetry(self, seq: int, time_s: float, rx_s: float,
                      points: Mapping[str, Any]) -> int:
        rows = self._pending["telemetry"]
        for name, value in points.items():
            rows.append((seq, time_s, rx_s, str(name), sql_value(value)))
            if name not in self._points:  # the point index makes "latest of all" cheap
                self._points.add(str(name))
                self._pending["points"].append((str(name),))
        return len(points)

    def add_event(self, seq: int, time_s: float, rx_s: float, name: str, severity: str,
                  text: str, args: Mapping[str, Any]) -> None:
        self._pending["events"].append(
            (seq, time_s, rx_s, name, severity, text, _json(args)))

    def add_verification(self, seq: int, time_s: float, rx_s: float, cmd_seq: int | None,
                         name: str, stage: str, reason: str) -> None:
        self._pending["verifications"].append(
            (seq, time_s, rx_s, cmd_seq, name, stage, reason))

    def add_product(self, seq: int, time_s: float, rx_s: float,
                    body: Mapping[str, Any]) -> None:
        self._pending["products"].append((seq, time_s, rx_s, _json(body)))

    def add_hello(self, direction: str, seq: int, time_s: float, rx_s: float,
                  dictionary_hash: str, dictionary_version: str, matches: bool | None) -> None:
        self._pending["hellos"].append(
            (direction, seq, time_s, rx_s, dictionary_hash, dictionary_version,
             None if matches is None else int(matches)))

    def add_link_error(self, rx_s: float, frame: bytes, reason: str) -> None:
        self.link_errors_seen += 1
        if self.link_errors_seen <= MAX_LINK_ERROR_ROWS:
            self._pending["link_errors"].append((rx_s, len(frame), reason, frame[:16].hex()))

    def put_command(self, rec: CommandRecord) -> None:
        """Record the command's current state (the latest call per command wins)."""
        t = rec.stage_times_s
        self._commands[rec.cmd_seq] = (
            rec.cmd_seq, rec.name, _json(rec.args), rec.stage.value, rec.reason,
            rec.failed_at, t.get("queued"), t.get("sent"), t.get("accepted"),
            t.get("completed"), t.get("failed"), rec.onboard_time_s)

    # --- committing -----------------------------------------------------------------
    @property
    def pending_rows(self) -> int:
        return sum(len(r) for r in self._pending.values()) + len(self._commands)

    def flush(self) -> int:
        """Commit everything buffered in one transaction; return the rows written."""
        if not self.pending_rows:
            return 0
        t0 = time.perf_counter()
        written = 0
        self._conn.execute("BEGIN")
        try:
            for table, rows in self._pending.items():
                if rows:
                    self._conn.executemany(_INSERTS[table], rows)
                    self.rows_written[table] += len(rows)
                    written += len(rows)
            if self._commands:
                self._conn.executemany(_UPSERT_COMMAND, list(self._commands.values()))
                self.rows_written["commands"] += len(self._commands)
                written += len(self._commands)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            for rows in self._pending.values():
                rows.clear()
            self._commands.clear()
        self.flushes += 1
        self.flush_time_s += time.perf_counter() - t0
        return written

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def next_cmd_seq(self) -> int:
        """One above the highest command sequence number ever logged here.

        A restarted ground process continues the numbering, so verification reports
        and the flight's view of the uplink never see a number twice.
        """
        row = self._conn.execute("SELECT MAX(cmd_seq) FROM commands").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def unfinished_commands(self) -> list[CommandRecord]:
        """Commands a previous ground process left queued, sent or accepted.

        The command queue must survive a ground restart: what an operator queued for the
        next pass still goes up, and late verifications still find their command.
        """
        rows = self._conn.execute(
            "SELECT cmd_seq, name, args_json, stage, reason, queued_s, sent_s, accepted_s, "
            "onboard_time_s FROM commands WHERE stage IN ('queued', 'sent', 'accepted') "
            "ORDER BY cmd_seq").fetchall()
        out = []
        for seq, name, args_json, stage, reason, queued_s, sent_s, accepted_s, onboard in rows:
            times = {k: v for k, v in (("queued", queued_s), ("sent", sent_s),
                                       ("accepted", accepted_s)) if v is not None}
            out.append(CommandRecord(int(seq), str(name), json.loads(args_json), Stage(stage),
                                     reason or "", times, onboard))
        return out

    def stats(self) -> dict[str, Any]:
        written = sum(self.rows_written.values())
        return {"path": self.path, "rows_written": dict(self.rows_written),
                "rows_pending": self.pending_rows, "flushes": self.flushes,
                "flush_time_s": round(self.flush_time_s, 6),
                "insert_rate_rows_per_s": (round(written / self.flush_time_s)
                                           if self.flush_time_s > 0 else None),
                "link_errors_seen": self.link_errors_seen}

    def close(self) -> None:
        """Commit what is buffered and close; safe to call twice."""
        try:
            self.flush()
        finally:
            self._conn.close()

    def _count(self, table: str) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def sql_value(value: Any) -> Any:
    """A telemetry value as SQLite can hold it (NaN becomes NULL, which SQLite does anyway)."""
    if value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 63) else str(value)
    if isinstance(value, float):
        return None if math.isnan(value) else value
    return _json(value)


def _json(value: Any) -> str:
    return json.dumps(value, default=repr, separators=(",", ":"))
