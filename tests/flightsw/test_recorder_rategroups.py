"""Rate-group timing (the recorder has its own tests in test_recorder.py)."""

from __future__ import annotations

from flightsw.rategroups import RateGroups


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
