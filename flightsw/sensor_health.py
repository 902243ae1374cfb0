"""Sensor fault detection: missing, out of range, stuck and stale readings.

Why: every power and thermal decision is only as good as its readings. A sensor that
dies usually does not go quiet; it reads NaN, a wild number, the same value forever,
or the sample stops arriving. Each of these is detected here and turned into "no
reading" (NaN), so that every controller applies its own stated safe assumption:

================  ====================================================================
reading lost      what the controller assumes (where)
================  ====================================================================
payload_temp_c    hot: payload activity 0 (:mod:`flightsw.throttle`)
battery_temp_c    heater runs a 50 % duty cycle (:mod:`flightsw.heaters`); payload
                  capped at 50 % (throttle); no temperature guard fires (modes)
avionics_temp_c   payload capped at 50 % (throttle); no temperature guard fires
battery_soc_frac  low: payload and comfort heaters shed (:mod:`flightsw.load_shedding`),
                  autonomous SAFE (:mod:`flightsw.modes`)
battery_voltage_v no undervoltage guard (the SoC guards still hold)
================  ====================================================================

Kinds of fault: ``range`` (the HAL refused an impossible value, :func:`flightsw.hal.screen`),
``missing`` (NaN from the source), ``stuck`` (a temperature bit-for-bit unchanged for
``sensor_stuck_after_s``: a thermal node always drifts, a frozen ADC does not), and
``stale`` (no sample at all for ``sensor_stale_after_s``: every reading is lost). Each
onset is one event naming the fallback, each recovery another. Pure: the topology hands
in the sample and the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw.component import Component, Events, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Severity, Telemetry
from flightsw.hal import Sensors

FALLBACKS: dict[str, str] = {
    "payload_temp_c": "payload activity 0 %",
    "battery_temp_c": "battery heater 50 % duty, payload capped at 50 %",
    "avionics_temp_c": "payload capped at 50 %",
    "radiator_temp_c": "none needed (telemetry only)",
    "battery_soc_frac": "battery assumed low: payload and comfort heaters shed, SAFE",
    "battery_voltage_v": "no undervoltage guard (SoC guards hold)",
}
"""The monitored readings and the safe assumption each controller makes without it."""

STUCK_FIELDS: tuple[str, ...] = ("payload_temp_c", "battery_temp_c", "avionics_temp_c",
                                 "radiator_temp_c")
"""Readings that always drift in flight (a full battery's SoC and voltage may not)."""


@dataclass
class FieldHealth:
    last: float = math.nan
    same_since_s: float | None = None  # monotonic time this exact value first came
    fault: str = ""  # "", "range", "missing", "stuck"


@dataclass
class SensorHealthState:
    fields: dict[str, FieldHealth] = field(
        default_factory=lambda: {name: FieldHealth() for name in FALLBACKS})
    last_sample_s: float | None = None  # monotonic time of the last sample
    stale: bool = False
    faults_total: int = 0


def check(state: SensorHealthState, sample: Sensors, rejected: list[str], t: Tick,
          cfg: FlightConfig) -> tuple[SensorHealthState, Sensors, Events]:
    """Judge one screened sample (``rejected``: the fields the HAL refused). Returns the
    sample with stuck readings removed (NaN), and the fault / recovery events."""
    events: Events = []
    fields_ = dict(state.fields)
    drop: dict[str, Any] = {}
    total = state.faults_total
    now = t.monotonic_s
    for name, fallback in FALLBACKS.items():
        old = fields_.get(name)  # a copy: the state passed in is not changed
        fh = FieldHealth() if old is None else FieldHealth(old.last, old.same_since_s, old.fault)
        value = float(getattr(sample, name))
        kind = ""
        if name in rejected:
            kind = "range"
        elif math.isnan(value):
            kind = "missing"
        elif name in STUCK_FIELDS and cfg.sensor_stuck_after_s > 0:
            if value == fh.last and fh.same_since_s is not None:
                if now - fh.same_since_s >= cfg.sensor_stuck_after_s:
                    kind = "stuck"
                    drop[name] = math.nan
            else:
                fh.same_since_s = now
        if not math.isnan(value):
            fh.last = value
        if kind and kind != fh.fault:
            total += 1
            events.append(("sensor.fault", {"reading": name, "kind": kind,
                                            "fallback": fallback}))
        elif not kind and fh.fault:
            events.append(("sensor.recovered", {"reading": name, "after": fh.fault}))
        fh.fault = kind
        fields_[name] = fh
    if state.stale:
        events.append(("sensor.recovered", {"reading": "all", "after": "stale"}))
    new = replace(state, fields=fields_, last_sample_s=now, stale=False, faults_total=total)
    return new, (replace(sample, **drop) if drop else sample), events


def fresh(state: SensorHealthState, sample: Sensors, t: Tick,
          cfg: FlightConfig) -> tuple[SensorHealthState, Sensors, Events]:
    """The sample the slow cycle may act on: all readings lost (NaN) once no sample has
    come for ``sensor_stale_after_s``; one event when that starts."""
    last = state.last_sample_s
    if last is None or t.monotonic_s - last < cfg.sensor_stale_after_s:
        return state, sample, []
    events: Events = []
    if not state.stale:
        events.append(("sensor.fault", {"reading": "all", "kind": "stale",
                                        "fallback": "every controller's lost-sensor rule"}))
        state = replace(state, stale=True, faults_total=state.faults_total + 1)
    lost = Sensors(in_contact=sample.in_contact, contact_station=sample.contact_station)
    return state, lost, events


def faulted(state: SensorHealthState) -> list[str]:
    if state.stale:
        return ["all:stale"]
    return [f"{name}:{fh.fault}" for name, fh in state.fields.items() if fh.fault]


def telemetry(state: SensorHealthState) -> dict[str, Any]:
    return {"sensor.faults_total": state.faults_total,
            "sensor.faulted": ", ".join(faulted(state))}


DECLARATIONS = Declarations(
    component="sensor",
    telemetry=(
        Telemetry("sensor.faults_total", ArgType.INT, "Sensor fault onsets since boot"),
        Telemetry("sensor.faulted", ArgType.STR,
                  "Readings now faulted, as reading:kind (range, missing, stuck, stale)"),
    ),
    events=(
        Event("sensor.fault", Severity.WARNING_HI,
              "Sensor {reading} {kind}; fallback: {fallback}", throttle=10),
        Event("sensor.recovered", Severity.ACTIVITY_LO,
              "Sensor {reading} back (was {after})", throttle=10),
    ),
)


COMPONENT: Component[SensorHealthState] = Component(
    name="sensor_health", declare=lambda _cfg: (DECLARATIONS,),
    initial=lambda _cfg: SensorHealthState(), telemetry=telemetry)
