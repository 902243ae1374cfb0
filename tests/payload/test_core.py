"""PayloadCore through its seam: envelopes in, envelopes out, no sockets, sim time."""

from __future__ import annotations

from typing import Any

import pytest

from flightsw.errors import WireError
from flightsw.wire import Kind, encode, try_decode
from tests.payload.fakes import MISSION_EPOCH_S, config, env, job, make_core, ping

HEARTBEAT_KEYS = {
    "n", "state", "jobs_done", "jobs_failed", "tiles_done", "busy_frac", "throttle_frac",
    "queue_depth", "model", "model_sha256", "provider", "rss_mb", "pid", "rejected_frames",
    "current_job", "current_job_started_s",
}
RESULT_KEYS = {
    "job_id", "ok", "error", "n_tiles", "n_cloudy", "n_clear", "selected", "n_correct",
    "cloud_frac_mean", "infer_ms", "model",
}


def _only(out: list[Any]) -> Any:
    assert len(out) == 1, out
    return out[0]


def test_ready_heartbeat_announces_the_model() -> None:
    core, _, _ = make_core()
    hb = core.ready_heartbeat(0.0)
    assert hb.kind is Kind.PAYLOAD_HEARTBEAT and hb.source == "payload"
    assert HEARTBEAT_KEYS <= set(hb.body)
    assert hb.body["n"] == 0 and hb.body["state"] == "ready"
    assert (hb.body["model"], hb.body["provider"], hb.body["pid"]) == (
        "fake_v0", "FakeExecutionProvider", 4242)
    encode(hb)  # every field is wire-encodable


def test_ping_is_answered_with_its_number_and_the_counters() -> None:
    core, _, _ = make_core()
    hb = _only(core.handle(ping(17), 0.0))
    assert hb.kind is Kind.PAYLOAD_HEARTBEAT
    assert hb.body["n"] == 17 and hb.body["state"] == "idle"
    assert hb.time_s == pytest.approx(MISSION_EPOCH_S)


def test_a_job_is_queued_then_run_and_answered() -> None:
    core, _, _ = make_core()
    assert core.handle(job(job_id=5, n_tiles=12), 0.0) == []
    assert core.handle(ping(1), 0.0)[0].body["state"] == "busy"
    assert core.wait_s(0.0) == 0.0
    result = _only(core.run_next_job(0.0))
    assert result.kind is Kind.PAYLOAD_RESULT
    body = result.body
    assert RESULT_KEYS <= set(body)
    assert body["ok"] is True and body["error"] == "" and body["job_id"] == 5
    assert body["n_tiles"] == 12 == body["n_cloudy"] + body["n_clear"]
    assert len(body["selected"]) == body["n_clear"]
    assert all(0 <= i < 12 for i in body["selected"])
    assert 0 <= body["n_correct"] <= 12
    encode(result)
    hb = _only(core.handle(ping(2), 0.0)).body
    assert (hb["jobs_done"], hb["tiles_done"], hb["queue_depth"], hb["state"]) == (1, 12, 0,
                                                                                    "idle")
    assert core.wait_s(0.0) is None


def test_results_are_deterministic_for_the_same_job() -> None:
    a, _, _ = make_core()
    b, _, _ = make_core()
    for core in (a, b):
        core.handle(job(job_id=1, n_tiles=32), 0.0)
    ra, rb = a.run_next_job(0.0)[0].body, b.run_next_job(0.0)[0].body
    for key in ("selected", "n_cloudy", "n_correct", "cloud_frac_mean"):
        assert ra[key] == rb[key]


def test_zero_tiles_is_a_valid_empty_job() -> None:
    core, _, _ = make_core()
    core.handle(job(n_tiles=0), 0.0)
    body = _only(core.run_next_job(0.0)).body
    assert body["ok"] is True and body["n_tiles"] == 0 and body["selected"] == []


def test_jobs_run_in_arrival_order_one_per_call() -> None:
    core, _, _ = make_core()
    for i in (3, 1, 2):
        core.handle(job(job_id=i), 0.0)
    ids = [_only(core.run_next_job(0.0)).body["job_id"] for _ in range(3)]
    assert ids == [3, 1, 2]
    assert core.run_next_job(0.0) == []


def test_unknown_extra_fields_are_ignored() -> None:
    core, _, _ = make_core()
    core.handle(job(job_id=9, priority=3, deadline_s=12.0), 0.0)
    assert _only(core.run_next_job(0.0)).body["ok"] is True


# ------------------------------------------------------------------ malformed input

BAD_JOBS = [
    ({"job_id": None}, "job_id must be an integer"),
    ({"job_id": True}, "job_id must be an integer"),
    ({"job_id": -3}, "job_id must be >= 0"),
    ({"n_tiles": "16"}, "n_tiles must be an integer"),
    ({"n_tiles": 16.0}, "n_tiles must be an integer"),
    ({"n_tiles": -1}, "n_tiles out of range"),
    ({"n_tiles": 257}, "n_tiles out of range"),
    ({"seed": 1.5}, "seed must be an integer"),
    ({"lat_deg": "north"}, "lat_deg must be a number"),
    ({"lat_deg": 90.5}, "lat_deg out of range"),
    ({"lat_deg": float("nan")}, "lat_deg must be finite"),
    ({"lon_deg": float("inf")}, "lon_deg must be finite"),
    ({"lon_deg": 400.0}, "lon_deg out of range"),
]


@pytest.mark.parametrize(("override", "reason"), BAD_JOBS)
def test_bad_job_is_answered_not_fatal(override: dict[str, Any], reason: str) -> None:
    core, model, _ = make_core()
    result = _only(core.handle(job(**{"job_id": 4, **override}), 0.0))
    assert result.kind is Kind.PAYLOAD_RESULT
    assert result.body["ok"] is False
    assert reason in result.body["error"]
    expected_id = override.get("job_id", 4)
    assert result.body["job_id"] == (expected_id if type(expected_id) is int else -1)
    assert core.counters.rejected_frames == 1
    assert len(core.queue) == 0 and model.calls == 0
    encode(result)


@pytest.mark.parametrize("missing", ["job_id", "n_tiles", "seed", "lat_deg", "lon_deg"])
def test_job_missing_a_key_is_answered(missing: str) -> None:
    core, _, _ = make_core()
    good = dict(job().body)
    del good[missing]
    result = _only(core.handle(env(Kind.PAYLOAD_JOB, good), 0.0))
    assert result.body["ok"] is False and f"{missing} is missing" in result.body["error"]


@pytest.mark.parametrize(
    "message",
    [env(Kind.PAYLOAD_PING, {}), env(Kind.PAYLOAD_PING, {"n": "1"}),
     env(Kind.PAYLOAD_PING, {"n": -1}),
     env(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.5, "pace": True}),
     env(Kind.PAYLOAD_CONFIG, {"throttle_frac": 0.5, "pace": 1}),
     env(Kind.PAYLOAD_CONFIG, {"throttle": 0.5, "pace": True}),
     env(Kind.TELEMETRY, {"points": {}}),
     env(Kind.PAYLOAD_RESULT, {"job_id": 1})],
)
def test_other_bad_messages_are_counted_and_ignored(message: Any) -> None:
    core, _, _ = make_core()
    before = core.config
    assert core.handle(message, 0.0) == []
    assert core.counters.rejected_frames == 1
    assert core.config == before
    assert _only(core.handle(ping(1), 0.0)).body["rejected_frames"] == 1


@pytest.mark.parametrize("frame", [b"", b"\xc1garbage", b"\x93\x01\x02\x03",
                                   encode(job()).replace(b"pl.job", b"pl.jab")])
def test_undecodable_bytes_are_counted(frame: bytes) -> None:
    core, _, _ = make_core()
    error = try_decode(frame)
    assert isinstance(error, WireError)
    core.reject_frame(error)
    assert core.counters.rejected_frames == 1
    assert _only(core.handle(ping(1), 0.0)).body["rejected_frames"] == 1


def test_a_failing_model_fails_the_job_and_keeps_serving() -> None:
    core, model, _ = make_core()
    model.fail_with = "SEFI in the accelerator"
    core.handle(job(job_id=1), 0.0)
    core.handle(job(job_id=2), 0.0)
    failed = _only(core.run_next_job(0.0)).body
    assert failed["ok"] is False and "SEFI" in failed["error"] and failed["job_id"] == 1
    model.fail_with = ""
    assert _only(core.run_next_job(0.0)).body["ok"] is True
    hb = _only(core.handle(ping(1), 0.0)).body
    assert (hb["jobs_done"], hb["jobs_failed"]) == (1, 1)


def test_a_full_queue_refuses_with_a_reason() -> None:
    core, _, _ = make_core(max_queue_depth=2)
    assert core.handle(job(job_id=1), 0.0) == []
    assert core.handle(job(job_id=2), 0.0) == []
    refused = _only(core.handle(job(job_id=3), 0.0)).body
    assert refused["ok"] is False and "queue full" in refused["error"]
    assert refused["job_id"] == 3 and len(core.queue) == 2
    assert core.counters.jobs_failed == 1


# ------------------------------------------------------------------ config and stop


def test_config_is_applied() -> None:
    core, _, _ = make_core()
    assert core.handle(config(0.25, True), 0.0) == []
    assert (core.config.throttle_frac, core.config.pace) == (0.25, True)
    hb = _only(core.handle(ping(1), 0.0)).body
    assert hb["throttle_frac"] == 0.25


def test_stop_sets_the_flag_with_its_reason() -> None:
    core, _, _ = make_core()
    assert core.handle(env(Kind.STOP, {"reason": "executive shutdown"}), 0.0) == []
    assert core.stop_requested and core.stop_reason == "executive shutdown"


def test_current_job_is_visible_while_it_runs() -> None:
    """The heartbeat fields a future watchdog thread will read mid-job."""
    core, model, clock = make_core()
    seen: dict[str, Any] = {}
    real_infer = model.infer

    def spying_infer(batch: Any) -> Any:
        seen["job"], seen["started"] = core.current_job, core.current_job_started_s
        return real_infer(batch)

    model.infer = spying_infer  # type: ignore[method-assign]
    clock.advance_by(30.0)
    core.handle(job(job_id=77), clock.monotonic_s())
    core.run_next_job(clock.monotonic_s())
    assert seen["job"].job_id == 77 and seen["started"] == MISSION_EPOCH_S + 30.0
    assert core.current_job is None and core.current_job_started_s is None


def test_the_heartbeat_map_is_what_the_shared_record_encodes() -> None:
    """The heartbeat's body is built from the record's fields directly (the hot path of
    every ping): it must equal :meth:`HeartbeatBody.to_body`, key order included, so
    the frame on the wire is byte for byte the one the shared encoder makes."""
    from flightsw.messages import HeartbeatBody
    from flightsw.wire import Envelope

    core, _, _ = make_core()
    core.handle(job(job_id=3), 0.0)
    assert core.start_job(0.0) is not None  # a job running: current_job* are set
    for hb in (core.ready_heartbeat(0.0), _only(core.handle(ping(8), 0.5))):
        record = HeartbeatBody.from_body(hb.body)
        assert list(hb.body.items()) == list(record.to_body().items())
        shared = Envelope(hb.kind, hb.source, hb.seq, hb.time_s, record.to_body())
        assert encode(hb) == encode(shared)
    assert hb.body["current_job"] == 3 and hb.body["current_job_busy_s"] == 0.5
