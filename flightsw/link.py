"""The space link, flight side: what goes down, when, and what comes up.

The executive hands every downlink record (telemetry, events, verification reports, data
products) to :class:`SpaceLink`. With a ground station in view (the radio's lock, from
the HAL) records go out over a ZeroMQ PAIR socket, the recorder's backlog first in
priority order, up to the frame budget of one cycle (the downlink rate); out of view
they wait in the :class:`~flightsw.recorder.Recorder`. Uplinked frames are decoded with
the shared codec; anything that does not decode is counted and reported as an event,
never raised.

At acquisition of signal both ends exchange HELLO with the dictionary hash; a mismatch
is an event here and a refusal to command at the ground.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import zmq

from flightsw.dictionary import ArgType, Declarations, Event, Severity, Telemetry
from flightsw.recorder import Priority, Recorder
from flightsw.sockets import has_input
from flightsw.wire import Envelope, Kind, Sequencer, WireError, encode, try_decode

Emit = Callable[[str, Mapping[str, Any], float], Any]

PRIORITY_OF = {
    Kind.EVENT: Priority.EVENT,
    Kind.VERIFICATION: Priority.EVENT,
    Kind.HELLO: Priority.EVENT,
    Kind.RESULT: Priority.PRODUCT,
    Kind.TELEMETRY: Priority.HOUSEKEEPING,
}


class SpaceLink:
    def __init__(self, sock: zmq.Socket[Any], recorder: Recorder, emit: Emit,
                 dictionary_hash: str, dictionary_version: str,
                 frames_per_cycle: int = 400) -> None:
        self._sock = sock
        self.recorder = recorder
        self._emit = emit
        self._seq = Sequencer("flight")
        self._hash = dictionary_hash
        self._version = dictionary_version
        self.frames_per_cycle = frames_per_cycle
        self.in_contact = False
        self.station = ""
        self.frames_sent = 0
        self.frames_received = 0
        self.frames_rejected = 0
        self.ground_hash: str | None = None
        self._budget = frames_per_cycle

    # --- downlink ---------------------------------------------------------------------
    def downlink(self, kind: Kind, body: Mapping[str, Any], time_s: float) -> None:
        """Queue one record; every record gets the next downlink sequence number."""
        try:
            frame = encode(self._seq.make(kind, time_s, body))
        except WireError as exc:
            self._emit("link.record_dropped", {"kind": kind.value, "reason": str(exc)}, time_s)
            return
        self.recorder.store(PRIORITY_OF.get(kind, Priority.HOUSEKEEPING), frame)

    def set_contact(self, in_contact: bool, station: str, now_s: float) -> None:
        if in_contact and not self.in_contact:
            self._emit("link.aos", {"station": station or "?",
                                    "backlog": len(self.recorder)}, now_s)
            self.downlink(Kind.HELLO, {"dictionary_hash": self._hash,
                                       "dictionary_version": self._version}, now_s)
        elif not in_contact and self.in_contact:
            self._emit("link.los", {"station": self.station or "?",
                                    "backlog": len(self.recorder)}, now_s)
        self.in_contact = in_contact
        self.station = station

    def new_cycle(self) -> None:
        """Refill the per-cycle frame budget (called by the 1 Hz group)."""
        self._budget = self.frames_per_cycle

    def flush(self) -> int:
        """Send from the recorder while in contact, within this cycle's budget."""
        if not self.in_contact:
            return 0
        sent = 0
        while self._budget > 0:
            frame = self.recorder.peek()
            if frame is None:
                break
            try:
                self._sock.send(frame, zmq.NOBLOCK)
            except zmq.Again:
                break  # no ground connected or it is slow: keep the record
            self.recorder.pop()
            self._budget -= 1
            sent += 1
        self.frames_sent += sent
        return sent

    # --- uplink -----------------------------------------------------------------------
    def receive(self, now_s: float) -> list[Envelope]:
        """Decode every waiting uplink frame; return the commands. Never raises."""
        commands: list[Envelope] = []
        while has_input(self._sock):
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.frames_received += 1
            env = try_decode(frame)
            if not isinstance(env, Envelope):
                self.frames_rejected += 1
                self._emit("exec.frame_rejected", {"stream": "space", "reason": str(env)},
                           now_s)
                continue
            if env.kind is Kind.COMMAND:
                commands.append(env)
            elif env.kind is Kind.HELLO:
                self._on_hello(env, now_s)
            else:
                self.frames_rejected += 1
                self._emit("exec.frame_rejected",
                           {"stream": "space",
                            "reason": f"{env.kind.value} is not an uplink kind"}, now_s)
        return commands

    def _on_hello(self, env: Envelope, now_s: float) -> None:
        ground_hash = env.body.get("dictionary_hash")
        self.ground_hash = ground_hash if isinstance(ground_hash, str) else None
        if self.ground_hash != self._hash:
            self._emit("link.dictionary_mismatch", {"ground": str(ground_hash)[:20],
                                                    "flight": self._hash}, now_s)
        self.downlink(Kind.HELLO, {"dictionary_hash": self._hash,
                                   "dictionary_version": self._version}, now_s)

    def telemetry(self) -> dict[str, Any]:
        return {
            "link.in_contact": self.in_contact,
            "link.station": self.station,
            "link.recorder_depth": len(self.recorder),
            "link.recorder_evicted": self.recorder.evicted_total,
            "link.frames_sent": self.frames_sent,
            "link.frames_rejected": self.frames_rejected,
            "link.downlink_seq": self._seq.next_seq,
        }


DECLARATIONS = Declarations(
    component="link",
    telemetry=(
        Telemetry("link.in_contact", ArgType.BOOL, "A ground station is in view"),
        Telemetry("link.station", ArgType.STR, "Station in view"),
        Telemetry("link.next_aos_in_s", ArgType.FLOAT,
                  "Time to the next acquisition of signal (0 in contact)", units="s"),
        Telemetry("link.recorder_depth", ArgType.INT, "Records waiting for downlink"),
        Telemetry("link.recorder_evicted", ArgType.INT,
                  "Records evicted because the recorder was full (housekeeping first)"),
        Telemetry("link.frames_sent", ArgType.INT, "Frames downlinked since boot"),
        Telemetry("link.frames_rejected", ArgType.INT, "Uplink frames rejected since boot"),
        Telemetry("link.downlink_seq", ArgType.INT, "Next downlink sequence number"),
    ),
    events=(
        Event("link.aos", Severity.ACTIVITY_LO, "Acquisition of signal: {station} "
              "({backlog} records waiting)"),
        Event("link.los", Severity.ACTIVITY_LO, "Loss of signal: {station} "
              "({backlog} records waiting)"),
        Event("link.dictionary_mismatch", Severity.WARNING_HI,
              "Ground dictionary {ground} does not match flight {flight}"),
        Event("link.record_dropped", Severity.WARNING_HI, "A {kind} record could not be "
              "encoded and was dropped: {reason}", throttle=10),
    ),
)
