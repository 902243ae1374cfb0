"""Downlink sequence accounting: gaps, late fills (priority reorder) and duplicates."""

from __future__ import annotations

from ground.downlink_seq import Arrival, DownlinkSequence, RangeSet


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
    t = feed(list(range(0, 100, 2)), DownlinkSequence(max_ranges=10))
    assert len(t.gap_ranges(limit=1000)) == 9  # 10 received ranges, 9 holes between
    assert t.forgotten == 40 and t.missing == 9


def test_records_older_than_the_first_seen_widen_the_window() -> None:
    t = feed([5, 6, 2])  # 2 was held back by priority; 3 and 4 must be missing now
    assert t.missing == 2 and t.gap_ranges() == [(3, 4)] and t.duplicates == 0
    feed([4, 3], t)
    assert t.missing == 0


def test_reported_evictions_are_not_missing_and_a_late_copy_still_counts() -> None:
    t = feed([0, 1, 6])
    assert t.missing == 4
    assert t.evicted(2, 3) == 2  # the spacecraft said 2..3 were evicted
    assert t.missing == 2 and t.gap_ranges() == [(4, 5)]
    assert t.evicted(5, 9) == 4  # 6 arrived: only 5, 7, 8, 9 were never received
    assert t.evicted_reported == 6 and t.next_expected == 10
    assert t.observe(4) is Arrival.LATE and t.missing == 0
    assert t.observe(7) is Arrival.LATE  # a copy that left before its eviction: kept
    assert t.evicted_net == 5 and t.as_dict()["evicted"] == 5


def test_ack_ranges_name_what_arrived_bounded() -> None:
    t = feed([3, 4, 5, 8, 10, 11])
    assert t.ack_ranges(8) == [[3, 6], [8, 9], [10, 12]]
    assert t.rerequested == 3 and t.as_dict()["rerequested"] == 3  # 6, 7 and 9 asked for
    t.ack_ranges(8)
    assert t.rerequested == 3  # asking again is not counted twice
    t = feed(list(range(0, 40, 2)))
    assert t.ack_ranges(4) == [[32, 33], [34, 35], [36, 37], [38, 39]]  # consecutive
    assert t.ack_ranges(4, oldest=True) == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_range_set_merges_overlaps_and_counts_only_new_numbers() -> None:
    r = RangeSet()
    assert r.add(5, 8) == 3 and r.add(10, 12) == 2 and r.add(0, 2) == 2
    assert r.add(1, 11) == 5  # 2, 3, 4, 8 and 9 were new
    assert r.ranges() == [(0, 12)] and 11 in r and 12 not in r


def test_observe_matches_a_set_model_over_random_traffic() -> None:
    """In-order numbers take a shortcut (the common case, per record at the ground); it
    must classify and count exactly as the set arithmetic does, whatever came before:
    gaps, late fills, duplicates, evictions reported above and below the newest."""
    import random

    for seed in range(40):
        rng = random.Random(seed)
        t = DownlinkSequence()
        got: set[int] = set()
        gone: set[int] = set()
        late = gaps = dups = 0
        nxt = 0
        for _ in range(400):
            r = rng.random()
            if r < 0.05:  # an eviction report, sometimes reaching above the newest
                first = rng.randrange(0, nxt + 5)
                last = first + rng.randrange(0, 6)
                t.evicted(first, last)
                gone |= set(range(first, last + 1)) - got
                continue
            if r < 0.75:
                seq = nxt
                nxt += 1
            elif r < 0.85:
                seq = nxt + rng.randrange(1, 5)
                nxt = seq + 1
            else:
                seq = rng.randrange(0, nxt + 1)
            both = got | gone
            top = max(both) + 1 if both else None
            low = min(both) if both else None
            if seq in got:
                want, dups = Arrival.DUPLICATE, dups + 1
            elif top is None or seq == top:
                want = Arrival.IN_ORDER
            elif seq > top:
                want, gaps = Arrival.AHEAD, gaps + 1
            else:
                want, late = Arrival.LATE, late + 1
                if low is not None and seq < low - 1:
                    gaps += 1
            if seq not in got:
                got.add(seq)
                gone.discard(seq)
            assert t.observe(seq) is want, (seed, seq)
        assert (t.late, t.gaps_opened, t.duplicates) == (late, gaps, dups)
        assert t.got.count() == len(got)
        assert all(s in t.got for s in got)
        runs: list[tuple[int, int]] = []  # the received numbers as merged ranges
        for s in sorted(got):
            if runs and runs[-1][1] == s:
                runs[-1] = (runs[-1][0], s + 1)
            else:
                runs.append((s, s + 1))
        assert t.got.ranges() == runs
        both = got | gone
        assert t.next_expected == max(both) + 1
