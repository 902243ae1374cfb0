"""The hardware abstraction layer's data: what the executive reads and what it commands.

The flight software owns this interface. The simulated spacecraft (``hil.plant``) fills
:class:`Sensors` and obeys :class:`Actuators`; on a real board a board profile fills the
same fields from sysfs. Both cross the plant bus as plain dicts inside wire envelopes,
so every field is a number, bool or string, with its unit in its name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from flightsw.errors import WireError, safe_repr

T = TypeVar("T", bound="_Record")


class _Record:
    """Shared dict round trip for the HAL dataclasses, with a clear error on bad input."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        if not isinstance(data, Mapping):
            raise WireError(f"{cls.__name__} must be a map", got=type(data).__name__)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                continue  # missing fields keep their defaults (older senders)
            kwargs[f.name] = _coerce(cls.__name__, f.name, f.type, data[f.name])
        return cls(**kwargs)


def _coerce(owner: str, name: str, type_name: Any, value: Any) -> Any:
    expected = str(type_name)
    if expected == "bool":
        if not isinstance(value, bool):
            raise WireError(f"{owner}.{name} must be a bool", got=safe_repr(value))
        return value
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WireError(f"{owner}.{name} must be a number", got=safe_repr(value))
        return float(value)
    if expected == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise WireError(f"{owner}.{name} must be an integer", got=safe_repr(value))
        return value
    if expected == "str":
        if not isinstance(value, str):
            raise WireError(f"{owner}.{name} must be a string", got=safe_repr(value))
        return value
    if expected.startswith("dict"):
        if not isinstance(value, Mapping):
            raise WireError(f"{owner}.{name} must be a map", got=safe_repr(value))
        return dict(value)
    return value


@dataclass
class Sensors(_Record):
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


@dataclass
class Actuators(_Record):
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
