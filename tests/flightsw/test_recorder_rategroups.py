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


class _Flight:
    """A toy flight for the batch of idle cycles: the fast group has work when a slow or
    capture cycle left some (``pending``) or when its own time-driven duty comes due
    (every 0.7 s); every other fast cycle only counts. Logs what it did, with the clock."""

    def __init__(self, batch: bool) -> None:
        self.now = 0.0
        self.pending = 0
        self.due_s = 0.7
        self.log: list[tuple[str, float, float]] = []
        self.idle_counted = 0
        self.groups = RateGroups()
        fast = self.groups.add("fast", 0.1, self.fast)
        self.groups.add("slow", 1.0, self.slow)
        self.groups.add("capture", 2.5, self.capture)
        if batch:
            fast.skip = lambda: None if self.pending else self.idle

    def set_time(self, t: float) -> None:
        assert t >= self.now
        self.now = t

    def has_work(self) -> bool:
        return bool(self.pending) or self.now + 1e-9 >= self.due_s

    def idle(self) -> bool:
        if self.has_work():
            return False
        self.idle_counted += 1
        return True

    def fast(self, t: float) -> None:
        if not self.has_work():
            self.idle_counted += 1
            return
        self.log.append(("fast", t, self.now))
        self.pending = 0
        while self.due_s <= self.now + 1e-9:
            self.due_s = round(self.due_s + 0.7, 9)

    def slow(self, t: float) -> None:
        self.log.append(("slow", t, self.now))
        self.pending += 1

    def capture(self, t: float) -> None:
        self.log.append(("capture", t, self.now))
        self.pending += 1


def test_a_batch_of_idle_cycles_changes_nothing_but_the_work_done() -> None:
    """Ticks of 1 s and of 7 s (other groups' deadlines fall inside a tick): the same
    cycles do work at the same instants with the clock at the same time, every group
    runs as often, the idle cycles are all counted, and the deadlines end equal."""
    plain, batched = _Flight(batch=False), _Flight(batch=True)
    for until in [0.0, 1.0, 2.0, 9.0, 10.0, 10.0, 17.5, 30.0]:
        for f in (plain, batched):
            f.groups.run_until(until, f.set_time)
        assert batched.log == plain.log
        assert [g.runs for g in batched.groups.groups] == [g.runs for g in plain.groups.groups]
        assert [g.next_s for g in batched.groups.groups] == [
            g.next_s for g in plain.groups.groups]
        assert batched.now == plain.now
    assert batched.idle_counted == plain.idle_counted > 200
    assert any(kind == "fast" and round(t * 10) % 10 not in (0, 5) for kind, t, _ in plain.log)


def test_a_batch_stops_at_another_groups_deadline() -> None:
    """A slow cycle inside a long tick leaves work: the fast cycle right after it must
    run, not be counted idle with the ones before."""
    f = _Flight(batch=True)
    f.due_s = 1e9  # only the other groups make work
    f.groups.run_until(3.0, f.set_time)
    assert f.log == [(k, t, t) for k, t in [
        ("slow", 0.0), ("capture", 0.0), ("fast", 0.1), ("slow", 1.0), ("fast", 1.1),
        ("slow", 2.0), ("fast", 2.1), ("capture", 2.5), ("fast", 2.6), ("slow", 3.0)]]
