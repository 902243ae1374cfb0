"""The space link, flight side, as a component: what goes down, when, and what comes up.

Every downlink record (telemetry, events, verification reports, data products, HELLO)
is encoded here with the next downlink sequence number and held in the
:class:`~flightsw.recorder.Recorder` until the ground acknowledges it (uplink ``ACK``).
With a ground station in view (the radio's lock, from the HAL) the shell asks for
:func:`ready_frames` - realtime housekeeping, then the backlog and retransmissions in
priority order, up to the budget of one cycle - sends what the transport accepts and
reports back with :func:`sent`. Records evicted from a full recorder are reported by
number (:func:`eviction_report`), so the ground can tell evicted from lost. Uplinked
frames are decoded with the shared codec; anything that does not decode is counted and
reported as an event, never raised.

At acquisition of signal both ends exchange HELLO with the dictionary hash; a mismatch
is an event here and a refusal to command at the ground. HELLO also says which boot is
talking (``boot_id``), the first number it made and whether numbering went on from the
last boot, so the ground's gap accounting stays exact across resets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flightsw.component import PERSIST, Component, Events, Tick, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import ArgType, Declarations, Event, Severity, Telemetry
from flightsw.errors import WireError
from flightsw.messages import AckBody, CommandBody, HelloBody
from flightsw.recorder import Priority, Recorder
from flightsw.wire import Envelope, Kind, encode, try_decode

HELLO_REPLY_HOLDOFF_S = 10.0
"""A ground HELLO is answered only if the flight has not said HELLO for this long
(mission time). The flight says HELLO at every AOS, and the ground's own HELLO, sent when
it sees the same AOS, arrives a moment later at a wall-clock-dependent cycle: answering
it too would shift every later downlink sequence number by one from run to run. A ground
that restarts mid-pass still gets its answer within this hold-off. A ground HELLO that
arrives before our own AOS (the ground learns of a pass from the plant's truth a moment
before our radio reports lock) is answered by the HELLO we send at AOS."""

FRAMES_PER_SECOND = 400
"""Downlink budget; spent per fast cycle (a tenth each), so replies go out within one
fast cycle instead of waiting for the next 1 Hz flush."""

SMALL_FRAME_BYTES = 128
"""With a radio rate, a cycle's frame budget is at least what the rate carries of frames
this small (an event is ~300 B), so that the radio, not the count, limits the downlink."""

PRIORITY_OF = {
    Kind.EVENT: Priority.EVENT,
    Kind.VERIFICATION: Priority.EVENT,
    Kind.HELLO: Priority.EVENT,
    Kind.RESULT: Priority.PRODUCT,
    Kind.TELEMETRY: Priority.HOUSEKEEPING,
}


@dataclass
class LinkState:
    recorder: Recorder
    dictionary_hash: str
    dictionary_version: str
    next_seq: int = field(default=0, metadata=PERSIST)
    in_contact: bool = False
    station: str = ""
    frames_sent: int = 0
    frames_received: int = 0
    frames_rejected: int = 0
    records_dropped: int = 0
    ground_hash: str | None = None
    budget: int = FRAMES_PER_SECOND // 10
    bytes_per_cycle: int = 0  # the radio's rate for one fast cycle (0: no rate limit)
    relay_bytes_per_cycle: int = 0  # the relay's, out of contact (0: no relay)
    budget_bytes: int = 0  # what is left of it this cycle (a big frame may overdraw it)
    last_hello_s: float = -math.inf  # mission time of the last HELLO we recorded
    boot_id: int = 0  # set by the topology at boot; said in every HELLO
    boot_mission_time_s: float = 0.0
    first_seq: int = 0  # the first number of this boot
    seq_continued: bool = False  # numbering went on from a saved boot
    acks_received: int = 0
    acks_stale: int = 0  # for another boot's numbering: not applied
    acks_rejected: int = 0  # malformed
    hello_seq: int | None = None  # number of the last HELLO we recorded
    uplink_seq_top: int = -1  # the anti-replay window's top, said in HELLO (the topology's)
    evicted_unreported: list[list[int]] = field(default_factory=list)
    """``[priority, first, last]`` ranges of evicted numbers not yet reported to the
    ground (``link.records_evicted``); the shell keeps them in the recorder store, in the
    same transaction that drops the evicted records, so a reset does not orphan them."""


def initial(cfg: FlightConfig) -> LinkState:
    """The dictionary's hash and version are filled in by the topology that built it."""
    per_cycle = int(cfg.downlink_rate_bps / 8 / 10)
    return LinkState(Recorder(cfg.recorder_bytes), "", "", bytes_per_cycle=per_cycle,
                     budget_bytes=per_cycle,
                     relay_bytes_per_cycle=max(1, int(cfg.relay_rate_bps / 8 / 10))
                     if cfg.relay_rate_bps else 0)


def link_up(st: LinkState) -> bool:
    """Frames can leave: a ground station is in view, or there is an always-on relay."""
    return st.in_contact or st.relay_bytes_per_cycle > 0


def _cycle_bytes(st: LinkState) -> int:
    return st.bytes_per_cycle if st.in_contact else st.relay_bytes_per_cycle


# --- downlink ------------------------------------------------------------------------------
def record(st: LinkState, kind: Kind, body: Mapping[str, Any],
           mission_time_s: float, priority: Priority | None = None) -> Events:
    """Queue one record; every record gets the next downlink sequence number.
    ``priority``: the recorder class, if not its kind's (an urgent job's result)."""
    seq = st.next_seq
    try:
        frame = encode(Envelope(kind, "flight", seq, mission_time_s, body))
    except WireError as exc:
        st.records_dropped += 1
        return [("link.record_dropped", {"kind": kind.value, "reason": str(exc)})]
    st.next_seq += 1
    st.recorder.store(seq, priority if priority is not None
                      else PRIORITY_OF.get(kind, Priority.HOUSEKEEPING), frame)
    if kind is Kind.HELLO:
        st.last_hello_s = mission_time_s
        st.hello_seq = seq
    return []


def hello_body(st: LinkState) -> dict[str, Any]:
    return HelloBody(st.dictionary_hash, st.dictionary_version, st.boot_mission_time_s,
                     st.boot_id, st.first_seq, st.seq_continued,
                     st.uplink_seq_top).to_body()


def set_contact(st: LinkState, in_contact: bool, station: str, t: Tick) -> Events:
    events: Events = []
    if in_contact and not st.in_contact:
        events.append(("link.aos", {"station": station or "?", "backlog": len(st.recorder)}))
        st.recorder.link_restored(t.mission_time_s)
        events += record(st, Kind.HELLO, hello_body(st), t.mission_time_s)
    elif not in_contact and st.in_contact:
        events.append(("link.los", {"station": st.station or "?",
                                    "backlog": len(st.recorder)}))
    st.in_contact = in_contact
    st.station = station
    return events


def new_cycle(st: LinkState, budget: int) -> None:
    """Refill the frame budget (the fast group calls it with a tenth of a second's) and
    the byte budget (a tenth of a second at the radio's rate; an overdraft carries over,
    so the long-run rate is the radio's, never more: a faster sender only fills the
    transmitter's queue and loses frames there)."""
    per_cycle = _cycle_bytes(st)
    # with a radio rate, bytes are the limit: the frame count must not be (a backlog of
    # small events and products filled 88 % of a 2 Mbit/s pass at 40 frames a cycle)
    st.budget = max(budget, per_cycle // SMALL_FRAME_BYTES)
    if per_cycle:
        st.budget_bytes = min(st.budget_bytes + per_cycle, per_cycle)


def ready_frames(st: LinkState, mission_time_s: float) -> list[bytes]:
    """Frames to send now (in contact, within the budget), in send order. Every one
    stays held until the ground acknowledges it; :func:`sent` says how many left."""
    if not link_up(st) or st.budget <= 0 or not len(st.recorder):
        return []
    limited = _cycle_bytes(st) > 0
    if limited and st.budget_bytes <= 0:
        return []
    return st.recorder.select(st.budget, mission_time_s,
                              max_bytes=st.budget_bytes if limited else None)


def nothing_to_send(st: LinkState, mission_time_s: float) -> bool:
    """:func:`ready_frames` would return nothing now, whatever the budget."""
    return (not link_up(st) or not len(st.recorder)
            or st.recorder.nothing_to_send(mission_time_s))


def sent(st: LinkState, n: int, mission_time_s: float) -> None:
    st.budget_bytes -= st.recorder.sent(n, mission_time_s)
    st.budget -= n
    st.frames_sent += n


EVICTION_EVENT = "link.records_evicted"
"""The event that names evicted numbers (the ground accounts for them by it)."""
MAX_EVICTION_RANGES = 128
"""Ranges of numbers in one ``link.records_evicted`` event; more go in further events."""
MAX_EVICTION_EVENTS = 4
"""Eviction events per report (per slow cycle); the rest wait for the next cycle."""


def note_evictions(st: LinkState) -> None:
    """Move the recorder's evictions into the (persisted, compact) list of evictions the
    ground has not been told about. Called every cycle, so the list survives a reset."""
    for p, seq in st.recorder.take_evicted():
        last = st.evicted_unreported[-1] if st.evicted_unreported else None
        if last is not None and last[0] == int(p) and last[2] + 1 == seq:
            last[2] = seq
        else:
            st.evicted_unreported.append([int(p), seq, seq])


def eviction_report(st: LinkState) -> Events:
    """In contact only: events naming the numbers evicted since the last report as
    ``[first, last]`` ranges, per record class (the ground then counts them as evicted,
    not lost). Out of contact nothing is reported: a report is itself a record, and
    reporting into a full recorder would evict more records to report."""
    note_evictions(st)
    if not link_up(st) or not st.evicted_unreported:
        return []
    events: Events = []
    for _ in range(MAX_EVICTION_EVENTS):
        if not st.evicted_unreported:
            break
        p = st.evicted_unreported[0][0]
        chunk = [r for r in st.evicted_unreported if r[0] == p][:MAX_EVICTION_RANGES]
        taken = {id(r) for r in chunk}
        st.evicted_unreported = [r for r in st.evicted_unreported if id(r) not in taken]
        events.append((EVICTION_EVENT, {
            "count": sum(b - a + 1 for _, a, b in chunk),
            "kind": Priority(p).name.lower(),
            "ranges": [[a, b] for _, a, b in chunk],
            "total": st.recorder.evicted_total}))
    return events


# --- uplink --------------------------------------------------------------------------------
def receive(st: LinkState, frames: list[bytes],
            t: Tick) -> tuple[list[tuple[Envelope, CommandBody | WireError]], Events]:
    """Decode uplink frames; return each command with its typed body (or why it is not
    one). Never raises."""
    commands: list[tuple[Envelope, CommandBody | WireError]] = []
    events: Events = []
    for frame in frames:
        st.frames_received += 1
        env = try_decode(frame)
        if not isinstance(env, Envelope):
            st.frames_rejected += 1
            events.append(("exec.frame_rejected", {"stream": "space", "reason": str(env)}))
            continue
        if env.kind is Kind.COMMAND:
            try:
                commands.append((env, CommandBody.from_body(env.body)))
            except WireError as exc:
                commands.append((env, exc))
        elif env.kind is Kind.HELLO:
            events += _on_hello(st, env, t)
        elif env.kind is Kind.ACK:
            events += _on_ack(st, env, t)
        else:
            st.frames_rejected += 1
            events.append(("exec.frame_rejected",
                           {"stream": "space",
                            "reason": f"{env.kind.value} is not an uplink kind"}))
    return commands, events


def _on_hello(st: LinkState, env: Envelope, t: Tick) -> Events:
    try:
        ground_hash: str | None = HelloBody.from_body(env.body).dictionary_hash
    except WireError:
        ground_hash = None
    st.ground_hash = ground_hash
    events: Events = []
    if ground_hash != st.dictionary_hash:
        events.append(("link.dictionary_mismatch", {"ground": str(ground_hash)[:20],
                                                    "flight": st.dictionary_hash}))
    # out of contact by our own radio (the ground may see AOS a moment before we do),
    # the HELLO we send at our AOS is the answer
    if not link_up(st):
        return events
    return events + _hello_again(st, t)


def _hello_again(st: LinkState, t: Tick) -> Events:
    """The ground has not heard this boot's HELLO (it asks again, or acknowledges another
    boot). While our last HELLO is unacknowledged, that same record goes again: a new one
    would take a number at a moment set by the ground's wall clock, and two lockstep runs
    would number their downlink differently. Gone from the recorder (acknowledged by a
    ground that has since restarted): a new one, at most once per holdoff."""
    if st.hello_seq is not None and st.hello_seq in st.recorder.records:
        st.recorder.resend_now(st.hello_seq, t.mission_time_s)
        return []
    if t.mission_time_s - st.last_hello_s >= HELLO_REPLY_HOLDOFF_S:
        return record(st, Kind.HELLO, hello_body(st), t.mission_time_s)
    return []


def _on_ack(st: LinkState, env: Envelope, t: Tick) -> Events:
    try:
        ack = AckBody.from_body(env.body)
        spans = ack.spans()
    except WireError as exc:
        st.frames_rejected += 1
        st.acks_rejected += 1
        return [("exec.frame_rejected", {"stream": "space", "reason": f"bad ack: {exc}"})]
    st.acks_received += 1
    if ack.boot_id != st.boot_id:
        # the ground has not heard this boot's HELLO yet (it was lost, or is on its
        # way): send it again, or say a new one if it is gone from the recorder
        st.acks_stale += 1
        return _hello_again(st, t)
    st.recorder.ack(spans, t.mission_time_s)
    return []


def telemetry(st: LinkState) -> dict[str, Any]:
    return {
        "link.in_contact": st.in_contact,
        "link.station": st.station,
        "link.recorder_depth": len(st.recorder),
        "link.recorder_bytes": st.recorder.bytes_used,
        "link.recorder_in_flight": st.recorder.in_flight,
        "link.recorder_evicted": st.recorder.evicted_total,
        "link.records_acked": st.recorder.acked_total,
        "link.frames_resent": st.recorder.resent_total,
        "link.gaps_rerequested": st.recorder.rerequested_total,
        "link.acks_received": st.acks_received,
        "link.acks_stale": st.acks_stale,
        "link.rtt_s": None if st.recorder.srtt_s is None else round(st.recorder.srtt_s, 3),
        "link.frames_sent": st.frames_sent,
        "link.frames_rejected": st.frames_rejected,
        "link.downlink_seq": st.next_seq,
        "link.boot_id": st.boot_id,
    }


DECLARATIONS = Declarations(
    component="link",
    telemetry=(
        Telemetry("link.in_contact", ArgType.BOOL, "A ground station is in view"),
        Telemetry("link.station", ArgType.STR, "Station in view"),
        Telemetry("link.next_aos_in_s", ArgType.FLOAT,
                  "Time to the next acquisition of signal (0 in contact)", units="s"),
        Telemetry("link.recorder_depth", ArgType.INT,
                  "Records held until the ground acknowledges them"),
        Telemetry("link.recorder_bytes", ArgType.INT, "Bytes held by the recorder",
                  units="B"),
        Telemetry("link.recorder_in_flight", ArgType.INT,
                  "Records sent and not yet acknowledged"),
        Telemetry("link.recorder_evicted", ArgType.INT,
                  "Records evicted because the recorder was full (housekeeping history "
                  "decimated first, events last)"),
        Telemetry("link.records_acked", ArgType.INT, "Records the ground acknowledged"),
        Telemetry("link.frames_resent", ArgType.INT, "Records sent more than once"),
        Telemetry("link.gaps_rerequested", ArgType.INT,
                  "Resends because the ground's acknowledgement showed a hole"),
        Telemetry("link.acks_received", ArgType.INT, "Acknowledgements received"),
        Telemetry("link.rtt_s", ArgType.FLOAT, "Smoothed round trip, record sent to its "
                  "acknowledgement (mission time; sets the retransmission timeout)",
                  units="s"),
        Telemetry("link.acks_stale", ArgType.INT,
                  "Acknowledgements for another boot's numbering (not applied)"),
        Telemetry("link.frames_sent", ArgType.INT, "Frames downlinked since boot"),
        Telemetry("link.frames_rejected", ArgType.INT, "Uplink frames rejected since boot"),
        Telemetry("link.downlink_seq", ArgType.INT, "Next downlink sequence number"),
        Telemetry("link.boot_id", ArgType.INT,
                  "Executive boot count, said in HELLO (numbering continues across boots)"),
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
        Event("link.backlog_restored", Severity.ACTIVITY_HI, "{records} records ({bytes} B) "
              "the ground had not acknowledged were restored at boot; numbering goes on "
              "at {next_seq}"),
        Event("link.backlog_kept", Severity.ACTIVITY_HI, "Shutdown: {records} records "
              "({bytes} B) not yet acknowledged are kept for the next boot"),
        Event(EVICTION_EVENT, Severity.WARNING_LO, "{count} {kind} records evicted "
              "from the full recorder ({total} since boot)"),
    ),
)


COMPONENT: Component[LinkState] = Component(
    name="link", declare=fixed(DECLARATIONS), initial=initial, telemetry=telemetry)
