"""Command dispatch with verification reports.

Every command that reaches the executive ends in exactly one verification outcome at the
ground: ``failed`` (with the reason: unknown command, bad argument, refused by a guard,
or an internal error), or ``accepted`` then ``completed`` / ``failed``. The dispatcher
validates against the dictionary a second time (the ground validated before sending) so
a corrupted or hostile command is refused here too, and no handler error escapes into the
executive's loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flightsw.dictionary import Arg, ArgType, Command, Declarations, Dictionary, Event, Severity
from flightsw.dictionary import Telemetry as Tlm
from flightsw.errors import CommandRejected, FlightError, safe_repr
from flightsw.wire import Envelope

Handler = Callable[[dict[str, Any], float], "str | None"]
"""A command handler gets validated arguments and the time; returns an optional note."""


@dataclass(frozen=True)
class VerificationRecord:
    cmd_seq: int
    name: str
    stage: str  # "accepted", "completed", "failed"
    reason: str
    time_s: float

    def to_body(self) -> dict[str, Any]:
        return {"cmd_seq": self.cmd_seq, "name": self.name, "stage": self.stage,
                "reason": self.reason}


class CommandDispatcher:
    def __init__(self, dictionary: Dictionary, report: Callable[[VerificationRecord], None],
                 emit: Callable[[str, Mapping[str, Any], float], Any]) -> None:
        self._dictionary = dictionary
        self._report = report
        self._emit = emit
        self._handlers: dict[str, Handler] = {}
        self.accepted = 0
        self.rejected = 0
        self.completed = 0
        self.failed = 0

    def register(self, name: str, handler: Handler) -> None:
        if name not in self._dictionary.commands:
            raise FlightError("handler for an undeclared command", command=name)
        self._handlers[name] = handler

    def missing_handlers(self) -> list[str]:
        return sorted(set(self._dictionary.commands) - set(self._handlers))

    def dispatch(self, env: Envelope, now_s: float) -> None:
        name = env.body.get("name")
        shown = name if isinstance(name, str) else safe_repr(name)
        try:
            args = self._dictionary.validate_command(name, env.body.get("args", {}))
        except CommandRejected as exc:
            self.rejected += 1
            self._fail(env.seq, shown, "exec.cmd_rejected", str(exc), now_s)
            return
        self.accepted += 1
        self._report(VerificationRecord(env.seq, shown, "accepted", "", now_s))
        handler = self._handlers.get(shown)
        try:
            if handler is None:
                raise FlightError("command has no handler on this spacecraft", command=shown)
            note = handler(args, now_s) or ""
        except FlightError as exc:
            self.failed += 1
            self._fail(env.seq, shown, "exec.cmd_failed", str(exc), now_s)
            return
        except Exception as exc:  # a handler bug must not take the executive down
            self.failed += 1
            self._fail(env.seq, shown, "exec.cmd_failed",
                       f"internal error: {type(exc).__name__}: {exc}", now_s)
            return
        self.completed += 1
        self._report(VerificationRecord(env.seq, shown, "completed", note, now_s))

    def _fail(self, seq: int, name: str, event: str, reason: str, now_s: float) -> None:
        """Every refusal is both an event and a failed verification report."""
        self._emit(event, {"seq": seq, "command": name, "reason": reason}, now_s)
        self._report(VerificationRecord(seq, name, "failed", reason, now_s))


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
        Tlm("exec.events_suppressed", ArgType.INT, "Events counted but not sent (throttled)"),
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
        Event("exec.shutdown", Severity.ACTIVITY_HI, "Executive stopping: {reason}"),
    ),
)
