"""Downlink sequence accounting: which records have not arrived, which came twice, which
the spacecraft evicted - and what to acknowledge.

Every downlinked record carries the flight's downlink sequence number, which goes on
across executive resets (the recorder store keeps it; HELLO says whether it did). The
recorder sends realtime housekeeping first and its backlog in priority order, and the
link loses, duplicates and reorders, so records legitimately arrive out of order: a
number above the highest seen opens a *gap*, a late record fills it. What stays missing
is what the ground has not got yet; the recorder holds it until it is acknowledged and
sends it again when an acknowledgement (:meth:`DownlinkSequence.ack_ranges`) shows the
hole. A number already received is a *duplicate* (mission control drops it). Numbers
the spacecraft reports evicted from its full recorder (:meth:`evicted`) are accounted
as such, not as missing.

Pure bookkeeping: no I/O, bounded memory (if the received numbers fragment into too
many ranges, the oldest holes are forgotten, and counted).
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Arrival(str, Enum):
    IN_ORDER = "in_order"  # the next expected number
    AHEAD = "ahead"  # above the next expected number: opened a gap
    LATE = "late"  # filled a gap (reordered, played back or sent again)
    DUPLICATE = "duplicate"  # received before (in this epoch)


MAX_RANGES = 10_000


@dataclass
class RangeSet:
    """Disjoint half-open ``[start, end)`` integer ranges, merged as they touch."""

    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def __contains__(self, n: int) -> bool:
        i = bisect.bisect_right(self.starts, n) - 1
        return i >= 0 and n < self.ends[i]

    def __len__(self) -> int:
        return len(self.starts)

    def count(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))

    def add(self, start: int, end: int) -> int:
        """Add ``[start, end)``; returns how many numbers were new."""
        if end <= start:
            return 0
        i = bisect.bisect_left(self.ends, start)  # first range that ends at/after start
        j = bisect.bisect_right(self.starts, end)  # ranges before j start at/before end
        if i == j:
            self.starts.insert(i, start)
            self.ends.insert(i, end)
            return end - start
        covered = sum(min(e, end) - max(s, start)
                      for s, e in zip(self.starts[i:j], self.ends[i:j], strict=True)
                      if min(e, end) > max(s, start))
        new_start, new_end = min(start, self.starts[i]), max(end, self.ends[j - 1])
        self.starts[i:j] = [new_start]
        self.ends[i:j] = [new_end]
        return (end - start) - covered

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self.starts, self.ends, strict=True))

    def holes(self) -> list[tuple[int, int]]:
        """The ranges between consecutive ranges."""
        return list(zip(self.ends[:-1], self.starts[1:], strict=True))

    def merge_first_hole(self) -> int:
        """Join the two lowest ranges (forgetting the hole between); returns its size."""
        hole = self.starts[1] - self.ends[0]
        self.ends[0] = self.ends[1]
        del self.starts[1], self.ends[1]
        return hole


@dataclass
class DownlinkSequence:
    """One sender's sequence numbers within an epoch (one unbroken numbering)."""

    max_ranges: int = MAX_RANGES
    received: int = 0  # every observation, duplicates included
    gaps_opened: int = 0  # how many times a jump ahead opened a gap
    late: int = 0  # records that filled a gap
    duplicates: int = 0
    evicted_reported: int = 0  # numbers the spacecraft said it evicted (never to come)
    evicted_arrived: int = 0  # ... of which a copy sent before the eviction arrived
    forgotten: int = 0  # missing numbers no longer tracked (old epoch, too many ranges)
    epochs: int = 1
    got: RangeSet = field(default_factory=RangeSet)  # received numbers
    asked: RangeSet = field(default_factory=RangeSet)  # numbers ever named as holes
    gone: RangeSet = field(default_factory=RangeSet)  # evicted onboard, not received

    @property
    def evicted_net(self) -> int:
        """Numbers evicted onboard that never arrived."""
        return self.evicted_reported - self.evicted_arrived

    @property
    def next_expected(self) -> int | None:
        top = max(self.got.ends[-1] if self.got else -1, self.gone.ends[-1] if self.gone
                  else -1)
        return None if top < 0 else top

    @property
    def lowest(self) -> int | None:
        lows = [r.starts[0] for r in (self.got, self.gone) if r]
        return min(lows) if lows else None

    def _accounted(self) -> RangeSet:
        both = RangeSet(list(self.got.starts), list(self.got.ends))
        for s, e in self.gone.ranges():
            both.add(s, e)
        return both

    @property
    def missing(self) -> int:
        """Numbers between the lowest and highest accounted for that are neither
        received nor reported evicted (in this epoch)."""
        return sum(e - s for s, e in self._accounted().holes())

    def observe(self, seq: int) -> Arrival:
        """Account one received number. Called per record at the ground, so the range
        arithmetic is done in place here (one bisection; :meth:`RangeSet.add` and the
        properties cost several times as much per record, measured under the link
        bench, where the recorder's priority order makes most arrivals out of order)."""
        self.received += 1
        starts, ends = self.got.starts, self.got.ends
        i = bisect.bisect_right(starts, seq) - 1  # the range at or below seq
        if i >= 0 and seq < ends[i]:
            self.duplicates += 1
            return Arrival.DUPLICATE
        gone = self.gone
        top = ends[-1] if ends else -1
        low = starts[0] if starts else None
        if gone.ends:
            top = max(top, gone.ends[-1])
            low = gone.starts[0] if low is None else min(low, gone.starts[0])
            if seq in gone:
                self.evicted_arrived += 1
        # seq joins the range ending at it, the range starting after it, both, or neither
        joins_below = i >= 0 and ends[i] == seq
        joins_above = i + 1 < len(starts) and starts[i + 1] == seq + 1
        if joins_below and joins_above:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        elif joins_below:
            ends[i] = seq + 1
        elif joins_above:
            starts[i + 1] = seq
        else:
            starts.insert(i + 1, seq)
            ends.insert(i + 1, seq + 1)
            self._trim()
        if top < 0 or seq == top:
            return Arrival.IN_ORDER
        if seq > top:
            self.gaps_opened += 1
            return Arrival.AHEAD
        if low is not None and seq < low - 1:
            self.gaps_opened += 1  # older than anything seen: a hole opens below
        self.late += 1
        return Arrival.LATE

    def restore(self, seqs: list[int]) -> None:
        """Take back numbers received before a restart (ascending), without counting
        them as received again."""
        for seq in seqs:
            if self.got and self.got.ends[-1] == seq:
                self.got.ends[-1] = seq + 1
            else:
                self.got.add(seq, seq + 1)
        self._trim()

    def evicted(self, first: int, last: int) -> int:
        """The spacecraft evicted ``first..last`` (inclusive): not missing any more.
        Returns how many of them had not been received."""
        new = 0
        for s, e in _minus(first, last + 1, self.got):
            new += self.gone.add(s, e)
        self.evicted_reported += new
        return new

    def new_epoch(self) -> None:
        """The sender restarted its numbering (a boot without its saved numbering):
        start afresh. Counters keep accumulating; the old epoch's holes are added to
        :attr:`forgotten`. A no-op before the first record of the current epoch."""
        if self.next_expected is None:
            return
        self.forgotten += self.missing
        self.got = RangeSet()
        self.gone = RangeSet()
        self.asked = RangeSet()
        self.epochs += 1

    def gap_ranges(self, limit: int = 20) -> list[tuple[int, int]]:
        """The oldest open gaps as inclusive ``(first, last)`` pairs (for status)."""
        return [(s, e - 1) for s, e in self._accounted().holes()[:limit]]

    @property
    def rerequested(self) -> int:
        """Distinct numbers named as holes in an acknowledgement (this epoch)."""
        return self.asked.count()

    def ack_ranges(self, limit: int, *, oldest: bool = False) -> list[list[int]]:
        """What to acknowledge: the numbers accounted for (received, or reported evicted,
        which the spacecraft no longer holds anyway, so its holes do not fragment the
        acknowledgement), as at most ``limit`` *consecutive* ranges - the newest ones,
        or the oldest with ``oldest`` (callers alternate) - so that every hole between
        two of them is a real one: the re-request."""
        ranges = self._accounted().ranges() if self.gone else self.got.ranges()
        if len(ranges) > limit:
            ranges = ranges[:limit] if oldest else ranges[-limit:]
        for (_, end), (start, _) in itertools.pairwise(ranges):
            self.asked.add(end, start)  # the holes this acknowledgement re-requests
        return [[s, e] for s, e in ranges]

    def as_dict(self) -> dict[str, Any]:
        return {"next_expected": self.next_expected, "received": self.received,
                "missing": self.missing, "gaps_opened": self.gaps_opened, "late": self.late,
                "duplicates": self.duplicates, "evicted": self.evicted_net,
                "rerequested": self.rerequested,
                "forgotten": self.forgotten, "epochs": self.epochs}

    def _trim(self) -> None:
        while len(self.got) > self.max_ranges:
            self.forgotten += self.got.merge_first_hole()


def _minus(start: int, end: int, taken: RangeSet) -> list[tuple[int, int]]:
    """``[start, end)`` without the numbers in ``taken``."""
    out: list[tuple[int, int]] = []
    cur = start
    i = max(0, bisect.bisect_right(taken.starts, start) - 1)
    while cur < end and i < len(taken):
        s, e = taken.starts[i], taken.ends[i]
        if e <= cur:
            i += 1
            continue
        if s >= end:
            break
        if s > cur:
            out.append((cur, s))
        cur = max(cur, e)
        i += 1
    if cur < end:
        out.append((cur, end))
    return out
