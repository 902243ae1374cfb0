"""Heater control: one thermostat with hysteresis per heater, inside the power budget.

Why: a spacecraft's battery radiates its heat away whenever nothing warms it (no eclipse
discharge, a light payload), and a pack below its charge range can no longer be charged:
the bus then browns out and the pack freezes. Every profile declares heaters; this
component switches them.

- **Thermostat** (:func:`thermostat`): on below ``on_c``, off above ``off_c``, unchanged
  in between (hysteresis, so a relay does not chatter). The set points default to the
  node's range from the flight configuration (:func:`default_set_points`: the battery's
  *charge* range, so it stays chargeable) and are commandable within that range.
- **Power budget**: the heaters that want heat are granted in priority order (battery
  heaters first, because a cold pack is the one that cannot recover) until the budget
  the load plan allows (:func:`flightsw.load_plan.plan`) is used up; the others are
  *denied*, with an event.
- **Lost sensor**: a heater whose temperature reading is missing (NaN) cannot know
  whether it is needed. Its stated safe assumption is "cold, but not without end": it
  runs at :data:`FALLBACK_DUTY_FRAC` of a :data:`FALLBACK_PERIOD_S` cycle, which keeps a
  cold node from freezing without being able to cook a warm one, and says so once.

All of it is pure: :func:`step` takes the state, the temperatures and the budget, and
returns the new state and events; :func:`commands` is what goes to the actuators. A
planner can call :func:`decide` over a horizon of predicted inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw.component import PERSIST, Component, Events, Handled, Tick
from flightsw.config import HEATER_SENSORS, FlightConfig, HeaterConfig
from flightsw.dictionary import (
    Arg,
    ArgType,
    Command,
    Declarations,
    Event,
    Severity,
    Telemetry,
)
from flightsw.errors import FlightError
from flightsw.hal import Sensors
from flightsw.load_shedding import LoadPlan, heater_budget_w

BATTERY_ON_ABOVE_CHARGE_MIN_C = 10.0
"""The battery heater switches on this far above the lowest charge temperature: the
pack stays clear of the reduced (cold) charge rate, not just of the refusal."""
NODE_ON_ABOVE_MIN_C = 5.0
"""Any other heater switches on this far above its node's minimum."""
HYSTERESIS_C = 5.0
"""Off set point minus on set point, by default."""
FALLBACK_DUTY_FRAC = 0.5
FALLBACK_PERIOD_S = 600.0
"""Lost sensor: on for the first half of every 10 minutes (see the module docstring)."""

STATES = ("off", "on", "denied", "disabled", "sensor")
"""A heater's state: off (not needed), on, denied (needed, no power), disabled (by the
operator), sensor (its temperature is lost; running the fallback duty cycle)."""


@dataclass
class HeaterSetting:
    """What the operator may change; survives a reset."""

    enabled: bool = True
    on_c: float = 0.0
    off_c: float = 0.0


@dataclass(frozen=True)
class HeaterInputs:
    """Temperatures by node (NaN: no reading) and the heater power the load plan allows."""

    temps_c: Mapping[str, float]
    budget_w: float = math.inf
    comfort_allowed: bool = True  # heaters other than the battery's may run
    budget_reason: str = ""  # why the budget is short (for the denial event)


@dataclass
class HeaterState:
    settings: dict[str, HeaterSetting] = field(default_factory=dict, metadata=PERSIST)
    status: dict[str, str] = field(default_factory=dict)  # name -> one of STATES
    on_s: dict[str, float] = field(default_factory=dict)  # seconds on since boot
    last_monotonic_s: float | None = None


def inputs_from(sensors: Sensors, load_plan: LoadPlan, cfg: FlightConfig) -> HeaterInputs:
    """The thermostats' inputs from one screened sample and the power component's plan."""
    temps = {node: float(getattr(sensors, f"{node}_temp_c")) for node in HEATER_SENSORS}
    return HeaterInputs(temps, heater_budget_w(load_plan, cfg),
                        comfort_allowed=load_plan.comfort_heaters_allowed,
                        budget_reason=load_plan.reason)


def default_set_points(heater: HeaterConfig, cfg: FlightConfig) -> tuple[float, float]:
    """(on_c, off_c) from the heated node's range in the flight configuration."""
    if heater.node == "battery":
        on = cfg.battery_charge_min_temp_c + BATTERY_ON_ABOVE_CHARGE_MIN_C
    elif heater.node == "payload":
        on = cfg.payload_temp_min_c + NODE_ON_ABOVE_MIN_C
    elif heater.node == "avionics":
        on = cfg.avionics_temp_min_c + NODE_ON_ABOVE_MIN_C
    else:
        on = -100.0 + NODE_ON_ABOVE_MIN_C  # a radiator has no lower limit to speak of
    return on, on + HYSTERESIS_C


def allowed_range(node: str, cfg: FlightConfig) -> tuple[float, float]:
    """Where set points may be commanded: inside the node's range (the battery's charge
    range), so no command can make a thermostat hold a node outside its limits."""
    if node == "battery":
        return cfg.battery_charge_min_temp_c, cfg.battery_charge_max_temp_c
    if node == "payload":
        return cfg.payload_temp_min_c, cfg.payload_temp_warn_c
    if node == "avionics":
        return cfg.avionics_temp_min_c, cfg.avionics_temp_max_c
    return -150.0, 100.0


def initial(cfg: FlightConfig) -> HeaterState:
    settings = {}
    for h in cfg.heaters:
        on, off = default_set_points(h, cfg)
        settings[h.name] = HeaterSetting(True, on, off)
    return HeaterState(settings=settings, status={h.name: "off" for h in cfg.heaters},
                       on_s={h.name: 0.0 for h in cfg.heaters})


def thermostat(was_on: bool, temp_c: float, on_c: float, off_c: float) -> bool:
    """On below ``on_c``, off above ``off_c``, otherwise as it was (hysteresis)."""
    if temp_c < on_c:
        return True
    if temp_c > off_c:
        return False
    return was_on


def fallback_on(monotonic_s: float) -> bool:
    """The lost-sensor duty cycle: on for the first part of each period."""
    return (monotonic_s % FALLBACK_PERIOD_S) < FALLBACK_DUTY_FRAC * FALLBACK_PERIOD_S


def _priority(h: HeaterConfig) -> tuple[int, str]:
    return (0 if h.node == "battery" else 1, h.name)


def decide(state: HeaterState, inputs: HeaterInputs, monotonic_s: float,
           cfg: FlightConfig) -> dict[str, str]:
    """Each heater's next state (one of :data:`STATES`) for these inputs. Pure."""
    wants: dict[str, str] = {}
    for h in cfg.heaters:
        setting = state.settings.get(h.name)
        if setting is None or not setting.enabled:
            wants[h.name] = "disabled"
            continue
        temp = inputs.temps_c.get(h.node, math.nan)
        if math.isnan(temp):
            wants[h.name] = "sensor" if fallback_on(monotonic_s) else "sensor_off"
            continue
        was_on = state.status.get(h.name) in ("on", "denied")
        wants[h.name] = "on" if thermostat(was_on, temp, setting.on_c, setting.off_c) else "off"
    budget = inputs.budget_w
    out: dict[str, str] = {}
    for h in sorted(cfg.heaters, key=_priority):
        want = wants[h.name]
        if want in ("on", "sensor"):
            if (h.node == "battery" or inputs.comfort_allowed) and h.power_w <= budget + 1e-9:
                budget -= h.power_w
                out[h.name] = want
            else:
                out[h.name] = "denied"
        else:
            out[h.name] = "sensor" if want == "sensor_off" else want
    return out


def is_heating(status: str, monotonic_s: float) -> bool:
    return status == "on" or (status == "sensor" and fallback_on(monotonic_s))


def step(state: HeaterState, inputs: HeaterInputs, t: Tick,
         cfg: FlightConfig) -> tuple[HeaterState, Events]:
    """Switch every heater for this cycle; events on denial and on a lost sensor."""
    new_status = decide(state, inputs, t.monotonic_s, cfg)
    events: Events = []
    dt_s = 0.0 if state.last_monotonic_s is None else max(
        t.monotonic_s - state.last_monotonic_s, 0.0)
    on_s = dict(state.on_s)
    for h in cfg.heaters:
        old = state.status.get(h.name, "off")
        new = new_status[h.name]
        if is_heating(old, t.monotonic_s - dt_s):
            on_s[h.name] = on_s.get(h.name, 0.0) + dt_s
        if new == old:
            continue
        temp = inputs.temps_c.get(h.node, math.nan)
        shown = "NaN" if math.isnan(temp) else round(temp, 1)
        if new == "denied":
            events.append(("heater.denied", {"heater": h.name, "temp_c": shown,
                                             "power_w": h.power_w,
                                             "reason": inputs.budget_reason or "no budget"}))
        elif new == "sensor":
            events.append(("heater.sensor_lost", {
                "heater": h.name, "node": h.node,
                "duty_pct": round(FALLBACK_DUTY_FRAC * 100)}))
        else:
            events.append(("heater.switched", {"heater": h.name, "old": old, "new": new,
                                               "temp_c": shown}))
    return replace(state, status=new_status, on_s=on_s,
                   last_monotonic_s=t.monotonic_s), events


def commands(state: HeaterState, monotonic_s: float) -> dict[str, bool]:
    """What the actuators get: heater name -> on."""
    return {name: is_heating(status, monotonic_s) for name, status in state.status.items()}


def power_w(state: HeaterState, cfg: FlightConfig, monotonic_s: float) -> float:
    on = commands(state, monotonic_s)
    return sum(h.power_w for h in cfg.heaters if on.get(h.name))


# --- commands ----------------------------------------------------------------------------
def _heater(cfg: FlightConfig, name: str) -> HeaterConfig:
    for h in cfg.heaters:
        if h.name == name:
            return h
    raise FlightError("no such heater", heater=name, valid=[h.name for h in cfg.heaters])


def make_handlers(cfg: FlightConfig) -> dict[str, Callable[..., Handled[HeaterState]]]:
    def enable(state: HeaterState, args: dict[str, Any], t: Tick) -> Handled[HeaterState]:
        h = _heater(cfg, args["heater"])
        settings = dict(state.settings)
        old = settings.get(h.name, HeaterSetting(True, *default_set_points(h, cfg)))
        settings[h.name] = replace(old, enabled=bool(args["enabled"]))
        word = "enabled" if args["enabled"] else "disabled"
        return Handled(replace(state, settings=settings), f"heater {h.name} {word}",
                       [("heater.configured", {"heater": h.name, "what": word})])

    def set_points(state: HeaterState, args: dict[str, Any],
                   t: Tick) -> Handled[HeaterState]:
        h = _heater(cfg, args["heater"])
        on_c, off_c = float(args["on_c"]), float(args["off_c"])
        lo, hi = allowed_range(h.node, cfg)
        if not on_c < off_c:
            raise FlightError("on_c must be below off_c (hysteresis)", on_c=on_c, off_c=off_c)
        if not (lo <= on_c and off_c <= hi):
            raise FlightError(f"set points must lie within the {h.node} range "
                              f"[{lo:g}, {hi:g}] C", on_c=on_c, off_c=off_c)
        settings = dict(state.settings)
        old = settings.get(h.name, HeaterSetting())
        settings[h.name] = replace(old, on_c=on_c, off_c=off_c)
        what = f"on below {on_c:g} C, off above {off_c:g} C"
        return Handled(replace(state, settings=settings), f"heater {h.name} {what}",
                       [("heater.configured", {"heater": h.name, "what": what})])

    if not cfg.heaters:
        return {}
    return {"heater.enable": enable, "heater.set_points": set_points}


def telemetry(state: HeaterState) -> dict[str, Any]:
    points: dict[str, Any] = {}
    for name, setting in state.settings.items():
        points[f"heater.{name}.state"] = state.status.get(name, "off")
        points[f"heater.{name}.on_c"] = setting.on_c
        points[f"heater.{name}.off_c"] = setting.off_c
        points[f"heater.{name}.on_s"] = round(state.on_s.get(name, 0.0), 1)
    return points


def declarations(cfg: FlightConfig) -> Declarations:
    names = tuple(h.name for h in cfg.heaters)
    telemetry_points: list[Telemetry] = []
    for h in cfg.heaters:
        telemetry_points += [
            Telemetry(f"heater.{h.name}.state", ArgType.ENUM,
                      f"Heater {h.name} ({h.node}, {h.power_w:g} W): " + " / ".join(STATES)),
            Telemetry(f"heater.{h.name}.on_c", ArgType.FLOAT, "Thermostat on below",
                      units="C"),
            Telemetry(f"heater.{h.name}.off_c", ArgType.FLOAT, "Thermostat off above",
                      units="C"),
            Telemetry(f"heater.{h.name}.on_s", ArgType.FLOAT, "Time on since boot",
                      units="s"),
        ]
    commands_: tuple[Command, ...] = ()
    if names:
        which = Arg("heater", ArgType.ENUM, "heater name", choices=names)
        commands_ = (
            Command("heater.enable", "Enable or disable a heater's thermostat",
                    args=(which, Arg("enabled", ArgType.BOOL, "true: thermostat runs"))),
            Command("heater.set_points",
                    "Thermostat set points; must lie within the heated node's range",
                    args=(which,
                          Arg("on_c", ArgType.FLOAT, "on below", units="C", min=-150.0,
                              max=150.0),
                          Arg("off_c", ArgType.FLOAT, "off above", units="C", min=-150.0,
                              max=150.0))),
        )
    return Declarations(
        component="heater",
        commands=commands_,
        telemetry=tuple(telemetry_points),
        events=(
            Event("heater.switched", Severity.DIAGNOSTIC,
                  "Heater {heater} {old} -> {new} at {temp_c} C", throttle=20),
            Event("heater.denied", Severity.WARNING_LO,
                  "Heater {heater} ({power_w} W) wanted at {temp_c} C but denied: {reason}",
                  throttle=5),
            Event("heater.sensor_lost", Severity.WARNING_HI,
                  "Heater {heater}: {node} temperature lost; running {duty_pct} % duty",
                  throttle=5),
            Event("heater.configured", Severity.ACTIVITY_HI, "Heater {heater}: {what}"),
        ),
    )


def component(cfg: FlightConfig) -> Component[HeaterState]:
    return Component(name="heaters", declare=lambda c: (declarations(c),), initial=initial,
                     telemetry=telemetry, handlers=make_handlers(cfg))
