"""The payload core's job pipeline (payload.job_run): several jobs at the inference thread
when nothing paces it, one when the throttle does, a drain before maintenance, the same
answers as one job at a time, and cancel at every stage."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from flightsw.wire import Kind
from payload.core import PIPELINE_DEPTH
from payload.errors import ModelError
from payload.model import DEFAULT_MODEL_PATH, load_model
from payload.scrubbing import SCRUB_PERIOD_S
from tests.payload.fakes import config, env, job, make_core


def _queue(core: Any, n: int) -> None:
    for i in range(1, n + 1):
        core.handle(job(job_id=i, n_tiles=8, seed=i), 0.0)


def test_unpaced_several_jobs_go_to_the_inference_thread_at_once() -> None:
    core, _, clock = make_core()
    _queue(core, PIPELINE_DEPTH + 2)
    handed = []
    while (staged := core.start_job(clock.monotonic_s())) is not None:
        handed.append(staged.spec.job_id)
    assert handed == list(range(1, PIPELINE_DEPTH + 1)) and PIPELINE_DEPTH >= 2
    assert core.current_job is not None and core.current_job.job_id == 1


def test_paced_one_job_at_a_time_so_the_rest_follows_the_last_jobs_end() -> None:
    core, _, clock = make_core(infer_s=0.1)
    core.handle(config(0.5, True), 0.0)
    _queue(core, 3)
    first = core.start_job(clock.monotonic_s())
    assert first is not None and core.start_job(clock.monotonic_s()) is None


def test_a_due_scrub_stops_the_handing_over_until_the_thread_is_idle() -> None:
    core, _, clock = make_core()
    _queue(core, 3)
    clock.advance_by(SCRUB_PERIOD_S + 1)
    assert core.start_job(clock.monotonic_s()) is not None  # idle: it may start
    assert core.start_job(clock.monotonic_s()) is None  # no second one: drain first


def test_pipelined_answers_equal_one_at_a_time_answers() -> None:
    one, _, clock1 = make_core()
    two, _, clock2 = make_core()
    _queue(one, 4)
    _queue(two, 4)
    serial = [env.body for _ in range(4) for env in one.run_next_job(clock1.monotonic_s())]
    piped: list[Any] = []
    while two.queue or two.staged:
        while two.start_job(clock2.monotonic_s()) is not None:
            pass
        head = two.staged[0]
        piped += [e.body for e in two.finish_job(two.infer(head))]

    def strip(body: Any) -> dict[str, Any]:
        return {k: v for k, v in body.items() if not k.endswith("_ms")}

    assert [strip(b) for b in piped] == [strip(b) for b in serial]
    assert [b["job_id"] for b in piped] == [1, 2, 3, 4]
    assert two.current_job is None and two.counters.jobs_done == 4


def test_cancel_a_queued_job_answers_at_once_and_spares_the_others() -> None:
    core, model, _ = make_core()
    _queue(core, 3)
    (res,) = core.handle(env(Kind.PAYLOAD_CANCEL, {"job_id": 2, "reason": "ground"}), 0.0)
    assert res.kind is Kind.PAYLOAD_RESULT and res.body["job_id"] == 2
    assert res.body["cancelled"] is True and res.body["ok"] is False
    assert "ground" in res.body["error"]
    assert [s.job_id for s in core.queue] == [1, 3] and model.calls == 0
    done = [e.body["job_id"] for _ in range(2) for e in core.run_next_job(0.0)]
    assert done == [1, 3] and core.counters.jobs_cancelled == 1
    assert core.counters.jobs_failed == 0


def test_cancel_a_handed_over_job_before_its_inference_skips_it() -> None:
    core, model, _ = make_core()
    _queue(core, 2)
    first = core.start_job(0.0)
    second = core.start_job(0.0)
    assert first is not None and second is not None
    assert core.handle(env(Kind.PAYLOAD_CANCEL, {"job_id": 2}), 0.0) == []
    a = core.finish_job(core.infer(first))[0].body
    b = core.finish_job(core.infer(second))[0].body
    assert a["ok"] is True and b["cancelled"] is True and model.calls == 1
    assert core.current_job is None and not core.staged


def test_a_cancel_for_a_job_it_does_not_have_is_ignored() -> None:
    core, _, _ = make_core()
    assert core.handle(env(Kind.PAYLOAD_CANCEL, {"job_id": 7}), 0.0) == []
    assert core.counters.rejected_frames == 0


@pytest.mark.parametrize("body", [{}, {"job_id": "x"}])
def test_a_malformed_cancel_is_counted_and_ignored(body: dict[str, Any]) -> None:
    core, _, _ = make_core()
    assert core.handle(env(Kind.PAYLOAD_CANCEL, body), 0.0) == []
    assert core.counters.rejected_frames == 1


def test_terminate_on_the_run_options_stops_onnxruntime() -> None:
    """The switch a cancel throws: a real session refuses to go on once it is set."""
    model = load_model(DEFAULT_MODEL_PATH)
    options = model.run_options()
    tiles = np.zeros((4, 4, 32, 32), dtype=np.float32)
    assert model.infer(tiles, options).shape == (4,)
    options.terminate = True
    with pytest.raises(ModelError, match="inference failed"):
        model.infer(tiles, options)


def test_a_thread_count_in_the_config_rebuilds_the_session_between_jobs() -> None:
    core, model, _ = make_core()
    built: list[int] = []

    def reload(threads: int) -> Any:
        built.append(threads)
        model.intra_op_threads = threads  # type: ignore[attr-defined]
        return model

    core.reload = reload
    _queue(core, 2)
    staged = core.start_job(0.0)
    assert staged is not None
    core.handle(env(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False,
                                          "intra_op_threads": 3}), 0.0)
    core.maintain(0.0)
    assert built == []  # a job is at the inference thread: not now
    assert core.start_job(0.0) is None  # and no second job until it is done
    core.finish_job(core.infer(staged))
    core.maintain(0.0)
    assert built == [3] and core.counters.session_rebuilds == 1
    (hb,) = core.handle(env(Kind.PAYLOAD_PING, {"n": 5}), 0.0)
    assert hb.body["intra_op_threads"] == 3
    assert core.run_next_job(0.0)[0].body["ok"] is True


def test_a_thread_count_out_of_range_is_rejected() -> None:
    core, _, _ = make_core()
    core.handle(env(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False,
                                          "intra_op_threads": 999}), 0.0)
    assert core.counters.rejected_frames == 1 and core.want_threads is None
