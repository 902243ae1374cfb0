"""Mission time follows the executive's stamps; durations never do."""

from __future__ import annotations

from flightsw.clock import SimClock
from payload.mission_clock import ParentSyncedClock


def test_before_any_stamp_it_is_the_base_clock() -> None:
    base = SimClock(epoch_s=1_000.0, start_s=5.0)
    clock = ParentSyncedClock(base)
    assert clock.mission_time_s() == 1_005.0
    assert clock.monotonic_s() == 5.0


def test_after_a_stamp_it_counts_on_from_it() -> None:
    base = SimClock(epoch_s=1_000.0)
    clock = ParentSyncedClock(base)
    base.advance_by(2.0)
    clock.observe(1_900_000_000.0)
    base.advance_by(0.25)
    assert clock.mission_time_s() == 1_900_000_000.25
    assert clock.monotonic_s() == 2.25


def test_a_later_stamp_wins_even_if_it_goes_back() -> None:
    """A restarted scenario may rewind mission time; the payload follows the executive."""
    base = SimClock()
    clock = ParentSyncedClock(base)
    clock.observe(500.0)
    base.advance_by(1.0)
    clock.observe(100.0)
    assert clock.mission_time_s() == 100.0
