"""What is coming: the next umbra entry and exit, the next ground-station passes.

The executive and the ground need event times ahead, not just the present state. Events
are found on a coarse grid (default 20 s) extended lazily as far ahead as asked, then
refined by linear interpolation of smooth functions (umbra margin, elevation minus mask),
which puts them within about a second of the truth.
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from hil.plant.contacts import Pass, crossings, peak_deg
from hil.plant.ephemeris import Ephemeris


class Forecast:
    """Lazily extended event lists over the coarse grid."""

    def __init__(
        self,
        ephemeris: Ephemeris,
        step_s: float = 20.0,
        block_s: float = 6 * 3600.0,
        horizon_s: float = 2 * 86400.0,
    ) -> None:
        self.ephemeris = ephemeris
        self.step_s = step_s
        self.block_s = block_s
        self.horizon_s = horizon_s  # how far ahead to look before answering "none"
        self.covered_s = 0.0  # events are complete up to here
        self.umbra_entries_s: list[float] = []
        self.umbra_exits_s: list[float] = []
        self.passes: list[Pass] = []  # sorted by AOS
        n_st = len(ephemeris.network.names)
        self._open_aos: list[float | None] = [None] * n_st  # pass in progress at block end
        self._open_peak: list[float] = [-90.0] * n_st
        self._pass_lo = 0
        self._pass_time_s = 0.0
        self._started = False

    def _extend(self) -> None:
        t0 = self.covered_s
        n = round(self.block_s / self.step_s)
        t = t0 + np.arange(n + 1) * self.step_s
        geo = self.ephemeris.sample(t)
        masks = self.ephemeris.network.masks_deg
        margin = geo.umbra_margin_rad
        if t0 == 0.0:
            for s, e0 in enumerate(geo.elevation_deg[:, 0]):
                if e0 >= masks[s]:  # in a pass at the epoch: its AOS was before
                    self._open_aos[s] = -math.inf
        if t0 == 0.0 and margin[0] < 0.0:
            self.umbra_entries_s.append(-math.inf)  # in umbra at the epoch
        # Umbra: margin < 0 inside, so the umbra is entered where -margin rises.
        entries, exits = crossings(t, -margin)
        self.umbra_entries_s.extend(entries.tolist())
        self.umbra_exits_s.extend(exits.tolist())
        new: list[Pass] = []
        for s, name in enumerate(self.ephemeris.network.names):
            elev = geo.elevation_deg[s]
            rises, sets = crossings(t, elev - masks[s])
            events = sorted([(x, 1) for x in rises.tolist()] + [(x, 0) for x in sets.tolist()])
            for when, rising in events:
                if rising:
                    self._open_aos[s] = when
                    self._open_peak[s] = -90.0
                elif self._open_aos[s] is not None:
                    aos = self._open_aos[s]
                    assert aos is not None
                    lo = max(0, int((max(aos, t0) - t0) / self.step_s))
                    hi = min(len(t), int((when - t0) / self.step_s) + 2)
                    peak = max(self._open_peak[s], peak_deg(t, elev, lo, hi))
                    new.append(Pass(name, aos, when, peak))
                    self._open_aos[s] = None
            if self._open_aos[s] is not None:  # still open at block end: remember its peak
                aos = self._open_aos[s]
                assert aos is not None
                lo = max(0, int((max(aos, t0) - t0) / self.step_s))
                self._open_peak[s] = max(self._open_peak[s], peak_deg(t, elev, lo, len(t)))
        self.passes.extend(new)
        self.passes.sort(key=lambda p: p.aos_s)
        self._pass_lo = 0  # a pass may have landed before the scan pointer
        self.covered_s = float(t[-1])

    def _ensure(self, until_s: float) -> None:
        while self.covered_s < until_s or not self._started:
            self._started = True
            self._extend()

    def next_umbra(self, t_s: float) -> tuple[float, float] | None:
        """(entry, exit) of the umbra in progress at ``t_s`` or the next one after it.

        None if no umbra within the horizon (out of eclipse season); an exit of
        ``math.inf`` means the exit lies beyond the horizon. Entries and exits alternate.
        """
        limit = t_s + self.horizon_s
        self._ensure(min(t_s, limit) + self.step_s)
        entries, exits = self.umbra_entries_s, self.umbra_exits_s
        while True:
            k = bisect.bisect_right(entries, t_s)
            if k > 0 and (k > len(exits) or exits[k - 1] > t_s):
                found: int | None = k - 1  # in umbra now
            elif k < len(entries):
                found = k
            else:
                found = None
            if found is not None and found < len(exits):
                return entries[found], exits[found]
            if self.covered_s >= limit:
                return None if found is None else (entries[found], math.inf)
            self._ensure(self.covered_s + self.block_s)

    def next_pass(self, t_s: float) -> Pass | None:
        """The pass in progress at ``t_s`` or, failing that, the earliest one after it."""
        limit = t_s + self.horizon_s
        self._ensure(t_s + self.step_s)
        if t_s < self._pass_time_s:
            self._pass_lo = 0  # asked about the past: scan from the start again
        self._pass_time_s = t_s
        while True:
            passes = self.passes
            while self._pass_lo < len(passes) and passes[self._pass_lo].los_s <= t_s:
                self._pass_lo += 1
            open_aos = [a for a in self._open_aos if a is not None]
            earliest_open = min(open_aos) if open_aos else math.inf
            for p in passes[self._pass_lo :]:  # sorted by AOS: the first open one wins
                if p.los_s > t_s:
                    if p.aos_s <= earliest_open:  # no unfinished pass starts before it
                        return p
                    break
            if self.covered_s >= limit:
                return None
            self._ensure(self.covered_s + self.block_s)

    def passes_between(self, start_s: float, end_s: float) -> list[Pass]:
        """All complete passes whose AOS falls in [start_s, end_s)."""
        self._ensure(end_s + self.block_s)
        return [p for p in self.passes if start_s <= p.aos_s < end_s]
