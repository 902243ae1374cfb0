"""Thermal throttle: how hard the payload may work, given its temperature.

A pure step function, ``step(state, temp_c, cap_frac, dt_s, cfg) -> (state, events)``:
a proportional-integral controller that holds the payload near its target temperature,
with anti-windup (the integrator never runs past what the output can use) and two hard
overrides: at the warning limit the level is clamped low, at the maximum it is zero. A
missing (NaN) temperature is treated as hot - a lost sensor must not let the payload run
flat out. The mode's cap and the operator's cap bound the output from above.

Why PI and not a thermostat: a bang-bang controller limit-cycles between 0 and 100 %,
which wastes compute and thermally cycles the hardware; the PI output settles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from flightsw.component import Component, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Severity, Telemetry

KP_PER_C = 0.08  # proportional gain: level change per degree of error
KI_PER_C_S = 0.002  # integral gain: level change per degree-second of error
WARN_LEVEL_FRAC = 0.1  # most activity allowed between the warning and the maximum


def telemetry(state: ThrottleState) -> dict[str, Any]:
    return {"throttle.level_pct": round(state.level_frac * 100, 1),
            "throttle.zone": state.zone}


@dataclass(frozen=True)
class ThrottleState:
    integral_frac: float = 1.0  # integrator term, already in output units
    level_frac: float = 1.0
    zone: str = "ok"  # "ok", "warn", "hot", "sensor"


def step(state: ThrottleState, temp_c: float, cap_frac: float, dt_s: float,
         cfg: FlightConfig) -> tuple[ThrottleState, list[tuple[str, dict[str, Any]]]]:
    """Advance the controller by ``dt_s`` seconds; return the new state and events."""
    cap = min(max(cap_frac, 0.0), 1.0)
    events: list[tuple[str, dict[str, Any]]] = []
    if math.isnan(temp_c):
        zone = "sensor"
        level = 0.0
        integral = 0.0
    else:
        error_c = cfg.payload_temp_target_c - temp_c
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
    return replace(state, integral_frac=integral, level_frac=level, zone=zone), events


DECLARATIONS = Declarations(
    component="throttle",
    telemetry=(
        Telemetry("throttle.level_pct", ArgType.FLOAT, "Payload activity the throttle allows",
                  units="%"),
        Telemetry("throttle.zone", ArgType.ENUM, "ok / warn / hot / sensor (temperature lost)"),
    ),
    events=(
        Event("throttle.zone", Severity.WARNING_LO,
              "Thermal throttle {old} -> {new} at {temp_c} C (level {level_pct} %)",
              throttle=20),
    ),
)


COMPONENT: Component[ThrottleState] = Component(
    name="throttle", declare=fixed(DECLARATIONS), initial=lambda _cfg: ThrottleState(),
    telemetry=telemetry)
