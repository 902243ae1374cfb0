"""Spacecraft modes as data: the mode table, its guards, and the one function applying it.

The table (:data:`MODES`, :data:`TRANSITIONS`) is the whole behaviour: which modes exist,
what each switches on, which moves are allowed, by whom (operator command or autonomous
rule) and under which guard. :func:`request` and :func:`auto_step` are pure: they take
the current :class:`ModeState`, explicit :class:`ModeInputs` and the time, and return the
new state and the events to emit; a refused move raises :class:`TransitionRefused` with
the reason. The docs' diagram is drawn from the same table (:func:`diagram`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw.component import PERSIST, Component, Events, Handled, Tick, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import TransitionRefused
from flightsw.hal import Sensors
from flightsw.load_shedding import UMBRA_SUN_FRACTION


@dataclass(frozen=True)
class ModeSpec:
    """One mode and its entry actions, all data:

    - the payload: powered or not, and the most activity (``throttle_cap_frac`` of the
      payload's range above idle);
    - ``heaters``: which heaters the mode keeps (``"all"``, or ``"battery"``: the pack's
      only); the load plan (:mod:`flightsw.load_shedding`) sheds what the mode does not
      keep (:func:`shed_level`), on top of what the state of charge sheds; the mode's
      watt budget (:func:`budget_w`, telemetry ``mode.budget_w``) is what that leaves;
    - ``hk_period_x``: the housekeeping period, in multiples of the configured
      ``hk_period_s``, applied at mode entry (an operator's ``exec.hk_period_set`` holds
      until the next mode change): SAFE and LOW_POWER save recorder space and downlink
      for a spacecraft that may wait hours for a pass.

    Avionics and the radio run in every mode."""

    name: str
    description: str
    payload_on: bool  # entry action: payload power switch
    throttle_cap_frac: float  # entry action: most payload activity this mode allows
    rank: int = 0  # how busy the mode is: an autonomous move to a lower rank is "safer"
    heaters: str = "all"  # "all" or "battery": the heaters this mode keeps
    hk_period_x: float = 1.0  # housekeeping period, times the configured hk_period_s


MODES: dict[str, ModeSpec] = {
    m.name: m
    for m in (
        ModeSpec("SAFE", "Survival: payload off, minimum loads, waiting for ground or power",
                 payload_on=False, throttle_cap_frac=0.0, rank=0, hk_period_x=2.0),
        ModeSpec("LOW_POWER", "Eclipse with a low battery: payload off until the sun returns",
                 payload_on=False, throttle_cap_frac=0.0, rank=1, heaters="battery",
                 hk_period_x=2.0),
        ModeSpec("STANDBY", "Bus nominal, payload off: parked by the operator or autonomy",
                 payload_on=False, throttle_cap_frac=0.0, rank=2),
        ModeSpec("NOMINAL", "Housekeeping and light payload work", payload_on=True,
                 throttle_cap_frac=0.25, rank=3),
        ModeSpec("COMPUTE", "Payload runs as hard as power and heat allow", payload_on=True,
                 throttle_cap_frac=1.0, rank=4),
    )
}


def shed_level(spec: ModeSpec) -> int:
    """The load plan's level (:data:`flightsw.load_shedding.SHED_ORDER`) this mode
    imposes at least: 0 with the payload on, 1 without it, 2 keeping only the battery's
    heater."""
    if spec.heaters == "battery":
        return 2
    return 0 if spec.payload_on else 1


def budget_w(spec: ModeSpec, cfg: FlightConfig) -> float:
    """The mode's power budget: the bus, the heaters it keeps, the payload up to its cap."""
    heaters_w = sum(h.power_w for h in cfg.heaters
                    if spec.heaters == "all" or h.node == "battery")
    payload_w = (cfg.payload_idle_w + spec.throttle_cap_frac
                 * (cfg.payload_max_w - cfg.payload_idle_w)) if spec.payload_on else 0.0
    return cfg.bus_load_w + heaters_w + payload_w


def hk_period_s(mode: str, cfg: FlightConfig) -> float:
    """The housekeeping period the mode sets at its entry."""
    return cfg.hk_period_s * MODES[mode].hk_period_x


@dataclass(frozen=True)
class ModeInputs:
    """What the guards look at. A missing SoC (NaN) is treated as low (unsafe); any other
    missing reading (NaN) fires no autonomous move of its own: the heaters and the
    throttle have their own fallbacks for a lost sensor, and a lost voltage or
    temperature alone is not a reason to drop the mission."""

    battery_soc_frac: float
    payload_temp_c: float
    payload_healthy: bool = True
    battery_voltage_v: float = math.nan
    battery_temp_c: float = math.nan
    avionics_temp_c: float = math.nan
    sun_fraction: float = math.nan
    next_contact_in_s: float = math.nan  # 0 in contact; NaN: none forecast


def mode_inputs(s: Sensors, *, payload_healthy: bool = True) -> ModeInputs:
    """The guards' inputs from one screened HAL sample."""
    return ModeInputs(s.battery_soc_frac, s.payload_temp_c, payload_healthy,
                      s.battery_voltage_v, s.battery_temp_c, s.avionics_temp_c,
                      s.sun_fraction, s.next_contact_in_s)


Guard = Callable[[ModeInputs, FlightConfig], "str | None"]
"""A guard returns ``None`` when the move may happen, or the reason it may not."""


def _always(_i: ModeInputs, _c: FlightConfig) -> str | None:
    return None


def _soc_at_least(attr: str) -> Guard:
    def guard(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
        need = float(getattr(cfg, attr))
        soc = inputs.battery_soc_frac
        if math.isnan(soc) or soc < need:
            return f"battery state of charge {soc * 100:.1f} % is below {need * 100:.0f} %"
        return None

    return guard


def _compute_ok(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    reason = _soc_at_least("battery_soc_compute_frac")(inputs, cfg) or _limits_ok(inputs, cfg)
    if reason:
        return reason
    temp = inputs.payload_temp_c
    if math.isnan(temp) or temp >= cfg.payload_temp_warn_c:
        return f"payload temperature {temp:.1f} C is at or above {cfg.payload_temp_warn_c:.0f} C"
    if not inputs.payload_healthy:
        return "payload is not healthy"
    return _contact_ok(inputs, cfg)


CONTACT_GUARD_S = 1200.0
"""The next-contact guard looks at contacts starting within this long (20 min: about a
third of a LEO sunlit arc, where a drain that deep is a real risk)."""


def _contact_ok(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """Next-contact guard: COMPUTE is not entered when a contact starts within
    :data:`CONTACT_GUARD_S` and the pack, drained by the bus and the payload at full
    power with no sun until then (the worst case), would hold less than the resume level
    at its start. Why: a pass is when the ground commands and the radio transmits; it
    must be flown in a mode that keeps the payload's work and the link (NOMINAL), not one
    the eclipse rule would drop to LOW_POWER mid-pass. No capacity configured, or no
    contact forecast: the guard has nothing to check and passes."""
    tau = inputs.next_contact_in_s
    capacity_j = cfg.battery_capacity_wh * 3600.0
    if capacity_j <= 0 or not math.isfinite(tau) or tau > CONTACT_GUARD_S:
        return None
    at_aos = inputs.battery_soc_frac - tau * (cfg.bus_load_w + cfg.payload_max_w) / capacity_j
    if at_aos < cfg.battery_soc_resume_frac:
        return (f"the next contact is in {tau:.0f} s: compute until then could leave "
                f"{at_aos * 100:.1f} % at its start, below the "
                f"{cfg.battery_soc_resume_frac * 100:.0f} % resume level")
    return None


def _work_ok(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """Payload work (NOMINAL) may start: the resume level of charge (so an eclipse does
    not send it straight to LOW_POWER), bus and temperatures in limits."""
    return _soc_at_least("battery_soc_resume_frac")(inputs, cfg) or _limits_ok(inputs, cfg)


def _soc_below(attr: str, margin_frac: float = 0.0) -> Guard:
    """Guard for autonomous *downward* moves: fires when SoC is below a threshold."""

    def guard(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
        limit = float(getattr(cfg, attr)) - margin_frac
        soc = inputs.battery_soc_frac
        if math.isnan(soc) or soc < limit:
            return None
        return "battery is not low"

    return guard


def bus_voltage_min_v(cfg: FlightConfig) -> float:
    """Undervoltage: the pack's empty voltage (its discharge cutoff)."""
    return cfg.battery_voltage_min_v


def _limits_ok(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """``None`` when bus voltage and battery / avionics temperatures are inside their
    limits (or not read), else which one is out."""
    volts = inputs.battery_voltage_v
    if volts < bus_voltage_min_v(cfg):
        return f"bus voltage {volts:.2f} V is below {bus_voltage_min_v(cfg):.2f} V"
    temp = inputs.battery_temp_c
    if temp < cfg.battery_temp_min_c or temp > cfg.battery_temp_max_c:
        return (f"battery temperature {temp:.1f} C is outside "
                f"[{cfg.battery_temp_min_c:g}, {cfg.battery_temp_max_c:g}] C")
    temp = inputs.avionics_temp_c
    if temp < cfg.avionics_temp_min_c or temp > cfg.avionics_temp_max_c:
        return (f"avionics temperature {temp:.1f} C is outside "
                f"[{cfg.avionics_temp_min_c:g}, {cfg.avionics_temp_max_c:g}] C")
    return None


def _out_of_limits(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """Fires (``None``) when a bus voltage or temperature limit is broken."""
    return None if _limits_ok(inputs, cfg) is not None else "within limits"


def _in_eclipse(inputs: ModeInputs) -> bool:
    sun = inputs.sun_fraction
    return not math.isnan(sun) and sun < UMBRA_SUN_FRACTION


def _eclipse_low(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """Fires in eclipse with less than the resume level of charge."""
    if _in_eclipse(inputs) and not inputs.battery_soc_frac >= cfg.battery_soc_resume_frac:
        return None
    return "not in eclipse with a low battery"


def _sunlit(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    sun = inputs.sun_fraction
    if math.isnan(sun) or sun < UMBRA_SUN_FRACTION + SUN_HYSTERESIS:
        return "still in eclipse"
    return _soc_at_least("battery_soc_safe_frac")(inputs, cfg)


def _payload_hot_or_sick(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    if not inputs.payload_healthy:
        return None
    if inputs.payload_temp_c >= cfg.payload_temp_max_c:
        return None
    return "payload healthy and below its maximum"


@dataclass(frozen=True)
class Transition:
    source: str
    target: str
    by: str  # "command" or "auto"
    guard: Guard
    reason: str  # why the move happens (auto) or what it means (command)
    yields_to_operator: bool = False
    """An autonomous move to a *busier* mode: it never undoes a mode the operator
    commanded. Moves to a safer mode always fire (the guards force them)."""
    after_limit: bool = False
    """A way back from a shed rung of the limit checker's ladder: an upward autonomous
    move from a mode a watchpoint forced takes only these (and only after
    :data:`LADDER_DWELL_S`); every other upward autonomous move skips such a mode."""


def _recovered(inputs: ModeInputs, cfg: FlightConfig) -> str | None:
    """The end of a shed rung: payload work may start (:func:`_work_ok`) and the
    temperatures the ladder watches are back inside their warning bands (the payload
    below its warning level, battery and avionics the yellow margin below their maxima),
    so the watchpoint that shed the payload does not trip again at once."""
    reason = _work_ok(inputs, cfg)
    if reason:
        return reason
    temp = inputs.payload_temp_c
    if not temp < cfg.payload_temp_warn_c:
        return f"payload temperature {temp:.1f} C is not below {cfg.payload_temp_warn_c:g} C"
    for name, temp, limit in (("battery", inputs.battery_temp_c, cfg.battery_temp_max_c),
                              ("avionics", inputs.avionics_temp_c, cfg.avionics_temp_max_c)):
        if temp > limit - LADDER_MARGIN_C:
            return f"{name} temperature {temp:.1f} C is within {LADDER_MARGIN_C:g} C of its limit"
    return None


LIMIT_REASON_PREFIX = "limit "
"""A mode a watchpoint of the limit checker forced has a reason starting with this."""
LADDER_DWELL_S = 600.0
"""A shed rung lasts at least this long (mission time) before it may end by itself: the
ladder does not chatter at a watchpoint's threshold."""
LADDER_MARGIN_C = 5.0
"""How far below its maximum a battery or avionics temperature must be to end a rung."""

COMPUTE_HYSTERESIS_FRAC = 0.05
SUN_HYSTERESIS = 0.2
"""LOW_POWER ends when the sunlit fraction is this much above the eclipse threshold."""

_WORKING = ("LOW_POWER", "STANDBY", "NOMINAL", "COMPUTE")
"""Every mode but SAFE (the autonomous SAFE rules apply to all of them)."""

TRANSITIONS: tuple[Transition, ...] = (
    # operator commands
    Transition("SAFE", "STANDBY", "command", _soc_at_least("battery_soc_resume_frac"),
               "operator leaves SAFE, payload off"),
    Transition("SAFE", "NOMINAL", "command", _work_ok, "operator leaves SAFE"),
    *(Transition(m, "SAFE", "command", _always, "operator commands SAFE") for m in _WORKING),
    Transition("NOMINAL", "STANDBY", "command", _always, "operator parks the payload"),
    Transition("COMPUTE", "STANDBY", "command", _always, "operator parks the payload"),
    Transition("LOW_POWER", "STANDBY", "command", _always, "operator parks the payload"),
    Transition("STANDBY", "NOMINAL", "command", _work_ok, "operator resumes payload work"),
    Transition("LOW_POWER", "NOMINAL", "command", _sunlit, "operator resumes after eclipse"),
    Transition("NOMINAL", "COMPUTE", "command", _compute_ok, "operator starts compute"),
    Transition("COMPUTE", "NOMINAL", "command", _always, "operator stops compute"),
    # autonomous rules, in priority order (first that fires wins)
    *(Transition(m, "SAFE", "auto", _soc_below("battery_soc_safe_frac"), "battery low")
      for m in _WORKING),
    *(Transition(m, "SAFE", "auto", _out_of_limits, "bus or temperature limit")
      for m in _WORKING),
    Transition("COMPUTE", "LOW_POWER", "auto", _eclipse_low, "eclipse with a low battery"),
    Transition("NOMINAL", "LOW_POWER", "auto", _eclipse_low, "eclipse with a low battery"),
    Transition("COMPUTE", "NOMINAL", "auto",
               _soc_below("battery_soc_compute_frac", COMPUTE_HYSTERESIS_FRAC),
               "battery below compute threshold"),
    Transition("COMPUTE", "NOMINAL", "auto", _payload_hot_or_sick,
               "payload unhealthy or at its maximum temperature"),
    Transition("LOW_POWER", "NOMINAL", "auto", _sunlit, "sunlight returned"),
    Transition("LOW_POWER", "NOMINAL", "auto", _recovered, "limit cleared",
               after_limit=True),
    Transition("STANDBY", "NOMINAL", "auto", _recovered, "limit cleared",
               after_limit=True),
    Transition("SAFE", "NOMINAL", "auto", _work_ok, "battery recovered",
               yields_to_operator=True),
    Transition("NOMINAL", "COMPUTE", "auto", _compute_ok, "power and temperature allow compute",
               yields_to_operator=True),
)

COMMAND_REASON = "ground command"

AUTO_RECOVERABLE_REASONS = frozenset({"battery low"})
"""SAFE entered for these reasons may end autonomously; any other SAFE (a watchpoint of
the limit checker, an unexplained reset, a payload lockout, the operator) waits for a
ground command. A shed rung (LOW_POWER or STANDBY forced by a watchpoint) ends by
itself: see :data:`LADDER_DWELL_S` and :func:`_recovered`."""


@dataclass(frozen=True)
class ModeState:
    """The mode, why and since when (mission time), and whether the operator chose it:
    a commanded mode holds until a guard forces a safer one."""

    mode: str = field(metadata=PERSIST)
    reason: str = field(metadata=PERSIST)
    since_mission_time_s: float = field(metadata=PERSIST)
    changes: int = field(default=0, metadata=PERSIST)
    commanded: bool = field(default=False, metadata=PERSIST)
    inputs: ModeInputs | None = None  # what the guards saw last (None: no sample yet)
    budget_w: float = math.nan  # the mode's power budget (:func:`budget_w`)


def boot(cfg: FlightConfig, mission_time_s: float) -> ModeState:
    if cfg.boot_mode not in MODES:
        raise TransitionRefused("unknown boot mode", mode=cfg.boot_mode, valid=sorted(MODES))
    return ModeState(cfg.boot_mode, "boot", mission_time_s)


def step(state: ModeState, inputs: ModeInputs, t: Tick,
         cfg: FlightConfig) -> tuple[ModeState, ModeSpec, Events]:
    """The component step: autonomous rules, then what the mode switches on."""
    state = replace(state, inputs=inputs)
    state, events = auto_step(state, inputs, cfg, t.mission_time_s)
    spec = MODES[state.mode]
    return replace(state, budget_w=budget_w(spec, cfg)), spec, events


def make_set_handler(cfg: FlightConfig) -> Callable[..., Handled[ModeState]]:
    """``mode.set``: the guard's reason comes back as the failed verification."""

    def handler(state: ModeState, args: dict[str, Any], t: Tick) -> Handled[ModeState]:
        target = args["mode"]
        inputs = state.inputs or ModeInputs(math.nan, math.nan)
        try:
            new, events = request(state, target, inputs, cfg, t.mission_time_s)
        except TransitionRefused as exc:
            exc.events = [("mode.refused", {"target": target, "reason": exc.reason})]
            raise
        note = f"mode {new.mode}" + (" (already)" if new is state else "")
        return Handled(new, note, events)

    return handler


def telemetry(state: ModeState) -> dict[str, Any]:
    return {"mode.current": state.mode, "mode.changes": state.changes,
            "mode.commanded": state.commanded, "mode.budget_w": state.budget_w}


def request(state: ModeState, target: str, inputs: ModeInputs, cfg: FlightConfig,
            mission_time_s: float) -> tuple[ModeState, list[tuple[str, dict[str, Any]]]]:
    """Apply an operator's mode command. Raises :class:`TransitionRefused` with the reason."""
    if target not in MODES:
        raise TransitionRefused("unknown mode", mode=target, valid=sorted(MODES))
    if target == state.mode:
        return state, []
    legal = [t for t in TRANSITIONS
             if t.by == "command" and t.source == state.mode and t.target == target]
    if not legal:
        valid = sorted(t.target for t in TRANSITIONS
                       if t.by == "command" and t.source == state.mode)
        raise TransitionRefused(f"no transition from {state.mode} to {target}",
                                source=state.mode, target=target, valid=valid)
    why_not = legal[0].guard(inputs, cfg)
    if why_not is not None:
        raise TransitionRefused(why_not, source=state.mode, target=target)
    return _enter(state, target, COMMAND_REASON, mission_time_s)


def auto_step(state: ModeState, inputs: ModeInputs, cfg: FlightConfig,
              mission_time_s: float) -> tuple[ModeState, list[tuple[str, dict[str, Any]]]]:
    """Evaluate the autonomous rules once; at most one transition per step."""
    limit_forced = state.reason.startswith(LIMIT_REASON_PREFIX)
    dwelt = mission_time_s - state.since_mission_time_s >= LADDER_DWELL_S
    for t in TRANSITIONS:
        if t.by != "auto" or t.source != state.mode:
            continue
        if MODES[t.target].rank > MODES[t.source].rank and (
                t.after_limit != limit_forced or (limit_forced and not dwelt)):
            continue
        if t.source == "SAFE" and state.reason not in AUTO_RECOVERABLE_REASONS:
            continue
        if t.target == "COMPUTE" and not cfg.auto_compute:
            continue
        if t.yields_to_operator and state.commanded:
            continue
        if t.guard(inputs, cfg) is None:
            return _enter(state, t.target, t.reason, mission_time_s)
    return state, []


def _enter(state: ModeState, target: str, reason: str,
           mission_time_s: float) -> tuple[ModeState, list[tuple[str, dict[str, Any]]]]:
    new = replace(state, mode=target, reason=reason, since_mission_time_s=mission_time_s,
                  changes=state.changes + 1, commanded=reason == COMMAND_REASON)
    return new, [("mode.changed", {"old": state.mode, "new": target, "reason": reason})]


def force(state: ModeState, target: str, reason: str,
          mission_time_s: float) -> tuple[ModeState, list[tuple[str, dict[str, Any]]]]:
    """A move the executive itself must make whatever the guards say (a boot after an
    unexplained reset enters SAFE; a watchpoint sheds the payload). Only a safer mode
    (lower rank, or SAFE) may be forced."""
    if target not in MODES or (target != "SAFE"
                               and MODES[target].rank >= MODES[state.mode].rank):
        raise TransitionRefused("only a safer mode may be forced", source=state.mode,
                                target=target)
    return _enter(state, target, reason, mission_time_s)


def diagram() -> str:
    """The mode table as a Mermaid state diagram (for the README and the console)."""
    lines = ["stateDiagram-v2"]
    for t in TRANSITIONS:
        by = "auto unless commanded" if t.yields_to_operator else t.by
        lines.append(f"    {t.source} --> {t.target}: {by}: {t.reason}")
    return "\n".join(lines)


DECLARATIONS = Declarations(
    component="mode",
    commands=(
        Command("mode.set", "Request a mode change; guards may refuse it with a reason. "
                "Hazardous: it is how the spacecraft leaves SAFE.",
                args=(Arg("mode", ArgType.ENUM, "target mode", choices=tuple(MODES)),),
                hazardous=True),
    ),
    telemetry=(
        Telemetry("mode.current", ArgType.ENUM, "Current spacecraft mode"),
        Telemetry("mode.changes", ArgType.INT, "Mode changes since boot"),
        Telemetry("mode.commanded", ArgType.BOOL,
                  "The operator chose this mode (autonomy will not raise it)"),
        Telemetry("mode.budget_w", ArgType.FLOAT,
                  "The mode's power budget: bus, the heaters it keeps, payload up to its cap",
                  units="W"),
    ),
    events=(
        Event("mode.changed", Severity.ACTIVITY_HI, "Mode {old} -> {new} ({reason})"),
        Event("mode.refused", Severity.WARNING_LO, "Mode change to {target} refused: {reason}"),
    ),
)


def component(cfg: FlightConfig) -> Component[ModeState]:
    return Component(name="mode", declare=fixed(DECLARATIONS),
                     initial=lambda c: boot(c, 0.0), telemetry=telemetry,
                     handlers={"mode.set": make_set_handler(cfg)})
