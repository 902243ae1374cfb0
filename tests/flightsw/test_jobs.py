"""Operator jobs through the whole executive (lockstep harness, fake payload): every job
ends once as done, failed (with the reason) or cancelled, and the ground hears it."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from flightsw import job_products, job_tensor, jobs
from flightsw.harness import EPOCH_S, FreeRunHarness, Harness, nominal_sensors
from flightsw.messages import ResultBody
from flightsw.recorder import Priority
from flightsw.wire import Kind


def _ready() -> Harness:
    h = Harness()
    h.run(12)
    assert h.latest("payload.state") == "ready"
    return h


def _capture(h: Harness, **overrides: Any) -> int:
    args = {"n_tiles": 8, "priority": 1, "deadline_s": 0.0, "tiles": True}
    args.update(overrides)
    return h.command("jobs.capture", **args)


def _job_products(h: Harness) -> list[dict[str, Any]]:
    return [p for p in h.products() if p.get("product") == "job"]


def _ends(h: Harness) -> list[tuple[str, int]]:
    return [(e.name, e.args["job_id"]) for e in h.events()
            if e.name in ("jobs.done", "jobs.failed", "jobs.cancelled")]


def test_a_job_runs_and_its_products_and_audit_reach_the_ground() -> None:
    h = _ready()
    seq = _capture(h)
    h.run(12)
    assert h.verification(seq)[-1].reason.startswith("job 1 queued (capture, 8 tiles")
    (product,) = _job_products(h)
    assert product["status"] == "done" and product["reason"] == ""
    assert product["cloudy"] == [False] * 4 + [True] * 4
    assert product["accuracy"] == 7 / 8 and product["selected"] == [0, 1, 2, 3]
    audit = product["audit"]
    assert audit["model_sha256"] == "f" * 64 and audit["input_sha256"] == "1" * 64
    assert audit["integrity"] == "unchecked"  # the fake payload gives no verdict
    assert audit["payload_temp_min_c"] == audit["payload_temp_max_c"] == 40.0
    assert audit["load_power_mean_w"] == 20.0 and audit["readings"] >= 1
    assert audit["energy_j"] == 20.0 * 2.5e-3  # bus load x the payload's time on it
    assert audit["energy_from"] == "load_power_w"  # the harness has no compute reading
    assert 0 < audit["throttle_min_frac"] <= audit["throttle_max_frac"] <= 1
    (part,) = [p for p in h.products() if p.get("product") == "tiles"]
    assert part["job_id"] == 1 and [t["index"] for t in part["tiles"]] == [0, 1, 2, 3]
    assert len(zlib.decompress(base64.b64decode(part["tiles"][0]["data"]))) == 4096
    assert product["tile_bytes_sent"] * 2 == product["all_tile_bytes"]
    assert product["downlink_saved_frac"] == 0.5
    assert _ends(h) == [("jobs.done", 1)]
    assert h.latest("jobs.done") == 1 and h.latest("jobs.queue_depth") == 0
    assert h.latest("jobs.downlink_saved_pct") == 50.0
    assert h.latest("jobs.latency_p50_ms") is not None


def test_jobs_run_by_priority_then_deadline_then_submission() -> None:
    h = _ready()
    for prio, deadline in ((1, 0.0), (5, 0.0), (3, EPOCH_S + 900), (3, EPOCH_S + 600)):
        _capture(h, priority=prio, deadline_s=deadline)
    h.run(40)
    started = [e.args["job_id"] for e in h.events("jobs.started")]
    assert started == [2, 4, 3, 1]
    assert sorted(_ends(h)) == [("jobs.done", i) for i in (1, 2, 3, 4)]


def test_deadline_missed_in_the_queue_fails_with_the_reason() -> None:
    h = _ready()
    h.command("payload.enable", enabled=False)
    h.run(1)
    _capture(h, deadline_s=EPOCH_S + h.elapsed_s + 3)
    h.run(12)
    (failed,) = h.events("jobs.failed")
    assert "deadline missed: still queued at its deadline" in failed.args["detail"]
    assert _job_products(h)[0]["status"] == "failed"


def test_a_deadline_already_past_is_refused_at_submission() -> None:
    h = _ready()
    seq = _capture(h, deadline_s=EPOCH_S + 1)
    h.run(1)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and "is already past" in report.reason
    assert h.latest("jobs.refused") == 1 and not _job_products(h)


def test_cancel_a_queued_job_a_running_one_and_an_unknown_one() -> None:
    h = _ready()
    assert h.payload.current is not None
    h.payload.current.swallow_jobs = True  # the running job never answers
    _capture(h)
    h.run(6)
    assert [e.args["job_id"] for e in h.events("jobs.started")] == [1]
    _capture(h)
    seqs = [h.command("jobs.cancel", job_id=2), h.command("jobs.cancel", job_id=1),
            h.command("jobs.cancel", job_id=99)]
    h.run(1)
    notes = [h.verification(s)[-1] for s in seqs]
    assert notes[0].reason == "job 2 cancelled (was queued)"
    assert notes[1].reason == "job 1 cancelled (was running)"
    assert notes[2].stage == "failed" and notes[2].reason.startswith("no job 99 to cancel")
    assert _ends(h) == [("jobs.cancelled", 2), ("jobs.cancelled", 1)]
    assert [p["status"] for p in _job_products(h)] == ["cancelled", "cancelled"]
    # the cancelled job's result, when it comes, is dropped and counted, not reported
    (started,) = h.events("jobs.started")
    job_id = started.args["payload_job_id"]
    assert h.payload.current is not None
    h.payload.current._send(Kind.PAYLOAD_RESULT, ResultBody(job_id, ok=True, n_tiles=8))
    h.run(6)
    assert h.latest("jobs.results_discarded") == 1 and len(_job_products(h)) == 2


def test_cancelling_a_running_job_interrupts_it_in_the_payload() -> None:
    """Before, a cancelled job ran on in the payload to its end (its result dropped on
    arrival): the executive now tells the payload, which interrupts the inference and
    answers ``cancelled``, which is neither a failure nor a lost job."""
    h = _ready()
    payload = h.payload.current
    assert payload is not None
    payload.swallow_jobs = True  # the running job would never end by itself
    _capture(h)
    h.run(6)
    (started,) = h.events("jobs.started")
    cmd = h.command("jobs.cancel", job_id=1)
    h.run(6)
    assert h.verification(cmd)[-1].reason == "job 1 cancelled (was running)"
    assert payload.cancels == [started.args["payload_job_id"]]
    assert _ends(h) == [("jobs.cancelled", 1)]
    assert h.latest("jobs.results_discarded") == 1 and h.latest("jobs.cancelled") == 1
    assert h.latest("payload.jobs_failed") == 0
    assert not h.events("payload.job_failed")


def test_a_flood_is_refused_past_the_bound_with_the_reason() -> None:
    h = _ready()
    h.command("payload.enable", enabled=False)
    seqs = [_capture(h) for _ in range(jobs.MAX_QUEUED + 3)]
    h.run(2)
    stages = [h.verification(s)[-1] for s in seqs]
    assert [s.stage for s in stages].count("completed") == jobs.MAX_QUEUED
    assert all("job queue full (32 jobs waiting)" in s.reason for s in stages[-3:])
    assert h.latest("jobs.queue_depth") == jobs.MAX_QUEUED
    assert h.latest("jobs.refused") == 3


def test_a_payload_crash_fails_the_running_job_with_the_cause_once() -> None:
    h = _ready()
    assert h.payload.current is not None
    h.payload.current.swallow_jobs = True
    _capture(h)
    h.run(6)
    assert h.latest("jobs.running") == 1
    h.payload.crash(-9)
    h.run(20)
    (failed,) = h.events("jobs.failed")
    assert failed.args["detail"].startswith("payload went down while it ran: killed")
    assert failed.args["detail"].endswith("by SIGKILL")
    assert _ends(h) == [("jobs.failed", 1)]  # not requeued, not run again
    assert len(h.events("jobs.started")) == 1


def test_the_queue_survives_an_executive_reset_and_the_running_job_fails(
        tmp_path: Path) -> None:
    state = tmp_path / "flight_state.bin"
    h = Harness(state_path=state)
    h.run(12)
    assert h.payload.current is not None
    h.payload.current.swallow_jobs = True
    _capture(h, priority=2)
    h.run(6)
    _capture(h, priority=1)
    h.run(1)
    h.executive.save_state()  # then a kill -9
    h2 = Harness(state_path=state)
    h2._ground_seq = h._ground_seq  # the same ground goes on numbering its commands
    h2.run(2)
    h2.command("mode.set", mode="NOMINAL")  # an unexplained reset boots into SAFE
    h2.run(2)
    h2.command("mode.set", mode="COMPUTE")
    h2.run(30)
    assert ("jobs.failed", 1) in _ends(h2)
    (failed,) = h2.events("jobs.failed")
    assert failed.args["detail"] == "payload went down while it ran: executive reset"
    assert ("jobs.done", 2) in _ends(h2)


def test_a_tensor_from_the_ground_is_classified() -> None:
    h = _ready()
    args = job_tensor.encode(bytes(2 * 4096), (2, 4, 32, 32), "uint8")
    seq = h.command("jobs.tensor", priority=0, deadline_s=0.0, tiles=False, **args)
    h.run(12)
    assert h.verification(seq)[-1].stage == "completed"
    (product,) = _job_products(h)
    assert product["status"] == "done" and product["source"] == "tensor"
    assert product["n_tiles"] == 2 and product["truth_cloudy"] == []
    assert product["accuracy"] is None and product["tile_parts"] == 0
    sent = [j for j in h.payload.current.jobs_seen if j.source == "tensor"]  # type: ignore[union-attr]
    assert zlib.decompress(sent[0].tensor) == bytes(2 * 4096)


def test_a_bad_tensor_is_refused_with_the_reason() -> None:
    h = _ready()
    good = job_tensor.encode(bytes(4096), (1, 4, 32, 32), "uint8")
    bad = [{**good, "shape": "1,3,32,32"}, {**good, "dtype": "float32"},
           {**good, "tensor": "%%%"},
           {**good, "tensor": base64.b64encode(zlib.compress(bytes(10**6))).decode()}]
    seqs = [h.command("jobs.tensor", priority=0, deadline_s=0.0, tiles=False, **a)
            for a in bad]
    h.run(1)
    reasons = [h.verification(s)[-1].reason for s in seqs]
    assert "tensor shape must be n,4,32,32" in reasons[0]
    assert "tensor size does not match its shape and dtype" in reasons[1]
    assert "tensor is not base64 text" in reasons[2]
    assert "tensor size does not match" in reasons[3]
    assert h.latest("jobs.refused") == 4 and h.latest("jobs.queue_depth") == 0


def test_a_time_tagged_job_is_queued_at_its_time() -> None:
    h = _ready()
    at = EPOCH_S + h.elapsed_s + 8
    h.command_at(at, "jobs.capture", n_tiles=4, priority=1, deadline_s=0.0, tiles=False)
    h.run(4)
    assert not h.events("jobs.queued")
    h.run(12)
    (queued,) = [e for e in h.downlink if e.body.get("name") == "jobs.queued"]
    assert queued.time_s >= at
    assert _ends(h) == [("jobs.done", 1)]


def test_free_running_the_job_goes_ahead_of_the_kept_queue() -> None:
    h = FreeRunHarness()
    h.run(5)
    assert h.latest("payload.state") == "ready"
    _capture(h, priority=4)
    h.run(3)
    assert _ends(h) == [("jobs.done", 1)]
    sent = h.payload.current.jobs_seen  # type: ignore[union-attr]
    operator = [j for j in sent if j.detail]
    assert len(operator) == 1 and operator[0].priority == 5  # child queue: ahead of routine
    assert h.latest("jobs.throughput_tiles_per_s") is not None


def test_an_urgent_jobs_result_goes_down_with_the_events_its_tiles_as_products() -> None:
    h = Harness(auto_ack=False)  # records stay held: their recorder class can be seen
    h.run(12)
    _capture(h, priority=jobs.URGENT_PRIORITY)
    _capture(h, priority=jobs.URGENT_PRIORITY - 1)
    h.run(20)
    held = h.core.state.link.recorder.records
    classes = {(e.body["product"], e.body["job_id"]): held[e.seq].priority
               for e in h.downlink if e.kind is Kind.RESULT and "product" in e.body}
    assert classes == {("job", 1): Priority.EVENT, ("tiles", 1): Priority.PRODUCT,
                       ("job", 2): Priority.PRODUCT, ("tiles", 2): Priority.PRODUCT}


def test_queued_tensors_are_bounded_in_bytes() -> None:
    h = Harness()
    h.run(12)
    h.command("payload.enable", enabled=False)
    noise = np.random.default_rng(5).integers(0, 256, size=(1, 4, 32, 32), dtype=np.uint8)
    args = job_tensor.encode(noise.tobytes(), noise.shape, "uint8")
    assert len(args["tensor"]) <= job_tensor.MAX_TENSOR_TEXT  # one noisy tile fits
    seqs = [h.command("jobs.tensor", priority=0, deadline_s=0.0, tiles=False, **args)
            for _ in range(jobs.MAX_QUEUED)]
    h.run(2)
    reports = [h.verification(s)[-1] for s in seqs]
    fits = jobs.MAX_QUEUED_TENSOR_BYTES // len(zlib.compress(noise.tobytes(), 6))
    assert fits < jobs.MAX_QUEUED  # the bytes bound comes first
    assert [r.stage for r in reports] == (["completed"] * fits
                                          + ["failed"] * (jobs.MAX_QUEUED - fits))
    assert "queued tensors would hold" in reports[-1].reason


def test_a_malformed_result_fails_the_job_with_the_reason() -> None:
    """A result whose detail does not hold together (here: a tile that is not bytes, an
    index out of range) ends the job as failed, said why; it is not a cycle fault."""
    h = _ready()
    assert h.payload.current is not None
    h.payload.current.swallow_jobs = True
    _capture(h)
    h.run(6)
    (started,) = h.events("jobs.started")
    body = ResultBody(started.args["payload_job_id"], ok=True, n_tiles=2, selected=[0, 7],
                      tiles_z=[10**9, b"x"])
    h.payload.current._send(Kind.PAYLOAD_RESULT, body)
    h.run(6)
    (failed,) = h.events("jobs.failed")
    assert failed.args["detail"].startswith("payload result malformed:")
    assert not h.events("exec.cycle_fault")


def test_the_audit_carries_the_payloads_integrity_verdict_when_it_gives_one() -> None:
    job = jobs.OperatorJob(job_id=4, n_tiles=2, payload_job_id=9)
    res = ResultBody(9, ok=True, n_tiles=2, integrity="suspect",
                     integrity_note="sampled re-run differs")
    (head,) = job_products.build(job, jobs.DONE, "", EPOCH_S, res)
    assert head["audit"]["integrity"] == "suspect"
    assert head["audit"]["integrity_note"] == "sampled re-run differs"
    (head,) = job_products.build(job, jobs.DONE, "", EPOCH_S, ResultBody(9, ok=True))
    assert head["audit"]["integrity"] == "unchecked"


def test_energy_is_the_compute_boards_own_power_where_measured() -> None:
    h = Harness(sensors=nominal_sensors(compute_power_w=12.0))
    h.run(12)
    _capture(h)
    h.run(12)
    (product,) = _job_products(h)
    audit = product["audit"]
    assert audit["energy_from"] == "compute_power_w"
    assert audit["compute_power_mean_w"] == 12.0
    assert audit["energy_j"] == 12.0 * 2.5e-3


def test_a_tensor_longer_than_the_uplink_can_carry_is_refused_by_the_dictionary() -> None:
    h = _ready()
    tile = np.random.default_rng(6).random((1, 4, 32, 32), dtype=np.float32)
    args = job_tensor.encode(tile.tobytes(), tile.shape, "float32")
    assert len(args["tensor"]) > job_tensor.MAX_TENSOR_TEXT
    seq = h.command("jobs.tensor", priority=0, deadline_s=0.0, tiles=False, **args)
    h.run(1)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and "tensor" in report.reason
    assert h.latest("jobs.queue_depth") == 0


def test_the_latency_and_throughput_points_follow_the_last_results() -> None:
    """Worked out when a result comes (not at every housekeeping sample): the values the
    telemetry reports are those of the results so far, the window's newest."""
    from flightsw.component import Tick

    st = jobs.initial(None)
    t = Tick(EPOCH_S, 0.0)
    empty = jobs.telemetry(st)
    assert empty["jobs.latency_p50_ms"] is None and empty["jobs.throughput_tiles_per_s"] is None
    for i, ms in enumerate([30.0, 10.0, 20.0]):
        jobs.on_result(st, ResultBody(job_id=i + 1, ok=True, n_tiles=16, job_ms=ms), t)
    points = jobs.telemetry(st)
    assert points["jobs.latency_p50_ms"] == 20.0 and points["jobs.latency_p99_ms"] == 30.0
    assert points["jobs.throughput_tiles_per_s"] == round(48 / 0.060, 1)
    jobs.on_result(st, ResultBody(job_id=9, ok=False, error="x", job_ms=999.0), t)
    assert jobs.telemetry(st) == points  # a failed job is not a latency sample
    for i in range(jobs.LATENCY_WINDOW):  # the window: only the newest count
        jobs.on_result(st, ResultBody(job_id=100 + i, ok=True, n_tiles=4, job_ms=5.0), t)
    latest = jobs.telemetry(st)
    assert latest["jobs.latency_p99_ms"] == 5.0
    assert latest["jobs.throughput_tiles_per_s"] == round(4 / 0.005, 1)
