"""Electrical power monitoring and load shedding: battery and array telemetry,
low-battery warnings, and the load plan.

Mode guards live in :mod:`flightsw.modes`; the shedding rule (which loads the battery may
carry, in priority order) in :mod:`flightsw.load_shedding`. This component turns HAL
sensor readings into telemetry points, warns, throttled, when the battery approaches the
level at which the spacecraft goes SAFE, and keeps the load plan with an event whenever
a load is shed or restored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flightsw.component import Component, Events, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Limits, Severity, Telemetry
from flightsw.hal import Sensors
from flightsw.load_shedding import LoadPlan, plan

YELLOW_MARGIN_C = 5.0
"""A temperature this close to its limit is flagged yellow."""


@dataclass
class PowerState:
    """The latest screened sensor sample: power and thermal telemetry are read from it."""

    sensors: Sensors = field(default_factory=Sensors)
    load_plan: LoadPlan = field(default_factory=LoadPlan)


def step(state: PowerState, sample: Sensors, t: Tick, cfg: FlightConfig, *,
         mode_level: int = 0, mode: str = "") -> tuple[PowerState, LoadPlan, Events]:
    """``mode_level``/``mode``: the load budget of the mode in force (it sheds at least
    that much, :func:`flightsw.load_shedding.plan`)."""
    state.sensors = sample
    warning = battery_warning(sample, cfg)
    events: Events = [warning] if warning is not None else []
    new_plan = plan(state.load_plan, sample.battery_soc_frac, sample.sun_fraction, cfg,
                    mode_level=mode_level, mode=mode)
    if new_plan.level != state.load_plan.level:
        events.append(("power.load_shed", {
            "level": new_plan.level, "shed": ", ".join(new_plan.shed) or "nothing",
            "reason": new_plan.reason or "battery recovered"}))
    state.load_plan = new_plan
    return state, new_plan, events


def component_telemetry(state: PowerState) -> dict[str, Any]:
    points = telemetry(state.sensors)
    points.update(thermal_telemetry(state.sensors))
    points["power.shed_level"] = state.load_plan.level
    return points


def telemetry(s: Sensors) -> dict[str, Any]:
    # round() with digits keeps a NaN (a reading not yet known) a NaN: no test needed
    return {
        "power.battery_soc_pct": round(s.battery_soc_frac * 100, 2),
        "power.battery_voltage_v": round(s.battery_voltage_v, 3),
        "power.battery_current_a": round(s.battery_current_a, 3),
        "power.battery_temp_c": round(s.battery_temp_c, 2),
        "power.array_power_w": round(s.array_power_w, 2),
        "power.load_power_w": round(s.load_power_w, 2),
        "power.sun_fraction": round(s.sun_fraction, 3),
        "power.next_eclipse_in_s": round(s.next_eclipse_in_s, 0),
    }


def battery_warning(s: Sensors, cfg: FlightConfig) -> tuple[str, dict[str, Any]] | None:
    soc = s.battery_soc_frac
    margin = cfg.battery_soc_safe_frac + 0.05
    if not math.isnan(soc) and soc < margin:
        return ("power.battery_low", {"soc_pct": round(soc * 100, 1),
                                      "safe_pct": round(cfg.battery_soc_safe_frac * 100)})
    return None


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
            Telemetry("power.shed_level", ArgType.INT,
                      "Loads shed: 0 none, 1 payload, 2 + heaters, 3 + battery heater"),
        ),
        events=(
            Event("power.battery_low", Severity.WARNING_HI,
                  "Battery at {soc_pct} % (SAFE below {safe_pct} %)", throttle=5),
            Event("power.load_shed", Severity.WARNING_HI,
                  "Load shedding level {level} (shed: {shed}): {reason}", throttle=20),
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
            Telemetry("thermal.compute_power_w", ArgType.FLOAT,
                      "Compute board input power (HIL: the board's rails)", units="W"),
        ),
    )


def thermal_telemetry(s: Sensors) -> dict[str, Any]:
    return {
        "thermal.payload_temp_c": round(s.payload_temp_c, 2),
        "thermal.avionics_temp_c": round(s.avionics_temp_c, 2),
        "thermal.radiator_temp_c": round(s.radiator_temp_c, 2),
        "thermal.compute_power_w": round(s.compute_power_w, 2),
    }


COMPONENT: Component[PowerState] = Component(
    name="power", declare=lambda cfg: (declarations(cfg), thermal_declarations(cfg)),
    initial=lambda _cfg: PowerState(), telemetry=component_telemetry)
