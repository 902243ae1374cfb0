"""The onboard schedule: time-tagged commands that run at their time, in contact or not.

Like PUS service 11 (time-based scheduling): a command uplinked with ``at_s`` (mission
time, UTC seconds) in the future is validated against the dictionary *now* - a bad one
is refused at once, with the reason, while the operator is still in the pass - and
stored; when its time comes the fast cycle runs it through the same dispatch as any
command, and its verification reports (``completed`` or ``failed`` with the reason)
carry the command's own number, so the ground's books close whenever it hears them.

The schedule is part of the state record (``PERSIST``): a reset neither loses nor
repeats a stored command (an entry leaves the schedule in the cycle it runs, and the
state is saved right after every command). Bounded (:data:`MAX_ENTRIES`); commands to
list, delete and clear it. A command whose time passed while the executive was down
runs at once if it is at most ``late_tolerance_s`` late, else it fails, reported: an
hour-old "point the camera now" is worse than nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from flightsw.component import PERSIST, Component, Handled, Tick, fixed
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import FlightError

MAX_ENTRIES = 256
LATE_TOLERANCE_S = 60.0
"""A stored command may run this late (an executive reset in between) and still run."""
LIST_MAX = 20  # entries named in a schedule.list note


@dataclass
class Timed:
    cmd_seq: int = 0
    source: str = ""
    at_s: float = 0.0  # mission time, UTC s
    name: str = ""
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScheduleState:
    entries: list[Timed] = field(default_factory=list, metadata=PERSIST)
    ran: int = field(default=0, metadata=PERSIST)
    expired: int = field(default=0, metadata=PERSIST)


def utc_text(t_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_s))


def add(st: ScheduleState, entry: Timed) -> str:
    """Store a validated command; returns the verification note. Raises
    :class:`FlightError` when the schedule is full or the number is already stored."""
    if len(st.entries) >= MAX_ENTRIES:
        raise FlightError(f"onboard schedule full ({MAX_ENTRIES} commands); delete some "
                          "(schedule.delete / schedule.clear)")
    if any(e.cmd_seq == entry.cmd_seq and e.source == entry.source for e in st.entries):
        raise FlightError("this command is already in the onboard schedule",
                          cmd_seq=entry.cmd_seq)
    st.entries.append(entry)
    st.entries.sort(key=lambda e: (e.at_s, e.cmd_seq))
    return f"scheduled for {utc_text(entry.at_s)}"


def take_due(st: ScheduleState, now_s: float) -> tuple[list[Timed], list[Timed]]:
    """Entries whose time has come, split into (run now, too late to run)."""
    due = [e for e in st.entries if e.at_s <= now_s]
    if not due:
        return [], []
    st.entries = [e for e in st.entries if e.at_s > now_s]
    run = [e for e in due if now_s - e.at_s <= LATE_TOLERANCE_S]
    late = [e for e in due if now_s - e.at_s > LATE_TOLERANCE_S]
    st.ran += len(run)
    st.expired += len(late)
    return run, late


def cmd_list(st: ScheduleState, args: dict[str, Any], t: Tick) -> Handled[ScheduleState]:
    if not st.entries:
        return Handled(st, "onboard schedule is empty")
    shown = "; ".join(f"#{e.cmd_seq} {e.name} at {utc_text(e.at_s)}"
                      for e in st.entries[:LIST_MAX])
    more = f"; and {len(st.entries) - LIST_MAX} more" if len(st.entries) > LIST_MAX else ""
    return Handled(st, f"{len(st.entries)} scheduled: {shown}{more}")


def cmd_delete(st: ScheduleState, args: dict[str, Any], t: Tick) -> Handled[ScheduleState]:
    seq = int(args["cmd_seq"])
    keep = [e for e in st.entries if e.cmd_seq != seq]
    if len(keep) == len(st.entries):
        raise FlightError(f"no command #{seq} in the onboard schedule "
                          f"({len(st.entries)} scheduled; schedule.list names them)")
    gone = [e for e in st.entries if e.cmd_seq == seq]
    st.entries = keep
    return Handled(st, f"#{seq} {gone[0].name} deleted from the onboard schedule",
                   [("schedule.deleted", {"cmd_seq": seq, "command": gone[0].name})])


def cmd_clear(st: ScheduleState, args: dict[str, Any], t: Tick) -> Handled[ScheduleState]:
    n = len(st.entries)
    st.entries = []
    return Handled(st, f"onboard schedule cleared ({n} commands)",
                   [("schedule.cleared", {"count": n})])


def telemetry(st: ScheduleState) -> dict[str, Any]:
    return {"schedule.entries": len(st.entries),
            "schedule.next_at_s": st.entries[0].at_s if st.entries else None,
            "schedule.ran": st.ran, "schedule.expired": st.expired}


DECLARATIONS = Declarations(
    component="schedule",
    commands=(
        Command("schedule.list", "List the time-tagged commands stored onboard."),
        Command("schedule.delete", "Delete one time-tagged command from the onboard schedule.",
                args=(Arg("cmd_seq", ArgType.INT, "the command's number", min=0),)),
        Command("schedule.clear", "Delete every time-tagged command stored onboard.",
                hazardous=True),
    ),
    telemetry=(
        Telemetry("schedule.entries", ArgType.INT, "Time-tagged commands stored onboard"),
        Telemetry("schedule.next_at_s", ArgType.FLOAT, "When the next one runs (UTC)",
                  units="s"),
        Telemetry("schedule.ran", ArgType.INT, "Time-tagged commands run"),
        Telemetry("schedule.expired", ArgType.INT,
                  "Time-tagged commands not run: their time passed too long ago"),
    ),
    events=(
        Event("schedule.added", Severity.ACTIVITY_LO,
              "Command #{cmd_seq} {command} scheduled for {at}"),
        Event("schedule.ran", Severity.ACTIVITY_LO, "Scheduled command #{cmd_seq} {command} "
              "ran ({late_s} s after its time)"),
        Event("schedule.expired", Severity.WARNING_LO, "Scheduled command #{cmd_seq} "
              "{command} not run: {late_s} s past its time"),
        Event("schedule.deleted", Severity.ACTIVITY_LO,
              "Scheduled command #{cmd_seq} {command} deleted"),
        Event("schedule.cleared", Severity.ACTIVITY_HI, "Onboard schedule cleared ({count})"),
    ),
)

COMPONENT: Component[ScheduleState] = Component(
    name="schedule", declare=fixed(DECLARATIONS), initial=lambda cfg: ScheduleState(),
    telemetry=telemetry,
    handlers={"schedule.list": cmd_list, "schedule.delete": cmd_delete,
              "schedule.clear": cmd_clear})
