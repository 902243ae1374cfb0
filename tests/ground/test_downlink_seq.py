"""Downlink sequence accounting: gaps, late fills (priority reorder) and duplicates."""

from __future__ import annotations

from ground.downlink_seq import Arrival, DownlinkSequence


def feed(seqs: list[int], tracker: DownlinkSequence | None = None) -> DownlinkSequence:
    t = tracker or DownlinkSequence()
    for s in seqs:
        t.observe(s)
    return t


def test_in_order_has_no_gaps() -> None:
    t = feed([5, 6, 7])  # the first number seen sets the expectation
    assert (t.missing, t.gaps_opened, t.duplicates) == (0, 0, 0)


def test_gap_then_late_fill_then_duplicate() -> None:
    t = DownlinkSequence()
    assert [t.observe(s) for s in (0, 1, 4, 2, 2, 9)] == [
        Arrival.IN_ORDER, Arrival.IN_ORDER, Arrival.AHEAD, Arrival.LATE, Arrival.DUPLICATE,
        Arrival.AHEAD]
    assert t.missing == 1 + 4  # 3, and 5..8
    assert t.gap_ranges() == [(3, 3), (5, 8)]
    assert (t.gaps_opened, t.late, t.duplicates, t.received) == (2, 1, 1, 6)
    feed([3, 5, 6, 7, 8], t)
    assert t.missing == 0 and t.gap_ranges() == []


def test_priority_order_backlog_accounts_exactly() -> None:
    # The recorder sends events (odd numbers here) before housekeeping (even).
    t = feed([1, 3, 5, 7, 0, 2, 4, 6, 8])
    assert t.missing == 0 and t.duplicates == 0 and t.late == 4


def test_new_epoch_restarts_numbering_without_false_duplicates() -> None:
    t = feed([0, 1, 2, 5])
    t.new_epoch()
    feed([0, 1], t)
    assert t.duplicates == 0 and t.epochs == 2
    assert t.forgotten == 2  # 3 and 4 of the old epoch are no longer tracked


def test_gap_ranges_are_bounded() -> None:
    t = feed(list(range(0, 100, 2)), DownlinkSequence(max_gap_ranges=10))
    assert len(t.gap_ranges(limit=1000)) == 10
    assert t.forgotten == 39 and t.missing == 10


def test_records_older_than_the_first_seen_widen_the_window() -> None:
    t = feed([5, 6, 2])  # 2 was held back by priority; 3 and 4 must be missing now
    assert t.missing == 2 and t.gap_ranges() == [(3, 4)] and t.duplicates == 0
    feed([4, 3], t)
    assert t.missing == 0
