"""Margins that make the offline optimum's schedule feasible in the real plant.

Why: the benchmark's bound is a linear program over a linearised plant. Where the
linearisation is optimistic (on cubesat-jetson it misses the battery's orbital swing,
which lags the payload), the program's own schedule, replayed through the real plant,
breaks a limit, and a bound nobody can fly overstates the optimum. The honest bound is
the best schedule the real plant replays with zero violations. This module holds the
two halves of that loop, without I/O or solver:

- :class:`ReplayExcess` watches the replay, plant step by plant step, and keeps per
  program step how far each limit the program models (payload, battery and avionics
  temperature above their maxima, battery below its minimum charge temperature, state of
  charge below its floor) was exceeded: the measured error of the linearisation where it
  mattered;
- :class:`Margins` are the per-program-step amounts by which the program's bounds are
  tightened; :meth:`Margins.tighten` adds each measured excess (plus a pad, spread over
  neighbouring steps because the schedule moves when re-solved) so the next solve keeps
  off the spot where the real plant went over.

Limits the program does not model (other nodes, brownouts) are counted apart as
``unmodelled``: tightening cannot fix them, and the benchmark says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hil.plant import Plant
from hil.plant.thermal import KELVIN

MODELLED_NODES = ("payload", "battery", "avionics")
"""The temperatures the program constrains (same order as the benchmark's NODES)."""
PAD_C = 0.2
"""Added to each measured temperature excess: the replay must clear the limit, not touch it."""
PAD_SOC_FRAC = 0.002
SPREAD_STEPS = 2
"""A tightening also applies this many program steps either side of the excess."""


@dataclass
class Margins:
    """Per program state index (``k_n + 1`` of them): how much tighter than the base
    program each bound is. Zero everywhere is the untightened program."""

    high_c: dict[str, np.ndarray]
    low_c: dict[str, np.ndarray]
    soc_frac: np.ndarray

    @classmethod
    def zero(cls, k_n: int) -> Margins:
        return cls({n: np.zeros(k_n + 1) for n in MODELLED_NODES},
                   {n: np.zeros(k_n + 1) for n in MODELLED_NODES}, np.zeros(k_n + 1))

    def tighten(self, excess: ReplayExcess) -> Margins:
        """The margins plus every measured excess (and pad), spread over neighbours."""

        def add(now: np.ndarray, over: np.ndarray, pad: float) -> np.ndarray:
            bump = np.where(over > 0.0, over + pad, 0.0)
            spread = bump.copy()
            for d in range(1, SPREAD_STEPS + 1):
                spread[d:] = np.maximum(spread[d:], bump[:-d])
                spread[:-d] = np.maximum(spread[:-d], bump[d:])
            spread[0] = 0.0  # the initial state is given, not chosen
            return now + spread

        return Margins({n: add(self.high_c[n], excess.high_c[n], PAD_C) for n in self.high_c},
                       {n: add(self.low_c[n], excess.low_c[n], PAD_C) for n in self.low_c},
                       add(self.soc_frac, excess.soc_frac, PAD_SOC_FRAC))


@dataclass
class ReplayExcess:
    """Worst excess over each limit per program state index, from the real plant's own
    limits (the ones it reports violations against), so both sides agree on the limit."""

    hold: int
    k_n: int
    high_c: dict[str, np.ndarray] = field(default_factory=dict)
    low_c: dict[str, np.ndarray] = field(default_factory=dict)
    soc_frac: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unmodelled: int = 0
    _step: int = 0

    def __post_init__(self) -> None:
        size = self.k_n + 1
        self.high_c = {n: np.zeros(size) for n in MODELLED_NODES}
        self.low_c = {n: np.zeros(size) for n in MODELLED_NODES}
        self.soc_frac = np.zeros(size)

    def any(self) -> bool:
        return bool(self.soc_frac.any() or any(a.any() for a in self.high_c.values())
                    or any(a.any() for a in self.low_c.values()))

    def observe(self, plant: Plant) -> None:
        """After each plant step: the state it reached belongs to program state
        ``ceil((step + 1) / hold)`` (the program bounds states at its step boundaries;
        plant states in between count towards the next boundary)."""
        self._step += 1
        k = min(-(-self._step // self.hold), self.k_n)
        temps_k = plant.thermal.temps_k
        nodes = plant.profile.thermal.nodes
        for i, lim in plant._node_limits:
            value = temps_k[i] - KELVIN
            over = value - lim.limit if lim.above else lim.limit - value
            if over <= 0.0:
                continue
            name = nodes[i].name
            if name not in MODELLED_NODES:
                self.unmodelled += 1
                continue
            arr = self.high_c[name] if lim.above else self.low_c[name]
            arr[k] = max(arr[k], over)
        floor = plant._soc_limit.limit / 100.0
        short = floor - plant.battery.soc_frac
        if short > 0.0:
            self.soc_frac[k] = max(self.soc_frac[k], short)
