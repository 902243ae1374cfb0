"""Command dispatch with verification reports, as a pure function over component states.

Every command that reaches the executive ends in exactly one verification outcome at the
ground: ``failed`` (with the reason: not a command, unknown command, bad argument,
refused by a guard, or an internal error), or ``accepted`` then ``completed`` /
``failed``. The dispatcher validates against the dictionary a second time (the ground
validated before sending) so a corrupted or hostile command is refused here too, and no
handler error escapes into the executive's loop.

Handlers belong to the components (see :mod:`flightsw.component`); a :class:`Route`
says which component's state a command's handler gets and returns.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from flightsw import schedule
from flightsw.component import PERSIST, Component, Events, Handled, Handler, Tick, fixed
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Dictionary, Event, Severity
from flightsw.dictionary import Telemetry as Tlm
from flightsw.errors import CommandRejected, FlightError, WireError, safe_repr
from flightsw.messages import CommandBody, VerificationBody
from flightsw.wire import Envelope

MAX_SOURCES = 16
"""Command sources remembered in ``last_seq`` (bounded: a flood of invented source names
cannot grow the state record)."""


@dataclass(frozen=True)
class Route:
    component: str  # key of the component's state in the executive's record
    handler: Handler[Any]


@dataclass
class CommandCounters:
    """The command books; they survive a reset. ``last_seq`` is the highest command
    number each source has had executed: the state record carries it so the uplink's
    anti-replay window (a later issue: authenticated commanding) resumes after a reset
    instead of starting from nothing."""

    accepted: int = field(default=0, metadata=PERSIST)
    rejected: int = field(default=0, metadata=PERSIST)
    completed: int = field(default=0, metadata=PERSIST)
    failed: int = field(default=0, metadata=PERSIST)
    last_seq: dict[str, int] = field(default_factory=dict, metadata=PERSIST)


def missing_handlers(dictionary: Dictionary, routes: Mapping[str, Route]) -> list[str]:
    return sorted(set(dictionary.commands) - set(routes))


def dispatch(counters: CommandCounters, dictionary: Dictionary, routes: Mapping[str, Route],
             states: MutableMapping[str, Any], env: Envelope,
             body: CommandBody | WireError, t: Tick) -> tuple[list[VerificationBody], Events]:
    """Run one uplinked command; return its verification reports and events."""
    if isinstance(body, WireError):
        counters.rejected += 1
        return _fail(env.seq, safe_repr(env.body.get("name")), "exec.cmd_rejected",
                     f"not a command: {body}", [], env.source)
    name = body.name
    try:
        args = dictionary.validate_command(name, body.args)
    except CommandRejected as exc:
        counters.rejected += 1
        return _fail(env.seq, safe_repr(name) if name not in dictionary.commands else name,
                     "exec.cmd_rejected", str(exc), [], env.source)
    counters.accepted += 1
    if len(counters.last_seq) < MAX_SOURCES or env.source in counters.last_seq:
        counters.last_seq[env.source] = max(env.seq, counters.last_seq.get(env.source, -1))
    if body.at_s is not None and body.at_s > t.mission_time_s:
        return _store(counters, states, env, name, args, body.at_s)
    return run(counters, routes, states, env.seq, name, args, t, source=env.source)


def _store(counters: CommandCounters, states: MutableMapping[str, Any], env: Envelope,
           name: str, args: dict[str, Any],
           at_s: float) -> tuple[list[VerificationBody], Events]:
    """A time-tagged command: validated already; stored to run at its time."""
    try:
        note = schedule.add(states["schedule"],
                            schedule.Timed(env.seq, env.source, at_s, name, dict(args)))
    except FlightError as exc:
        counters.failed += 1
        return _fail(env.seq, name, "exec.cmd_failed", str(exc), [], env.source)
    return ([VerificationBody(env.seq, name, "accepted", note, env.source)],
            [("schedule.added", {"cmd_seq": env.seq, "command": name,
                                 "at": schedule.utc_text(at_s)})])


def run(counters: CommandCounters, routes: Mapping[str, Route],
        states: MutableMapping[str, Any], cmd_seq: int, name: str, args: dict[str, Any],
        t: Tick, *, source: str = "ground") -> tuple[list[VerificationBody], Events]:
    """Run a validated command now: ``accepted``, ``started`` (its handler is called),
    then ``completed`` or ``failed``; the reports name the command's ``source``."""
    reports = [VerificationBody(cmd_seq, name, "accepted", "", source),
               VerificationBody(cmd_seq, name, "started", "", source)]
    route = routes.get(name)
    try:
        if route is None:
            raise FlightError("command has no handler on this spacecraft", command=name)
        done: Handled[Any] = route.handler(states[route.component], args, t)
    except FlightError as exc:
        counters.failed += 1
        more, events = _fail(cmd_seq, name, "exec.cmd_failed", str(exc), list(exc.events),
                             source)
        return reports + more, events
    except Exception as exc:  # a handler bug must not take the executive down
        counters.failed += 1
        more, events = _fail(cmd_seq, name, "exec.cmd_failed",
                             f"internal error: {type(exc).__name__}: {exc}", [], source)
        return reports + more, events
    states[route.component] = done.state
    counters.completed += 1
    reports.append(VerificationBody(cmd_seq, name, "completed", done.note, source))
    return reports, list(done.events)


def run_scheduled(counters: CommandCounters, routes: Mapping[str, Route],
                  states: MutableMapping[str, Any],
                  t: Tick) -> tuple[list[VerificationBody], Events]:
    """The fast cycle's part: run the time-tagged commands whose time has come."""
    run_now, too_late = schedule.take_due(states["schedule"], t.mission_time_s)
    reports: list[VerificationBody] = []
    events: Events = []
    for e in run_now:
        more, evs = run(counters, routes, states, e.cmd_seq, e.name, dict(e.args), t,
                        source=e.source)
        reports += more[1:]  # "accepted" went down when it was stored; "started" on
        events += [("schedule.ran", {"cmd_seq": e.cmd_seq, "command": e.name,
                                     "late_s": round(t.mission_time_s - e.at_s, 1)}), *evs]
    for e in too_late:
        counters.failed += 1
        late_s = round(t.mission_time_s - e.at_s, 1)
        more, evs = _fail(e.cmd_seq, e.name, "schedule.expired",
                          f"not run: {late_s} s past its time (more than "
                          f"{schedule.LATE_TOLERANCE_S:g} s)", [], e.source)
        evs[-1] = ("schedule.expired", {"cmd_seq": e.cmd_seq, "command": e.name,
                                        "late_s": late_s})
        reports += more
        events += evs
    return reports, events


def _fail(seq: int, name: str, event: str, reason: str, events: Events,
          source: str = "ground") -> tuple[list[VerificationBody], Events]:
    """Every refusal is both an event and a failed verification report."""
    events.append((event, {"seq": seq, "command": name, "reason": reason}))
    return [VerificationBody(seq, name, "failed", reason, source)], events


def telemetry(counters: CommandCounters) -> dict[str, Any]:
    return {"exec.cmds_accepted": counters.accepted, "exec.cmds_rejected": counters.rejected,
            "exec.cmds_failed": counters.failed}


DECLARATIONS = Declarations(
    component="exec",
    commands=(
        Command("exec.noop", "Do nothing; proves the uplink and verification path."),
        Command("exec.hk_period_set", "Set the housekeeping telemetry period.",
                args=(Arg("period_s", ArgType.FLOAT, "seconds between packets", units="s",
                          min=0.1, max=60.0),)),
        Command("exec.events_unthrottle", "Reset every event throttle so suppressed events "
                "can be sent again."),
    ),
    telemetry=(
        Tlm("exec.uptime_s", ArgType.FLOAT, "Executive uptime", units="s"),
        Tlm("exec.cmds_accepted", ArgType.INT, "Commands accepted since boot"),
        Tlm("exec.cmds_rejected", ArgType.INT, "Commands refused by validation since boot"),
        Tlm("exec.cmds_failed", ArgType.INT, "Accepted commands that failed since boot"),
        Tlm("exec.frames_rejected", ArgType.INT, "Undecodable frames since boot (all links)"),
        Tlm("exec.cycle_slips", ArgType.INT, "Rate-group cycles that started late"),
        Tlm("exec.boots", ArgType.INT, "Executive boots (persisted across resets)"),
        Tlm("exec.cycle_faults", ArgType.INT,
            "Exceptions caught inside a cycle or handler (the executive kept running)"),
        Tlm("exec.sensor_rejects", ArgType.INT,
            "Sensor readings refused at the HAL (non-finite or physically impossible)"),
        Tlm("exec.events_suppressed", ArgType.INT, "Events counted but not sent (throttled)"),
        Tlm("exec.events_throttled", ArgType.INT, "Events whose throttle is shut right now"),
    ),
    events=(
        Event("exec.boot", Severity.ACTIVITY_HI, "Executive up: profile {profile}, mode "
              "{mode}, clock {clock}, dictionary {dictionary_hash}"),
        Event("exec.cmd_rejected", Severity.WARNING_LO, "Command #{seq} {command} rejected: "
              "{reason}", throttle=50),
        Event("exec.cmd_failed", Severity.WARNING_LO, "Command #{seq} {command} failed: "
              "{reason}", throttle=50),
        Event("exec.frame_rejected", Severity.WARNING_LO, "Rejected a frame on the {stream} "
              "link: {reason}", throttle=20),
        Event("exec.cycle_slip", Severity.WARNING_LO, "Rate group {group} started "
              "{late_s} s late", throttle=10),
        Event("exec.cycle_fault", Severity.WARNING_HI, "Fault in {where}: {error} "
              "(contained; the executive keeps running)", throttle=10),
        Event("exec.sensor_rejected", Severity.WARNING_LO, "Sensor readings refused, "
              "treated as missing: {fields}", throttle=10),
        Event("exec.shutdown", Severity.ACTIVITY_HI, "Executive stopping: {reason}"),
        Event("exec.state_restored", Severity.ACTIVITY_HI, "State restored from the "
              "{source} file (last run {ending}); downlink continues at #{next_seq}"),
        Event("exec.state_problem", Severity.WARNING_HI, "Saved state: {problem}"),
        Event("exec.reset_unexplained", Severity.WARNING_HI, "Boot after an unexplained "
              "reset (the last run did not stop in order): entering SAFE"),
        Event("exec.crash_loop", Severity.WARNING_HI, "{resets} unexplained resets within "
              "{window_s} s: payload off and SAFE until the ground clears it "
              "(payload.clear_faults)"),
    ),
)


COMPONENT: Component[CommandCounters] = Component(
    name="commands", declare=fixed(DECLARATIONS), initial=lambda _cfg: CommandCounters(),
    telemetry=telemetry)
