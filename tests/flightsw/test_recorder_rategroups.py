"""Recorder eviction order and rate-group timing."""

from __future__ import annotations

import pytest

from flightsw.rategroups import RateGroups
from flightsw.recorder import Priority, Recorder


def test_recorder_sends_in_priority_order() -> None:
    rec = Recorder(10)
    rec.store(Priority.HOUSEKEEPING, b"hk1")
    rec.store(Priority.PRODUCT, b"p1")
    rec.store(Priority.EVENT, b"e1")
    rec.store(Priority.EVENT, b"e2")
    assert [rec.pop() for _ in range(5)] == [b"e1", b"e2", b"p1", b"hk1", None]


def test_recorder_evicts_housekeeping_first_and_counts() -> None:
    rec = Recorder(3)
    rec.store(Priority.EVENT, b"e1")
    rec.store(Priority.HOUSEKEEPING, b"hk1")
    rec.store(Priority.PRODUCT, b"p1")
    rec.store(Priority.EVENT, b"e2")  # full: hk1 goes
    assert rec.evicted[Priority.HOUSEKEEPING] == 1
    rec.store(Priority.EVENT, b"e3")  # no housekeeping left: the product goes
    assert rec.evicted[Priority.PRODUCT] == 1
    assert rec.evicted_total == 2 and len(rec) == 3
    assert [rec.pop() for _ in range(3)] == [b"e1", b"e2", b"e3"]


def test_recorder_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Recorder(0)


def test_lockstep_runs_each_group_as_often_as_its_period_fits() -> None:
    calls: list[tuple[str, float]] = []
    groups = RateGroups()
    groups.add("fast", 0.1, lambda t: calls.append(("fast", t)))
    groups.add("slow", 1.0, lambda t: calls.append(("slow", t)))
    times: list[float] = []
    groups.run_until(0.0, times.append)
    groups.run_until(1.0, times.append)
    groups.run_until(2.0, times.append)
    assert sum(1 for n, _ in calls if n == "fast") == 21
    assert [t for n, t in calls if n == "slow"] == [0.0, 1.0, 2.0]
    assert times == sorted(times) and times[-1] == 2.0


def test_real_time_counts_slips_and_does_not_replay() -> None:
    calls: list[float] = []
    slips: list[str] = []
    groups = RateGroups(on_slip=lambda g, late, now: slips.append(g.name))
    groups.add("slow", 1.0, calls.append, start_s=0.0)
    groups.run_due(0.0)
    groups.run_due(5.5)  # four cycles late: one run, one slip
    assert calls == [0.0, 5.5] and slips == ["slow"] and groups.slips == 1
    groups.run_due(6.0)  # not due yet
    assert calls == [0.0, 5.5]
    groups.run_due(6.5)
    assert calls == [0.0, 5.5, 6.5]
