"""Read-only queries over the archive, for the CLI and the scripting API.

Readers open the SQLite file read-only and never block the ground process (WAL mode):
the CLI's ``tlm``/``events`` and the scripting API's waits read here directly, while
commands go through the ground process's ops socket. Incremental reads use row ids
(``after_id``) so that a wait sees every sample, not just the latest one.
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
from ground.archive import connect
from ground.errors import NoStack

SEVERITY_ORDER = [s.value for s in Severity]


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
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise NoStack("no ground archive yet (is the ground process running?)",
                          looked_in=str(self.path))
        try:
            self._conn = connect(self.path, readonly=True)
            self._conn.execute("SELECT 1 FROM telemetry LIMIT 1")
        except sqlite3.Error as exc:
            raise NoStack("ground archive unreadable", path=str(self.path),
                          error=str(exc)) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- telemetry ------------------------------------------------------------------
    def latest(self, name: str) -> Sample | None:
        row = self._conn.execute(
            "SELECT id, seq, time_s, rx_s, name, value FROM telemetry WHERE name = ? "
            "ORDER BY id DESC LIMIT 1", (name,)).fetchone()
        return Sample(*row) if row else None

    def latest_all(self) -> dict[str, Sample]:
        """The latest sample of every point ever received (by arrival order)."""
        out: dict[str, Sample] = {}
        for name in self.point_names():
            sample = self.latest(name)
            if sample is not None:
                out[name] = sample
        return out

    def samples(self, name: str, after_id: int = 0, limit: int = 10_000) -> list[Sample]:
        rows = self._conn.execute(
            "SELECT id, seq, time_s, rx_s, name, value FROM telemetry "
            "WHERE name = ? AND id > ? ORDER BY id LIMIT ?", (name, after_id, limit))
        return [Sample(*r) for r in rows]

    def point_names(self) -> list[str]:
        rows = self._conn.execute("SELECT name FROM points ORDER BY name")
        return [r[0] for r in rows]

    # --- events and products --------------------------------------------------------
    def events(self, limit: int = 50, min_severity: str | None = None,
               after_id: int = 0) -> list[EventRow]:
        """The latest ``limit`` events after ``after_id``, in mission-time order.

        Ordered by the spacecraft time the flight stamped on each event, ties by the
        downlink sequence number - not by arrival, which the recorder's playback order
        and out-of-contact periods scramble.
        """
        sql = ("SELECT id, seq, time_s, rx_s, name, severity, text, args_json FROM events "
               "WHERE id > ?")
        params: list[Any] = [after_id]
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

    def housekeeping_period_s(self, window_rows: int = 2000) -> float | None:
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
                  "link_errors")
        return {t: int(self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in tables}


def _event_row(r: tuple[Any, ...]) -> EventRow:
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]))


def _loads(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {"_unreadable": text}
    return value if isinstance(value, dict) else {"value": value}
