"""Payload faults through the whole executive (in-process harness): each kind of
failure is detected, the payload recovers, nothing in flight vanishes, the escalation
ladder climbs and persists, and only our own child may speak on the channel.

Each test names the defect it pins; they were measured on main before this module:
a foreign process was taken for the payload, a stuck job with heartbeats continuing
was never noticed, memory was reported and never checked, and restarts went on
forever with no escalation.
"""

from __future__ import annotations

from pathlib import Path

from flightsw import supervisor
from flightsw.config import FlightConfig
from flightsw.harness import EPOCH_S, FreeRunHarness, Harness
from flightsw.wire import Kind, Sequencer

LADDER_CFG = FlightConfig(capture_period_s=5.0, heartbeat_timeout_s=2.0, restart_backoff_s=1.0,
                          restart_backoff_max_s=2.0, restart_window_s=300.0,
                          restarts_to_degrade=2, restarts_to_lockout=4)


def test_a_forged_frame_on_the_payload_channel_is_dropped_and_reported() -> None:
    """Measured: a foreign process announced model "EVIL" and its fake results went into
    data products."""
    h = Harness()
    h.run(12)
    jobs_before = h.latest("payload.jobs_done")
    forger = Sequencer("payload")
    h.payload.forge(forger.pack(Kind.PAYLOAD_HEARTBEAT, EPOCH_S, {
        "n": 0, "state": "ready", "model": "EVIL"}))
    for job_id in range(1, 50):
        h.payload.forge(forger.pack(Kind.PAYLOAD_RESULT, EPOCH_S, {
            "job_id": job_id, "ok": True, "n_tiles": 16, "n_cloudy": 16}))
    h.run(6)
    assert h.latest("payload.frames_forged") == 50
    assert h.latest("payload.model") != "EVIL"
    forged = h.events("payload.forged_frame")
    assert forged and "bad tag" in forged[0].text
    assert len(forged) <= 5  # throttled: a flood cannot flood the downlink with events
    products = h.products()
    assert sum(p["jobs"] for p in products) == h.latest("payload.jobs_done")
    assert h.latest("payload.jobs_done") - jobs_before <= 2  # only the real captures


def test_a_stuck_inference_is_detected_while_heartbeats_continue() -> None:
    h = Harness(FlightConfig(capture_period_s=5.0, heartbeat_timeout_s=2.0,
                             job_deadline_s=10.0))
    h.run(3)
    h.payload.current.swallow_jobs = True  # type: ignore[union-attr]
    h.payload.current.job_busy_s = 4.0  # type: ignore[union-attr]
    h.run(8)
    assert not h.events("payload.died")  # running 4 s is within the 10 s deadline
    h.payload.current.job_busy_s = 12.5  # type: ignore[union-attr]
    h.run(8)  # lockstep applies heartbeats a few cycles late, by design
    died = h.events("payload.died")
    assert died and "stuck inference: job" in died[0].text and "12.5 s" in died[0].text
    # the job that hung it fails with the reason (it would hang the next child too)
    failed = h.events("payload.job_failed")
    assert failed and all(e.args["job_id"] != 0 for e in failed)
    h.run(4)
    assert h.latest("payload.state") == "ready" and h.latest("payload.incarnation") == 2


def test_memory_runaway_is_detected_from_the_os_not_the_childs_word() -> None:
    h = Harness(FlightConfig(capture_period_s=5.0, heartbeat_timeout_s=2.0,
                             payload_rss_limit_mb=500.0))
    h.run(3)
    h.payload.rss = 499.0
    h.run(3)
    assert not h.events("payload.died")
    h.payload.rss = 3000.0  # the heartbeat still says 50 MB
    h.run(2)
    died = h.events("payload.died")
    assert died and "memory runaway: 3000 MB resident, limit 500 MB" in died[0].text
    h.payload.rss = 60.0
    h.run(4)
    assert h.latest("payload.state") == "ready"


def test_repeated_job_failures_restart_the_payload() -> None:
    h = Harness(FlightConfig(capture_period_s=1.0, heartbeat_timeout_s=2.0,
                             job_failures_to_restart=3))
    h.run(3)
    h.payload.current.fail_jobs = True  # type: ignore[union-attr]
    h.run(6)
    died = h.events("payload.died")
    assert died and "repeated job failures: 3 in a row" in died[0].text


def test_the_ladder_degrades_then_locks_out_into_safe_and_the_ground_clears_it() -> None:
    h = Harness(LADDER_CFG)
    h.run(4)
    for _ in range(2):
        h.payload.crash(-11)
        h.run(6)
    escalated = h.events("payload.escalated")
    assert [e.args["rung"] for e in escalated] == ["degraded"]
    assert h.latest("payload.rung") == "degraded"
    # degraded: the next child runs the last known good model, throttled
    assert h.payload.spawned_models[-1] == h.core.state.payload.sup.last_good_model
    assert h.payload.current.config.throttle_frac <= 0.5  # type: ignore[union-attr]
    assert "crashed by SIGSEGV" in h.events("payload.died")[-1].text
    for _ in range(2):
        h.payload.crash(-11)
        h.run(6)
    assert [e.args["rung"] for e in h.events("payload.escalated")] == ["degraded",
                                                                        "locked out"]
    assert h.latest("payload.state") == "disabled" and h.latest("mode.current") == "SAFE"
    assert h.latest("payload.rung") == "locked out"
    spawned = len(h.payload.incarnations)
    h.run(60)
    assert len(h.payload.incarnations) == spawned  # nothing restarts on its own
    seq = h.command("payload.enable", enabled=True)
    h.run(1)
    assert "clear it first" in h.verification(seq)[-1].reason
    seq = h.command("payload.clear_faults")
    h.run(5)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.events("payload.faults_cleared")
    assert h.latest("payload.state") == "ready" and h.latest("payload.rung") == "restart"
    assert h.latest("mode.current") == "SAFE"  # leaving SAFE is the operator's own step


def test_the_ladder_survives_an_executive_reset(tmp_path: Path) -> None:
    state = tmp_path / "flight_state.bin"
    h = Harness(LADDER_CFG, state_path=state)
    h.run(4)
    for _ in range(2):
        h.payload.crash(-6)
        h.run(6)
    assert h.latest("payload.rung") == "degraded"
    h.executive.save_state()
    h2 = Harness(LADDER_CFG, state_path=state)
    h2.run(6)
    assert h2.latest("payload.rung") == "degraded"
    assert h2.latest("payload.restarts_in_window") == 2
    causes = h2.core.state.payload.sup.causes
    assert [c.cause for c in causes] == ["aborted by SIGABRT"] * 2
    for _ in range(2):
        h2.payload.crash(-6)
        h2.run(6)
    assert h2.latest("payload.rung") == "locked out"


def test_free_running_notices_a_crash_within_a_fast_cycle_and_restarts_at_once() -> None:
    h = FreeRunHarness()
    h.run(5)
    assert h.latest("payload.state") == "ready"
    t_crash = h.clock.monotonic_s()
    h.payload.crash(-9)
    h.run(1)
    died = h.event_times("payload.died")
    started = h.event_times("payload.started")
    assert died and died[0] - (EPOCH_S + t_crash) <= 0.15
    assert len(started) == 2 and started[1] - died[0] <= 0.15  # first restart: no backoff
    h.run(2)
    assert h.latest("payload.state") == "ready"


def test_free_running_hang_is_detected_within_the_heartbeat_timeout() -> None:
    cfg = FlightConfig(heartbeat_timeout_s=3.0)
    h = FreeRunHarness(cfg)
    h.run(5)
    t_hang = h.clock.monotonic_s()
    h.payload.hang()
    h.run(5)
    died = h.event_times("payload.died")
    assert died
    detect_s = died[0] - (EPOCH_S + t_hang)
    assert cfg.heartbeat_timeout_s - 1.0 <= detect_s <= cfg.heartbeat_timeout_s + 0.15
    assert "heartbeat lost: silent for" in h.events("payload.died")[0].text


def test_exit_causes_reach_the_ground_in_words() -> None:
    h = Harness()
    h.run(3)
    h.payload.crash(supervisor.PayloadExit.MODEL)
    h.run(4)
    assert "exit code 3: model could not be loaded" in h.events("payload.died")[0].text
    assert h.latest("payload.last_cause") == "exit code 3: model could not be loaded"
