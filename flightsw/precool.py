"""Thermal pre-cooling: lower the payload's set point ahead of the orbit's hot phase.

Why: the throttle's PI loop reacts to a temperature that is already rising. Where the
sunlit phase heats the payload's sink (a radiator that sees the Sun or the Earth's
albedo, the payload running hard on the sunlit array) faster than the loop can follow,
the payload overshoots its set point there, once an orbit, at the same phase; if the
overshoot reaches the warning level the throttle clamps hard to
:data:`flightsw.throttle.WARN_LEVEL_FRAC` (compute lost in a step, and the limit
checker's warning). The executive knows the orbit ahead (the eclipse it measures and the
HAL's ``next_eclipse_in_s``), and the disturbance repeats every orbit, so it can act
before: from :data:`LEAD_S` before the forecast eclipse exit, through the sunlit phase,
the set point is lowered by ``offset_c``; the payload enters the hot phase cooler and
the loop tapers early instead of cutting hard.

The offset is learned, one update per orbit (iterative learning on a repeating
disturbance): at each eclipse entry, with ``peak`` the payload's highest temperature in
the sunlit phase just flown, ``offset += peak - (warn - MARGIN_C)``, clamped to
``[0, MAX_OFFSET_C]``. A peak that stayed more than :data:`MARGIN_C` under the warning
level lowers the offset again, so on a profile whose loop holds its set point (every
shipped one today: see ``aisat bench policy``) the offset stays 0 and pre-cooling costs
no compute. With no eclipse (a dawn-dusk orbit out of season) there is no hot phase to
forecast and the offset is 0. Pure: no I/O; mission time from the caller.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from flightsw.config import FlightConfig

LEAD_S = 900.0
"""How long before the forecast eclipse exit the set point is lowered: about half the
payload's thermal time constant on the Jetson and the H100 (1,300-2,200 s, identified by
``aisat bench policy``), so the payload is measurably cooler when the Sun returns."""
MARGIN_C = 1.0
"""The sunlit peak is held this far under the warning level."""
MAX_OFFSET_C = 10.0
"""The most the set point is lowered (a bad orbit's peak must not park the payload)."""


@dataclass(frozen=True)
class PrecoolState:
    offset_c: float = 0.0
    """The learned set point offset for the hot phase (C, >= 0). Not persisted: after a
    reset it is learned again in one orbit, the throttle's warning clamp guarding that
    orbit as it did before pre-cooling existed."""
    peak_c: float = -math.inf  # highest payload temperature in this sunlit phase
    active_c: float = 0.0  # the offset applied now (0 outside the hot phase)


def step(state: PrecoolState, *, dark: bool, entered_eclipse: bool, eclipse_left_s: float,
         payload_temp_c: float, has_eclipses: bool, cfg: FlightConfig) -> PrecoolState:
    """One update. ``dark``: in eclipse now; ``entered_eclipse``: this step is the
    eclipse entry (the sunlit phase just ended); ``eclipse_left_s``: the eclipse time
    still to ride (meaningful in eclipse); ``has_eclipses``: an eclipse has been seen."""
    offset, peak = state.offset_c, state.peak_c
    if entered_eclipse and math.isfinite(peak):
        error_c = peak - (cfg.payload_temp_warn_c - MARGIN_C)
        offset = min(max(offset + error_c, 0.0), MAX_OFFSET_C)
        peak = -math.inf
    if not dark and math.isfinite(payload_temp_c):
        peak = max(peak, payload_temp_c)
    hot = has_eclipses and (not dark or eclipse_left_s <= LEAD_S)
    return replace(state, offset_c=offset, peak_c=peak, active_c=offset if hot else 0.0)
