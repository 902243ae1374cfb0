"""The executive's configuration: the limits and rates a spacecraft profile sets.

The harness (``hil``) reads a profile's ``[flight]`` table and hands it to the executive
as JSON; on a board it comes from a file. Unknown keys and bad values are refused with
the key named, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from flightsw.errors import FlightError, safe_repr


class ConfigError(FlightError):
    """A flight configuration value is missing, unknown or out of range."""


@dataclass(frozen=True)
class FlightConfig:
    payload_temp_target_c: float = 70.0  # throttle setpoint
    payload_temp_warn_c: float = 80.0  # above: throttle capped hard, warning event
    payload_temp_max_c: float = 90.0  # above: payload activity forced to zero
    battery_soc_safe_frac: float = 0.25  # below: autonomous SAFE
    battery_soc_resume_frac: float = 0.45  # above: SAFE (entered for low battery) may end
    battery_soc_compute_frac: float = 0.60  # COMPUTE allowed at or above
    battery_soc_floor_frac: float = 0.15  # never below (plant counts a violation)
    capture_period_s: float = 10.0  # time between image captures
    tiles_per_capture: int = 16  # tiles classified per capture at full throttle
    hk_period_s: float = 1.0  # housekeeping telemetry period
    heartbeat_misses_allowed: int = 5  # missed payload heartbeats before a restart
    restart_backoff_s: float = 2.0  # first payload restart delay; doubles, capped
    restart_backoff_max_s: float = 60.0
    boot_mode: str = "NOMINAL"
    auto_compute: bool = True  # NOMINAL -> COMPUTE autonomously when power allows
    payload_enabled: bool = True  # supervise (start) the payload process at boot
    recorder_capacity: int = 20_000  # downlink records held while out of contact

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError("flight config value must be finite", key=f.name)
        fracs = ("battery_soc_safe_frac", "battery_soc_resume_frac",
                 "battery_soc_compute_frac", "battery_soc_floor_frac")
        for key in fracs:
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError("fraction must be within [0, 1]", key=key,
                                  got=getattr(self, key))
        if not (self.battery_soc_floor_frac <= self.battery_soc_safe_frac
                < self.battery_soc_resume_frac <= self.battery_soc_compute_frac):
            raise ConfigError("battery thresholds must satisfy floor <= safe < resume <= compute")
        if not self.payload_temp_target_c < self.payload_temp_warn_c < self.payload_temp_max_c:
            raise ConfigError("payload temperatures must satisfy target < warn < max")
        if self.capture_period_s <= 0 or self.hk_period_s <= 0:
            raise ConfigError("periods must be positive")
        if not 0 <= self.tiles_per_capture <= 256:
            raise ConfigError("tiles_per_capture must be within [0, 256]")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FlightConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError("unknown flight config key", key=unknown[0], valid=sorted(known))
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            default = getattr(cls, key)
            try:
                if isinstance(default, bool):
                    if not isinstance(value, bool):
                        raise TypeError
                    kwargs[key] = value
                elif isinstance(default, int):
                    kwargs[key] = int(value)
                elif isinstance(default, float):
                    kwargs[key] = float(value)
                else:
                    kwargs[key] = str(value)
            except (TypeError, ValueError) as exc:
                raise ConfigError("flight config value has the wrong type", key=key,
                                  got=safe_repr(value)) from exc
        return cls(**kwargs)

    @classmethod
    def load(cls, path: Path) -> FlightConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError("cannot read flight config", path=str(path), error=str(exc)) from exc
        if not isinstance(data, dict):
            raise ConfigError("flight config must be a JSON object", path=str(path))
        return cls.from_mapping(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
