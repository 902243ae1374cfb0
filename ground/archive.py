"""Mission control's archive: every record the ground received, in SQLite (WAL).

One file holds everything an operator or a test may ask about later:

- ``telemetry``: one row per housekeeping *record* (downlink seq, onboard time, ground
  receive time, realtime or played back, and the record's values packed as one msgpack
  array in the order of its *layout*). ``layouts`` holds each distinct list of point
  names once (housekeeping carries the same ~96 names every second: as map keys they
  were 1.8 KB of every 2.2 KB record). A record used to cost ~40 rows (one per point,
  ~3.1 KB with its index): that was the whole gap between the executive-to-archive rate
  and a bare pipe. Queries by point and time range decode on read, using the index on
  onboard time (see :mod:`ground.archive_reader`); ``points`` lists every point name
  ever received.
- ``events``, ``verifications`` (every stage), ``products`` (payload data products),
  ``hellos`` (both directions, with whether the dictionary hashes matched);
- ``commands``: the command log, one row per command with the time of each stage;
- ``link_errors``: frames that did not decode (counted in full; the first ones kept);
- ``quarantine``: records that decoded but could not be archived as they are (a body out
  of its schema, such as a ``cmd_seq`` of 2**63, or a row the database refused), one row
  each with the reason. A bad record is quarantined alone: the batch it came in with
  is committed without it (it once cost a whole commit: 2,919 good records of 4,000).

``realtime`` is 1 for a record received in the pass it was made in (younger than
:data:`REALTIME_MAX_AGE_S` of ground-clock time when it arrived, and not filling a gap),
0 for one played back from the recorder or sent again.

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

The file is created owner-only (0600; SQLite gives its -wal and -shm files the same
mode). Its schema version is in ``meta``: an archive of schema 2 (one row per point) is
migrated in place when a ground opens it for writing (its telemetry is packed record by
record); a read-only reader refuses it with the command that migrates it; an archive
newer than this code is refused (:class:`ArchiveVersionError`). The writer satisfies
:class:`ground.archive_store.RecordStore`, the one interface mission control writes
through (see there for what replacing SQLite by PostgreSQL takes).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgpack

from flightsw.errors import safe_repr
from ground.command_log import CommandRecord, Stage
from ground.errors import GroundError

log = logging.getLogger("ground.archive")

SCHEMA_VERSION = 3
"""3: one telemetry row per record (points packed), realtime flags, quarantine."""
REALTIME_MAX_AGE_S = 10.0
"""A record older than this (ground clock minus onboard time) when it arrived was played
back, not sent in real time (housekeeping is made every second and sent first)."""
MAX_LINK_ERROR_ROWS = 10_000
"""Undecodable frames beyond this many are counted but not stored (bounded disk)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS layouts (id INTEGER PRIMARY KEY, names BLOB);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, realtime INTEGER,
    layout INTEGER, packed BLOB, rx_wall_s REAL);
CREATE INDEX IF NOT EXISTS telemetry_by_time ON telemetry (time_s);
CREATE TABLE IF NOT EXISTS points (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, name TEXT,
    severity TEXT, text TEXT, args_json TEXT, realtime INTEGER, rx_wall_s REAL);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_s, seq);
CREATE TABLE IF NOT EXISTS verifications (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, cmd_seq INTEGER,
    name TEXT, stage TEXT, reason TEXT, realtime INTEGER, rx_wall_s REAL);
CREATE INDEX IF NOT EXISTS verifications_by_cmd ON verifications (cmd_seq);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL, body_json TEXT,
    realtime INTEGER, rx_wall_s REAL);
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
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY, kind TEXT, seq INTEGER, time_s REAL, rx_s REAL, reason TEXT,
    detail TEXT, rx_wall_s REAL);
"""
WALL_COLUMN = "rx_wall_s"
"""The only archive column that differs between two identical lockstep runs."""
MAX_QUARANTINE_ROWS = 10_000
"""Quarantined records beyond this many are counted but not stored (bounded disk)."""

_INSERTS = {
    "layouts": "INSERT INTO layouts (id, names) VALUES (?,?)",
    "telemetry": "INSERT INTO telemetry (seq, time_s, rx_s, realtime, layout, packed, "
                 "rx_wall_s) VALUES (?,?,?,?,?,?,?)",
    "points": "INSERT OR IGNORE INTO points (name) VALUES (?)",
    "events": "INSERT INTO events (seq, time_s, rx_s, name, severity, text, args_json, "
              "realtime, rx_wall_s) VALUES (?,?,?,?,?,?,?,?,?)",
    "verifications": "INSERT INTO verifications (seq, time_s, rx_s, cmd_seq, name, stage, "
                     "reason, realtime, rx_wall_s) VALUES (?,?,?,?,?,?,?,?,?)",
    "products": "INSERT INTO products (seq, time_s, rx_s, body_json, realtime, rx_wall_s) "
                "VALUES (?,?,?,?,?,?)",
    "hellos": "INSERT INTO hellos (direction, seq, time_s, rx_s, dictionary_hash, "
              "dictionary_version, matches, rx_wall_s) VALUES (?,?,?,?,?,?,?,?)",
    "link_errors": "INSERT INTO link_errors (rx_s, size, reason, head_hex, rx_wall_s) "
                   "VALUES (?,?,?,?,?)",
    "quarantine": "INSERT INTO quarantine (kind, seq, time_s, rx_s, reason, detail, "
                  "rx_wall_s) VALUES (?,?,?,?,?,?,?)",
}
_KIND_OF_TABLE = {"telemetry": "tlm", "events": "evt", "verifications": "ver",
                  "products": "result", "hellos": "hello"}
"""The downlink kind of a record in each table (for the quarantine's ``kind``)."""
_UPSERT_COMMAND = (
    "INSERT OR REPLACE INTO commands (cmd_seq, name, args_json, stage, reason, failed_at, "
    "queued_s, sent_s, accepted_s, completed_s, failed_s, onboard_time_s, at_s) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")


class ArchiveVersionError(GroundError):
    """The archive's schema is one this code cannot read (or, read-only, not yet)."""


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    """Open the archive file; read-only connections never create or change it. A new
    file is created owner-only (0600): the archive holds the whole mission's data."""
    if readonly:
        uri = f"file:{Path(path).resolve()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=5.0, check_same_thread=False)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
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
        self._open_schema()
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in _INSERTS}
        self._commands: dict[int, tuple[Any, ...]] = {}
        self._meta: dict[str, str] = {}
        self.rows_written: dict[str, int] = {t: 0 for t in (*_INSERTS, "commands")}
        self.quarantined: dict[str, int] = {}  # reason -> records quarantined
        self.rows_lost = 0  # rows of commits that failed as a whole (disk full ...)
        self.unreadable_commands: list[int] = []  # damaged command rows not restored
        self.flushes = 0
        self.flush_time_s = 0.0  # time spent committing (for the insert rate)
        self.link_errors_seen = self._count("link_errors")
        self.quarantine_seen = self._count("quarantine")
        self._points = {r[0] for r in self._conn.execute("SELECT name FROM points")}
        self._layouts: dict[tuple[str, ...], int] = {}
        self._load_layouts()

    def _load_layouts(self) -> None:
        """Layouts as committed (after a failed commit, the ones it did not write go)."""
        self._layouts = {tuple(names): lid for lid, names in read_layouts(self._conn).items()}
        self._next_layout = max(self._layouts.values(), default=0) + 1

    def _open_schema(self) -> None:
        """Create the schema, or bring an older archive up to it; refuse a newer one."""
        version = schema_version(self._conn)
        if version is not None and version > SCHEMA_VERSION:
            self._conn.close()
            raise ArchiveVersionError(
                f"archive schema {version} is newer than this ground's {SCHEMA_VERSION}: "
                "open it with the aisat that wrote it", path=self.path)
        if version is not None and version < SCHEMA_VERSION:
            log.warning("archive %s has schema %d: migrating to %d", self.path, version,
                        SCHEMA_VERSION)
            self._conn.execute("BEGIN")
            try:
                _migrate(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        # one transaction: a reader opening the file meanwhile sees no tables or all of
        # them with their version (tables without a version row read as schema 1)
        self._conn.executescript(
            f"BEGIN;\n{SCHEMA}\nINSERT OR REPLACE INTO meta VALUES "
            f"('schema_version', '{SCHEMA_VERSION}');\nCOMMIT;")

    # --- buffering ------------------------------------------------------------------
    def add_telemetry(self, seq: int, time_s: float, rx_s: float,
                      points: Mapping[str, Any], wall_s: float | None = None,
                      realtime: bool | None = None) -> int:
        """One housekeeping record: its values packed in one row, by its layout."""
        names = tuple(points)
        layout = self._layouts.get(names)  # a known layout's names are all text
        try:
            packed = _packb(list(points.values())) if layout is not None else b""
        except (TypeError, ValueError, OverflowError):
            layout = None
        if layout is None:
            names, packed = pack_record(points)
            layout = self._layouts.get(names)
            if layout is None:
                layout = self._new_layout(names)
        self._pending["telemetry"].append(
            (seq, time_s, rx_s, _flag(realtime), layout, packed, wall_s))
        return len(names)

    def _new_layout(self, names: tuple[str, ...]) -> int:
        layout = self._layouts[names] = self._next_layout
        self._next_layout += 1
        self._pending["layouts"].append((layout, _packb(list(names))))
        for name in names:
            if name not in self._points:  # the point index makes "which points" cheap
                self._points.add(name)
                self._pending["points"].append((name,))
        return layout

    def add_event(self, seq: int, time_s: float, rx_s: float, name: str, severity: str,
                  text: str, args: Mapping[str, Any], wall_s: float | None = None,
                  realtime: bool | None = None) -> None:
        self._pending["events"].append(
            (seq, time_s, rx_s, name, severity, text, _json(args), _flag(realtime), wall_s))

    def add_verification(self, seq: int, time_s: float, rx_s: float, cmd_seq: int | None,
                         name: str, stage: str, reason: str,
                         wall_s: float | None = None, realtime: bool | None = None) -> None:
        self._pending["verifications"].append(
            (seq, time_s, rx_s, cmd_seq, name, stage, reason, _flag(realtime), wall_s))

    def add_product(self, seq: int, time_s: float, rx_s: float,
                    body: Mapping[str, Any], wall_s: float | None = None,
                    realtime: bool | None = None) -> None:
        self._pending["products"].append(
            (seq, time_s, rx_s, _json(body), _flag(realtime), wall_s))

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

    def add_quarantine(self, kind: str, seq: int | None, time_s: float | None, rx_s: float,
                       reason: str, detail: str, wall_s: float | None = None) -> None:
        """A record that decoded but cannot be archived as it is: kept apart with why,
        counted under ``reason`` (its neighbours are archived as usual)."""
        self._quarantine(kind, seq, time_s, rx_s, reason, detail, wall_s)

    def _quarantine(self, kind: str, seq: Any, time_s: Any, rx_s: Any, reason: str,
                    detail: str, wall_s: Any) -> None:
        reason = reason[:200]
        if reason in self.quarantined or len(self.quarantined) < 64:
            self.quarantined[reason] = self.quarantined.get(reason, 0) + 1
        else:  # bounded: a hostile sender could make up a new reason every record
            self.quarantined["(other reasons)"] = self.quarantined.get("(other reasons)",
                                                                       0) + 1
        self.quarantine_seen += 1
        if self.quarantine_seen <= MAX_QUARANTINE_ROWS:
            self._pending["quarantine"].append(
                (kind, _int_or_none(seq), _float_or_none(time_s), _float_or_none(rx_s),
                 reason, detail[:2000], _float_or_none(wall_s)))

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
            self._load_layouts()
            self._points = {r[0] for r in self._conn.execute("SELECT name FROM points")}
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
                    OverflowError, ValueError, TypeError) as exc:
                if table == "quarantine":
                    self.rows_lost += 1  # nowhere left to put it: counted
                    continue
                seq, time_s, rx_s = (row[1], row[2], row[3]) if table == "hellos" else (
                    row[0], row[1], row[2]) if table in _KIND_OF_TABLE else (None, None, None)
                self._quarantine(_KIND_OF_TABLE.get(table, table), seq, time_s, rx_s,
                                 f"{table} row refused: {type(exc).__name__}",
                                 safe_repr(exc, 500) + " row " + safe_repr(row, 1000),
                                 row[-1] if table in _KIND_OF_TABLE else None)
        if table != "quarantine" and self._pending["quarantine"]:
            quarantined, self._pending["quarantine"] = self._pending["quarantine"], []
            self.rows_written["quarantine"] += self._insert(
                "quarantine", _INSERTS["quarantine"], quarantined)
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
            "UNION SELECT seq FROM hellos WHERE direction = 'down' "
            "UNION SELECT seq FROM quarantine WHERE seq IS NOT NULL ORDER BY 1")
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
                "records_quarantined": self.quarantine_seen,
                "quarantine_reasons": dict(self.quarantined), "rows_lost": self.rows_lost,
                "unreadable_commands": list(self.unreadable_commands)}

    def close(self) -> None:
        """Commit what is buffered and close; safe to call twice."""
        try:
            self.flush(meta_only_too=True)
        finally:
            self._conn.close()

    def _count(self, table: str) -> int:
        return int(self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


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


# --- packed points ------------------------------------------------------------------
def pack_record(points: Mapping[Any, Any]) -> tuple[tuple[str, ...], bytes]:
    """A record's point names (its layout) and its values packed in that order. The
    values are kept as decoded (NaN, "no reading", is read back as None, as SQLite
    stored it before and as JSON and plots want it); names that are not text, and values
    msgpack cannot pack, are made text first (:func:`pack_points`). The fast path is the
    write path of every housekeeping record: one C call for the values."""
    names = tuple(points)
    if all(type(k) is str for k in names):
        try:
            return names, _packb(list(points.values()))
        except (TypeError, ValueError, OverflowError):
            pass
    clean = pack_points(points)
    return tuple(clean), _packb(list(clean.values()))


def pack_points(points: Mapping[Any, Any]) -> dict[str, Any]:
    """A record's point map made storable: names as text, NaN as None, and big
    integers beyond 64 bits and odd types as text, so that it always packs."""
    return {_name(k): _packable(v) for k, v in points.items()}


def _packable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value is None or isinstance(value, (str, bytes, bool)):
        return value
    if isinstance(value, int):
        return value if -(1 << 63) <= value < (1 << 64) else str(value)
    return json.loads(_json(value))  # lists, maps, extension types: their JSON shape


def _packb(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def unpack_values(blob: Any, *, nan_as_none: bool = True) -> list[Any]:
    """The values of one archived telemetry row ([] if the blob is damaged)."""
    if not isinstance(blob, (bytes, memoryview)):
        return []
    try:
        value = msgpack.unpackb(blob, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        return []
    if not isinstance(value, list):
        return []
    if not nan_as_none:
        return value
    return [None if v != v else v for v in value]  # NaN (no reading) reads as None


def read_layouts(conn: sqlite3.Connection) -> dict[int, list[str]]:
    """Every layout: id -> the point names, in the order of a row's values."""
    out = {}
    for lid, blob in conn.execute("SELECT id, names FROM layouts"):
        names = unpack_values(blob)
        out[int(lid)] = [str(n) for n in names]
    return out


def _flag(realtime: bool | None) -> int | None:
    return None if realtime is None else int(bool(realtime))


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) \
            and -(1 << 63) <= value < (1 << 63):
        return value
    return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


# --- schema versions and migration ------------------------------------------------------
def schema_version(conn: sqlite3.Connection) -> int | None:
    """The archive's schema version; None for an empty (new) file. An archive from
    before versions were written (telemetry without ``rx_wall_s``) counts as 1."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" in tables:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is not None:
            try:
                return int(row[0])
            except (TypeError, ValueError):
                raise ArchiveVersionError(f"archive schema version {row[0]!r} is not a "
                                          "number: not an aisat archive?") from None
    if "telemetry" in tables:
        return 1
    return None


_V2_TELEMETRY_COLUMNS = {"seq", "time_s", "rx_s", "name", "value"}


def _migrate(conn: sqlite3.Connection) -> None:
    """Schema 1/2 -> 3, in the caller's transaction: telemetry packed one row per record
    (consecutive rows of one downlink number), receive stamps and realtime columns
    added (realtime unknown: NULL), the quarantine table created by the schema."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(telemetry)")}
    if not _V2_TELEMETRY_COLUMNS <= cols:
        raise ArchiveVersionError("archive telemetry table has neither the old nor the new "
                                  "shape", columns=sorted(cols))
    wall = "rx_wall_s" if "rx_wall_s" in cols else "NULL"
    conn.execute("ALTER TABLE telemetry RENAME TO telemetry_v2")
    conn.execute("DROP INDEX IF EXISTS telemetry_by_name")
    conn.execute("CREATE TABLE telemetry (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, "
                 "rx_s REAL, realtime INTEGER, layout INTEGER, packed BLOB, "
                 "rx_wall_s REAL)")
    conn.execute("CREATE TABLE IF NOT EXISTS layouts (id INTEGER PRIMARY KEY, names BLOB)")
    layouts: dict[tuple[str, ...], int] = {}

    conn.execute("CREATE TABLE IF NOT EXISTS points (name TEXT PRIMARY KEY)")

    def packed(points: dict[str, Any]) -> tuple[int, bytes]:
        names = tuple(points)
        if names not in layouts:
            layouts[names] = len(layouts) + 1
            conn.execute("INSERT INTO layouts VALUES (?, ?)",
                         (layouts[names], _packb(list(names))))
            conn.executemany("INSERT OR IGNORE INTO points (name) VALUES (?)",
                             [(n,) for n in names])  # schema 1 had no point index
        return layouts[names], _packb(list(points.values()))

    rows = conn.execute(f"SELECT seq, time_s, rx_s, {wall}, name, value FROM telemetry_v2 "
                        "ORDER BY id")
    out: list[tuple[Any, ...]] = []
    key: tuple[Any, ...] | None = None
    points: dict[str, Any] = {}
    last_wall: Any = None
    for seq, time_s, rx_s, wall_s, name, value in rows:
        if (seq, time_s, rx_s) != key or name in points:
            if key is not None:
                out.append((*key[:3], None, *packed(points), last_wall))
            key, points = (seq, time_s, rx_s), {}
        points[str(name)] = value
        last_wall = wall_s
    if key is not None:
        out.append((*key[:3], None, *packed(points), last_wall))
    conn.executemany("INSERT INTO telemetry (seq, time_s, rx_s, realtime, layout, "
                     "packed, rx_wall_s) VALUES (?,?,?,?,?,?,?)", out)
    conn.execute("DROP TABLE telemetry_v2")
    for table in ("events", "verifications", "products", "hellos", "link_errors"):
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            continue  # the schema creates it
        if WALL_COLUMN not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {WALL_COLUMN} REAL")
        if table in ("events", "verifications", "products") and "realtime" not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN realtime INTEGER")
    have = {r[1] for r in conn.execute("PRAGMA table_info(commands)")}
    if have and "at_s" not in have:  # time tags (a command queued for later keeps its time)
        conn.execute("ALTER TABLE commands ADD COLUMN at_s REAL")
    conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                 (str(SCHEMA_VERSION),))


def migrate(path: Path | str) -> int | None:
    """Bring the archive at ``path`` to this schema; returns the version it had."""
    conn = connect(path)
    try:
        before = schema_version(conn)
    finally:
        conn.close()
    Archive(path).close()
    if before is not None and before < SCHEMA_VERSION:
        conn = connect(path)
        try:
            conn.execute("VACUUM")  # give back the space of the old per-point rows
        finally:
            conn.close()
    return before
