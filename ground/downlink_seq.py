"""Downlink sequence accounting: which records have not arrived, which came twice.

Every downlinked record carries the flight's downlink sequence number. The onboard
recorder sends its backlog in priority order (events first, housekeeping last), so
records legitimately arrive out of order: a sequence number above the next expected one
opens a *gap*, and a late record fills it. What stays missing is what the ground has not
got (yet: the recorder may still hold it, or it was lost). A number seen before is a
*duplicate*. Nothing here drops a record: the archive keeps duplicates too, because
today a flight restart also starts its numbering again (see :meth:`new_epoch`).

Pure bookkeeping: no I/O, bounded memory (the oldest gap ranges are forgotten, and
counted, if there are too many).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Arrival(str, Enum):
    IN_ORDER = "in_order"  # the next expected number
    AHEAD = "ahead"  # above the next expected number: opened a gap
    LATE = "late"  # filled a gap (reordered or played back)
    DUPLICATE = "duplicate"  # seen before (in this epoch)


MAX_GAP_RANGES = 10_000


@dataclass
class DownlinkSequence:
    """Tracks one sender's sequence numbers within an epoch (one flight connection)."""

    max_gap_ranges: int = MAX_GAP_RANGES
    next_expected: int | None = None
    lowest: int | None = None  # lowest number seen this epoch
    received: int = 0
    gaps_opened: int = 0  # how many times a jump ahead opened a gap
    late: int = 0  # records that filled a gap
    duplicates: int = 0
    forgotten: int = 0  # missing numbers no longer tracked (too many gap ranges)
    epochs: int = 1
    _starts: list[int] = field(default_factory=list)  # sorted, disjoint [start, end)
    _ends: list[int] = field(default_factory=list)

    @property
    def missing(self) -> int:
        """Numbers below the highest seen that have not arrived (in this epoch)."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def observe(self, seq: int) -> Arrival:
        self.received += 1
        if self.next_expected is None or seq == self.next_expected:
            if self.next_expected is None:
                self.lowest = seq
            self.next_expected = seq + 1
            return Arrival.IN_ORDER
        if self.lowest is not None and seq < self.lowest:
            # Older than anything seen this epoch (the backlog's low-priority records come
            # after newer events): widen the window down; what lies between is missing.
            self._insert_gap(seq + 1, self.lowest)
            self.lowest = seq
            self.late += 1
            return Arrival.LATE
        if seq > self.next_expected:
            self._add_gap(self.next_expected, seq)
            self.next_expected = seq + 1
            self.gaps_opened += 1
            return Arrival.AHEAD
        if self._fill(seq):
            self.late += 1
            return Arrival.LATE
        self.duplicates += 1
        return Arrival.DUPLICATE

    def new_epoch(self) -> None:
        """The sender may have restarted its numbering (it reconnected): start afresh.

        Counters keep accumulating; only the expectation and open gaps are reset (the
        gaps of the old epoch are added to :attr:`forgotten`). A no-op before the
        first record of the current epoch.
        """
        if self.next_expected is None:
            return
        self.forgotten += self.missing
        self._starts.clear()
        self._ends.clear()
        self.next_expected = None
        self.lowest = None
        self.epochs += 1

    def gap_ranges(self, limit: int = 20) -> list[tuple[int, int]]:
        """The oldest open gaps as inclusive ``(first, last)`` pairs (for status)."""
        return [(s, e - 1) for s, e in zip(self._starts[:limit], self._ends[:limit], strict=True)]

    def as_dict(self) -> dict[str, Any]:
        return {"next_expected": self.next_expected, "received": self.received,
                "missing": self.missing, "gaps_opened": self.gaps_opened, "late": self.late,
                "duplicates": self.duplicates, "forgotten": self.forgotten,
                "epochs": self.epochs}

    def _insert_gap(self, start: int, end: int) -> None:
        if end > start:
            self._starts.insert(0, start)  # below every open range by construction
            self._ends.insert(0, end)
            self._trim()

    def _add_gap(self, start: int, end: int) -> None:
        self._starts.append(start)  # above every open range by construction
        self._ends.append(end)
        self._trim()

    def _trim(self) -> None:
        while len(self._starts) > self.max_gap_ranges:
            self.forgotten += self._ends.pop(0) - self._starts.pop(0)

    def _fill(self, seq: int) -> bool:
        i = bisect.bisect_right(self._starts, seq) - 1
        if i < 0 or seq >= self._ends[i]:
            return False
        start, end = self._starts[i], self._ends[i]
        pieces = [(a, b) for a, b in ((start, seq), (seq + 1, end)) if b > a]
        self._starts[i:i + 1] = [a for a, _ in pieces]
        self._ends[i:i + 1] = [b for _, b in pieces]
        return True
