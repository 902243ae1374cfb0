"""Rate groups: fixed-period cycles driven by whichever clock the executive is given.

A group runs when its deadline has come. On the sim clock the executive calls
:meth:`RateGroups.run_until` for each plant tick and every group runs exactly as many
times as its period fits (so 10 Hz really is ten runs per simulated second). On the real
clock :meth:`RateGroups.run_due` runs what is due now and counts a *cycle slip* when a
group starts more than one period late (F Prime's ActiveRateGroup does the same), then
skips ahead instead of running a burst of stale cycles.

An *overrun* is a cycle whose own work took longer than its period; whoever times the
work (the topology, around the components' steps) reports it with
:meth:`RateGroups.note_duration`. Slips and overruns are what the watchdog gate looks
at (:mod:`flightsw.cycle_health`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Cycle = Callable[[float], None]
IdleTest = Callable[[], bool]


@dataclass
class RateGroup:
    name: str
    period_s: float
    cycle: Cycle
    next_s: float = 0.0
    runs: int = 0
    slips: int = 0
    max_late_s: float = 0.0
    overruns: int = 0
    max_cycle_s: float = 0.0
    skip: Callable[[], IdleTest | None] | None = None
    """Lockstep only: lets a run of idle cycles be counted in one pass instead of one
    full turn each. Asked before cycles of this group that no other group shares: None
    when the next one has work whatever the time; otherwise a test that is called with
    the clock set to each next instant in turn, does what an idle cycle there does (no
    more than counting) and returns True, or returns False at the first instant with
    work, which then runs as usual. Nine in ten fast cycles of a tick are idle."""


@dataclass
class RateGroups:
    groups: list[RateGroup] = field(default_factory=list)
    on_slip: Callable[[RateGroup, float, float], None] | None = None
    on_overrun: Callable[[RateGroup, float], None] | None = None

    def add(self, name: str, period_s: float, cycle: Cycle, start_s: float = 0.0) -> RateGroup:
        if period_s <= 0:
            raise ValueError(f"rate group {name}: period must be positive")
        group = RateGroup(name, period_s, cycle, next_s=start_s)
        self.groups.append(group)
        return group

    def run_until(self, monotonic_s: float, set_time: Callable[[float], None]) -> None:
        """Lockstep: run every cycle whose deadline is <= monotonic_s, in time order."""
        eps = 1e-9
        while True:
            due = [g for g in self.groups if g.next_s <= monotonic_s + eps]
            if not due:
                return
            t = min(g.next_s for g in due)
            set_time(t)
            # declaration order = priority order within one instant
            now = [g for g in self.groups if abs(g.next_s - t) <= eps]
            if (len(now) == 1 and now[0].skip is not None
                    and self._skip_idle(now[0], monotonic_s, set_time)):
                continue
            for g in now:
                g.cycle(t)
                g.runs += 1
                g.next_s = _round(t + g.period_s)

    def _skip_idle(self, g: RateGroup, monotonic_s: float,
                   set_time: Callable[[float], None]) -> bool:
        """Count the idle cycles of ``g`` from its next deadline on, up to the first
        with work, the next deadline of another group or ``monotonic_s``. Every
        instant is the one the plain loop would reach (same rounding), and the clock is
        set to each, so what follows sees the time it would have seen."""
        assert g.skip is not None
        idle = g.skip()
        if idle is None:
            return False
        eps = 1e-9
        limit_s = min([o.next_s for o in self.groups if o is not g], default=float("inf"))
        t = g.next_s
        skipped = 0
        while t <= monotonic_s + eps and t < limit_s - eps:
            set_time(t)
            if not idle():
                break
            skipped += 1
            t = _round(t + g.period_s)
        if not skipped:
            return False
        g.runs += skipped
        g.next_s = t
        return True

    def run_due(self, monotonic_s: float) -> None:
        """Real time: run what is due; count slips; never replay missed cycles."""
        for g in self.groups:
            if g.next_s > monotonic_s:
                continue
            late = monotonic_s - g.next_s
            g.max_late_s = max(g.max_late_s, late)
            if late > g.period_s:
                g.slips += 1
                if self.on_slip is not None:
                    self.on_slip(g, late, monotonic_s)
                g.next_s = monotonic_s
            g.cycle(monotonic_s)
            g.runs += 1
            g.next_s += g.period_s

    def note_duration(self, name: str, took_s: float) -> None:
        """A cycle of group ``name`` took ``took_s`` (wall seconds) of work; longer than
        its period is an overrun (counted; ``on_overrun`` is told)."""
        for g in self.groups:
            if g.name == name:
                g.max_cycle_s = max(g.max_cycle_s, took_s)
                if took_s > g.period_s:
                    g.overruns += 1
                    if self.on_overrun is not None:
                        self.on_overrun(g, took_s)
                return

    def next_deadline_s(self) -> float:
        return min(g.next_s for g in self.groups)

    @property
    def slips(self) -> int:
        return sum(g.slips for g in self.groups)

    @property
    def overruns(self) -> int:
        return sum(g.overruns for g in self.groups)


def _round(t: float) -> float:
    # keep 0.1 s steps from drifting (0.1 + 0.2 != 0.3)
    return round(t, 9)
