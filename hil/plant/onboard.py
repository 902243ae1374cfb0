"""The plant flown by the executive's pure power and thermal components, in one process.

Why: a season (60-90 days) of flight through the real executive takes hours, because it
runs ten fast cycles and a payload child per simulated second. The decisions that keep
the spacecraft inside its limits are pure functions (modes, load plan, heaters,
throttle), so they can fly the plant directly, at a coarser step, in seconds to a minute:
that is how a heater or shedding rule is proved over a profile's coldest season, and
what a policy benchmark builds on.

The payload is assumed to do exactly what the throttle allows (its activity equals the
throttle level while it is powered); everything else is the flight code's own steps, in
the topology's order (modes -> power and load plan -> heaters -> limit checker ->
energy planner -> throttle). The limit checker's mode actions are applied as the
topology applies them, and the stored sequences it starts run as the topology runs them
(:func:`flightsw.sequences.run_step`, one step a second through the normal dispatch over
the catalog's handlers); a step naming a command only the executive's shell handles
(``exec.*``) fails here and aborts its sequence, with the event, as any failed step does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flightsw import (
    catalog,
    commanding,
    hal,
    heat_forecast,
    heaters,
    limits,
    modes,
    planner,
    power,
    sequences,
    throttle,
)
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
    sequence_steps: int = 0  # stored-sequence commands dispatched
    sequence_failures: int = 0  # of which failed (and aborted their sequence)
    events: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def flight_config(profile: Profile) -> FlightConfig:
    """The executive's configuration for a profile, as the stack hands it over (the
    profile's ``[flight]`` mapping already carries the planner's energy figures)."""
    return FlightConfig.from_mapping(profile.flight)


class OnboardLoop:
    """One profile's plant and the flight components, stepped together every ``dt_s``."""

    def __init__(self, profile: Profile, *, dt_s: float = 10.0,
                 cfg: FlightConfig | None = None, heaters_enabled: bool = True,
                 epoch_utc_s: float | None = None, operator_cap_frac: float = 1.0) -> None:
        self.profile = profile
        self.dt_s = dt_s
        self.cfg = cfg or flight_config(profile)
        self.operator_cap_frac = operator_cap_frac  # < 1: a light payload load
        self.precool_enabled = True  # False: the throttle ignores the planner's pre-cooling
        self.forecast_enabled = True  # False: the derating bands stay at their fixed place
        self.plant = Plant(profile, record=False, epoch_utc_s=epoch_utc_s)
        self.mode = modes.boot(self.cfg, self.plant.time_utc_s)
        self.power = power.PowerState()
        self.heaters = heaters.initial(self.cfg)
        if not heaters_enabled:  # the spacecraft as it flew before heater control
            for setting in self.heaters.settings.values():
                setting.enabled = False
        self.throttle = throttle.ThrottleState()
        self.limits = limits.initial(self.cfg)
        self.planner = planner.PlannerState()
        comps = catalog.components(self.cfg)
        self.states = {c.name: c.initial(self.cfg) for c in comps}
        """Every component's state, for the command handlers a stored sequence calls."""
        self.routes = {name: commanding.Route(c.name, h)
                       for c in comps for name, h in c.handlers.items()}
        self.dictionary = catalog.build_dictionary(self.cfg)
        self.record = FlightRecord()
        self.last_actuators = Actuators()
        """What the last step commanded (a benchmark replays the trajectory from it)."""
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
        self.power, load_plan, ev = power.step(self.power, s, t, cfg, mode=self.mode.mode,
                                               mode_level=modes.shed_level(spec))
        events += ev
        self.heaters, ev = heaters.step(
            self.heaters, heaters.inputs_from(s, load_plan, cfg), t, cfg)
        events += ev
        points = {**power.component_telemetry(self.power), **modes.telemetry(self.mode),
                  **throttle.telemetry(self.throttle)}
        self.limits, out, ev = limits.step(self.limits, points, self.mode.mode, t)
        events += ev
        if out.mode_target is not None:
            self.mode, ev = modes.force(self.mode, out.mode_target, out.mode_reason,
                                        t.mission_time_s)
            events += ev
            spec = modes.MODES[self.mode.mode]
        spec = self._run_sequences(out, t, events, spec)
        self.planner, plan_cap, ev = planner.step(self.planner, s, self.throttle.level_frac,
                                                  t, cfg)
        events += ev
        cap = min(spec.throttle_cap_frac, self.operator_cap_frac, plan_cap,
                  self.states["payload"].operator_cap_frac)
        self.throttle, ev = throttle.step(
            self.throttle, s.payload_temp_c, cap,
            dt, cfg, avionics_temp_c=s.avionics_temp_c, battery_temp_c=s.battery_temp_c,
            precool_c=self.planner.precool.active_c if self.precool_enabled else 0.0,
            **(heat_forecast.shifts(self.planner.heat) if self.forecast_enabled else {}))
        events += ev
        powered = spec.payload_on and load_plan.payload_allowed
        on = heaters.commands(self.heaters, t.monotonic_s)
        act = Actuators(payload_on=powered,
                        payload_activity_frac=self.throttle.level_frac if powered else 0.0,
                        heaters_on=on, report_mode=self.mode.mode,
                        report_throttle_frac=self.throttle.level_frac)
        self.last_actuators = act
        self.plant.step(dt, act)
        self.record.payload_full_s += act.payload_activity_frac * dt if powered else 0.0
        self._account(events, any(on.values()), load_plan.level > 0)

    def _run_sequences(self, out: limits.LimitsOut, t: Tick, events: Events,
                       spec: modes.ModeSpec) -> modes.ModeSpec:
        """Start what the limit checker asked for and run the next step of the running
        sequence over the loop's own mode and limit states; returns the mode's spec."""
        st = self.states
        for name, by in out.sequences:
            st["sequences"], ev = sequences.start(st["sequences"], name, by)
            events += ev
        if not st["sequences"].running:
            return spec
        st["mode"], st["limits"] = self.mode, self.limits
        reports, ev = sequences.run_step(st["commands"], self.dictionary, self.routes, st, t)
        events += ev
        self.mode, self.limits = st["mode"], st["limits"]
        self.record.sequence_steps += 1
        self.record.sequence_failures += sum(1 for r in reports if r.stage == "failed")
        return modes.MODES[self.mode.mode]

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
