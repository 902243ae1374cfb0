"""The forecast-aware energy planner: how much payload work the orbit ahead can pay for.

Why: the mode table and the load plan react to a battery that is already low (LOW_POWER
in eclipse below the resume level, SAFE below the safe level), which costs whole
eclipses of compute and cycles the pack deep. The executive knows the orbit ahead (the
HAL's ``next_eclipse_in_s``; the eclipse's length it measures itself), so it can plan
instead: a model-predictive budget over the horizon that ends at the next eclipse exit.

The model is linear in the payload's activity ``u`` (its power is
``idle + u * (max - idle)``, as the plant and the boards draw it):

- in sunlight, for the ``tau`` seconds to the eclipse, the battery gains the array's
  surplus over the bus with the payload idle (the sunlit array power averaged over
  :data:`ARRAY_AVERAGE_S`, less ``load - u_now * span``) less ``u_sun * span``, and
  saturates when full;
- in the eclipse, for its ``D`` seconds, it loses ``bus + idle + u_ecl * span``.

The plan maximises ``tau * u_sun + D * u_ecl`` with the state of charge at the eclipse
exit no lower than :data:`FLOOR_MARGIN_FRAC` above the resume level (the mode table's
LOW_POWER line, so the payload is never shed by it): it runs hard in sunlight (charge
that would overflow a full pack is free), tapers before the eclipse when the pack would
not last, and spreads what the pack holds over the eclipse, re-planned every second with
the time left. The throttle's thermal loop stays in charge of temperatures (the plan is
a cap on it, :func:`cap`).

The energy figures come from the flight configuration (``battery_capacity_wh``,
``payload_idle_w``, ``payload_max_w``, ``bus_load_w``); with no capacity configured the
planner caps nothing (stated, not silent: ``planner.active`` is false).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw import heat_forecast, precool
from flightsw.component import PERSIST, Component, Events, Tick, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Telemetry
from flightsw.hal import Sensors
from flightsw.load_shedding import UMBRA_SUN_FRACTION

DEFAULT_ECLIPSE_S = 2400.0
"""Eclipse length assumed before one has been measured: longer than any LEO eclipse
(36 min at 400 km), so the first plan errs on the safe side."""
FLOOR_MARGIN_FRAC = 0.03
"""Planned end-of-eclipse charge above the resume level."""
HEATER_ALLOWANCE_FRAC = 0.5
"""Share of the declared heater power the plan reserves in eclipse (heaters cycle)."""
MIN_REMAINING_S = 60.0
ARRAY_AVERAGE_S = 3000.0
"""Time constant of the sunlit array power average: about half an orbit. A body-mounted
array's output swings with its angle to the Sun over the orbit; the plan needs what the
rest of the sunlight will bring on average, not this second's value."""


@dataclass(frozen=True)
class PlannerState:
    eclipse_s: float = field(default=DEFAULT_ECLIPSE_S, metadata=PERSIST)
    """The last measured eclipse length (mission seconds)."""
    entered_s: float = math.nan  # mission time of the present eclipse's entry (NaN: sunlit)
    cap_frac: float = 1.0
    active: bool = False
    sun_array_w: float = math.nan  # average array power in sunlight (NaN: none seen yet)
    last_s: float = math.nan  # mission time of the last step
    precool: precool.PrecoolState = field(default_factory=precool.PrecoolState)
    """The thermal side of the forecast: the payload set point's offset before and
    through the hot phase (:mod:`flightsw.precool`)."""
    eclipses_seen: int = 0
    heat: heat_forecast.HeatForecastState = field(
        default_factory=heat_forecast.HeatForecastState)
    """The slow temperatures' side: where their derating bands sit, from the orbit's
    learned peak, the transmitter's heat on its way and the phase
    (:mod:`flightsw.heat_forecast`)."""


def in_eclipse(sun_fraction: float) -> bool:
    return not math.isnan(sun_fraction) and sun_fraction < UMBRA_SUN_FRACTION


def _bus_w(cfg: FlightConfig) -> float:
    heaters_w = sum(h.power_w for h in cfg.heaters) * HEATER_ALLOWANCE_FRAC
    return cfg.bus_load_w + cfg.payload_idle_w + heaters_w


def plan(soc_frac: float, sun_fraction: float, next_eclipse_in_s: float, surplus_w: float,
         eclipse_left_s: float, cfg: FlightConfig) -> float:
    """The cap on payload activity for now: the horizon's budget, pure arithmetic.

    ``surplus_w``: array power over the bus with the payload idle (sunlight only);
    ``eclipse_left_s``: the eclipse time still to ride from the next (or present) entry."""
    capacity_j = cfg.battery_capacity_wh * 3600.0
    span_w = cfg.payload_max_w - cfg.payload_idle_w
    if capacity_j <= 0 or span_w <= 0:
        return 1.0
    if math.isnan(soc_frac):
        return 0.0  # no charge reading: the stated safe assumption is an empty pack
    floor_j = (cfg.battery_soc_resume_frac + FLOOR_MARGIN_FRAC) * capacity_j
    stored_j = soc_frac * capacity_j
    eclipse_s = max(eclipse_left_s, MIN_REMAINING_S)
    bus_w = _bus_w(cfg)
    if in_eclipse(sun_fraction):
        budget_j = stored_j - floor_j - eclipse_s * bus_w
        return min(max(budget_j / (eclipse_s * span_w), 0.0), 1.0)
    tau = next_eclipse_in_s
    if not math.isfinite(tau):
        return 1.0  # no eclipse ahead in the forecast: nothing to save for
    surplus = 0.0 if math.isnan(surplus_w) else surplus_w
    need_j = floor_j + eclipse_s * bus_w  # at the entry, with the payload idle in eclipse
    entry_full_j = min(stored_j + tau * (surplus - span_w), capacity_j)
    if entry_full_j >= need_j:
        return 1.0  # hard all through the sunlight; the eclipse plans itself at entry
    entry_idle_j = min(stored_j + tau * surplus, capacity_j)
    if entry_idle_j <= need_j or tau <= 0:
        return 0.0
    return min(max((entry_idle_j - need_j) / (tau * span_w), 0.0), 1.0)


def step(state: PlannerState, s: Sensors, level_frac: float, t: Tick,
         cfg: FlightConfig) -> tuple[PlannerState, float, Events]:
    """Track the eclipse (its length is measured) and re-plan; returns the cap."""
    now = t.mission_time_s
    dark = in_eclipse(s.sun_fraction)
    entered, eclipse_s = state.entered_s, state.eclipse_s
    if dark and math.isnan(entered):
        entered = now
    elif not dark and not math.isnan(entered) and not math.isnan(s.sun_fraction):
        eclipse_s = max(now - entered, MIN_REMAINING_S)
        entered = math.nan
    active = cfg.battery_capacity_wh > 0 and cfg.payload_max_w > cfg.payload_idle_w
    left = eclipse_s - (now - entered) if dark else eclipse_s
    span_w = cfg.payload_max_w - cfg.payload_idle_w
    array_w = state.sun_array_w
    if not dark and math.isfinite(s.array_power_w):
        if math.isnan(array_w):
            array_w = s.array_power_w
        else:
            dt = now - state.last_s if math.isfinite(state.last_s) else 0.0
            w = min(max(dt, 0.0) / ARRAY_AVERAGE_S, 1.0)
            array_w += w * (s.array_power_w - array_w)
    surplus = array_w - s.load_power_w + min(max(level_frac, 0.0), 1.0) * span_w
    cap = plan(s.battery_soc_frac, s.sun_fraction, s.next_eclipse_in_s, surplus, left,
               cfg) if active else 1.0
    entering = dark and math.isnan(state.entered_s)
    seen = state.eclipses_seen + (1 if entering else 0)
    cool = precool.step(state.precool, dark=dark, entered_eclipse=entering,
                        eclipse_left_s=left, payload_temp_c=s.payload_temp_c,
                        has_eclipses=seen > 0, cfg=cfg)
    leaving = not dark and not math.isnan(state.entered_s) and not math.isnan(s.sun_fraction)
    heat = heat_forecast.step(state.heat, now_s=now, dark=dark, left_eclipse=leaving,
                              transmitting=s.in_contact, temps_c=_slow_temps(s, cfg))
    return replace(state, eclipse_s=eclipse_s, entered_s=entered, cap_frac=cap,
                   active=active, sun_array_w=array_w, last_s=now, precool=cool,
                   eclipses_seen=seen, heat=heat), cap, []


def _slow_temps(s: Sensors, cfg: FlightConfig) -> dict[str, tuple[float, float]]:
    """The slow constrained temperatures the heat forecast holds, with their limits."""
    return {"battery": (s.battery_temp_c, cfg.battery_temp_max_c),
            "avionics": (s.avionics_temp_c, cfg.avionics_temp_max_c)}


def telemetry(state: PlannerState) -> dict[str, Any]:
    return {"planner.cap_pct": round(state.cap_frac * 100, 1),
            "planner.eclipse_s": round(state.eclipse_s), "planner.active": state.active,
            "planner.precool_c": round(state.precool.active_c, 2),
            "planner.battery_band_c": round(heat_forecast.band_shift_c(state.heat, "battery"), 2),
            "planner.avionics_band_c": round(heat_forecast.band_shift_c(state.heat, "avionics"),
                                             2)}


DECLARATIONS = Declarations(
    component="planner",
    telemetry=(
        Telemetry("planner.cap_pct", ArgType.FLOAT,
                  "Payload activity the energy plan allows until the next eclipse exit",
                  units="%"),
        Telemetry("planner.eclipse_s", ArgType.FLOAT, "Last measured eclipse length",
                  units="s"),
        Telemetry("planner.precool_c", ArgType.FLOAT,
                  "Payload set point lowered this much ahead of and through the hot phase",
                  units="C"),
        Telemetry("planner.battery_band_c", ArgType.FLOAT,
                  "The battery's derating band moved this much by the heat forecast "
                  "(learned orbital peak, transmitter heat, sunlit allowance)", units="C"),
        Telemetry("planner.avionics_band_c", ArgType.FLOAT,
                  "The avionics' derating band moved this much by the heat forecast",
                  units="C"),
        Telemetry("planner.active", ArgType.BOOL,
                  "The energy plan caps the payload (false: no battery capacity configured)"),
    ),
)


COMPONENT: Component[PlannerState] = Component(
    name="planner", declare=fixed(DECLARATIONS), initial=lambda _cfg: PlannerState(),
    telemetry=telemetry)
