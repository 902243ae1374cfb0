"""Contact windows (passes) from the archived ``link.in_contact`` samples.

Why: the station emulator only knows the *next* pass (from the plant's WORLD); the
archive knows every contact the spacecraft itself reported, including ones recorded
out of sight and played back later. A pass timeline is those windows plus the next one.
Pure: samples in, windows out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Window:
    aos_s: float  # onboard time of the first in-contact sample (UTC s)
    los_s: float  # of the last one (the window may still be open)
    station: str = ""
    predicted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"aos_s": self.aos_s, "los_s": self.los_s, "station": self.station,
                "predicted": self.predicted}


def contact_windows(samples: Iterable[tuple[float, Any]],
                    stations: Iterable[tuple[float, Any]] = (),
                    max_gap_s: float = 120.0) -> list[Window]:
    """Windows from ``(time_s, in_contact)`` samples in any order; a gap in the samples
    longer than ``max_gap_s`` ends a window (nothing is known about the gap).
    ``stations``: ``(time_s, name)`` samples naming who was in contact."""
    names = sorted((t, str(n)) for t, n in stations if n)
    windows: list[Window] = []
    start: float | None = None
    last: float | None = None
    for time_s, value in sorted(samples, key=lambda s: s[0]):
        inside = bool(value) and value is not None
        if start is not None and last is not None and (
                not inside or time_s - last > max_gap_s):
            windows.append(Window(start, last, _station(names, start, last)))
            start = None
        if inside:
            start = time_s if start is None else start
            last = time_s
    if start is not None and last is not None:
        windows.append(Window(start, last, _station(names, start, last)))
    return windows


def _station(names: list[tuple[float, str]], aos_s: float, los_s: float) -> str:
    return next((n for t, n in names if aos_s <= t <= los_s), "")
