"""The plant flown by the executive's pure power and thermal components, in one process.

Why: a season (60-90 days) of flight through the real executive takes hours, because it
runs ten fast cycles and a payload child per simulated second. The decisions that keep
the spacecraft inside its limits are pure functions (modes, load plan, heaters,
throttle), so they can fly the plant directly, at a coarser step, in seconds to a minute:
that is how a heater or shedding rule is proved over a profile's coldest season, and
what a policy benchmark builds on.

The payload is assumed to do exactly what the throttle allows (its activity equals the
throttle level while it is powered); everything else is the flight code's own steps, in
the topology's order (modes -> power and load plan -> heaters -> throttle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flightsw import hal, heaters, modes, power, throttle
from flightsw.component import Events, Tick
from flightsw.config import FlightConfig
from flightsw.hal import Actuators, Sensors
from hil.plant.plant import Plant
from hil.plant.profile import Profile

DAY_S = 86_400.0


@dataclass
class FlightRecord:
    """What a run showed: extremes per day and in total, counts, the events raised."""

    days: int = 0
    battery_temp_min_c: float = math.inf
    battery_temp_max_c: float = -math.inf
    battery_soc_min_frac: float = math.inf
    daily_battery_temp_min_c: list[float] = field(default_factory=list)
    daily_battery_temp_max_c: list[float] = field(default_factory=list)
    heater_on_s: float = 0.0
    payload_full_s: float = 0.0  # compute delivered: seconds at full throughput
    shed_steps: int = 0
    events: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


class OnboardLoop:
    """One profile's plant and the flight components, stepped together every ``dt_s``."""

    def __init__(self, profile: Profile, *, dt_s: float = 10.0,
                 cfg: FlightConfig | None = None, heaters_enabled: bool = True,
                 epoch_utc_s: float | None = None, operator_cap_frac: float = 1.0) -> None:
        self.profile = profile
        self.dt_s = dt_s
        self.cfg = cfg or FlightConfig.from_mapping(profile.flight)
        self.operator_cap_frac = operator_cap_frac  # < 1: a light payload load
        self.plant = Plant(profile, record=False, epoch_utc_s=epoch_utc_s)
        self.mode = modes.boot(self.cfg, self.plant.time_utc_s)
        self.power = power.PowerState()
        self.heaters = heaters.initial(self.cfg)
        if not heaters_enabled:  # the spacecraft as it flew before heater control
            for setting in self.heaters.settings.values():
                setting.enabled = False
        self.throttle = throttle.ThrottleState()
        self.record = FlightRecord()
        self._day_min = math.inf
        self._day_max = -math.inf

    def sample(self) -> Sensors:
        """The plant's sensors as the HAL screens them (a fault injector overrides this)."""
        clean, _rejected = hal.screen(self.plant.sensors())
        return clean

    def step(self) -> None:
        cfg, dt = self.cfg, self.dt_s
        s = self.sample()
        t = Tick(self.plant.time_utc_s, self.plant.elapsed_s)
        events: Events = []
        self.mode, spec, ev = modes.step(
            self.mode, modes.mode_inputs(s), t, cfg)
        events += ev
        self.power, load_plan, ev = power.step(self.power, s, t, cfg)
        events += ev
        self.heaters, ev = heaters.step(
            self.heaters, heaters.inputs_from(s, load_plan, cfg), t, cfg)
        events += ev
        self.throttle, ev = throttle.step(
            self.throttle, s.payload_temp_c, min(spec.throttle_cap_frac, self.operator_cap_frac),
            dt, cfg, avionics_temp_c=s.avionics_temp_c, battery_temp_c=s.battery_temp_c)
        events += ev
        powered = spec.payload_on and load_plan.payload_allowed
        on = heaters.commands(self.heaters, t.monotonic_s)
        act = Actuators(payload_on=powered,
                        payload_activity_frac=self.throttle.level_frac if powered else 0.0,
                        heaters_on=on, report_mode=self.mode.mode,
                        report_throttle_frac=self.throttle.level_frac)
        self.plant.step(dt, act)
        self.record.payload_full_s += act.payload_activity_frac * dt if powered else 0.0
        self._account(events, any(on.values()), load_plan.level > 0)

    def _account(self, events: Events, heating: bool, shedding: bool) -> None:
        rec = self.record
        for name, _args in events:
            rec.events[name] = rec.events.get(name, 0) + 1
        s = self.plant.sensors()
        temp = s.battery_temp_c
        rec.battery_temp_min_c = min(rec.battery_temp_min_c, temp)
        rec.battery_temp_max_c = max(rec.battery_temp_max_c, temp)
        rec.battery_soc_min_frac = min(rec.battery_soc_min_frac, s.battery_soc_frac)
        self._day_min = min(self._day_min, temp)
        self._day_max = max(self._day_max, temp)
        rec.heater_on_s += self.dt_s if heating else 0.0
        rec.shed_steps += 1 if shedding else 0
        day = int(self.plant.elapsed_s // DAY_S)
        if day > rec.days:
            rec.days = day
            rec.daily_battery_temp_min_c.append(self._day_min)
            rec.daily_battery_temp_max_c.append(self._day_max)
            self._day_min, self._day_max = math.inf, -math.inf

    def fly(self, days: float) -> FlightRecord:
        end_s = self.plant.elapsed_s + days * DAY_S
        while self.plant.elapsed_s + 1e-9 < end_s:
            self.step()
        self.record.violations = list(self.plant.summary()["violations"])
        return self.record


def fly(profile: Profile, days: float, *, dt_s: float = 10.0, heaters_enabled: bool = True,
        epoch_utc_s: float | None = None, operator_cap_frac: float = 1.0) -> FlightRecord:
    """Fly ``profile`` for ``days`` under the flight components; returns the record."""
    loop = OnboardLoop(profile, dt_s=dt_s, heaters_enabled=heaters_enabled,
                       epoch_utc_s=epoch_utc_s, operator_cap_frac=operator_cap_frac)
    return loop.fly(days)
