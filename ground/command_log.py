"""The ground's command log: every command from submission to its last verification.

A command moves through stages, each stamped with the ground time it was reached::

    queued -> sent -> received -> accepted -> started -> completed
     |  ^       |          \\-> failed         \\-> failed   (by its handler)
     v  |       \\-> (sent again, same number, until a report comes)
    held                       (refused on board: validation)
     \\-> failed                (refused at the ground: dictionary mismatch, cancelled)

``received``, ``accepted``, ``started``, ``completed`` and ``failed`` come from the flight
(``received``: the frame passed authentication and the anti-replay window). ``queued``
commands wait here until the station's uplink opens (the next AOS); they are never
dropped for being out of contact. ``held`` ones wait until the operator releases them
(or cancels them). A command ``sent`` with no report at all after
:data:`RETRY_AFTER_S` is sent again under the same number (the uplink may have lost it;
if it did arrive, the flight counts the copy as a duplicate, does not run it twice and
sends its verification again), at most :data:`MAX_SENDS` times in all. ``cmd_seq`` is
the envelope sequence number on the uplink, so the flight's verification reports find
their command by it. The log is
pure state; the archive persists each change and the process decides when to send.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

RETRY_AFTER_S = 5.0
"""Ground-clock seconds a ``sent`` command waits for any report before it goes again."""
MAX_SENDS = 8
"""Sends of one command in all (the first and seven retries: at 35 % uplink loss one
command in 4,000 is still lost after all of them)."""


class Stage(str, Enum):
    QUEUED = "queued"
    HELD = "held"
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (Stage.COMPLETED, Stage.FAILED)


_ORDER = {Stage.QUEUED: 0, Stage.HELD: 0, Stage.SENT: 1, Stage.RECEIVED: 2,
          Stage.ACCEPTED: 3, Stage.STARTED: 4, Stage.COMPLETED: 5, Stage.FAILED: 5}
FLIGHT_STAGES = frozenset({Stage.RECEIVED, Stage.ACCEPTED, Stage.STARTED, Stage.COMPLETED,
                           Stage.FAILED})
WAITING = (Stage.QUEUED, Stage.HELD)
"""Stages of a command still at the ground (it may be cancelled)."""


@dataclass
class CommandRecord:
    cmd_seq: int
    name: str
    args: dict[str, Any]
    stage: Stage = Stage.QUEUED
    reason: str = ""
    stage_times_s: dict[str, float] = field(default_factory=dict)  # stage -> ground UTC s
    onboard_time_s: float | None = None  # spacecraft time of the latest verification
    failed_at: str = ""  # "ground" or "flight" once failed
    at_s: float | None = None  # time-tagged: run onboard at this mission time (UTC s)
    sends: int = 0  # times it went up (retries included)
    last_sent_s: float | None = None  # ground time of the latest send

    def to_dict(self) -> dict[str, Any]:
        return {"cmd_seq": self.cmd_seq, "name": self.name, "args": dict(self.args),
                "at_s": self.at_s,
                "stage": self.stage.value, "reason": self.reason,
                "stage_times_s": dict(self.stage_times_s),
                "onboard_time_s": self.onboard_time_s, "failed_at": self.failed_at,
                "sends": self.sends}


class CommandLog:
    """Commands by sequence number; the queue is the ones still ``queued``, in order.

    Finished commands are kept in memory up to ``keep_finished`` (the archive has all).
    """

    def __init__(self, next_seq: int = 0, keep_finished: int = 10_000) -> None:
        self.next_seq = next_seq
        self.keep_finished = keep_finished
        self._records: OrderedDict[int, CommandRecord] = OrderedDict()
        self.unmatched_verifications = 0
        self.counts: dict[str, int] = {s.value: 0 for s in Stage}

    def submit(self, name: str, args: Mapping[str, Any], now_s: float,
               at_s: float | None = None) -> CommandRecord:
        rec = CommandRecord(self.next_seq, name, dict(args), at_s=at_s)
        self.next_seq += 1
        self._records[rec.cmd_seq] = rec
        self._enter(rec, Stage.QUEUED, "", now_s)
        self._trim()
        return rec

    def restore(self, records: list[CommandRecord]) -> None:
        """Take back unfinished commands from the archive (after a ground restart)."""
        for rec in sorted(records, key=lambda r: r.cmd_seq):
            self._records[rec.cmd_seq] = rec
            self.next_seq = max(self.next_seq, rec.cmd_seq + 1)

    def get(self, cmd_seq: int) -> CommandRecord | None:
        return self._records.get(cmd_seq)

    def queued(self) -> list[CommandRecord]:
        return [r for r in self._records.values() if r.stage is Stage.QUEUED]

    def held(self) -> list[CommandRecord]:
        return [r for r in self._records.values() if r.stage is Stage.HELD]

    def in_flight(self) -> list[CommandRecord]:
        """Sent, waiting for a final verification."""
        return [r for r in self._records.values()
                if r.stage in (Stage.SENT, Stage.RECEIVED, Stage.ACCEPTED, Stage.STARTED)]

    def due_again(self, now_s: float) -> list[CommandRecord]:
        """Sent, no report at all since, its retry time passed and sends left."""
        return [r for r in self._records.values()
                if r.stage is Stage.SENT and r.sends < MAX_SENDS
                and r.last_sent_s is not None and now_s - r.last_sent_s >= RETRY_AFTER_S]

    def mark_sent(self, rec: CommandRecord, now_s: float) -> None:
        rec.sends += 1
        rec.last_sent_s = now_s
        if rec.stage is not Stage.SENT:
            self._enter(rec, Stage.SENT, "", now_s)

    def hold(self, rec: CommandRecord, now_s: float) -> None:
        self._enter(rec, Stage.HELD, "held by the operator", now_s)

    def release(self, rec: CommandRecord, now_s: float) -> None:
        rec.reason = ""
        self._enter(rec, Stage.QUEUED, "", now_s)

    def fail_at_ground(self, rec: CommandRecord, reason: str, now_s: float) -> None:
        rec.failed_at = "ground"
        self._enter(rec, Stage.FAILED, reason, now_s)

    def verify(self, cmd_seq: int, stage: Stage, reason: str, now_s: float,
               onboard_time_s: float) -> CommandRecord | None:
        """Apply a flight verification report; None if the command is not ours."""
        rec = self._records.get(cmd_seq)
        if rec is None:
            self.unmatched_verifications += 1
            return None
        rec.onboard_time_s = onboard_time_s
        if rec.stage.terminal or _ORDER[stage] < _ORDER[rec.stage]:
            rec.stage_times_s.setdefault(stage.value, now_s)  # late report: keep the time
            return rec
        if stage is Stage.FAILED:
            rec.failed_at = "flight"
        self._enter(rec, stage, reason, now_s)
        return rec

    def _enter(self, rec: CommandRecord, stage: Stage, reason: str, now_s: float) -> None:
        rec.stage = stage
        if reason:
            rec.reason = reason
        rec.stage_times_s[stage.value] = now_s
        self.counts[stage.value] += 1

    def _trim(self) -> None:
        finished = [k for k, r in self._records.items() if r.stage.terminal]
        for k in finished[:max(0, len(finished) - self.keep_finished)]:
            del self._records[k]
