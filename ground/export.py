"""Archive export and the archive-only CLI actions: ``aisat ground export|products|migrate``.

These read the archive file alone (no ground process), so they work on a running stack
and on a stopped run's archive alike (``RUN_DIR/archive.sqlite``).

CSV, not Parquet: a CSV of a 2-orbit run (11,500 records x 40 points) is ~5 MB and
opens in every tool an operator has; Parquet would add pyarrow (~100 MB installed) to a
flight-software package for a file that size. One row per housekeeping record, in
onboard-time order: ``time_utc`` (ISO 8601), ``time_s`` (onboard, UTC s), ``seq``
(downlink number), ``rx_s`` (ground receive, ground clock), ``realtime`` (1, or 0 for
played back; empty if unknown), then one column per point. An empty cell is a point the
record did not carry, or no reading (NaN); lists and maps are JSON text.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ground.archive import SCHEMA_VERSION, migrate
from ground.archive_reader import ArchiveReader
from ground.errors import GroundError

FIXED_COLUMNS = ("time_utc", "time_s", "seq", "rx_s", "realtime")


class ExportError(GroundError):
    """The export cannot be made as asked (unknown points, bad times, unwritable file)."""


def parse_time(text: str | None, option: str) -> float | None:
    """``--from``/``--to``: ISO 8601 (UTC unless a zone is given) or UTC seconds."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise ExportError(f"{option} must be a finite time", got=text)
        return value
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ExportError(f"{option} takes a UTC time like 2026-11-22T08:30:00Z or UTC "
                          "seconds", got=text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def export_csv(reader: ArchiveReader, out_path: Path, points: Sequence[str] | None = None,
               t_from: float | None = None, t_to: float | None = None) -> int:
    """Write the records in ``[t_from, t_to]`` to ``out_path`` (written whole, then
    renamed: an interrupted export leaves no half file); returns the rows written."""
    known = reader.point_names()
    if points:
        unknown = [p for p in points if p not in known]
        if unknown:
            raise ExportError("unknown telemetry points", unknown=unknown,
                              valid=known[:50])
        columns = list(dict.fromkeys(points))
    else:
        columns = known
    if t_from is not None and t_to is not None and t_to < t_from:
        raise ExportError("--to is before --from", t_from=t_from, t_to=t_to)
    tmp = out_path.with_name(out_path.name + ".part")
    rows = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            rows = _write(reader, f, columns, t_from, t_to)
        os.replace(tmp, out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError("cannot write the export", path=str(out_path),
                          error=str(exc)) from exc
    return rows


def _write(reader: ArchiveReader, f: TextIO, columns: list[str], t_from: float | None,
           t_to: float | None) -> int:
    w = csv.writer(f)
    w.writerow([*FIXED_COLUMNS, *columns])
    n = 0
    for rec in reader.records(t_from, t_to):
        w.writerow([_utc(rec.time_s), rec.time_s, rec.seq, rec.rx_s,
                    "" if rec.realtime is None else int(rec.realtime),
                    *(_cell(rec.points.get(c)) for c in columns)])
        n += 1
    return n


def _utc(time_s: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(time_s), dt.timezone.utc).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bytes):
        return value.hex()
    return value


def products_text(reader: ArchiveReader, limit: int, t_from: float | None,
                  t_to: float | None) -> list[list[str]]:
    """Rows for ``aisat ground products``: onboard time, number, and the product's body."""
    return [[_utc(p.time_s), str(p.seq),
             json.dumps(p.body, separators=(",", ":"), sort_keys=True)[:300]]
            for p in reader.products(t_from, t_to, limit=limit)]


def migrate_text(path: Path) -> str:
    """``aisat ground migrate``: convert an older archive in place; say what happened."""
    if not path.exists():
        raise ExportError("no archive there", path=str(path))
    before = migrate(path)
    if before is None:
        return f"{path}: was empty; now an archive of the current schema"
    if before == SCHEMA_VERSION:
        return f"{path}: already schema {SCHEMA_VERSION}, nothing to do"
    return f"{path}: migrated from schema {before} to {SCHEMA_VERSION}"
