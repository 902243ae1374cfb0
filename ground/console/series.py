"""A telemetry point's samples, decimated for a plot.

Why: a plot is a few hundred pixels wide, and a point sampled at 1 Hz over a day is
86,400 values. Sending them all costs the browser and the link to it for nothing, and a
naive "every n-th sample" hides exactly the spikes an operator looks for. Here a time
range is cut into ``buckets`` equal slices and each slice keeps its first, lowest,
highest and last sample (in time order, duplicates dropped), so every extreme survives
and a line through the kept samples looks like one through all of them.

Text points (enums such as ``mode.current``, strings) are kept only where the value
changes, and carried as an index into ``categories`` so the same plot draws them as
steps. Pure: lists in, lists out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_BUCKETS = 2000
"""Most slices a plot may ask for (at most four samples each are returned)."""


@dataclass(frozen=True)
class Point:
    """One plotted sample: onboard time (UTC s), value and the archive row id."""

    time_s: float
    value: float
    row_id: int = 0


@dataclass
class Series:
    """What a plot draws: points in time order, and for text points the categories
    their integer values index."""

    name: str
    points: list[Point] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    raw_count: int = 0  # samples before decimation
    last_row_id: int = 0  # the cursor for the next live read

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "t": [p.time_s for p in self.points],
                "v": [p.value for p in self.points], "categories": self.categories,
                "raw_count": self.raw_count, "last_row_id": self.last_row_id}


def numeric(value: Any) -> float | None:
    """A plottable number for ``value`` (bools as 0/1), or None for text or no reading."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def decimate(points: Sequence[Point], buckets: int, t0_s: float | None = None,
             t1_s: float | None = None) -> list[Point]:
    """First, min, max and last of each of ``buckets`` equal time slices of [t0, t1]
    (default: the points' own span); points must be in time order."""
    if buckets < 1:
        raise ValueError(f"buckets must be >= 1 (got {buckets})")
    if len(points) <= 4 * buckets:
        return list(points)
    start = points[0].time_s if t0_s is None else t0_s
    end = points[-1].time_s if t1_s is None else t1_s
    width = (end - start) / buckets if end > start else 1.0
    out: list[Point] = []
    group: list[Point] = []
    current = -1
    for p in points:
        index = min(buckets - 1, max(0, int((p.time_s - start) / width)))
        if index != current and group:
            out.extend(_keep(group))
            group = []
        current = index
        group.append(p)
    if group:
        out.extend(_keep(group))
    return out


def _keep(group: list[Point]) -> list[Point]:
    lo = min(group, key=lambda p: p.value)
    hi = max(group, key=lambda p: p.value)
    chosen = {id(group[0]): group[0], id(lo): lo, id(hi): hi, id(group[-1]): group[-1]}
    return sorted(chosen.values(), key=lambda p: (p.time_s, p.row_id))


def build(name: str, samples: Iterable[tuple[int, float, Any]], buckets: int,
          t0_s: float | None = None, t1_s: float | None = None) -> Series:
    """A plot's series from archive samples ``(row_id, time_s, value)``.

    Samples outside [t0, t1] are left out, as are ones with no reading (None, NaN);
    the result is in onboard-time order whatever the arrival order was (played-back
    records arrive late). Text values become category indices, kept at changes only.
    """
    rows = sorted((s for s in samples
                   if (t0_s is None or s[1] >= t0_s) and (t1_s is None or s[1] <= t1_s)),
                  key=lambda s: (s[1], s[0]))
    series = Series(name, raw_count=len(rows),
                    last_row_id=max((s[0] for s in rows), default=0))
    numbers: list[Point] = []
    for row_id, time_s, value in rows:
        number = numeric(value)
        if number is not None:
            numbers.append(Point(time_s, number, row_id))
    if numbers or not rows:
        series.points = decimate(numbers, buckets, t0_s, t1_s)
        return series
    categories: dict[str, int] = {}
    last: int | None = None
    changes: list[Point] = []
    for row_id, time_s, value in rows:
        if value is None:
            continue
        index = categories.setdefault(str(value), len(categories))
        if index != last:
            changes.append(Point(time_s, float(index), row_id))
            last = index
    if rows and changes and changes[-1].row_id != rows[-1][0]:
        changes.append(Point(rows[-1][1], changes[-1].value, rows[-1][0]))  # hold to now
    series.points = changes[-4 * buckets:]
    series.categories = list(categories)
    return series
