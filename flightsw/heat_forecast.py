"""Forecast of the slow temperatures' orbital peak, and where the derating must sit to hold it.

Why: the battery and the avionics structure are warmed by the payload through conduction,
with hours of time constant, and by the orbit on top of that: on ``cubesat-jetson`` the
structure warms through each sunlit arc and the pack peaks a few minutes into each
eclipse, where the payload's power becomes the pack's discharge current and its losses
heat the pack directly (about 3.4 C peak to peak). The throttle derates the payload on
the present temperature over a fixed band under the limit
(:func:`flightsw.throttle.derate`). At a fixed place the band lets the peaks scatter
with the heat the orbit brought (on the Jetson 42.8..43.9 C against a 45 C limit,
following the minutes of transmitting over each orbit's passes) and it cuts the payload
in sunlight as hard as in eclipse, where its heat costs the pack far less: the flight
delivered 0.943 of the offline optimum (README "How close to the optimum").

This module moves the band, per slow constrained node (battery, avionics), from three
forecasts the executive has:

- **the orbit's peak, learned** (iterative learning on a repeating disturbance, as
  :mod:`flightsw.precool`): the orbit is counted from eclipse exit to eclipse exit (the
  pack's peak, early in the eclipse, sits well inside); at each window's end the band
  moves by :data:`LEARN_GAIN` of the gap between that window's peak and the target
  :data:`PEAK_MARGIN_C` under the limit. Hot peaks lower the band; cool ones raise it,
  but only if they reached the band (a peak under it was not held by it: raising the
  band then, through a warm-up from cold, wound it up and the first hot orbit
  overshot past the shed rung);
- **the transmitter's heat on its way**: the radio keys up only with a station in view
  (``in_contact``), its heat goes into the structure and reaches the pack tens of
  minutes later, and the passes per orbit follow the ground track (on the Jetson 10 to
  32 minutes an orbit, which moved the peak by a degree). The recent transmitting duty
  (a running mean over :data:`TX_TAU_S`) over its long-run mean lowers the band by
  :data:`TX_GAIN_C` per unit, before the heat arrives (once a whole
  :data:`TX_MEAN_TAU_S` of passes is behind the mean: before that the "mean" is the
  first hours' passes, and it swung orbital-dc-node's payload level in its step
  response);
- **the phase** (the battery only): in sunlight the array carries the payload, so its
  power does not pass through the pack; its heat reaches the pack only through the
  structure, hours later. Where the last orbit peaked in eclipse (the Jetson's pack
  does, a few minutes in), the band sits :data:`SUN_EXTRA_C` higher in sunlight: the
  derating lands where the payload heats the pack now (the eclipse before the peak).
  Where it peaked in sunlight (a radiator that sees the Sun) there is no cheap phase and
  no allowance.

The band's zero never passes :data:`MAX_RAISE_C` over its fixed place: it stays under
the limit checker's shed rung (:data:`flightsw.limits.HEAT_SHED_MARGIN_C`) whatever the
learning did. A lost reading (NaN) teaches nothing (that window's peak is not used) and
the throttle's own lost-sensor cap applies. With no eclipse (a dawn-dusk orbit out of
season) there is no window: the learned shift holds. After a reset everything starts at
0, the fixed band of before. Pure: no I/O, mission time from the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from flightsw.throttle import DERATE_MARGIN_C

PEAK_MARGIN_C = 1.45
"""The orbit's peak is held this far under the node's limit: under the limit checker's
warning rung (:data:`flightsw.limits.HEAT_WARN_MARGIN_C`), with room for the scatter the
forecasts leave (30 days of cubesat-jetson: README "How close to the optimum")."""
LEARN_GAIN = 0.3
"""Share of the last peak's error moved per orbit."""
MAX_RAISE_C = 0.6
"""The band is raised at most this much, sunlit allowance included: its zero stays 0.6 C
under the limit, under the shed rung's 0.5 C."""
MAX_LOWER_C = 3.0
"""... and lowered at most this much by the learning and the transmitter."""
SUN_EXTRA_C = 1.0
"""How much higher the band sits in sunlight (the payload's power does not pass through
the pack there)."""
SUN_CHEAP_NODES = ("battery",)
"""Nodes the payload heats directly only in eclipse: the pack, through its discharge
losses. The structure takes the payload's heat by conduction in every phase."""
TX_TAU_S = 3000.0
"""Time constant of the transmitting duty's running mean: about half an orbit, the
structure's memory of the radio's heat on its way to the pack."""
TX_MEAN_TAU_S = 86_400.0
"""... and of its long-run mean (a day: the ground track's pattern of passes)."""
TX_GAIN_C = 4.0
"""Band lowered per unit of transmitting duty over its mean. On cubesat-jetson, with the
transmitter's feed-forward off, the orbit's pack peak rose 2.4 C per unit of that duty
(71 orbits, correlation 0.77); the band moves the peak by less than its own shift, hence
a gain above the slope (3, 4 and 5 flown: 4 left the fewest warnings for the most
compute). A controller gain, like the throttle's: a duty one tenth over the mean (about
ten minutes more of passes in the last orbit) lowers the band 0.4 C."""
MIN_ORBIT_S = 600.0
"""A window shorter than this is not an orbit (a flicker of the sun sensor)."""


@dataclass(frozen=True)
class NodePeak:
    """One node's peak in the present window and the band shift learned so far."""

    shift_c: float = 0.0
    """Learned shift of the derating band (> 0: the band sits higher)."""
    peak_c: float = -math.inf  # hottest reading in the present window
    last_peak_c: float = math.nan  # the last whole window's peak
    lost: bool = False  # a reading was lost in this window
    peak_dark: bool = False  # this window's peak so far was read in eclipse
    last_peak_dark: bool = False
    """The last whole window peaked in eclipse: sunlit activity is the cheap kind."""


@dataclass(frozen=True)
class HeatForecastState:
    window_start_s: float = math.nan  # mission time of the last eclipse exit (NaN: none)
    nodes: dict[str, NodePeak] = field(default_factory=dict)
    last_s: float = math.nan  # mission time of the last step
    tx_frac: float = 0.0  # the transmitter's recent duty (running mean of in_contact)
    tx_mean_frac: float = math.nan  # its long-run mean (NaN: no sample yet)
    dark: bool = False  # in eclipse at the last step
    tx_seen_s: float = 0.0  # how long the duty has been watched (the mean's evidence)

    @property
    def tx_excess_frac(self) -> float:
        """Recent transmitting duty over its long-run mean (> 0: heat on its way); 0 until
        the mean has a whole :data:`TX_MEAN_TAU_S` behind it (before that it is the first
        hours' passes, not the ground track's pattern)."""
        if math.isnan(self.tx_mean_frac) or self.tx_seen_s < TX_MEAN_TAU_S:
            return 0.0
        return self.tx_frac - self.tx_mean_frac


def learn(node: NodePeak, limit_c: float) -> NodePeak:
    """The window just ended: move the band by the gap between its peak and the target."""
    if node.lost or not math.isfinite(node.peak_c):
        return replace(node, peak_c=-math.inf, lost=False, last_peak_dark=False)
    error_c = limit_c - PEAK_MARGIN_C - node.peak_c
    if error_c > 0 and node.peak_c < limit_c - DERATE_MARGIN_C + node.shift_c:
        # the peak stayed under the band: the band did not hold it (a warm-up, a cold
        # season), so raising it would only wind up a shift the next hot orbit overshoots
        error_c = 0.0
    shift = min(max(node.shift_c + LEARN_GAIN * error_c, -MAX_LOWER_C), MAX_RAISE_C)
    return NodePeak(shift, -math.inf, node.peak_c, False, False, node.peak_dark)


def step(state: HeatForecastState, *, now_s: float, dark: bool, left_eclipse: bool,
         transmitting: bool, temps_c: dict[str, tuple[float, float]]) -> HeatForecastState:
    """One update. ``temps_c``: node -> (temperature now, its limit); ``dark``: in eclipse;
    ``left_eclipse``: this step is an eclipse exit (a window ends and the next begins);
    ``transmitting``: a ground station is in view (the transmitter keys up)."""
    dt = now_s - state.last_s if math.isfinite(state.last_s) else 0.0
    dt = min(max(dt, 0.0), TX_TAU_S)
    duty = 1.0 if transmitting else 0.0
    tx = state.tx_frac + dt / TX_TAU_S * (duty - state.tx_frac)
    mean = state.tx_mean_frac
    mean = tx if math.isnan(mean) else mean + dt / TX_MEAN_TAU_S * (tx - mean)
    start = state.window_start_s
    ends = left_eclipse and math.isfinite(start) and now_s - start >= MIN_ORBIT_S
    if left_eclipse and (ends or not math.isfinite(start)):
        start = now_s
    nodes: dict[str, NodePeak] = {}
    for name, (temp, limit) in temps_c.items():
        node = state.nodes.get(name, NodePeak())
        if ends:
            node = learn(node, limit)
        if math.isnan(temp):
            node = replace(node, lost=True)
        elif math.isfinite(start) and temp > node.peak_c:  # a window is open
            node = replace(node, peak_c=temp, peak_dark=dark)
        nodes[name] = node
    return HeatForecastState(start, nodes, now_s, tx, mean, dark, state.tx_seen_s + dt)


def band_shift_c(state: HeatForecastState, name: str) -> float:
    """The shift of ``name``'s derating band now: learned, less the transmitter's heat on
    its way, plus the sunlit allowance where the last orbit peaked in eclipse; bounded."""
    node = state.nodes.get(name, NodePeak())
    shift = node.shift_c - TX_GAIN_C * state.tx_excess_frac
    if name in SUN_CHEAP_NODES and not state.dark and node.last_peak_dark:
        shift += SUN_EXTRA_C
    return min(max(shift, -MAX_LOWER_C), MAX_RAISE_C)


def shifts(state: HeatForecastState) -> dict[str, float]:
    """The throttle's keyword arguments: each node's band shift."""
    return {f"{name}_shift_c": band_shift_c(state, name) for name in state.nodes}
