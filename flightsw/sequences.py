"""Stored command sequences: named lists of commands the spacecraft runs by itself.

Why: the limit checker's third action (after cFS LC's "RTS" and PUS service 12's
event-action) is "run a stored command sequence", and before this module the sequences
were a constant in flight code and their commands were dispatched all at once, outside
any bookkeeping. A sequence is data now:

- the table (:class:`SequenceState` ``table``, persisted) maps a name to its steps; each
  step is one command with its arguments, validated against the dictionary when it is
  defined, so a bad step is refused at ``seq.define`` time with the reason, never
  discovered at trip time;
- ``seq.define`` / ``seq.delete`` change it, ``seq.list`` lists it (one event each),
  ``seq.start`` and ``seq.abort`` run and stop one from the ground; a watchpoint with the
  ``sequence`` action starts one by name (:func:`start`);
- **one at a time**: a start while another runs is refused (a ``seq.busy`` event, counted
  in ``seq.refused``: nothing dropped silently); a name not in the table raises
  ``seq.unknown`` (a watchpoint may outlive the sequence it names);
- **bounded**: at most :data:`MAX_STEPS` steps, one step per slow cycle (1 Hz), through
  the normal command path (:func:`run_step` calls :func:`flightsw.commanding.dispatch`
  with source :data:`SOURCE`): every step gets its verification reports and events like
  an uplinked command; a step that fails aborts the rest (``seq.aborted`` with the
  reason), the last one completing raises ``seq.completed``.

A reset abandons a sequence in progress (the run is not persisted; the table is): after
an unexplained reset the spacecraft is in SAFE anyway, and re-running half a sequence
blind is worse than telling the ground, which the restored ``seq.running`` = "" shows.
Pure: no I/O; time only from the :class:`~flightsw.component.Tick`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from flightsw import commanding
from flightsw.component import PERSIST, Component, Events, Handled, Tick
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Dictionary, Event, Severity
from flightsw.dictionary import Telemetry as Tlm
from flightsw.errors import CommandRejected, FlightError
from flightsw.messages import CommandBody, VerificationBody
from flightsw.wire import Envelope, Kind

SOURCE = "seq"
"""The command source of a sequence's steps (their numbers count per source)."""
MAX_SEQUENCES = 16
MAX_STEPS = 16
MAX_NAME_LEN = 32



@dataclass(frozen=True)
class Step:
    """One command of a sequence and its validated arguments."""

    command: str
    args: dict[str, Any]


Steps = list[Step]

DEFAULT_SEQUENCES: dict[str, tuple[Step, ...]] = {
    "park_payload": (Step("payload.throttle_cap", {"level_pct": 0.0}),
                     Step("mode.set", {"mode": "STANDBY"})),
    "payload_half": (Step("payload.throttle_cap", {"level_pct": 50.0}),),
    "payload_full": (Step("payload.throttle_cap", {"level_pct": 100.0}),),
}
"""The table a fresh spacecraft starts with (the ground may change all of it)."""


class SequenceError(FlightError):
    """A sequence definition or command refused, with the reason."""


@dataclass
class SequenceState:
    table: dict[str, Steps] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_SEQUENCES.items()},
        metadata=PERSIST)
    started: int = field(default=0, metadata=PERSIST)
    completed: int = field(default=0, metadata=PERSIST)
    aborted: int = field(default=0, metadata=PERSIST)
    refused: int = field(default=0, metadata=PERSIST)
    running: str = ""  # the sequence in progress ("" none)
    next_step: int = 0  # index of its next step
    started_by: str = ""  # "ground" or "limits #N"
    next_cmd_seq: int = 0  # command number of the next step (source SOURCE)


def check_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LEN or not name.replace("_", "a").isalnum():
        raise SequenceError(f"a sequence name is 1..{MAX_NAME_LEN} letters, digits or _",
                            name=name)
    return name


def parse_steps(text: str, dictionary: Dictionary) -> Steps:
    """``"payload.throttle_cap level_pct=0; mode.set mode=STANDBY"``: steps separated by
    ``;``, each a command name and ``key=value`` words, validated by the dictionary."""
    steps: Steps = []
    for part in text.split(";"):
        words = part.split()
        if not words:
            continue
        name, pairs = words[0], words[1:]
        if name.startswith(SOURCE + "."):
            raise SequenceError("a sequence may not start, change or stop sequences",
                                command=name)
        try:
            steps.append(Step(name, dictionary.parse_command_text(name, pairs)))
        except CommandRejected as exc:
            raise SequenceError(f"step {len(steps) + 1}: {exc}") from exc
    if not steps:
        raise SequenceError("a sequence needs at least one step")
    if len(steps) > MAX_STEPS:
        raise SequenceError(f"a sequence has at most {MAX_STEPS} steps", steps=len(steps))
    return steps


def describe(name: str, steps: Steps) -> str:
    body = "; ".join(" ".join([st.command, *(f"{k}={v}" for k, v in st.args.items())])
                     for st in steps)
    return f"{name}: {body}"


def start(state: SequenceState, name: str, by: str) -> tuple[SequenceState, Events]:
    """Start ``name`` (from a watchpoint or the ground). Refused, with an event, when
    another runs or the name is not in the table; never queued."""
    if name not in state.table:
        state.refused += 1
        return state, [("seq.unknown", {"name": name, "by": by})]
    if state.running:
        state.refused += 1
        return state, [("seq.busy", {"name": name, "by": by, "running": state.running})]
    state.running, state.next_step, state.started_by = name, 0, by
    state.started += 1
    return state, [("seq.started", {"name": name, "by": by,
                                    "steps": len(state.table[name])})]


def _finish(state: SequenceState, how: str, reason: str) -> Events:
    name = state.running
    state.running, state.next_step, state.started_by = "", 0, ""
    if how == "completed":
        state.completed += 1
        return [("seq.completed", {"name": name})]
    state.aborted += 1
    return [("seq.aborted", {"name": name, "reason": reason})]


def run_step(counters: commanding.CommandCounters, dictionary: Dictionary,
             routes: Mapping[str, commanding.Route], states: MutableMapping[str, Any],
             t: Tick) -> tuple[list[VerificationBody], Events]:
    """The slow cycle's part: dispatch the running sequence's next step (at most one)
    through the normal command path; advance, complete or abort on its verification."""
    state: SequenceState = states["sequences"]
    if not state.running:
        return [], []
    steps = state.table.get(state.running)
    if steps is None or state.next_step >= len(steps):  # deleted while running
        return [], _finish(state, "aborted", "the sequence was deleted while it ran")
    name, args = steps[state.next_step].command, steps[state.next_step].args
    index = state.next_step
    state.next_step += 1
    seq = state.next_cmd_seq
    state.next_cmd_seq += 1
    env = Envelope(Kind.COMMAND, SOURCE, seq, t.mission_time_s,
                   {"name": name, "args": dict(args)})
    reports, events = commanding.dispatch(counters, dictionary, routes, states, env,
                                          CommandBody(name=name, args=dict(args)), t)
    state = states["sequences"]
    failed = [r for r in reports if r.stage == "failed"]
    if failed and state.running:
        events += _finish(state, "aborted",
                          f"step {index + 1} ({name}) failed: {failed[0].reason}")
    elif state.running and state.next_step >= len(steps):
        events += _finish(state, "completed", "")
    return reports, events


def telemetry(state: SequenceState) -> dict[str, Any]:
    return {"seq.running": state.running, "seq.step": state.next_step,
            "seq.defined": len(state.table), "seq.started": state.started,
            "seq.completed": state.completed, "seq.aborted": state.aborted,
            "seq.refused": state.refused}


def make_handlers(dictionary: Callable[[], Dictionary],
                  ) -> dict[str, Callable[[SequenceState, dict[str, Any], Tick],
                                          Handled[SequenceState]]]:
    def define(state: SequenceState, args: dict[str, Any], t: Tick) -> Handled[SequenceState]:
        name = check_name(args["sequence"])
        steps = parse_steps(args["steps"], dictionary())
        exists = name in state.table
        if not exists and len(state.table) >= MAX_SEQUENCES:
            raise SequenceError(f"the table is full ({MAX_SEQUENCES} sequences)")
        if name == state.running:
            raise SequenceError("the sequence is running; abort it first", name=name)
        table = {**state.table, name: steps}
        verb = "replaced" if exists else "defined"
        return Handled(replace(state, table=table), f"{verb} {describe(name, steps)}",
                       [("seq.changed", {"name": name, "change": verb})])

    def delete(state: SequenceState, args: dict[str, Any], t: Tick) -> Handled[SequenceState]:
        name = args["sequence"]
        if name not in state.table:
            raise SequenceError("no such sequence", name=name, valid=sorted(state.table))
        if name == state.running:
            raise SequenceError("the sequence is running; abort it first", name=name)
        table = {k: v for k, v in state.table.items() if k != name}
        return Handled(replace(state, table=table), f"deleted {name}",
                       [("seq.changed", {"name": name, "change": "deleted"})])

    def listing(state: SequenceState, args: dict[str, Any], t: Tick) -> Handled[SequenceState]:
        events: Events = [("seq.entry", {"text": describe(n, s)})
                          for n, s in sorted(state.table.items())]
        return Handled(state, f"{len(state.table)} sequences (one event each)", events)

    def start_cmd(state: SequenceState, args: dict[str, Any],
                  t: Tick) -> Handled[SequenceState]:
        name = args["sequence"]
        if state.running:
            raise SequenceError("another sequence is running", running=state.running)
        if name not in state.table:
            raise SequenceError("no such sequence", name=name, valid=sorted(state.table))
        state, events = start(state, name, "ground")
        return Handled(state, f"started {name}", events)

    def abort(state: SequenceState, args: dict[str, Any], t: Tick) -> Handled[SequenceState]:
        if not state.running:
            return Handled(state, "no sequence running")
        name = state.running
        events = _finish(state, "aborted", "ground command")
        return Handled(state, f"aborted {name}", events)

    return {"seq.define": define, "seq.delete": delete, "seq.list": listing,
            "seq.start": start_cmd, "seq.abort": abort}


_NAME = Arg("sequence", ArgType.STR, "sequence name", max_len=MAX_NAME_LEN)

DECLARATIONS = Declarations(
    component="seq",
    commands=(
        Command("seq.define", "Define or replace a stored sequence: steps separated by ';', "
                "each a command and key=value arguments (validated now).",
                args=(_NAME, Arg("steps", ArgType.STR, "the steps", max_len=512))),
        Command("seq.delete", "Delete a stored sequence.", args=(_NAME,)),
        Command("seq.list", "List the stored sequences (one event each)."),
        Command("seq.start", "Run a stored sequence (one step a second; refused while "
                "another runs).", args=(_NAME,)),
        Command("seq.abort", "Stop the running sequence before its next step."),
    ),
    telemetry=(
        Tlm("seq.running", ArgType.STR, "The sequence in progress (empty: none)"),
        Tlm("seq.step", ArgType.INT, "Steps of it dispatched so far"),
        Tlm("seq.defined", ArgType.INT, "Sequences in the table"),
        Tlm("seq.started", ArgType.INT, "Sequences started (persisted)"),
        Tlm("seq.completed", ArgType.INT, "Sequences run to their end (persisted)"),
        Tlm("seq.aborted", ArgType.INT, "Sequences stopped by a failed step or the ground"),
        Tlm("seq.refused", ArgType.INT, "Starts refused: busy or unknown (persisted)"),
    ),
    events=(
        Event("seq.started", Severity.ACTIVITY_HI, "Sequence {name} started by {by} "
              "({steps} steps)"),
        Event("seq.completed", Severity.ACTIVITY_HI, "Sequence {name} completed"),
        Event("seq.aborted", Severity.WARNING_LO, "Sequence {name} aborted: {reason}"),
        Event("seq.busy", Severity.WARNING_LO, "Sequence {name} ({by}) not started: "
              "{running} is running", throttle=20),
        Event("seq.unknown", Severity.WARNING_HI, "Sequence {name} ({by}) not started: "
              "no such sequence", throttle=20),
        Event("seq.changed", Severity.ACTIVITY_HI, "Sequence {name} {change}"),
        Event("seq.entry", Severity.ACTIVITY_LO, "{text}"),
    ),
)


def _dictionary(cfg: FlightConfig) -> Callable[[], Dictionary]:
    cache: list[Dictionary] = []

    def get() -> Dictionary:
        if not cache:
            from flightsw import catalog  # the catalog lists this module: import late

            cache.append(catalog.build_dictionary(cfg))
        return cache[0]

    return get


def component(cfg: FlightConfig) -> Component[SequenceState]:
    return Component(name="sequences", declare=lambda _c: (DECLARATIONS,),
                     initial=lambda _c: SequenceState(), telemetry=telemetry,
                     handlers=make_handlers(_dictionary(cfg)))
