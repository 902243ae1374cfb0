"""Clocks: the one place where wall time is read, and the sim clock that replaces it.

Two times are kept apart on purpose:

- *monotonic* seconds never jump and are what rate groups, timeouts and intervals use;
- *mission* time is spacecraft UTC (seconds since the Unix epoch) stamped on records,
  and may be set by command or follow the simulated scenario's epoch.

:class:`RealClock` is for boards and free-running stacks. :class:`SimClock` follows the
plant's ticks in lockstep (trio's MockClock is the model): it only moves when told, so a
30-day scenario runs as fast as the machine goes and runs the same way twice.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_s(self) -> float:
        """Seconds on a clock that never goes backwards (origin is arbitrary)."""
        ...

    def mission_time_s(self) -> float:
        """Spacecraft time: UTC seconds since the Unix epoch."""
        ...


class RealClock:
    """Wall time. The only code in aisat that calls ``time.monotonic``/``time.time``."""

    def __init__(self, mission_offset_s: float = 0.0) -> None:
        self.mission_offset_s = mission_offset_s

    def monotonic_s(self) -> float:
        return time.monotonic()

    def mission_time_s(self) -> float:
        return time.time() + self.mission_offset_s

    def sync_mission_time(self, mission_time_s: float) -> None:
        """Correlate mission time with a time source (a GNSS fix, the plant's clock)."""
        self.mission_offset_s = mission_time_s - time.time()

    def sleep_s(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class SimClock:
    """A clock that moves only when the simulated spacecraft says time has passed."""

    def __init__(self, epoch_s: float = 0.0, start_s: float = 0.0) -> None:
        self.epoch_s = epoch_s
        self._elapsed_s = start_s

    def monotonic_s(self) -> float:
        return self._elapsed_s

    def mission_time_s(self) -> float:
        return self.epoch_s + self._elapsed_s

    def advance_to(self, elapsed_s: float) -> None:
        if elapsed_s < self._elapsed_s:
            raise ValueError(f"sim time cannot go back: {elapsed_s} < {self._elapsed_s}")
        self._elapsed_s = elapsed_s

    def advance_by(self, dt_s: float) -> None:
        self.advance_to(self._elapsed_s + dt_s)
