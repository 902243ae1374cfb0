"""The command round-trip probe: percentiles by nearest rank, failures kept apart."""

from __future__ import annotations

from typing import Any

from ground.api import Verification
from ground.rtt_probe import measure_cmd_rtt, percentile


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def monotonic_s(self) -> float:
        return self.now_s

    def sleep_s(self, seconds: float) -> None:
        self.now_s += seconds


class FakeOps:
    """Completes command ``i`` after ``delays_s[i]``; a negative delay fails it."""

    def __init__(self, clock: FakeClock, delays_s: list[float]) -> None:
        self.clock = clock
        self.delays_s = delays_s
        self.started: dict[int, float] = {}

    def submit(self, name: str, args: Any = None) -> Verification:
        seq = len(self.started)
        self.started[seq] = self.clock.now_s
        return Verification(seq, name, {}, "queued")

    def verification(self, cmd_seq: int) -> Verification:
        delay = self.delays_s[cmd_seq]
        if delay < 0:
            return Verification(cmd_seq, "exec.noop", {}, "failed", "refused")
        done = self.clock.now_s - self.started[cmd_seq] >= delay
        return Verification(cmd_seq, "exec.noop", {}, "completed" if done else "sent")


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN: nothing measured


def test_round_trips_are_measured_and_failures_counted_apart() -> None:
    clock = FakeClock()
    ops = FakeOps(clock, [0.08] * 8 + [0.3, -1.0])
    result = measure_cmd_rtt(ops, 10, clock=clock)  # type: ignore[arg-type]
    assert (result.n, result.failed) == (9, 1)
    assert 80.0 <= result.p50_ms < 84.0
    assert 300.0 <= result.p99_ms == result.max_ms < 304.0
