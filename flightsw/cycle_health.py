"""Cycle health: are the rate groups on time, and may the watchdog be kicked?

Two ways a rate group can be late (F Prime's ActiveRateGroup counts the same):

- a *slip*: a cycle started more than one period after its deadline (the loop was busy
  elsewhere or the process was stopped); counted by :mod:`flightsw.rategroups`;
- an *overrun*: a cycle's own work took longer than its period (a component is too
  slow for its rate); measured by the topology around each cycle's steps.

Both are telemetry per group and throttled events. The watchdog gate (:func:`decide`)
is the pure half of self-supervision: once per kick interval (wall time) it compares the
groups' counters with those at the previous decision and allows the kick only when no
group slipped or overran beyond :data:`LATE_CYCLES_ALLOWED` in between, and every group
that should have run did. The executive's shell reads the wall clock and kicks the real
watchdog (:mod:`flightsw.watchdog`); this module does no I/O.

In lockstep the executive's clock is sim time, on which no cycle can be late: a cycle
that takes long on the wall clock only slows the simulation down. There the kick needs
only a live loop (a hung one stops kicking), and overruns are measurements, telemetry
only (:data:`WALL_CLOCK_POINTS`, which differ from run to run), never events - so that
two runs of one scenario still downlink the same records with the same numbers, and a
loaded host cannot make the launcher restart a lockstep executive that is merely slow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw.component import Component, Events, fixed
from flightsw.dictionary import ArgType, Declarations, Event, Severity
from flightsw.dictionary import Telemetry as Tlm
from flightsw.rategroups import RateGroup

GROUPS = ("fast", "slow", "capture")
"""The executive's rate groups, in priority order (the topology adds them by these names)."""

LATE_CYCLES_ALLOWED = 2
"""Slips plus overruns one group may have within one kick interval and still be "on
time" (a loaded host may delay a 10 Hz cycle now and then; a hung or overloaded loop is
late every cycle)."""


WALL_CLOCK_POINTS = ("exec.watchdog_kicks", "exec.watchdog_withheld",
                     *(f"exec.{g}_{what}" for g in GROUPS
                       for what in ("overruns", "max_cycle_ms")))
"""Telemetry that measures the wall clock (a lockstep run's values are not repeatable)."""


@dataclass(frozen=True)
class GroupCount:
    """One rate group's counters at one moment."""

    name: str
    period_s: float
    runs: int
    slips: int
    overruns: int


def counts(groups: Sequence[RateGroup]) -> tuple[GroupCount, ...]:
    return tuple(GroupCount(g.name, g.period_s, g.runs, g.slips, g.overruns) for g in groups)


@dataclass
class CycleHealthState:
    groups: list[RateGroup] = field(default_factory=list)
    """The topology's rate groups (their counters are the telemetry; not persisted)."""
    watchdog: str = "none"
    kicks: int = 0
    kicks_withheld: int = 0
    watchdog_problems: int = 0
    next_decision_wall_s: float | None = None
    baseline: tuple[GroupCount, ...] = ()


@dataclass(frozen=True)
class Verdict:
    kick: bool
    reason: str = ""  # why the kick was withheld


def judge(before: Sequence[GroupCount], now: Sequence[GroupCount], *, real_time: bool,
          window_s: float, allowed: int = LATE_CYCLES_ALLOWED) -> Verdict:
    """May the watchdog be kicked, given the counters at the last decision and now?
    ``real_time``: free running (see the module's docstring for lockstep)."""
    was = {g.name: g for g in before}
    late: list[str] = []
    for g in now:
        old = was.get(g.name, GroupCount(g.name, g.period_s, 0, 0, 0))
        slips = g.slips - old.slips
        overruns = g.overruns - old.overruns if real_time else 0
        if slips + overruns > allowed:
            parts = [f"{n} {what}" for n, what in ((slips, "slipped"), (overruns, "overran"))
                     if n]
            late.append(f"{g.name} {' and '.join(parts)}")
        elif real_time and 2 * g.period_s <= window_s and g.runs == old.runs:
            late.append(f"{g.name} did not run in {window_s:g} s")
    if late:
        return Verdict(False, "; ".join(late))
    return Verdict(True)


def decide(state: CycleHealthState, wall_s: float, interval_s: float, *,
           real_time: bool) -> tuple[CycleHealthState, Verdict | None, Events]:
    """Once per ``interval_s`` of wall time: kick or not. ``None``: not time yet.

    The first call only takes the baseline and kicks (the loop has just started).
    ``real_time``: free running, where overruns count and every group whose period fits
    in the interval twice must have run (once could be jitter); in lockstep the plant may
    hold sim time still while the loop is alive, and wall-clock overruns do not count."""
    now = counts(state.groups)
    if state.next_decision_wall_s is not None and wall_s < state.next_decision_wall_s:
        return state, None, []
    if state.next_decision_wall_s is None:
        verdict = Verdict(True)
    else:
        window = interval_s + (wall_s - state.next_decision_wall_s)
        verdict = judge(state.baseline, now, real_time=real_time, window_s=window)
    events: Events = []
    if verdict.kick:
        state = replace(state, kicks=state.kicks + 1)
    else:
        state = replace(state, kicks_withheld=state.kicks_withheld + 1)
        events.append(("exec.watchdog_withheld", {"reason": verdict.reason}))
    state = replace(state, baseline=now, next_decision_wall_s=wall_s + interval_s)
    return state, verdict, events


def problems(state: CycleHealthState, texts: Sequence[str]) -> tuple[CycleHealthState, Events]:
    """The watchdog's I/O problems as events (faults are telemetry)."""
    if not texts:
        return state, []
    state = replace(state, watchdog_problems=state.watchdog_problems + len(texts))
    return state, [("exec.watchdog_problem", {"problem": t}) for t in texts]


def telemetry(state: CycleHealthState) -> dict[str, Any]:
    points: dict[str, Any] = {
        "exec.watchdog": state.watchdog,
        "exec.watchdog_kicks": state.kicks,
        "exec.watchdog_withheld": state.kicks_withheld,
        "exec.watchdog_problems": state.watchdog_problems,
    }
    for g in state.groups:
        points[f"exec.{g.name}_slips"] = g.slips
        points[f"exec.{g.name}_overruns"] = g.overruns
        points[f"exec.{g.name}_max_cycle_ms"] = round(g.max_cycle_s * 1000.0, 1)
    return points


def _group_points(name: str) -> tuple[Tlm, ...]:
    return (
        Tlm(f"exec.{name}_slips", ArgType.INT,
            f"Cycles of the {name} rate group that started more than a period late"),
        Tlm(f"exec.{name}_overruns", ArgType.INT,
            f"Cycles of the {name} rate group whose work took longer than its period"),
        Tlm(f"exec.{name}_max_cycle_ms", ArgType.FLOAT,
            f"Longest {name} cycle's work since boot", units="ms"),
    )


DECLARATIONS = Declarations(
    component="exec",
    telemetry=(
        Tlm("exec.watchdog", ArgType.STR, "Watchdog kicked by the executive (systemd, "
            "device or none)"),
        Tlm("exec.watchdog_kicks", ArgType.INT, "Watchdog kicks since boot"),
        Tlm("exec.watchdog_withheld", ArgType.INT,
            "Kicks withheld because a rate group was late since boot"),
        Tlm("exec.watchdog_problems", ArgType.INT,
            "Watchdog I/O problems since boot (socket or device)"),
        *(p for name in GROUPS for p in _group_points(name)),
    ),
    events=(
        Event("exec.cycle_overrun", Severity.WARNING_LO, "Rate group {group} cycle took "
              "{took_ms} ms (period {period_ms} ms)", throttle=10),
        Event("exec.watchdog_withheld", Severity.WARNING_HI, "Watchdog not kicked: "
              "{reason}", throttle=10),
        Event("exec.watchdog_problem", Severity.WARNING_HI, "Watchdog: {problem}",
              throttle=10),
    ),
)


COMPONENT: Component[CycleHealthState] = Component(
    name="cycles", declare=fixed(DECLARATIONS), initial=lambda _cfg: CycleHealthState(),
    telemetry=telemetry)
