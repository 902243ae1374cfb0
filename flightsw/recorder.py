"""The onboard recorder: every downlink record, by number, held until the ground
acknowledges it (store-and-forward over a link that loses, corrupts and reorders).

Why it is shaped like this:

- **Bounded in bytes**, not records: one product can be a thousand times a housekeeping
  packet, and memory is what runs out. Each record costs its frame plus
  :data:`RECORD_OVERHEAD_BYTES` of bookkeeping.
- **Stated eviction order** when full: housekeeping *history* is decimated first (every
  second surviving packet from the oldest end, pass after pass, so the history thins out
  evenly instead of losing its start; the newest packet is never the one thinned), then
  the oldest data products, and only then the oldest events and verification reports.
  Every eviction is counted per class and its sequence number kept for the report
  (:meth:`take_evicted`), so the ground can tell "evicted onboard" from "lost".
- **Send order**: the newest housekeeping packet first (realtime), then records due
  again (retransmissions) and new ones, by class: events and verifications, then
  products, then housekeeping history; oldest first within a class.
- **Acknowledged, not fire-and-forget**: a record sent stays held, "in flight", until an
  acknowledgement covers its number (:meth:`ack`). It is sent again when the ground's
  acknowledgement leaves a hole at its number while a record sent after it (by more than
  the reordering window) did arrive (the ground's re-request), or on a timeout that
  follows the measured round trip and doubles with each copy (a lost tail, a lost
  acknowledgement, a pass that ended). Timeouts are clocked by the ground's evidence: a
  copy times out only once something *sent after it* has been acknowledged - then it had
  its chance - and the latest acknowledgement speaks of its number: one cut to
  :data:`~flightsw.messages.MAX_ACK_RANGES` ranges names only those between its first
  and last, and the priority send order fragments what arrived into thousands of ranges
  during a backlog (silence about the middle is no evidence: it cost 24 % of a loss-free
  pass in copies of records the ground had). While the ground says nothing, or falls
  behind, nothing is sent again,
  however much mission time passes: in a lockstep sim the ground is not in lockstep and
  lags by a wall-clock fraction of a second, which is minutes of mission time; a rule
  that also resent whatever the ground had "acknowledged around" for
  :data:`RESEND_MAX_S` of mission time sent ~10,000 of ~11,300 records twice on a clean
  link.
- **Pure**: no files. The shell persists what changed (:meth:`take_changes`) before any
  frame leaves, and reloads the held records at boot (:meth:`load`); times are mission
  times handed in by the caller.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from flightsw.messages import MAX_ACK_RANGES

RECORD_OVERHEAD_BYTES = 48
"""Bookkeeping per held record, counted against the capacity with its frame."""
RESEND_AFTER_S = 30.0
"""Until a round trip has been measured: a record sent this long ago (mission time) and
not acknowledged is sent again. After that the timeout follows the measured round trip
(smoothed, plus four deviations, as TCP does: RFC 6298), within
[:data:`RESEND_MIN_S`, :data:`RESEND_MAX_S`]. It is the last resort (a lost tail with
nothing sent after it): in contact, housekeeping flows every second, and a hole behind
an acknowledged later record is found by the re-request rule long before. Generous,
because a ground that falls behind (a lockstep sim outruns it) must not make every
record in flight look lost."""
RESEND_MIN_S = 30.0
RESEND_MAX_S = 120.0
REORDER_WINDOW_S = 2.0
"""A hole in the ground's acknowledgement is sent again only once a record sent at least
this much later was acknowledged (the link may reorder frames by up to about this)."""
REREQUEST_GUARD_S = 2.0
"""A record asked for again (a HELLO the ground has not heard) is re-sent only if our
last copy left at least this long ago, or the measured round trip plus two deviations if
that is longer (a copy still on its way is not lost)."""


class Priority(IntEnum):
    EVENT = 0  # events and verification reports: sent first, evicted last
    PRODUCT = 1  # payload data products
    HOUSEKEEPING = 2  # housekeeping history: sent last, evicted (decimated) first


@dataclass
class Held:
    """One record waiting for its acknowledgement."""

    seq: int
    priority: Priority
    frame: bytes
    sent_s: float | None = None  # mission time of the last transmission (None: not yet)
    sends: int = 0

    @property
    def cost_bytes(self) -> int:
        return len(self.frame) + RECORD_OVERHEAD_BYTES


@dataclass
class Changes:
    """What the shell must persist: records added and numbers no longer held."""

    added: list[Held] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


class Recorder:
    def __init__(self, capacity_bytes: int, *, resend_after_s: float = RESEND_AFTER_S,
                 rerequest_guard_s: float = REREQUEST_GUARD_S,
                 reorder_window_s: float = REORDER_WINDOW_S) -> None:
        if capacity_bytes < 1:
            raise ValueError("recorder capacity must be at least 1 byte")
        self.capacity_bytes = capacity_bytes
        self.resend_after_s = resend_after_s
        self.rerequest_guard_s = rerequest_guard_s
        self.reorder_window_s = reorder_window_s
        self._rack_s = -float("inf")  # latest send time of a record acknowledged
        self._samples_from_s = -float("inf")  # round trips only of copies sent since
        self.records: dict[int, Held] = {}
        self.bytes_used = 0
        self._order: dict[Priority, deque[int]] = {p: deque() for p in Priority}  # held, by seq
        self._hk: list[int] = []  # held housekeeping numbers, ascending (decimation)
        self._hk_cursor = 0
        self._hk_live = 0
        self._latest_hk: int | None = None  # the current (realtime) housekeeping packet
        self._fresh: dict[Priority, deque[int]] = {p: deque() for p in Priority}
        self._resend: dict[Priority, deque[int]] = {p: deque() for p in Priority}
        self._in_flight: dict[int, None] = {}  # ordered by last transmission
        self._selected: list[Held] = []
        self._changes = Changes()
        self._evicted_seqs: list[tuple[Priority, int]] = []
        self.evicted: dict[Priority, int] = {p: 0 for p in Priority}
        self.stored_total = 0
        self.acked_total = 0
        self.resent_total = 0
        self.rerequested_total = 0  # resends triggered by a hole in an acknowledgement
        self.refused_total = 0  # records larger than the whole recorder
        self.srtt_s: float | None = None  # smoothed round trip, mission seconds
        self.rttvar_s = 0.0
        self.last_ack_s = -float("inf")  # mission time of the last acknowledgement
        self._span = (0, 0)  # [first, end) of the numbers the latest ack speaks of

    # --- size ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    @property
    def evicted_total(self) -> int:
        return sum(self.evicted.values())

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # --- storing ------------------------------------------------------------------------
    def store(self, seq: int, priority: Priority, frame: bytes) -> bool:
        """Hold a new record (numbers must rise). Evicts by the stated order to make
        room; returns False (and counts it evicted at once) if the record alone is larger
        than the recorder."""
        held = Held(seq, priority, frame)
        self.stored_total += 1
        if held.cost_bytes > self.capacity_bytes:
            self.refused_total += 1
            self.evicted[priority] += 1
            self._evicted_seqs.append((priority, seq))
            return False
        while self.bytes_used + held.cost_bytes > self.capacity_bytes:
            if not self._evict_one():
                break
        self._insert(held)
        self._changes.added.append(held)
        return True

    def load(self, saved: Iterable[tuple[int, int, bytes]]) -> int:
        """Boot: take back the records a previous run held (seq, priority, frame), all
        to be sent again. Returns how many were taken."""
        n = 0
        for seq, priority, frame in sorted(saved):
            if seq in self.records:
                continue
            self._insert(Held(seq, Priority(priority), bytes(frame)))
            n += 1
        return n

    def _insert(self, held: Held) -> None:
        self.records[held.seq] = held
        self.bytes_used += held.cost_bytes
        self._order[held.priority].append(held.seq)
        self._fresh[held.priority].append(held.seq)
        if held.priority is Priority.HOUSEKEEPING:
            self._hk.append(held.seq)
            self._hk_live += 1
            self._latest_hk = held.seq

    def _remove(self, seq: int) -> Held | None:
        held = self.records.pop(seq, None)
        if held is None:
            return None
        self.bytes_used -= held.cost_bytes
        if held.priority is Priority.HOUSEKEEPING:
            self._hk_live -= 1
        self._in_flight.pop(seq, None)
        self._changes.removed.append(seq)
        return held

    # --- eviction -----------------------------------------------------------------------
    def _evict_one(self) -> bool:
        victim = self._hk_victim()
        if victim is None:
            for p in (Priority.PRODUCT, Priority.EVENT):
                victim = self._oldest(p)
                if victim is not None:
                    break
        if victim is None:
            return False
        held = self._remove(victim)
        if held is not None:
            self.evicted[held.priority] += 1
            self._evicted_seqs.append((held.priority, victim))
        return True

    def _hk_victim(self) -> int | None:
        hk = self._hk
        if len(hk) > 2 * self._hk_live + 16:  # mostly acknowledged: compact
            self._hk = hk = [s for s in hk if s in self.records]
            self._hk_cursor = 0
        while hk:
            if len(hk) <= 2:
                seq = hk.pop(0)  # too few to thin: the oldest goes
            else:
                if self._hk_cursor + 1 >= len(hk) - 1:  # never thin the newest
                    self._hk_cursor = 0
                seq = hk.pop(self._hk_cursor + 1)
                self._hk_cursor += 1
            if seq in self.records:
                return seq
        return None

    def _oldest(self, priority: Priority) -> int | None:
        order = self._order[priority]
        while order:
            seq = order.popleft()
            if seq in self.records:
                return seq
        return None

    def take_evicted(self) -> list[tuple[Priority, int]]:
        """The (class, number) of every record evicted since the last call."""
        out, self._evicted_seqs = self._evicted_seqs, []
        return out

    # --- sending ------------------------------------------------------------------------
    def select(self, max_frames: int, now_s: float,
               max_bytes: int | None = None) -> list[bytes]:
        """Up to ``max_frames`` frames (and about ``max_bytes``: the frame that crosses
        it is the last) to send now, in send order (see the module docstring). Call
        :meth:`sent` with how many the transport took."""
        self._return_selected()
        self._expire(now_s)
        out: list[Held] = []
        if max_frames <= 0:
            return []
        hk = self._fresh[Priority.HOUSEKEEPING]
        room = max_bytes if max_bytes is not None else -1
        if hk and hk[-1] == self._latest_hk and hk[-1] in self.records:
            out.append(self.records[hk.pop()])  # realtime: the current packet first
            room -= len(out[0].frame)
        for p in Priority:
            for queue in (self._resend[p], self._fresh[p]):
                while queue and len(out) < max_frames and (max_bytes is None or room > 0):
                    seq = queue.popleft()
                    held = self.records.get(seq)
                    if held is not None:
                        out.append(held)
                        room -= len(held.frame)
            if len(out) >= max_frames or (max_bytes is not None and room <= 0):
                break
        self._selected = out
        return [h.frame for h in out]

    def nothing_to_send(self, now_s: float) -> bool:
        """:meth:`select` at ``now_s`` would find nothing: nothing fresh, nothing queued
        to go again, and no copy in flight whose wait for an acknowledgement ends by
        then. The lockstep executive skips a fast cycle that would only learn this
        (nine in ten of them); conservative, it says False whenever it is unsure."""
        if self._selected or any(self._fresh.values()) or any(self._resend.values()):
            return False
        for seq in self._in_flight:  # the oldest send first: it would expire first
            held = self.records.get(seq)
            if held is None or held.sent_s is None:
                return False
            return now_s - held.sent_s < self.timeout_s or self._rack_s <= held.sent_s
        return True

    def sent(self, n: int, now_s: float) -> int:
        """The first ``n`` selected frames left; the rest go back to wait their turn.
        Returns the bytes that left."""
        chosen, rest = self._selected[:n], self._selected[n:]
        self._selected = rest
        for held in chosen:
            if held.sends:
                self.resent_total += 1
            held.sends += 1
            held.sent_s = now_s
            self._in_flight.pop(held.seq, None)
            self._in_flight[held.seq] = None
        self._return_selected()
        return sum(len(h.frame) for h in chosen)

    def selected(self) -> list[Held]:
        """The frames :meth:`select` chose, in order (before :meth:`sent`)."""
        return list(self._selected)

    def unsend(self, copies: Sequence[tuple[Held, float | None, int]]) -> None:
        """Copies :meth:`sent` counted that the transport then refused (the lockstep
        shell sends a tick's frames once the plant has its answer): each ``(held,
        sent_s, sends)`` as it was before, back in its queue at the head, as if never
        selected."""
        self._return_selected()
        back: dict[int, Held] = {}
        for held, sent_s, sends in reversed(copies):  # a record sent twice: its first state
            if held.seq not in self.records:
                continue
            if sends:
                self.resent_total -= 1
            held.sent_s, held.sends = sent_s, sends
            self._in_flight.pop(held.seq, None)
            back[held.seq] = held
        self._selected = sorted(back.values(), key=lambda h: h.seq)
        self._return_selected()

    def _return_selected(self) -> None:
        for held in reversed(self._selected):
            if held.seq not in self.records:
                continue
            queue = self._resend if held.sends else self._fresh
            if held.priority is Priority.HOUSEKEEPING and not held.sends:
                bisect.insort(queue[held.priority], held.seq)  # deque supports insort
            else:
                queue[held.priority].appendleft(held.seq)
        self._selected = []

    @property
    def timeout_s(self) -> float:
        """How long an unacknowledged record waits before it is sent again."""
        if self.srtt_s is None:
            return self.resend_after_s
        return min(RESEND_MAX_S, max(RESEND_MIN_S, self.srtt_s + 4 * self.rttvar_s))

    @property
    def guard_s(self) -> float:
        if self.srtt_s is None:
            return self.rerequest_guard_s
        return max(self.rerequest_guard_s, self.srtt_s + 2 * self.rttvar_s)

    def _measure(self, sample_s: float) -> None:
        """One round trip (a record sent once, acknowledged now: Karn's rule)."""
        if sample_s < 0:
            return
        if self.srtt_s is None:
            self.srtt_s, self.rttvar_s = sample_s, sample_s / 2
            return
        self.rttvar_s = 0.75 * self.rttvar_s + 0.25 * abs(self.srtt_s - sample_s)
        self.srtt_s = 0.875 * self.srtt_s + 0.125 * sample_s

    def _expire(self, now_s: float) -> None:
        timeout = self.timeout_s
        for seq in list(self._in_flight):
            held = self.records.get(seq)
            if held is None:
                del self._in_flight[seq]
                continue
            sent = held.sent_s if held.sent_s is not None else -float("inf")
            if now_s - sent < timeout:
                break  # ordered by last send: the rest are younger
            # clocked by the ground: only once something sent later has been
            # acknowledged (mission time alone says nothing of a ground that lags)
            if self._rack_s <= sent:
                break  # ... and the same holds for every younger copy
            if not self._span[0] <= seq < self._span[1]:
                continue  # the ground's latest acknowledgement does not speak of it
            if now_s - sent < min(RESEND_MAX_S, timeout * 2 ** min(held.sends - 1, 6)):
                continue  # backing off: this one was sent again already
            del self._in_flight[seq]
            self._resend[held.priority].append(seq)

    # --- acknowledgements ---------------------------------------------------------------
    def ack(self, ranges: Sequence[tuple[int, int]], now_s: float) -> int:
        """The ground has every number in these half-open ``[start, end)`` ranges: stop
        holding them. The holes are the ground's re-request: a record in flight there is
        sent again once a record *sent after it* (by more than the reordering window) has
        been acknowledged - then it had its chance to arrive (RACK, RFC 8985; by send
        time, not number, because records leave in priority order, and not by a clock,
        because a ground that falls behind would make every record look lost). Returns
        how many records were released."""
        spans = sorted((a, b) for a, b in ranges if b > a)
        self.last_ack_s = max(self.last_ack_s, now_s)
        if not spans or not self.records:
            return 0
        # an acknowledgement with room to spare names everything the ground has; one
        # cut to MAX_ACK_RANGES speaks only of the numbers between its first and last
        self._span = ((-1, 1 << 64) if len(spans) < MAX_ACK_RANGES
                      else (spans[0][0], spans[-1][1]))
        released: list[Held] = []
        total = sum(b - a for a, b in spans)
        if total <= len(self.records):
            for a, b in spans:
                for seq in range(a, b):
                    held = self._remove(seq)
                    if held is not None:
                        released.append(held)
        else:
            starts = [a for a, _ in spans]
            for seq in list(self.records):
                i = bisect.bisect_right(starts, seq) - 1
                if i >= 0 and seq < spans[i][1]:
                    held = self._remove(seq)
                    if held is not None:
                        released.append(held)
        self.acked_total += len(released)
        once = [h.sent_s for h in released if h.sends == 1 and h.sent_s is not None]
        if not once:
            return len(released)
        newest = max(once)
        if newest >= self._samples_from_s:  # not a copy that waited out a pass's end
            self._measure(now_s - newest)  # the freshest copy: the least ack delay
        self._rack_s = max(self._rack_s, newest)
        window = self.reorder_window_s
        low, high = spans[0][0], spans[-1][1]  # holes are named only in between
        for seq in list(self._in_flight):  # oldest send first
            held = self.records.get(seq)
            if held is None:
                del self._in_flight[seq]
                continue
            if held.sent_s is None or held.sent_s >= self._rack_s - window:
                break
            if not low <= seq < high:
                continue  # this acknowledgement does not speak of it
            del self._in_flight[seq]
            self._resend[held.priority].append(seq)
            self.rerequested_total += 1
        return len(released)

    def probe(self, now_s: float, older_than_s: float) -> int:
        """Send again every record in flight whose last copy left at least
        ``older_than_s`` ago, evidence or not (the shutdown drain: no later traffic will
        come to show a lost tail). Returns how many."""
        n = 0
        for seq in list(self._in_flight):
            held = self.records.get(seq)
            if held is not None and held.sent_s is not None \
                    and now_s - held.sent_s < older_than_s:
                break  # ordered by last send
            del self._in_flight[seq]
            if held is not None:
                self._resend[held.priority].append(seq)
                n += 1
        return n

    def link_restored(self, now_s: float) -> None:
        """A pass began: copies sent before it waited for it, so their acknowledgement
        measures the gap between passes, not a round trip."""
        self._samples_from_s = now_s

    def resend_now(self, seq: int, now_s: float) -> bool:
        """Send this record again at the next chance, if it is in flight and its last
        copy has had a round trip to arrive (the HELLO a ground has not heard)."""
        held = self.records.get(seq)
        if (held is None or seq not in self._in_flight or held.sent_s is None
                or now_s - held.sent_s < self.guard_s):
            return False
        del self._in_flight[seq]
        self._resend[held.priority].append(seq)
        return True

    # --- persistence ----------------------------------------------------------------------
    def take_changes(self) -> Changes:
        out, self._changes = self._changes, Changes()
        return out

    def pending_changes(self) -> bool:
        return bool(self._changes)
