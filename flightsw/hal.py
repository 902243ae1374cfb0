"""The hardware abstraction layer's data: what the executive reads and what it commands.

The flight software owns this interface. The simulated spacecraft (``hil.plant``) fills
:class:`Sensors` and obeys :class:`Actuators`; on a real board a board profile fills the
same fields from sysfs. Both cross the plant bus as plain dicts inside wire envelopes,
so every field is a number, bool or string, with its unit in its name.

A reading the spacecraft cannot physically produce (NaN aside, which already means
"no reading") is refused here, not deep inside a controller: :func:`screen` replaces a
non-finite or out-of-range value with NaN and says which fields it dropped, so every
controller sees "missing" and falls back to its safe assumption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from flightsw.records import Record


@dataclass
class Sensors(Record):
    """One sample of everything the executive can sense. NaN means "no reading"."""

    battery_soc_frac: float = math.nan
    battery_voltage_v: float = math.nan
    battery_current_a: float = math.nan  # positive = charging
    battery_temp_c: float = math.nan
    array_power_w: float = math.nan  # electrical power from the solar arrays
    load_power_w: float = math.nan  # total power drawn by the loads
    payload_temp_c: float = math.nan
    avionics_temp_c: float = math.nan
    radiator_temp_c: float = math.nan
    sun_fraction: float = math.nan  # 1 = full sun, 0 = umbra, in between = penumbra
    in_contact: bool = False  # the radio has a ground station in view
    contact_station: str = ""
    next_contact_in_s: float = math.nan  # seconds to the next acquisition of signal
    next_eclipse_in_s: float = math.nan  # seconds to the next umbra entry
    lat_deg: float = math.nan  # GNSS position (sub-satellite point)
    lon_deg: float = math.nan
    compute_power_w: float = math.nan  # the compute board's input power (HIL: its rails)

    PHYSICAL_RANGE: ClassVar[dict[str, tuple[float, float]]] = {
        "battery_soc_frac": (-0.01, 1.01),
        "battery_voltage_v": (0.0, 2_000.0),
        "battery_current_a": (-10_000.0, 10_000.0),
        "battery_temp_c": (-150.0, 200.0),
        "array_power_w": (-1.0, 2e6),
        "load_power_w": (-1.0, 2e6),
        "payload_temp_c": (-150.0, 250.0),
        "avionics_temp_c": (-150.0, 250.0),
        "radiator_temp_c": (-200.0, 250.0),
        "sun_fraction": (0.0, 1.0),
        "next_contact_in_s": (0.0, 30 * 86_400.0),
        "next_eclipse_in_s": (0.0, 366 * 86_400.0),
        "lat_deg": (-90.0, 90.0),
        "lon_deg": (-360.0, 360.0),
        "compute_power_w": (0.0, 2e6),
    }
    """What the hardware can report; outside it a reading is a sensor fault."""


def screen(sample: Sensors) -> tuple[Sensors, list[str]]:
    """Return the sample with impossible readings replaced by NaN, and their names."""
    bad: dict[str, Any] = {}
    for name, (lo, hi) in Sensors.PHYSICAL_RANGE.items():
        value = getattr(sample, name)
        if math.isnan(value):
            continue
        if not math.isfinite(value) or not lo <= value <= hi:
            bad[name] = math.nan
    if len(sample.contact_station) > 64:
        return replace(sample, contact_station=sample.contact_station[:64], **bad), sorted(
            [*bad, "contact_station"])
    return (replace(sample, **bad) if bad else sample), sorted(bad)


def describe_rejected(sample: Sensors, names: list[str]) -> str:
    parts = []
    for name in names[:4]:
        value = getattr(sample, name)
        lo_hi = Sensors.PHYSICAL_RANGE.get(name)
        shown = f"{value:g}" if isinstance(value, float) else repr(value)[:20]
        parts.append(f"{name}={shown}" + (f" not in [{lo_hi[0]:g}, {lo_hi[1]:g}]"
                                          if lo_hi else ""))
    more = f" (+{len(names) - 4} more)" if len(names) > 4 else ""
    return "; ".join(parts) + more


@dataclass
class Actuators(Record):
    """What the executive commands, plus what it reports about the payload's activity.

    ``payload_activity_frac`` is what the payload process actually reported doing (its
    measured duty cycle), so the plant heats the payload by real work, not by a script.
    The ``report_*`` fields are informational: the plant records them for the mission
    report and the launcher's status line.
    """

    payload_on: bool = True
    payload_activity_frac: float = 0.0
    heaters_on: dict[str, bool] = field(default_factory=dict)  # heater name -> on
    radio_tx_on: bool = True
    report_mode: str = ""
    report_throttle_frac: float = 0.0
    report_jobs_done: int = 0
    report_tiles_done: int = 0
    report_payload_restarts: int = 0


__all__ = ["Actuators", "Sensors", "describe_rejected", "screen"]
