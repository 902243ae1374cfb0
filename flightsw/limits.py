"""The onboard limit checker (after cFS LC and PUS service 12): watchpoints on telemetry.

Why: the controllers (modes, load plan, heaters, throttle) each guard their own inputs,
but nothing else watched the whole housekeeping set, and the ground had no way to add a
check onboard without new flight code. A watchpoint is data: which telemetry point, what
counts as a violation (``above``, ``below``, ``outside`` a range, ``stale``: no finite
reading for too long, ``rate``: changing faster than allowed), how many consecutive
samples must violate before it trips (persistence; as many good ones clear it, so a
value wandering across the threshold does not chatter), and what it does then:

- ``event``: only the ``limits.tripped`` event (every trip raises it);
- ``mode``: move to a safer mode (``SAFE``, ``LOW_POWER`` or ``STANDBY``) through
  :func:`flightsw.modes.force`; while tripped it keeps the spacecraft at or below it;
- ``sequence``: start a stored command sequence (:mod:`flightsw.sequences`: data,
  changed by command) by name; the sequencer runs it through the normal command
  dispatch one step a second, with verification reports like any ground command.

The default table is the escalation ladder for power and thermal faults
(:func:`default_watchpoints`): for each quantity a warning (event), then the payload
shed (a mode with the payload off), then SAFE. Leaving SAFE is the mode table's rule
(:data:`flightsw.modes.AUTO_RECOVERABLE_REASONS`): SAFE entered by a watchpoint waits
for a ground command; a shed rung (``LOW_POWER``/``STANDBY`` entered with a
``limit ...`` reason) ends by itself once it has lasted
:data:`flightsw.modes.LADDER_DWELL_S` and the guards see charge and temperatures back
inside their warning bands.

The table is persisted (``PERSIST``), changed by command (``limits.wp_set``,
``limits.wp_enable``, ``limits.wp_delete``) and listed by command (``limits.list``: one
``limits.watchpoint`` event per entry, bounded by :data:`MAX_WATCHPOINTS`). A bad
definition is refused with the reason and the table is left as it was. Pure: no I/O,
time comes from the :class:`~flightsw.component.Tick`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw.component import PERSIST, Component, Events, Handled, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import FlightError
from flightsw.modes import LIMIT_REASON_PREFIX, MODES
from flightsw.sequences import SequenceError, check_name
from flightsw.throttle import DERATE_ZERO_MARGIN_C

KINDS: tuple[str, ...] = ("above", "below", "outside", "stale", "rate")
ACTIONS: tuple[str, ...] = ("event", "mode", "sequence")
SAFER_MODES: tuple[str, ...] = ("SAFE", "LOW_POWER", "STANDBY")
"""Modes a watchpoint may force: every one has the payload off."""
MAX_WATCHPOINTS = 32
HEAT_WARN_MARGIN_C = 1.0
"""Battery and avionics heat: the warning this far under the limit, past the point
(:data:`flightsw.throttle.DERATE_ZERO_MARGIN_C`) where the throttle allows no activity."""
HEAT_SHED_MARGIN_C = 0.5
"""... and the shed rung (payload off) this far under it."""
assert HEAT_SHED_MARGIN_C < HEAT_WARN_MARGIN_C < DERATE_ZERO_MARGIN_C
SOURCE = "limits"
"""Who started a sequence, in its events: ``limits #<watchpoint>``."""
MAX_PERSISTENCE = 3600

class WatchpointError(FlightError):
    """A watchpoint definition or command the limit checker refuses."""


@dataclass(frozen=True)
class Watchpoint:
    """One check. ``low``/``high`` are in the point's units: ``below`` uses ``low``,
    ``above`` ``high``, ``outside`` both; ``stale`` reads ``high`` as seconds without a
    finite reading, ``rate`` as the largest allowed change per second (either sign)."""

    wp_id: int
    point: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    persistence: int = 1
    action: str = "event"
    target: str = ""  # the mode (action "mode") or the sequence (action "sequence")
    enabled: bool = True

    def describe(self) -> str:
        test = {"above": f"> {self.high:g}", "below": f"< {self.low:g}",
                "outside": f"outside [{self.low:g}, {self.high:g}]",
                "stale": f"stale > {self.high:g} s",
                "rate": f"|rate| > {self.high:g}/s"}[self.kind]
        act = self.action + (f" {self.target}" if self.target else "")
        return f"#{self.wp_id} {self.point} {test} x{self.persistence} -> {act}" + (
            "" if self.enabled else " (disabled)")


@dataclass
class WatchRuntime:
    """What one watchpoint remembers between samples (not persisted: after a reset the
    counts start again, which only delays a trip by its persistence)."""

    count: int = 0
    good: int = 0  # consecutive samples inside the limit (a trip clears after persistence)
    tripped: bool = False
    last_value: float = math.nan
    last_time_s: float = math.nan  # mission time of ``last_value``
    fresh_time_s: float = math.nan  # mission time of the last finite reading


@dataclass
class LimitsState:
    watchpoints: list[Watchpoint] = field(default_factory=list, metadata=PERSIST)
    trips: int = field(default=0, metadata=PERSIST)
    runtime: dict[int, WatchRuntime] = field(default_factory=dict)


@dataclass(frozen=True)
class LimitsOut:
    """What the checker asks of the executive this step: the safest mode a tripped
    watchpoint demands (and why), and the sequences to start: (name, which watchpoint)."""

    mode_target: str | None = None
    mode_reason: str = ""
    sequences: tuple[tuple[str, str], ...] = ()


def validate(wp: Watchpoint, known_points: frozenset[str] | None = None) -> None:
    """Raise :class:`WatchpointError` with the reason if ``wp`` cannot be checked."""
    if not 1 <= wp.wp_id <= 255:
        raise WatchpointError("watchpoint id must be within [1, 255]", wp_id=wp.wp_id)
    if known_points is not None and wp.point not in known_points:
        raise WatchpointError("no such numeric telemetry point", point=wp.point)
    if wp.kind not in KINDS:
        raise WatchpointError("unknown watchpoint kind", kind=wp.kind, valid=list(KINDS))
    if wp.action not in ACTIONS:
        raise WatchpointError("unknown action", action=wp.action, valid=list(ACTIONS))
    if not (math.isfinite(wp.low) and math.isfinite(wp.high)):
        raise WatchpointError("thresholds must be finite")
    if not 1 <= wp.persistence <= MAX_PERSISTENCE:
        raise WatchpointError(f"persistence must be within [1, {MAX_PERSISTENCE}] samples",
                              persistence=wp.persistence)
    if wp.kind == "outside" and not wp.low < wp.high:
        raise WatchpointError("an outside-range check needs low < high",
                              low=wp.low, high=wp.high)
    if wp.kind in ("stale", "rate") and not wp.high > 0:
        raise WatchpointError(f"a {wp.kind} check needs high > 0", high=wp.high)
    if wp.action == "mode" and wp.target not in SAFER_MODES:
        raise WatchpointError("a mode action must name a safer mode", target=wp.target,
                              valid=list(SAFER_MODES))
    if wp.action == "sequence":
        try:
            check_name(wp.target)
        except SequenceError as exc:
            raise WatchpointError(str(exc), target=wp.target) from exc
    if wp.action == "event" and wp.target:
        raise WatchpointError("an event action takes no target", target=wp.target)


def default_watchpoints(cfg: FlightConfig) -> list[Watchpoint]:
    """The escalation ladder, from the spacecraft's own limits: per quantity a warning
    (event), a shed (payload off: ``LOW_POWER`` for charge, ``STANDBY`` for heat), then
    SAFE. Three samples (3 s) of persistence everywhere: one bad sample is noise."""
    soc = cfg.battery_soc_safe_frac * 100
    bt_max, av_max = cfg.battery_temp_max_c, cfg.avionics_temp_max_c
    warn_c, shed_c = HEAT_WARN_MARGIN_C, HEAT_SHED_MARGIN_C
    wps = [
        # battery charge: warning, then payload off; SAFE below the safe level is the
        # mode table's own rule ("battery low", which may end by itself)
        Watchpoint(1, "power.battery_soc_pct", "below", low=soc + 5, persistence=3),
        Watchpoint(2, "power.battery_soc_pct", "below", low=soc + 2, persistence=3,
                   action="mode", target="LOW_POWER"),
        Watchpoint(3, "power.battery_soc_pct", "below", low=cfg.battery_soc_floor_frac * 100,
                   persistence=3, action="mode", target="SAFE"),
        # battery heat: the throttle derates the payload over a band ending
        # DERATE_ZERO_MARGIN_C under the limit, so the pack may settle anywhere in there;
        # the warning and the shed rung are past it: the throttle could not hold it
        Watchpoint(4, "power.battery_temp_c", "above", high=bt_max - warn_c, persistence=3),
        Watchpoint(5, "power.battery_temp_c", "above", high=bt_max - shed_c, persistence=3,
                   action="mode", target="STANDBY"),
        Watchpoint(6, "power.battery_temp_c", "above", high=bt_max, persistence=3,
                   action="mode", target="SAFE"),
        # battery cold: the heaters act; below charging range a warning, below survival SAFE
        Watchpoint(7, "power.battery_temp_c", "below", low=cfg.battery_charge_min_temp_c,
                   persistence=3),
        Watchpoint(8, "power.battery_temp_c", "below", low=cfg.battery_temp_min_c,
                   persistence=3, action="mode", target="SAFE"),
        # payload heat: the throttle acts first; past its maximum the payload goes off
        Watchpoint(9, "thermal.payload_temp_c", "above", high=cfg.payload_temp_warn_c,
                   persistence=3),
        Watchpoint(10, "thermal.payload_temp_c", "above", high=cfg.payload_temp_max_c,
                   persistence=3, action="mode", target="STANDBY"),
        Watchpoint(11, "thermal.payload_temp_c", "above", high=cfg.payload_temp_max_c + 5,
                   persistence=3, action="mode", target="SAFE"),
        # avionics heat (derated like the battery's) and cold
        Watchpoint(12, "thermal.avionics_temp_c", "above", high=av_max - warn_c,
                   persistence=3),
        Watchpoint(13, "thermal.avionics_temp_c", "above", high=av_max - shed_c, persistence=3,
                   action="mode", target="STANDBY"),
        Watchpoint(14, "thermal.avionics_temp_c", "outside", low=cfg.avionics_temp_min_c,
                   high=av_max, persistence=3, action="mode", target="SAFE"),
        # the battery sensor: lost for a minute, or moving faster than a pack can
        Watchpoint(15, "power.battery_temp_c", "stale", high=60.0),
        Watchpoint(16, "power.battery_temp_c", "rate", high=0.5, persistence=3),
    ]
    if cfg.battery_voltage_min_v > 0:
        wps.append(Watchpoint(17, "power.battery_voltage_v", "below",
                              low=cfg.battery_voltage_min_v, persistence=3,
                              action="mode", target="SAFE"))
    for wp in wps:
        validate(wp)
    return wps


def initial(cfg: FlightConfig) -> LimitsState:
    return LimitsState(watchpoints=default_watchpoints(cfg))


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return math.nan


def _violated(wp: Watchpoint, rt: WatchRuntime, value: float, now_s: float) -> bool:
    """Whether this sample violates ``wp``; updates the runtime's memory of the point."""
    finite = math.isfinite(value)
    if math.isnan(rt.fresh_time_s) or finite:
        rt.fresh_time_s = now_s  # first sight starts the stale clock
    if wp.kind == "stale":
        return now_s - rt.fresh_time_s > wp.high
    if wp.kind == "rate":
        prev, prev_t = rt.last_value, rt.last_time_s
        if finite:
            rt.last_value, rt.last_time_s = value, now_s
        if not (finite and math.isfinite(prev) and now_s > prev_t):
            return False
        return abs(value - prev) / (now_s - prev_t) > wp.high
    if not finite:
        return False  # a missing reading is the stale check's business
    if wp.kind == "above":
        return value > wp.high
    if wp.kind == "below":
        return value < wp.low
    return value < wp.low or value > wp.high  # outside


def step(state: LimitsState, points: Mapping[str, Any], mode: str,
         t: Tick) -> tuple[LimitsState, LimitsOut, Events]:
    """Check every enabled watchpoint against one housekeeping sample (1 Hz)."""
    events: Events = []
    now = t.mission_time_s
    target: str | None = None
    reason = ""
    starts: list[tuple[str, str]] = []
    runtime = state.runtime
    for wp in state.watchpoints:
        rt = runtime.get(wp.wp_id)
        if rt is None:  # (not setdefault: that builds a runtime 17 times a second to drop it)
            rt = runtime[wp.wp_id] = WatchRuntime()
        if not wp.enabled:
            rt.count, rt.tripped = 0, False
            continue
        value = _number(points.get(wp.point))
        bad = _violated(wp, rt, value, now)
        rt.count = min(rt.count + 1, MAX_PERSISTENCE) if bad else 0
        rt.good = 0 if bad else min(rt.good + 1, MAX_PERSISTENCE)
        if bad and rt.count >= wp.persistence and not rt.tripped:
            rt.tripped = True
            state.trips += 1
            events.append(("limits.tripped", {
                "wp_id": wp.wp_id, "point": wp.point, "check": wp.describe(),
                "value": "NaN" if math.isnan(value) else round(value, 3)}))
            if wp.action == "sequence":
                starts.append((wp.target, f"{SOURCE} #{wp.wp_id}"))
        elif rt.tripped and rt.good >= wp.persistence:
            rt.tripped = False
            events.append(("limits.cleared", {"wp_id": wp.wp_id, "point": wp.point}))
        if rt.tripped and bad and wp.action == "mode":
            # held only while the value is still bad: the clearing samples must not push
            # down a mode that recovered meanwhile (and would then wait for the ground)
            if target is None or MODES[wp.target].rank < MODES[target].rank:
                target = wp.target
                reason = f"{LIMIT_REASON_PREFIX}#{wp.wp_id}: {wp.point} {wp.kind}"
    if target is not None and MODES[target].rank >= MODES[mode].rank:
        target, reason = None, ""  # already there or safer
    return state, LimitsOut(target, reason, tuple(starts)), events


def telemetry(state: LimitsState) -> dict[str, Any]:
    return {"limits.watchpoints": len(state.watchpoints),
            "limits.enabled": sum(1 for wp in state.watchpoints if wp.enabled),
            "limits.tripped_now": sum(1 for rt in state.runtime.values() if rt.tripped),
            "limits.trips": state.trips}


# --- commands ------------------------------------------------------------------------------
def _find(state: LimitsState, wp_id: int) -> Watchpoint:
    for wp in state.watchpoints:
        if wp.wp_id == wp_id:
            return wp
    raise WatchpointError("no such watchpoint", wp_id=wp_id,
                          valid=[w.wp_id for w in state.watchpoints])


def _replace_wp(state: LimitsState, new: Watchpoint | None, wp_id: int) -> LimitsState:
    table = [w for w in state.watchpoints if w.wp_id != wp_id]
    if new is not None:
        table.append(new)
    table.sort(key=lambda w: w.wp_id)
    runtime = {k: v for k, v in state.runtime.items() if k != wp_id}  # counts start again
    return replace(state, watchpoints=table, runtime=runtime)


def make_handlers(known_points: Callable[[], frozenset[str]],
                  ) -> dict[str, Callable[[LimitsState, dict[str, Any], Tick],
                                          Handled[LimitsState]]]:
    """The commands; ``known_points`` names the numeric telemetry a watchpoint may read."""

    def wp_set(state: LimitsState, args: dict[str, Any], t: Tick) -> Handled[LimitsState]:
        wp = Watchpoint(args["wp_id"], args["point"], args["kind"], args["low"], args["high"],
                        args["persistence"], args["action"], args["target"], args["enabled"])
        validate(wp, known_points())
        exists = any(w.wp_id == wp.wp_id for w in state.watchpoints)
        if not exists and len(state.watchpoints) >= MAX_WATCHPOINTS:
            raise WatchpointError(f"the table is full ({MAX_WATCHPOINTS} watchpoints)")
        verb = "modified" if exists else "added"
        return Handled(_replace_wp(state, wp, wp.wp_id), f"{verb} {wp.describe()}",
                       [("limits.changed", {"wp_id": wp.wp_id, "change": verb})])

    def wp_enable(state: LimitsState, args: dict[str, Any], t: Tick) -> Handled[LimitsState]:
        wp = replace(_find(state, args["wp_id"]), enabled=args["enabled"])
        verb = "enabled" if wp.enabled else "disabled"
        return Handled(_replace_wp(state, wp, wp.wp_id), f"{verb} {wp.describe()}",
                       [("limits.changed", {"wp_id": wp.wp_id, "change": verb})])

    def wp_delete(state: LimitsState, args: dict[str, Any], t: Tick) -> Handled[LimitsState]:
        wp = _find(state, args["wp_id"])
        return Handled(_replace_wp(state, None, wp.wp_id), f"deleted {wp.describe()}",
                       [("limits.changed", {"wp_id": wp.wp_id, "change": "deleted"})])

    def wp_list(state: LimitsState, args: dict[str, Any], t: Tick) -> Handled[LimitsState]:
        events: Events = [("limits.watchpoint", {"text": wp.describe()})
                          for wp in state.watchpoints[:MAX_WATCHPOINTS]]
        return Handled(state, f"{len(state.watchpoints)} watchpoints (one event each)", events)

    return {"limits.wp_set": wp_set, "limits.wp_enable": wp_enable,
            "limits.wp_delete": wp_delete, "limits.list": wp_list}


_ID = Arg("wp_id", ArgType.INT, "watchpoint number", min=1, max=255)

DECLARATIONS = Declarations(
    component="limits",
    commands=(
        Command("limits.wp_set", "Add or replace a watchpoint (refused with the reason if "
                "it cannot be checked).", args=(
                    _ID,
                    Arg("point", ArgType.STR, "numeric telemetry point", max_len=64),
                    Arg("kind", ArgType.ENUM, "what violates it", choices=KINDS),
                    Arg("low", ArgType.FLOAT, "lower threshold (below, outside)"),
                    Arg("high", ArgType.FLOAT, "upper threshold (above, outside); seconds "
                        "(stale); largest change per second (rate)"),
                    Arg("persistence", ArgType.INT, "consecutive violating samples to trip",
                        min=1, max=MAX_PERSISTENCE),
                    Arg("action", ArgType.ENUM, "what a trip does", choices=ACTIONS),
                    Arg("target", ArgType.STR, "mode (SAFE, LOW_POWER, STANDBY) or stored "
                        "sequence; empty for an event", max_len=32),
                    Arg("enabled", ArgType.BOOL, "checked from now on"))),
        Command("limits.wp_enable", "Enable or disable a watchpoint.",
                args=(_ID, Arg("enabled", ArgType.BOOL, "checked from now on"))),
        Command("limits.wp_delete", "Delete a watchpoint (hazardous: it removes a fault "
                "protection).", args=(_ID,), hazardous=True),
        Command("limits.list", "List the watchpoint table (one event per watchpoint)."),
    ),
    telemetry=(
        Telemetry("limits.watchpoints", ArgType.INT, "Watchpoints in the table"),
        Telemetry("limits.enabled", ArgType.INT, "Watchpoints being checked"),
        Telemetry("limits.tripped_now", ArgType.INT, "Watchpoints tripped right now"),
        Telemetry("limits.trips", ArgType.INT, "Trips since the table was made (persisted)"),
    ),
    events=(
        Event("limits.tripped", Severity.WARNING_HI,
              "Watchpoint {check} tripped at {value}", throttle=20),
        Event("limits.cleared", Severity.ACTIVITY_LO, "Watchpoint #{wp_id} on {point} clear",
              throttle=20),
        Event("limits.changed", Severity.ACTIVITY_HI, "Watchpoint #{wp_id} {change}"),
        Event("limits.watchpoint", Severity.ACTIVITY_LO, "{text}"),
    ),
)


def _numeric_points(cfg: FlightConfig) -> Callable[[], frozenset[str]]:
    cache: list[frozenset[str]] = []

    def known() -> frozenset[str]:
        if not cache:
            from flightsw import catalog  # the catalog lists this module: import late

            cache.append(frozenset(
                tl.name for d in catalog.declarations(cfg) for tl in d.telemetry
                if tl.type in (ArgType.INT, ArgType.FLOAT, ArgType.BOOL)))
        return cache[0]

    return known


def component(cfg: FlightConfig) -> Component[LimitsState]:
    return Component(name="limits", declare=lambda _c: (DECLARATIONS,), initial=initial,
                     telemetry=telemetry, handlers=make_handlers(_numeric_points(cfg)))
