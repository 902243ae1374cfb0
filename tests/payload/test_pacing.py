"""The throttle as a duty cycle: pure math first, then the core on a sim clock.

No test here sleeps or times anything: busy time is what the fake model charges the
sim clock per inference, so the busy fraction is exact arithmetic.
"""

from __future__ import annotations

import math

import pytest

from payload.messages import PayloadConfig
from payload.pacing import BusyMeter, DutyCycle, rest_after_s
from tests.payload.fakes import config, job, make_core, ping


@pytest.mark.parametrize(
    ("busy_s", "throttle", "rest_s"),
    [(0.010, 1.0, 0.0), (0.010, 0.5, 0.010), (0.010, 0.25, 0.030), (0.010, 0.1, 0.090),
     (0.0, 0.3, 0.0), (0.010, 0.0, math.inf), (-1.0, 0.5, 0.0)],
)
def test_rest_after_a_job(busy_s: float, throttle: float, rest_s: float) -> None:
    assert rest_after_s(busy_s, throttle) == pytest.approx(rest_s)


@pytest.mark.parametrize("throttle", [0.05, 0.2, 0.5, 0.8, 1.0])
def test_busy_over_busy_plus_rest_is_the_throttle(throttle: float) -> None:
    busy_s = 0.0123
    assert busy_s / (busy_s + rest_after_s(busy_s, throttle)) == pytest.approx(throttle)


def test_without_pacing_the_next_job_may_always_start() -> None:
    duty = DutyCycle(PayloadConfig(throttle_frac=0.1, pace=False))
    duty.job_finished(end_s=5.0, busy_s=1.0)
    assert duty.wait_s(5.0) == 0.0


def test_with_pacing_the_next_job_waits_its_rest() -> None:
    duty = DutyCycle(PayloadConfig(throttle_frac=0.25, pace=True))
    assert duty.wait_s(0.0) == 0.0  # nothing ran yet
    duty.job_finished(end_s=10.0, busy_s=0.02)
    assert duty.earliest_start_s() == pytest.approx(10.06)
    assert duty.wait_s(10.0) == pytest.approx(0.06)
    assert duty.wait_s(10.06) == 0.0


def test_raising_the_throttle_shortens_a_rest_already_begun() -> None:
    duty = DutyCycle(PayloadConfig(throttle_frac=0.1, pace=True))
    duty.job_finished(end_s=0.0, busy_s=1.0)
    assert duty.wait_s(1.0) == pytest.approx(8.0)
    duty.config = PayloadConfig(throttle_frac=1.0, pace=True)
    assert duty.wait_s(1.0) == 0.0


def test_zero_throttle_never_starts() -> None:
    duty = DutyCycle(PayloadConfig(throttle_frac=0.0, pace=True))
    assert duty.wait_s(0.0) == math.inf


def test_busy_meter_reads_and_resets() -> None:
    meter = BusyMeter(window_start_s=0.0)
    meter.add_busy(0.25)
    assert meter.read_and_reset(1.0) == pytest.approx(0.25)
    assert meter.read_and_reset(2.0) == 0.0
    assert meter.read_and_reset(2.0) == 0.0  # empty window, no division by zero
    meter.add_busy(5.0)
    assert meter.read_and_reset(3.0) == 1.0  # clamped


# ------------------------------------------------------------------ the core, end to end


def _run_paced(throttle: float, infer_s: float, span_s: float) -> tuple[float, int]:
    """Drive the core as the process loop does, in sim time, with work always queued.

    Returns the busy fraction reported by the heartbeat at the end, and jobs done.
    """
    core, _, clock = make_core(infer_s=infer_s)
    core.handle(config(throttle, pace=True), clock.monotonic_s())
    core.handle(ping(1), clock.monotonic_s())  # opens the measurement window at t=0
    next_id = 0
    while clock.monotonic_s() < span_s:
        while len(core.queue) < 2:  # the executive keeps the payload fed
            next_id += 1
            core.handle(job(job_id=next_id, n_tiles=1), clock.monotonic_s())
        wait = core.wait_s(clock.monotonic_s())
        assert wait is not None
        if wait > 0:
            clock.advance_by(min(wait, span_s - clock.monotonic_s()))
            continue
        core.run_next_job(clock.monotonic_s())
    hb = core.handle(ping(2), clock.monotonic_s())[0].body
    return hb["busy_frac"], hb["jobs_done"]


@pytest.mark.parametrize("throttle", [0.1, 0.25, 0.5, 0.9])
def test_measured_busy_fraction_tracks_the_throttle(throttle: float) -> None:
    busy_frac, jobs = _run_paced(throttle, infer_s=0.01, span_s=4.0)
    assert busy_frac == pytest.approx(throttle, abs=0.01)
    assert abs(jobs - 4.0 * throttle / 0.01) <= 1  # the last period may be cut short


def test_full_throttle_runs_back_to_back() -> None:
    busy_frac, jobs = _run_paced(1.0, infer_s=0.01, span_s=1.0)
    assert busy_frac == pytest.approx(1.0)
    assert jobs == 100


def test_zero_throttle_keeps_the_queue_and_reports_idle() -> None:
    core, model, _ = make_core(infer_s=0.01)
    core.handle(config(0.0, pace=True), 0.0)
    core.handle(job(job_id=1), 0.0)
    assert core.wait_s(0.0) is None
    assert core.run_next_job(0.0) == []
    hb = core.handle(ping(1), 0.0)[0].body
    assert (hb["queue_depth"], hb["state"], model.calls) == (1, "idle", 0)
    core.handle(config(0.5, pace=True), 0.0)
    assert core.wait_s(0.0) == 0.0
    assert core.run_next_job(0.0)[0].body["ok"] is True


def test_lockstep_ignores_the_throttle() -> None:
    """pace=False: the executive sized the job already; run it at once."""
    core, _, clock = make_core(infer_s=0.01)
    core.handle(config(0.1, pace=False), 0.0)
    for i in range(3):
        core.handle(job(job_id=i), 0.0)
    for _ in range(3):
        assert core.wait_s(clock.monotonic_s()) == 0.0
        core.run_next_job(clock.monotonic_s())
    assert core.counters.jobs_done == 3
