"""Thermal throttle: how hard the payload may work, given its temperature.

A pure step function, ``step(state, temp_c, cap_frac, dt_s, cfg) -> (state, events)``:
a proportional-integral controller that holds the payload near its target temperature,
with anti-windup (the integrator never runs past what the output can use) and two hard
overrides: at the warning limit the level is clamped low, at the maximum it is zero. A
missing (NaN) temperature is treated as hot - a lost sensor must not let the payload run
flat out. The mode's cap and the operator's cap bound the output from above.

Why PI and not a thermostat: a bang-bang controller limit-cycles between 0 and 100 %,
which wastes compute and thermally cycles the hardware; the PI output settles.

The other constrained temperatures (avionics, battery) are warmed by the payload only
through conduction, so each gets a continuous derating rather than a loop of its own:
full activity up to :data:`DERATE_MARGIN_C` below its limit, falling linearly to zero at
:data:`DERATE_ZERO_MARGIN_C` below it (:func:`derate`). Where that band sits is the heat
forecast's job (:mod:`flightsw.heat_forecast`, the ``*_shift_c`` arguments): it moves the
band by what the last orbits' peaks showed, lowers it ahead of the transmitter's heat
and raises it in sunlight, where the payload's power does not pass through the pack.
Unshifted, the band is 2.2..1.2 C under the limit; a fixed band 2.7..1.2 C under it let
the cubesat's pack peak anywhere from 42.8 to 43.9 C and the flight reached 0.943 of the
optimum (``aisat bench policy``, README "How close to the optimum"). The band's zero
stays under the limit checker's warning and shed rungs (:mod:`flightsw.limits`; the
forecast raises it at most :data:`flightsw.heat_forecast.MAX_RAISE_C`), so the throttle,
not the ladder, is what holds the temperature. A continuous cap settles where the heat
balances instead of switching at a threshold, so it does not limit-cycle either; the PI
integrator is clamped to whatever cap binds, so it does not wind up behind it. A lost
avionics or battery reading (NaN) caps the payload at :data:`SENSOR_LOST_CAP_FRAC`
whatever the shift: the payload is a remote heat source for them, and half load is the
stated safe assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from flightsw.component import Component, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Severity, Telemetry

DERATE_MARGIN_C = 2.2
"""An avionics or battery temperature starts to cap the payload this far below its limit
(before the heat forecast's shift)."""
DERATE_ZERO_MARGIN_C = 1.2
"""... and allows no activity at all this far below it (the pack and the structure are
slow, hours of time constant: the payload's heat reaches them late, so the band ends with
room for what is already on its way)."""
SENSOR_LOST_CAP_FRAC = 0.5
KP_PER_C = 0.08  # proportional gain: level change per degree of error
KI_PER_C_S = 0.002  # integral gain: level change per degree-second of error
WARN_LEVEL_FRAC = 0.1  # most activity allowed between the warning and the maximum


def telemetry(state: ThrottleState) -> dict[str, Any]:
    return {"throttle.level_pct": round(state.level_frac * 100, 1),
            "throttle.zone": state.zone, "throttle.limiting": state.limiting}


def derate(temp_c: float, limit_c: float, shift_c: float = 0.0) -> float:
    """Allowed activity for one secondary temperature: 1 up to ``limit -``
    :data:`DERATE_MARGIN_C`, linear to 0 at ``limit -`` :data:`DERATE_ZERO_MARGIN_C`,
    both moved up by ``shift_c``; :data:`SENSOR_LOST_CAP_FRAC` if the reading is lost."""
    if math.isnan(temp_c):
        return SENSOR_LOST_CAP_FRAC
    band_c = DERATE_MARGIN_C - DERATE_ZERO_MARGIN_C
    return min(max((limit_c - DERATE_ZERO_MARGIN_C + shift_c - temp_c) / band_c, 0.0), 1.0)


def secondary_cap(avionics_temp_c: float | None, battery_temp_c: float | None,
                  cfg: FlightConfig, *, avionics_shift_c: float = 0.0,
                  battery_shift_c: float = 0.0) -> tuple[float, str]:
    """The tightest cap the avionics and battery temperatures set, and which one sets it
    (``""`` when neither binds). ``None``: that temperature is not constrained here."""
    cap, which = 1.0, ""
    for name, temp, limit, shift in (
            ("avionics", avionics_temp_c, cfg.avionics_temp_max_c, avionics_shift_c),
            ("battery", battery_temp_c, cfg.battery_temp_max_c, battery_shift_c)):
        if temp is None:
            continue
        allowed = derate(temp, limit, shift)
        if allowed < cap:
            cap, which = allowed, name
    return cap, which


@dataclass(frozen=True)
class ThrottleState:
    integral_frac: float = 1.0  # integrator term, already in output units
    level_frac: float = 1.0
    zone: str = "ok"  # "ok", "warn", "hot", "sensor"
    limiting: str = ""  # the avionics or battery temperature capping the payload, if any


def step(state: ThrottleState, temp_c: float, cap_frac: float, dt_s: float,
         cfg: FlightConfig, *, avionics_temp_c: float | None = None,
         battery_temp_c: float | None = None, precool_c: float = 0.0,
         avionics_shift_c: float = 0.0, battery_shift_c: float = 0.0,
         ) -> tuple[ThrottleState, list[tuple[str, dict[str, Any]]]]:
    """Advance the controller by ``dt_s`` seconds; return the new state and events.

    ``temp_c`` is the payload's temperature (the PI loop's); the avionics and battery
    temperatures, when given, derate the output (:func:`secondary_cap`, each band moved by
    its ``*_shift_c`` from :mod:`flightsw.heat_forecast`); ``precool_c`` lowers the set
    point ahead of a hot phase (:mod:`flightsw.precool`)."""
    events: list[tuple[str, dict[str, Any]]] = []
    limit_cap, limiting = secondary_cap(avionics_temp_c, battery_temp_c, cfg,
                                        avionics_shift_c=avionics_shift_c,
                                        battery_shift_c=battery_shift_c)
    mode_cap = min(max(cap_frac, 0.0), 1.0)
    cap = min(mode_cap, limit_cap)
    if limiting and limit_cap >= mode_cap:
        limiting = ""  # the mode or operator cap binds first
    if limiting != state.limiting:
        events.append(("throttle.limited", {
            "by": limiting or "nothing", "cap_pct": round(cap * 100, 1)}))
    if math.isnan(temp_c):
        zone = "sensor"
        level = 0.0
        integral = 0.0
    else:
        error_c = cfg.payload_temp_target_c - max(precool_c, 0.0) - temp_c
        integral = state.integral_frac + KI_PER_C_S * error_c * dt_s
        # anti-windup: keep the integrator inside what the output can actually use
        integral = min(max(integral, 0.0), cap)
        level = min(max(integral + KP_PER_C * error_c, 0.0), cap)
        if temp_c >= cfg.payload_temp_max_c:
            zone, level, integral = "hot", 0.0, 0.0
        elif temp_c >= cfg.payload_temp_warn_c:
            zone = "warn"
            level = min(level, WARN_LEVEL_FRAC * cap)
            integral = min(integral, level)
        else:
            zone = "ok"
    if zone != state.zone:
        events.append(("throttle.zone", {"old": state.zone, "new": zone,
                                         "temp_c": round(temp_c, 1) if not math.isnan(temp_c)
                                         else "NaN", "level_pct": round(level * 100, 1)}))
    return replace(state, integral_frac=integral, level_frac=level, zone=zone,
                   limiting=limiting), events


DECLARATIONS = Declarations(
    component="throttle",
    telemetry=(
        Telemetry("throttle.level_pct", ArgType.FLOAT, "Payload activity the throttle allows",
                  units="%"),
        Telemetry("throttle.zone", ArgType.ENUM, "ok / warn / hot / sensor (temperature lost)"),
        Telemetry("throttle.limiting", ArgType.STR,
                  "avionics / battery: that temperature is derating the payload"),
    ),
    events=(
        Event("throttle.zone", Severity.WARNING_LO,
              "Thermal throttle {old} -> {new} at {temp_c} C (level {level_pct} %)",
              throttle=20),
        Event("throttle.limited", Severity.WARNING_LO,
              "Payload derated by the {by} temperature (cap {cap_pct} %)", throttle=20),
    ),
)


COMPONENT: Component[ThrottleState] = Component(
    name="throttle", declare=fixed(DECLARATIONS), initial=lambda _cfg: ThrottleState(),
    telemetry=telemetry)
