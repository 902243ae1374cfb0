"""Electrical power monitoring: battery and array telemetry, low-battery warnings.

The decisions that use power (mode guards, load shedding) live in :mod:`flightsw.modes`;
this component turns HAL sensor readings into telemetry points and warns, throttled,
when the battery approaches the level at which the spacecraft goes SAFE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flightsw.component import Component, Events, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Limits, Severity, Telemetry
from flightsw.hal import Sensors

YELLOW_MARGIN_C = 5.0
"""A temperature this close to its limit is flagged yellow."""


@dataclass
class PowerState:
    """The latest screened sensor sample: power and thermal telemetry are read from it."""

    sensors: Sensors = field(default_factory=Sensors)


def step(state: PowerState, sample: Sensors, t: Tick,
         cfg: FlightConfig) -> tuple[PowerState, None, Events]:
    state.sensors = sample
    warning = battery_warning(sample, cfg)
    return state, None, [warning] if warning is not None else []


def component_telemetry(state: PowerState) -> dict[str, Any]:
    points = telemetry(state.sensors)
    points.update(thermal_telemetry(state.sensors))
    return points


def telemetry(s: Sensors) -> dict[str, Any]:
    return {
        "power.battery_soc_pct": _r(s.battery_soc_frac * 100, 2),
        "power.battery_voltage_v": _r(s.battery_voltage_v, 3),
        "power.battery_current_a": _r(s.battery_current_a, 3),
        "power.battery_temp_c": _r(s.battery_temp_c, 2),
        "power.array_power_w": _r(s.array_power_w, 2),
        "power.load_power_w": _r(s.load_power_w, 2),
        "power.sun_fraction": _r(s.sun_fraction, 3),
        "power.next_eclipse_in_s": _r(s.next_eclipse_in_s, 0),
    }


def battery_warning(s: Sensors, cfg: FlightConfig) -> tuple[str, dict[str, Any]] | None:
    soc = s.battery_soc_frac
    margin = cfg.battery_soc_safe_frac + 0.05
    if not math.isnan(soc) and soc < margin:
        return ("power.battery_low", {"soc_pct": round(soc * 100, 1),
                                      "safe_pct": round(cfg.battery_soc_safe_frac * 100)})
    return None


def _r(value: float, digits: int) -> float:
    return value if math.isnan(value) else round(value, digits)


def declarations(cfg: FlightConfig) -> Declarations:
    """Power telemetry; its limits come from the spacecraft's flight configuration."""
    return Declarations(
        component="power",
        telemetry=(
            Telemetry("power.battery_soc_pct", ArgType.FLOAT, "Battery state of charge",
                      units="%", limits=Limits(red_low=cfg.battery_soc_floor_frac * 100,
                                               yellow_low=cfg.battery_soc_safe_frac * 100)),
            Telemetry("power.battery_voltage_v", ArgType.FLOAT, "Battery terminal voltage",
                      units="V"),
            Telemetry("power.battery_current_a", ArgType.FLOAT,
                      "Battery current (positive = charging)", units="A"),
            Telemetry("power.battery_temp_c", ArgType.FLOAT, "Battery temperature", units="C",
                      limits=Limits(red_low=cfg.battery_temp_min_c,
                                    yellow_low=cfg.battery_charge_min_temp_c,
                                    yellow_high=cfg.battery_temp_max_c - YELLOW_MARGIN_C,
                                    red_high=cfg.battery_temp_max_c)),
            Telemetry("power.array_power_w", ArgType.FLOAT, "Solar array output", units="W"),
            Telemetry("power.load_power_w", ArgType.FLOAT, "Total load", units="W"),
            Telemetry("power.sun_fraction", ArgType.FLOAT,
                      "Sunlit fraction (1 sun, 0 umbra, between: penumbra)"),
            Telemetry("power.next_eclipse_in_s", ArgType.FLOAT,
                      "Time to the next umbra entry (0 in umbra; empty if none forecast)",
                      units="s"),
        ),
        events=(
            Event("power.battery_low", Severity.WARNING_HI,
                  "Battery at {soc_pct} % (SAFE below {safe_pct} %)", throttle=5),
        ),
    )


def thermal_declarations(cfg: FlightConfig) -> Declarations:
    return Declarations(
        component="thermal",
        telemetry=(
            Telemetry("thermal.payload_temp_c", ArgType.FLOAT, "Payload (compute) temperature",
                      units="C", limits=Limits(yellow_high=cfg.payload_temp_warn_c,
                                               red_high=cfg.payload_temp_max_c)),
            Telemetry("thermal.avionics_temp_c", ArgType.FLOAT, "Avionics temperature",
                      units="C", limits=Limits(
                          red_low=cfg.avionics_temp_min_c,
                          yellow_low=cfg.avionics_temp_min_c + YELLOW_MARGIN_C,
                          yellow_high=cfg.avionics_temp_max_c - YELLOW_MARGIN_C,
                          red_high=cfg.avionics_temp_max_c)),
            Telemetry("thermal.radiator_temp_c", ArgType.FLOAT, "Radiator temperature",
                      units="C"),
        ),
    )


def thermal_telemetry(s: Sensors) -> dict[str, Any]:
    return {
        "thermal.payload_temp_c": _r(s.payload_temp_c, 2),
        "thermal.avionics_temp_c": _r(s.avionics_temp_c, 2),
        "thermal.radiator_temp_c": _r(s.radiator_temp_c, 2),
    }


COMPONENT: Component[PowerState] = Component(
    name="power", declare=lambda cfg: (declarations(cfg), thermal_declarations(cfg)),
    initial=lambda _cfg: PowerState(), telemetry=component_telemetry)
