"""Read-only queries over the SQLite archive: the CLI, the scripting API, the export and
the web console read here (the interface is :class:`ground.archive_query.ArchiveQuery`).

Readers open the SQLite file read-only and never block the ground process (WAL mode);
a stopped run's archive reads the same way. Incremental reads use row ids (``after_id``)
so that a wait sees every sample, not just the latest one.

Telemetry is one row per housekeeping record, its values packed (msgpack) in the order
of its layout (the point names, stored once), so a point's history is *decoded on read*:
the rows of a time range come by the index on onboard time (``telemetry_by_time``), a
row whose layout lacks the point is skipped without unpacking, and the others are
unpacked (measured figures in the README). :meth:`ArchiveReader.series` is the plotting
query: up to ``max_points`` rows it returns every sample; up to
:data:`DECODE_ALL_MAX_ROWS` it decodes them all and keeps each time bucket's first,
lowest and highest sample (a spike survives the decimation); beyond that SQL picks one
row per bucket and only those are decoded, so a month's archive plots in the time of
``max_points`` decodes.
"""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightsw.dictionary import Severity
from ground.archive import (
    SCHEMA_VERSION,
    ArchiveVersionError,
    connect,
    read_layouts,
    schema_version,
    unpack_values,
)
from ground.errors import NoStack

SEVERITY_ORDER = [s.value for s in Severity]
DECODE_ALL_MAX_ROWS = 100_000
"""A series over at most this many records is decimated from every sample (min/max per
bucket); over more, from one sampled record per bucket (bounded time, see above)."""
_SCAN_CHUNK = 256  # rows read at a time when scanning back for a point's latest sample
_TLM = "SELECT id, seq, time_s, rx_s, layout, packed FROM telemetry"
_MISSING = object()


@dataclass(frozen=True)
class Row:
    """Where and when any archived record came from."""

    id: int  # archive row id: increases with arrival, the cursor for incremental reads
    seq: int  # flight downlink sequence number
    time_s: float  # onboard (spacecraft) time, UTC s
    rx_s: float  # ground receive time, UTC s


@dataclass(frozen=True)
class Sample(Row):
    """One telemetry value as the ground archived it."""

    name: str
    value: Any


@dataclass(frozen=True)
class EventRow(Row):
    name: str
    severity: str
    text: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Record(Row):
    """One archived housekeeping record: every point it carried."""

    realtime: bool | None  # None: archived before the flag existed
    points: dict[str, Any]


@dataclass(frozen=True)
class ProductRow(Row):
    """A payload data product (a RESULT record's body)."""

    body: dict[str, Any]


@dataclass(frozen=True)
class Mark:
    """Positions in the archive at one moment; waits ``since`` a mark see only newer rows."""

    telemetry_id: int = 0
    events_id: int = 0
    products_id: int = 0


class ArchiveReader:
    """Read-only queries over one archive file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise NoStack("no ground archive yet (is the ground process running?)",
                          looked_in=str(self.path))
        try:
            self._conn = connect(self.path, readonly=True)
            version = schema_version(self._conn)
            self._conn.execute("SELECT 1 FROM telemetry LIMIT 1")
        except sqlite3.Error as exc:
            raise NoStack("ground archive unreadable", path=str(self.path),
                          error=str(exc)) from exc
        if version is not None and version != SCHEMA_VERSION:
            self._conn.close()
            hint = ("`aisat ground migrate --archive PATH` converts it (a ground process "
                    "started on it does too)" if version < SCHEMA_VERSION
                    else "read it with the aisat that wrote it")
            raise ArchiveVersionError(f"archive {self.path} has schema {version}, this "
                                      f"reader reads {SCHEMA_VERSION}: {hint}",
                                      path=str(self.path))
        self._layouts: dict[int, list[str]] = {}
        self._index: dict[int, dict[str, int]] = {}

    # --- packed records -------------------------------------------------------------
    def _names(self, layout: Any) -> list[str] | None:
        """The point names of a layout (re-read once if the writer added it since)."""
        if layout not in self._layouts:
            self._layouts = read_layouts(self._conn)
            self._index = {lid: {n: i for i, n in enumerate(names)}
                           for lid, names in self._layouts.items()}
        return self._layouts.get(layout)

    def _points(self, layout: Any, blob: Any) -> dict[str, Any]:
        names = self._names(layout)
        return dict(zip(names, unpack_values(blob), strict=False)) if names else {}

    def _value(self, name: str, layout: Any, blob: Any) -> Any:
        """One point's value in a row (``_MISSING`` if its layout lacks the point, which
        is known without unpacking the row)."""
        if self._names(layout) is None:
            return _MISSING
        i = self._index[layout].get(name)
        if i is None:
            return _MISSING
        values = unpack_values(blob, nan_as_none=False)
        if i >= len(values):
            return _MISSING
        value = values[i]
        return None if value != value else value  # NaN (no reading) reads as None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- telemetry ------------------------------------------------------------------
    def latest(self, name: str) -> Sample | None:
        """The point's newest sample by arrival (scans back record by record)."""
        return self.latest_of([name]).get(name)

    def latest_all(self) -> dict[str, Sample]:
        """The latest sample of every point ever received (by arrival order)."""
        return self.latest_of(self.point_names())

    def latest_of(self, names: list[str]) -> dict[str, Sample]:
        """The newest sample of each of ``names`` (by arrival); missing ones left out."""
        self._layouts = read_layouts(self._conn)  # fresh: the writer may have added some
        self._index = {lid: {n: i for i, n in enumerate(ns)}
                       for lid, ns in self._layouts.items()}
        known = {n for ns in self._layouts.values() for n in ns}
        wanted, out = set(names) & known, {}  # a point no layout has: no scan at all
        before = None
        while wanted:
            sql, params = (_TLM + " WHERE id < ? ORDER BY id DESC LIMIT ?",
                           [before, _SCAN_CHUNK]) if before is not None else (
                _TLM + " ORDER BY id DESC LIMIT ?", [_SCAN_CHUNK])
            rows = self._conn.execute(sql, params).fetchall()
            if not rows:
                break
            for rid, seq, time_s, rx_s, layout, blob in rows:
                if wanted.isdisjoint(self._index.get(layout, ())):
                    continue  # its layout has none of them: not unpacked
                points = self._points(layout, blob)
                for name in wanted & points.keys():
                    out[name] = Sample(rid, seq, time_s, rx_s, name, points[name])
                wanted -= points.keys()
                if not wanted:
                    break
            before = rows[-1][0]
        return out

    def samples(self, name: str, after_id: int = 0, limit: int = 10_000) -> list[Sample]:
        """The point's samples archived after row ``after_id``, in arrival order."""
        out: list[Sample] = []
        while len(out) < limit:
            rows = self._conn.execute(_TLM + " WHERE id > ? ORDER BY id LIMIT ?",
                                      (after_id, max(limit, _SCAN_CHUNK))).fetchall()
            if not rows:
                break
            for rid, seq, time_s, rx_s, layout, blob in rows:
                value = self._value(name, layout, blob)
                if value is not _MISSING:
                    out.append(Sample(rid, seq, time_s, rx_s, name, value))
                    if len(out) >= limit:
                        break
            after_id = rows[-1][0]
        return out

    def series(self, name: str, t_from: float | None = None, t_to: float | None = None,
               max_points: int = 2000) -> list[Sample]:
        """The point over onboard time ``[t_from, t_to]`` (None: open), in onboard-time
        order, decimated to about ``max_points`` samples (see the module docstring)."""
        if max_points < 1:
            raise ValueError("max_points must be at least 1")
        lo, hi = self._time_bounds(t_from, t_to)
        if lo is None or hi is None:
            return []
        where, params = "WHERE time_s BETWEEN ? AND ?", [lo, hi]
        (n,) = self._conn.execute(f"SELECT COUNT(*) FROM telemetry {where}",
                                  params).fetchone()
        if n <= max_points:
            return self._decoded(name, f"{_TLM} {where} ORDER BY time_s, seq", params)
        buckets = max(1, max_points // 3 if n <= DECODE_ALL_MAX_ROWS else max_points)
        width = (hi - lo) / buckets or 1.0
        if n > DECODE_ALL_MAX_ROWS:  # one sampled record per bucket, chosen by SQL
            return self._decoded(
                name, f"{_TLM} WHERE id IN (SELECT MIN(id) FROM telemetry {where} "
                f"GROUP BY MIN(CAST((time_s - ?) / ? AS INTEGER), ?)) "
                f"ORDER BY time_s, seq", [*params, lo, width, buckets - 1])
        samples = self._decoded(name, f"{_TLM} {where} ORDER BY time_s, seq", params)
        return _min_max_decimate(samples, lo, width, buckets)

    def _time_bounds(self, t_from: float | None,
                     t_to: float | None) -> tuple[float | None, float | None]:
        if t_from is not None and t_to is not None:
            return float(t_from), float(t_to)
        lo, hi = self._conn.execute("SELECT MIN(time_s), MAX(time_s) FROM telemetry "
                                    "WHERE time_s IS NOT NULL").fetchone()
        return (lo if t_from is None else float(t_from)), (hi if t_to is None else float(t_to))

    def _decoded(self, name: str, sql: str, params: list[Any]) -> list[Sample]:
        out = []
        for rid, seq, time_s, rx_s, layout, blob in self._conn.execute(sql, params):
            value = self._value(name, layout, blob)
            if value is not _MISSING:
                out.append(Sample(rid, seq, time_s, rx_s, name, value))
        return out

    def records(self, t_from: float | None = None, t_to: float | None = None,
                batch: int = 2000) -> Iterator[Record]:
        """Every housekeeping record in onboard-time ``[t_from, t_to]``, in onboard-time
        order (ties by number), read ``batch`` rows at a time (an export streams)."""
        sql = ("SELECT id, seq, time_s, rx_s, realtime, layout, packed FROM telemetry "
               "WHERE time_s >= ? AND time_s <= ? ORDER BY time_s, seq")
        cur = self._conn.execute(sql, (-math.inf if t_from is None else float(t_from),
                                       math.inf if t_to is None else float(t_to)))
        while rows := cur.fetchmany(batch):
            for rid, seq, time_s, rx_s, realtime, layout, blob in rows:
                yield Record(rid, seq, time_s, rx_s,
                             None if realtime is None else bool(realtime),
                             self._points(layout, blob))

    def point_names(self) -> list[str]:
        rows = self._conn.execute("SELECT name FROM points ORDER BY name")
        return [r[0] for r in rows]

    # --- events and products --------------------------------------------------------
    def events(self, limit: int = 50, min_severity: str | None = None,
               after_id: int = 0, t_from: float | None = None,
               t_to: float | None = None) -> list[EventRow]:
        """The latest ``limit`` events after ``after_id`` (and within onboard time
        ``[t_from, t_to]``), at least ``min_severity``, in mission-time order.

        Ordered by the spacecraft time the flight stamped on each event, ties by the
        downlink sequence number - not by arrival, which the recorder's playback order
        and out-of-contact periods scramble. An unknown severity raises ValueError.
        """
        sql = ("SELECT id, seq, time_s, rx_s, name, severity, text, args_json FROM events "
               "WHERE id > ?")
        params: list[Any] = [after_id]
        if t_from is not None:
            sql += " AND time_s >= ?"
            params.append(float(t_from))
        if t_to is not None:
            sql += " AND time_s <= ?"
            params.append(float(t_to))
        if min_severity is not None and min_severity not in SEVERITY_ORDER:
            raise ValueError(f"unknown severity {min_severity!r}: one of "
                             f"{', '.join(SEVERITY_ORDER)}")
        if min_severity is not None:
            allowed = SEVERITY_ORDER[SEVERITY_ORDER.index(min_severity):]
            sql += f" AND severity IN ({','.join('?' * len(allowed))})"
            params += allowed
        sql += " ORDER BY time_s DESC, seq DESC, id DESC LIMIT ?"
        params.append(limit)
        rows = self._conn.execute(sql, params).fetchall()
        return [_event_row(r) for r in reversed(rows)]

    def events_after(self, after_id: int) -> Iterator[EventRow]:
        rows = self._conn.execute(
            "SELECT id, seq, time_s, rx_s, name, severity, text, args_json FROM events "
            "WHERE id > ? ORDER BY id", (after_id,))
        for r in rows:
            yield _event_row(r)

    def products(self, t_from: float | None = None, t_to: float | None = None,
                 limit: int = 100) -> list[ProductRow]:
        """The newest ``limit`` data products within onboard time ``[t_from, t_to]``,
        in onboard-time order."""
        rows = self._conn.execute(
            "SELECT id, seq, time_s, rx_s, body_json FROM products WHERE time_s >= ? "
            "AND time_s <= ? ORDER BY time_s DESC, seq DESC LIMIT ?",
            (-math.inf if t_from is None else float(t_from),
             math.inf if t_to is None else float(t_to), limit)).fetchall()
        return [ProductRow(r[0], r[1], r[2], r[3], _loads(r[4])) for r in reversed(rows)]

    def quarantine(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest quarantined records (kind, number, times, reason, detail)."""
        cur = self._conn.execute(
            "SELECT id, kind, seq, time_s, rx_s, reason, detail FROM quarantine "
            "ORDER BY id DESC LIMIT ?", (limit,))
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in reversed(cur.fetchall())]

    def products_after(self, after_id: int) -> list[ProductRow]:
        rows = self._conn.execute(
            "SELECT id, seq, time_s, rx_s, body_json FROM products WHERE id > ? ORDER BY id",
            (after_id,))
        return [ProductRow(r[0], r[1], r[2], r[3], _loads(r[4])) for r in rows]

    # --- commands -------------------------------------------------------------------
    def command(self, cmd_seq: int) -> dict[str, Any] | None:
        cur = self._conn.execute("SELECT * FROM commands WHERE cmd_seq = ?", (cmd_seq,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["args"] = _loads(out.pop("args_json"))
        return out

    def verifications(self, cmd_seq: int) -> list[dict[str, Any]]:
        cur = self._conn.execute(
            "SELECT seq, time_s, rx_s, cmd_seq, name, stage, reason FROM verifications "
            "WHERE cmd_seq = ? ORDER BY id", (cmd_seq,))
        return [dict(zip([d[0] for d in cur.description], r, strict=True))
                for r in cur.fetchall()]

    def mark(self) -> Mark:
        """Where the archive ends now (rows added later are 'since' this mark)."""
        def top(table: str) -> int:
            return int(self._conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
                       .fetchone()[0])

        return Mark(top("telemetry"), top("events"), top("products"))

    def mission_now_s(self) -> float | None:
        """The ground's latest spacecraft time: the newest WORLD time it noted (for a
        stopped run, the last one), else the newest onboard time archived."""
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'mission_now_s'").fetchone()
        try:
            now = float(row[0]) if row else math.nan
        except (TypeError, ValueError):
            now = math.nan
        if math.isfinite(now):
            return now
        newest = self._conn.execute(
            "SELECT MAX(t) FROM (SELECT MAX(time_s) AS t FROM telemetry "
            "UNION ALL SELECT MAX(time_s) FROM events)").fetchone()[0]
        return float(newest) if newest is not None else None

    def housekeeping_period_s(self, window_rows: int = 64) -> float | None:
        """The housekeeping period as the archive shows it: the median spacing of the
        newest distinct onboard times among recent telemetry rows (None if unknown)."""
        rows = self._conn.execute(
            "SELECT DISTINCT time_s FROM (SELECT time_s FROM telemetry ORDER BY id DESC "
            "LIMIT ?)", (window_rows,)).fetchall()
        times = sorted((float(r[0]) for r in rows if r[0] is not None), reverse=True)[:11]
        gaps = sorted(a - b for a, b in itertools.pairwise(times) if a - b > 0)
        return gaps[len(gaps) // 2] if gaps else None

    def counts(self) -> dict[str, int]:
        tables = ("telemetry", "events", "verifications", "products", "hellos", "commands",
                  "link_errors", "quarantine")
        return {t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in tables}


def _min_max_decimate(samples: list[Sample], lo: float, width: float,
                      buckets: int) -> list[Sample]:
    """Per time bucket: the first, the lowest and the highest numeric sample (each
    once, in time order); non-numeric samples: the first and each change of value."""
    out: list[Sample] = []
    for _, group in itertools.groupby(
            samples, key=lambda s: min(int((s.time_s - lo) // width), buckets - 1)):
        bucket = list(group)
        numeric = [s for s in bucket if isinstance(s.value, (int, float))
                   and not isinstance(s.value, bool) and not math.isnan(s.value)]
        keep = {id(bucket[0])}
        if numeric:
            keep |= {id(min(numeric, key=lambda s: s.value)),
                     id(max(numeric, key=lambda s: s.value))}
        else:
            keep |= {id(b) for a, b in itertools.pairwise(bucket) if a.value != b.value}
        out += [s for s in bucket if id(s) in keep]
    return out


def _event_row(r: tuple[Any, ...]) -> EventRow:
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]))


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {"_unreadable": text}
    return value if isinstance(value, dict) else {"value": value}
