"""Mission control's archive: every record the ground received, in SQLite (WAL).

One file holds everything an operator or a test may ask about later:

- ``telemetry``: one row per point (downlink seq, onboard time, ground receive time,
  name, value) - the shape that time-range queries and plots want;
- ``events``, ``verifications`` (every stage), ``products`` (payload data products),
  ``hellos`` (both directions, with whether the dictionary hashes matched);
- ``commands``: the command log, one row per command with the time of each stage;
- ``link_errors``: frames that did not decode (counted in full; the first ones kept).

Times: ``time_s`` is spacecraft time (UTC seconds) from the envelope; ``rx_s`` is the
ground's receive time on the *ground's clock* (wall UTC with ``--clock real``; the
spacecraft time of the latest WORLD message with ``--clock sim``, so that two lockstep
runs archive the same numbers); ``rx_wall_s`` is the wall-clock receive time, kept for
people and excluded when runs are compared. Command stage times are ground-clock times.
The ``meta`` row ``mission_now_s`` is the ground's latest spacecraft time (the newest
WORLD time), which ``aisat ground tlm`` measures sample ages against.

Writes are buffered and committed in one transaction per :meth:`Archive.flush`, because
the flight side can downlink thousands of records per second at lockstep speed. WAL mode
lets the CLI and scripts read (see :mod:`ground.archive_reader`) while the ground writes.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flightsw.errors import safe_repr
from ground.command_log import CommandRecord, Stage

log = logging.getLogger("ground.archive")

SCHEMA_VERSION = 2
MAX_LINK_ERROR_ROWS = 10_000
"""Undecodable frames beyond this many are counted but not stored (bounded disk)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, name TEXT, value,
    rx_wall_s REAL);
CREATE INDEX IF NOT EXISTS telemetry_by_name ON telemetry (name, id);
CREATE TABLE IF NOT EXISTS points (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, name TEXT,
    severity TEXT, text TEXT, args_json TEXT, rx_wall_s REAL);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, cmd_seq INTEGER,
    name TEXT, stage TEXT, reason TEXT, rx_wall_s REAL);
CREATE INDEX IF NOT EXISTS verifications_by_cmd ON verifications (cmd_seq);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, body_json TEXT,
    rx_wall_s REAL);
CREATE TABLE IF NOT EXISTS hellos (
    id INTEGER PRIMARY KEY, direction TEXT, seq INTEGER, time_s REAL, rx_s REAL,
    dictionary_hash TEXT, dictionary_version TEXT, matches INTEGER, rx_wall_s REAL);
CREATE TABLE IF NOT EXISTS commands (
    cmd_seq INTEGER PRIMARY KEY, name TEXT, args_json TEXT, stage TEXT, reason TEXT,
    failed_at TEXT, queued_s REAL, sent_s REAL, accepted_s REAL, completed_s REAL,
    failed_s REAL, onboard_time_s REAL, at_s REAL);
CREATE TABLE IF NOT EXISTS link_errors (
    id INTEGER PRIMARY KEY, rx_s REAL, size INTEGER, reason TEXT, head_hex TEXT,
    rx_wall_s REAL);
"""
WALL_COLUMN = "rx_wall_s"
"""The only archive column that differs between two identical lockstep runs."""
_WALL_TABLES = ("telemetry", "events", "verifications", "products", "hellos", "link_errors")
MAX_QUARANTINE_ROWS = 10_000

_INSERTS = {
    "telemetry": "INSERT INTO telemetry (seq, time_s, rx_s, name, value, rx_wall_s) "
                 "VALUES (?,?,?,?,?,?)",
    "points": "INSERT OR IGNORE INTO points (name) VALUES (?)",
    "events": "INSERT INTO events (seq, time_s, rx_s, name, severity, text, args_json, "
              "rx_wall_s) VALUES (?,?,?,?,?,?,?,?)",
    "verifications": "INSERT INTO verifications (seq, time_s, rx_s, cmd_seq, name, stage, "
                     "reason, rx_wall_s) VALUES (?,?,?,?,?,?,?,?)",
    "products": "INSERT INTO products (seq, time_s, rx_s, body_json, rx_wall_s) "
                "VALUES (?,?,?,?,?)",
    "hellos": "INSERT INTO hellos (direction, seq, time_s, rx_s, dictionary_hash, "
              "dictionary_version, matches, rx_wall_s) VALUES (?,?,?,?,?,?,?,?)",
    "link_errors": "INSERT INTO link_errors (rx_s, size, reason, head_hex, rx_wall_s) "
                   "VALUES (?,?,?,?,?)",
}
_UPSERT_COMMAND = (
    "INSERT OR REPLACE INTO commands (cmd_seq, name, args_json, stage, reason, failed_at, "
    "queued_s, sent_s, accepted_s, completed_s, failed_s, onboard_time_s, at_s) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")


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
    """The writer. Buffer with the ``add_*`` methods, then :meth:`flush` once a cycle.

    ``wall_s`` (every ``add_*``) is the wall-clock receive time for ``rx_wall_s``.
    A row SQLite refuses (it should not happen: values are made storable on the way in)
    is quarantined on its own - counted in :attr:`quarantined` - and never takes the
    rest of its transaction with it.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._conn = connect(path)
        self._conn.executescript(SCHEMA)
        self._migrate()
        self._conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _INSERTS}
        self._commands: dict[int, tuple[Any, ...]] = {}
        self._meta: dict[str, str] = {}
        self.rows_written: dict[str, int] = {t: 0 for t in (*_INSERTS, "commands")}
        self.quarantined: dict[str, int] = {}  # table -> rows SQLite refused
        self.rows_lost = 0  # rows of commits that failed as a whole (disk full ...)
        self.unreadable_commands: list[int] = []  # damaged command rows not restored
        self.flushes = 0
        self.flush_time_s = 0.0  # time spent committing (for the insert rate)
        self.link_errors_seen = self._count("link_errors")
        self._points = {r[0] for r in self._conn.execute("SELECT name FROM points")}

    def _migrate(self) -> None:
        """Bring an archive written by an older ground up to this schema (add columns)."""
        for table in _WALL_TABLES:
            cols = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
            if WALL_COLUMN not in cols:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {WALL_COLUMN} REAL")
        cols = {r[1] for r in self._conn.execute("PRAGMA table_info(commands)")}
        if "at_s" not in cols:  # time tags (a command queued for later keeps its time)
            self._conn.execute("ALTER TABLE commands ADD COLUMN at_s REAL")
        self._conn.execute("CREATE INDEX IF NOT EXISTS events_by_time ON events "
                           "(time_s, seq)")
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))

    # --- buffering ------------------------------------------------------------------
    def add_telemetry(self, seq: int, time_s: float, rx_s: float,
                      points: Mapping[str, Any], wall_s: float | None = None) -> int:
        rows = self._pending["telemetry"]
        for name, value in points.items():
            text = _name(name)
            rows.append((seq, time_s, rx_s, text, sql_value(value), wall_s))
            if text not in self._points:  # the point index makes "latest of all" cheap
                self._points.add(text)
                self._pending["points"].append((text,))
        return len(points)

    def add_event(self, seq: int, time_s: float, rx_s: float, name: str, severity: str,
                  text: str, args: Mapping[str, Any], wall_s: float | None = None) -> None:
        self._pending["events"].append(
            (seq, time_s, rx_s, name, severity, text, _json(args), wall_s))

    def add_verification(self, seq: int, time_s: float, rx_s: float, cmd_seq: int | None,
                         name: str, stage: str, reason: str,
                         wall_s: float | None = None) -> None:
        self._pending["verifications"].append(
            (seq, time_s, rx_s, cmd_seq, name, stage, reason, wall_s))

    def add_product(self, seq: int, time_s: float, rx_s: float,
                    body: Mapping[str, Any], wall_s: float | None = None) -> None:
        self._pending["products"].append((seq, time_s, rx_s, _json(body), wall_s))

    def add_hello(self, direction: str, seq: int, time_s: float, rx_s: float,
                  dictionary_hash: str, dictionary_version: str, matches: bool | None,
                  wall_s: float | None = None) -> None:
        self._pending["hellos"].append(
            (direction, seq, time_s, rx_s, dictionary_hash, dictionary_version,
             None if matches is None else int(matches), wall_s))

    def add_link_error(self, rx_s: float, frame: bytes, reason: str,
                       wall_s: float | None = None) -> None:
        self.link_errors_seen += 1
        if self.link_errors_seen <= MAX_LINK_ERROR_ROWS:
            self._pending["link_errors"].append(
                (rx_s, len(frame), reason[:500], bytes(frame[:16]).hex(), wall_s))

    def put_command(self, rec: CommandRecord) -> None:
        """Record the command's current state (the latest call per command wins)."""
        t = rec.stage_times_s
        self._commands[rec.cmd_seq] = (
            rec.cmd_seq, rec.name, _json(rec.args), rec.stage.value, rec.reason,
            rec.failed_at, t.get("queued"), t.get("sent"), t.get("accepted"),
            t.get("completed"), t.get("failed"), rec.onboard_time_s, rec.at_s)

    def set_mission_now(self, time_s: float) -> None:
        """The ground's latest spacecraft time; written with the next :meth:`flush`."""
        if math.isfinite(time_s):
            self._meta["mission_now_s"] = repr(float(time_s))

    # --- committing -----------------------------------------------------------------
    @property
    def pending_rows(self) -> int:
        return sum(len(r) for r in self._pending.values()) + len(self._commands)

    def flush(self, *, meta_only_too: bool = False) -> int:
        """Commit everything buffered in one transaction; return the rows written.

        Meta alone (the ground's mission time moves every turn) waits for the next rows
        or for ``meta_only_too`` (closing): a commit per loop turn for one meta row cost
        the ground a third more CPU in lockstep."""
        if not self.pending_rows and not (self._meta and meta_only_too):
            return 0
        t0 = time.perf_counter()
        written = 0
        self._conn.execute("BEGIN")
        try:
            for table, rows in self._pending.items():
                if rows:
                    n = self._insert(table, _INSERTS[table], rows)
                    self.rows_written[table] += n
                    written += n
            if self._commands:
                n = self._insert("commands", _UPSERT_COMMAND, list(self._commands.values()))
                self.rows_written["commands"] += n
                written += n
            if self._meta:
                self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                       list(self._meta.items()))
            self._conn.execute("COMMIT")
        except BaseException:
            self.rows_lost += self.pending_rows
            self._conn.execute("ROLLBACK")
            raise
        finally:
            for rows in self._pending.values():
                rows.clear()
            self._commands.clear()
            self._meta.clear()
        self.flushes += 1
        self.flush_time_s += time.perf_counter() - t0
        return written

    def _insert(self, table: str, sql: str, rows: list[tuple[Any, ...]]) -> int:
        """All rows at once; if SQLite refuses the batch, row by row, quarantining the
        rows it refuses (counted), so one bad value never costs its neighbours."""
        try:
            self._conn.execute("SAVEPOINT batch")
            self._conn.executemany(sql, rows)
            self._conn.execute("RELEASE batch")
            return len(rows)
        except (sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.DataError,
                OverflowError, ValueError, TypeError):
            self._conn.execute("ROLLBACK TO batch")
            self._conn.execute("RELEASE batch")
        done = 0
        for row in rows:
            try:
                self._conn.execute(sql, row)
                done += 1
            except (sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.DataError,
                    OverflowError, ValueError, TypeError):
                self.quarantined[table] = self.quarantined.get(table, 0) + 1
        return done

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def next_cmd_seq(self) -> int:
        """One above the highest command sequence number ever logged here.

        A restarted ground process continues the numbering, so verification reports
        and the flight's view of the uplink never see a number twice.
        """
        row = self._conn.execute("SELECT MAX(cmd_seq) FROM commands").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def downlink_seqs(self) -> list[int]:
        """Every downlink sequence number archived here, ascending. A restarted ground
        process takes them back, so a record the flight sends again (it was archived,
        its acknowledgement never reached the spacecraft) is not archived twice."""
        rows = self._conn.execute(
            "SELECT seq FROM telemetry UNION SELECT seq FROM events "
            "UNION SELECT seq FROM verifications UNION SELECT seq FROM products "
            "UNION SELECT seq FROM hellos WHERE direction = 'down' ORDER BY 1")
        return [int(r[0]) for r in rows if isinstance(r[0], int)]

    def unfinished_commands(self) -> list[CommandRecord]:
        """Commands a previous ground process left queued, sent or accepted.

        The command queue must survive a ground restart: what an operator queued for the
        next pass still goes up, and late verifications still find their command.
        """
        rows = self._conn.execute(
            "SELECT cmd_seq, name, args_json, stage, reason, queued_s, sent_s, accepted_s, "
            "onboard_time_s, at_s FROM commands WHERE stage IN ('queued', 'held', 'sent', "
            "'received', 'accepted', 'started') ORDER BY cmd_seq").fetchall()
        out = []
        for (seq, name, args_json, stage, reason, queued_s, sent_s, accepted_s, onboard,
             at_s) in rows:
            times = {k: v for k, v in (("queued", queued_s), ("sent", sent_s),
                                       ("accepted", accepted_s)) if v is not None}
            try:
                args = json.loads(args_json)
                if not isinstance(args, dict):
                    raise ValueError("arguments are not a map")
                out.append(CommandRecord(int(seq), str(name), args, Stage(stage),
                                         reason or "", times, onboard,
                                         at_s=None if at_s is None else float(at_s)))
            except (TypeError, ValueError) as exc:  # a damaged row must not stop the ground
                self.unreadable_commands.append(int(seq))
                log.error("command #%s in the archive is unreadable (%s): not restored, "
                          "not sent", seq, safe_repr(exc, 200))
        return out

    def stats(self) -> dict[str, Any]:
        written = sum(self.rows_written.values())
        return {"path": self.path, "rows_written": dict(self.rows_written),
                "rows_pending": self.pending_rows, "flushes": self.flushes,
                "flush_time_s": round(self.flush_time_s, 6),
                "insert_rate_rows_per_s": (round(written / self.flush_time_s)
                                           if self.flush_time_s > 0 else None),
                "link_errors_seen": self.link_errors_seen,
                "rows_quarantined": dict(self.quarantined), "rows_lost": self.rows_lost,
                "unreadable_commands": list(self.unreadable_commands)}

    def close(self) -> None:
        """Commit what is buffered and close; safe to call twice."""
        try:
            self.flush(meta_only_too=True)
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
    """JSON text for any decoded value; never raises (odd keys and types become text)."""
    try:
        return json.dumps(value, default=_text_of, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_plain(value), separators=(",", ":"))


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` with only JSON-able parts (keys as text), depth-bounded."""
    if depth > 32:
        return "<too deep>"
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {_name(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return _text_of(value)


def _text_of(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:256]).hex()
    return safe_repr(value, 200)


def _name(value: Any) -> str:
    """A map key or point name as text (msgpack may hand us bytes keys)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return safe_repr(value, 200)
