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


HEATER_SENSORS: tuple[str, ...] = ("battery", "payload", "avionics", "radiator")
"""Thermal nodes with a temperature sensor a thermostat can read (``<node>_temp_c``)."""


@dataclass(frozen=True)
class HeaterConfig:
    """One switchable heater: its name (as the plant knows it), the node it warms (and
    whose sensor its thermostat reads) and its power. Set points come from the node's
    range in the flight config (:func:`flightsw.heaters.default_set_points`)."""

    name: str
    node: str
    power_w: float

    @classmethod
    def from_mapping(cls, data: Any) -> HeaterConfig:
        if not isinstance(data, Mapping) or set(data) != {"name", "node", "power_w"}:
            raise ConfigError("a heater must be a map with exactly name, node, power_w",
                              key="heaters", got=safe_repr(data))
        name, node, power = data["name"], data["node"], data["power_w"]
        if not isinstance(name, str) or not name.isidentifier() or len(name) > 32:
            raise ConfigError("heater name must be a short identifier", key="heaters",
                              got=safe_repr(name))
        if node not in HEATER_SENSORS:
            raise ConfigError(f"heater node must be one of {', '.join(HEATER_SENSORS)}",
                              key="heaters", got=safe_repr(node))
        if (isinstance(power, bool) or not isinstance(power, (int, float))
                or not math.isfinite(power) or power <= 0):
            raise ConfigError("heater power_w must be a positive number", key="heaters",
                              got=safe_repr(power))
        return cls(name, node, float(power))


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
    # payload supervision (flightsw/supervisor.py says how each is used)
    heartbeat_timeout_s: float = 5.0  # payload silent this long: hung, restart it
    restart_backoff_s: float = 2.0  # delay of the second restart in a row; doubles, capped
    restart_backoff_max_s: float = 60.0
    job_deadline_s: float = 30.0  # one inference job running longer: stuck, restart
    payload_rss_limit_mb: float = 2048.0  # payload resident memory above: runaway, restart
    job_failures_to_restart: int = 5  # failed jobs in a row before a restart
    restart_window_s: float = 600.0  # escalation counts unplanned restarts this far back
    restarts_to_degrade: int = 3  # in the window: last good model, throttle reduced
    restarts_to_lockout: int = 5  # in the window: payload off, SAFE, until the ground clears
    degraded_throttle_frac: float = 0.5  # payload activity cap while degraded
    crash_loop_resets: int = 3  # unexplained executive resets in the window: payload off
    crash_loop_window_s: float = 600.0
    boot_mode: str = "NOMINAL"
    auto_compute: bool = True  # NOMINAL -> COMPUTE autonomously when power allows
    payload_enabled: bool = True  # supervise (start) the payload process at boot
    fault_injection: bool = False  # test and HIL runs only: model.inject_fault is allowed
    recorder_bytes: int = 64 << 20  # downlink records held until acknowledged, in bytes
    downlink_rate_bps: float = 0.0  # the radio's downlink rate; 0: not limited onboard
    relay_rate_bps: float = 0.0  # an always-on relay link's rate; 0: no relay
    # limits of the other constrained temperatures: the profile's thermal nodes feed them,
    # and the dictionary's telemetry limits come from here (one source)
    avionics_temp_min_c: float = -20.0
    avionics_temp_max_c: float = 60.0
    battery_temp_min_c: float = -10.0
    battery_temp_max_c: float = 45.0
    battery_charge_min_temp_c: float = 0.0  # no charging below (lithium plating)
    battery_charge_max_temp_c: float = 45.0  # no charging above (the hot charge limit)
    payload_temp_min_c: float = -20.0  # coldest the compute may be powered (cold start)
    battery_voltage_min_v: float = 0.0  # bus undervoltage: the pack's empty voltage
    heaters: tuple[HeaterConfig, ...] = ()  # the switchable heaters the profile declares
    sensor_stuck_after_s: float = 1800.0  # a temperature unchanged this long is stuck (0: off)
    sensor_stale_after_s: float = 10.0  # no sensor sample this long: every reading is lost
    # the energy planner's model (flightsw/planner.py); capacity 0: the planner caps nothing
    battery_capacity_wh: float = 0.0
    payload_idle_w: float = 0.0  # payload power at zero activity
    payload_max_w: float = 0.0  # payload power at full activity
    bus_load_w: float = 0.0  # every other load in eclipse (avionics, radio receiver)

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
        order = (  # (lower, higher, strictly below)
            ("battery_soc_floor_frac", "battery_soc_safe_frac", False),
            ("battery_soc_safe_frac", "battery_soc_resume_frac", True),
            ("battery_soc_resume_frac", "battery_soc_compute_frac", False),
            ("payload_temp_target_c", "payload_temp_warn_c", True),
            ("payload_temp_warn_c", "payload_temp_max_c", True),
        )
        for low, high, strict in order:
            a, b = getattr(self, low), getattr(self, high)
            if (a >= b) if strict else (a > b):
                raise ConfigError(f"{low} ({a:g}) must be {'below' if strict else 'at most'} "
                                  f"{high} ({b:g})", key=low)
        for key in ("battery_capacity_wh", "payload_idle_w", "payload_max_w", "bus_load_w"):
            if getattr(self, key) < 0:
                raise ConfigError("must not be negative", key=key)
        if self.sensor_stuck_after_s < 0 or self.sensor_stale_after_s <= 0:
            raise ConfigError("sensor fault times must be positive (stuck may be 0: off)")
        if self.capture_period_s <= 0 or self.hk_period_s <= 0:
            raise ConfigError("periods must be positive")
        if not 0 <= self.tiles_per_capture <= 256:
            raise ConfigError("tiles_per_capture must be within [0, 256]")
        if not self.avionics_temp_min_c < self.avionics_temp_max_c:
            raise ConfigError("avionics_temp_min_c must be below avionics_temp_max_c")
        if not (self.battery_temp_min_c <= self.battery_charge_min_temp_c
                < self.battery_charge_max_temp_c <= self.battery_temp_max_c):
            raise ConfigError("battery temperatures must satisfy "
                              "min <= charge_min < charge_max <= max")
        names = [h.name for h in self.heaters]
        if len(set(names)) != len(names):
            raise ConfigError("heater names must be unique", key="heaters", got=names)
        if self.heartbeat_timeout_s < 1.0:
            raise ConfigError("heartbeat_timeout_s must be at least 1 s (pings are 1 Hz)",
                              key="heartbeat_timeout_s")
        for key in ("job_deadline_s", "payload_rss_limit_mb", "restart_window_s",
                    "crash_loop_window_s"):
            if getattr(self, key) <= 0:
                raise ConfigError("must be positive", key=key)
        for key in ("job_failures_to_restart", "crash_loop_resets"):
            if getattr(self, key) < 1:
                raise ConfigError("must be at least 1", key=key)
        if not 1 <= self.restarts_to_degrade < self.restarts_to_lockout:
            raise ConfigError("escalation needs 1 <= restarts_to_degrade < restarts_to_lockout",
                              key="restarts_to_degrade")
        if not 0.0 < self.degraded_throttle_frac <= 1.0:
            raise ConfigError("fraction must be within (0, 1]", key="degraded_throttle_frac")
        if self.recorder_bytes < 4096:
            raise ConfigError("recorder_bytes must be at least 4096", got=self.recorder_bytes)
        if self.downlink_rate_bps < 0 or self.relay_rate_bps < 0:
            raise ConfigError("link rates must not be negative")
        if not 0 < self.restart_backoff_s <= self.restart_backoff_max_s:
            raise ConfigError("restart backoff must satisfy 0 < first <= max")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FlightConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError("unknown flight config key", key=unknown[0], valid=sorted(known))
        kwargs = {key: _typed(key, getattr(cls, key), value) for key, value in data.items()
                  if key != "heaters"}
        if "heaters" in data:
            heaters = data["heaters"]
            if not isinstance(heaters, (list, tuple)):
                raise ConfigError("heaters must be a list", key="heaters",
                                  got=safe_repr(heaters))
            kwargs["heaters"] = tuple(HeaterConfig.from_mapping(h) for h in heaters)
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


def _typed(key: str, default: Any, value: Any) -> Any:
    """One value, checked against the type of its default. No silent truncation: an
    integer setting accepts 16 or 16.0, and refuses 16.5 with the key named."""
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"flight config value must be {expected}", key=key,
                           got=safe_repr(value))

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("an integer")
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            raise wrong("a whole number")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise wrong("a number")
        return float(value)
    if not isinstance(value, str):
        raise wrong("a string")
    return value
