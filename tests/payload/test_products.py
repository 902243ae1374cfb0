"""Operator jobs in the payload: per-tile results, tiles compressed, hashes, priority,
and bad tensors answered with the reason (never a crash)."""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import numpy as np
import pytest

from flightsw import job_tensor
from flightsw.messages import ResultBody
from flightsw.wire import Kind
from payload.products import compress_tile
from tests.payload.fakes import job, make_core


def _tensor(tiles: np.ndarray, dtype: str = "uint8") -> dict[str, Any]:
    raw = (np.clip(np.rint(tiles * 255), 0, 255).astype(np.uint8).tobytes()
           if dtype == "uint8" else tiles.astype(np.float32).tobytes())
    return {"source": "tensor", "tensor": zlib.compress(raw),
            "tensor_shape": list(tiles.shape), "tensor_dtype": dtype, "detail": True,
            "tiles": True, "priority": 1}


def _run_one(overrides: dict[str, Any], n_tiles: int = 8) -> ResultBody:
    core, _model, clock = make_core()
    assert core.handle(job(1, n_tiles, **overrides), clock.monotonic_s()) == []
    (out,) = core.run_next_job(clock.monotonic_s())
    assert out.kind is Kind.PAYLOAD_RESULT
    return ResultBody.from_body(out.body)


def test_capture_job_with_detail_has_per_tile_truth_hashes_and_selected_tiles() -> None:
    res = _run_one({"detail": True, "tiles": True, "priority": 1}, n_tiles=16)
    assert res.ok, res.error
    assert len(res.probs) == len(res.cloudy) == len(res.truth) == 16
    assert res.selected == [i for i, c in enumerate(res.cloudy) if not c]
    assert len(res.tiles_z) == len(res.selected)
    assert res.n_correct == sum(c == y for c, y in zip(res.cloudy, res.truth, strict=True))
    assert res.all_tiles_z_bytes >= sum(len(z) for z in res.tiles_z) > 0
    assert len(res.input_sha256) == 64 and res.model_sha256 == "0" * 64
    first = np.frombuffer(zlib.decompress(res.tiles_z[0]), dtype=np.uint8)
    assert first.shape == (4 * 32 * 32,)


def test_tensor_job_classifies_exactly_the_uploaded_tiles() -> None:
    dark = np.full((2, 4, 32, 32), 0.05, dtype=np.float32)
    bright = np.full((1, 4, 32, 32), 0.9, dtype=np.float32)
    tiles = np.concatenate([dark, bright])
    res = _run_one(_tensor(tiles, "float32"), n_tiles=0)
    assert res.ok, res.error
    assert res.n_tiles == 3 and res.cloudy == [False, False, True] and res.truth == []
    assert res.input_sha256 == hashlib.sha256(tiles.tobytes()).hexdigest()
    assert res.tiles_z == [compress_tile(dark[0]), compress_tile(dark[1])]


def test_uint8_tensor_is_reflectance_times_255() -> None:
    tiles = np.full((1, 4, 32, 32), 0.8, dtype=np.float32)
    res = _run_one(_tensor(tiles, "uint8"), n_tiles=0)
    assert res.ok and res.cloudy == [True]


@pytest.mark.parametrize(("override", "reason"), [
    ({"tensor_shape": [1, 3, 32, 32]}, "tensor shape must be n,4,32,32"),
    ({"tensor_shape": [9, 4, 32, 32]}, "tensor tile count out of range"),
    ({"tensor_dtype": "float64"}, "tensor dtype not supported"),
    ({"tensor": b"not zlib"}, "tensor is not zlib data"),
    ({"tensor": zlib.compress(b"\0" * 100)}, "tensor size does not match"),
    ({"tensor": zlib.compress(b"\0" * 10_000_000)}, "tensor size does not match"),
    ({"source": "telescope"}, "job source must be capture or tensor"),
])
def test_bad_tensor_is_answered_with_the_reason(override: dict[str, Any], reason: str) -> None:
    body = _tensor(np.zeros((1, 4, 32, 32), dtype=np.float32))
    body.update(override)
    core, _model, clock = make_core()
    (out,) = core.handle(job(1, 0, **body), clock.monotonic_s())
    res = ResultBody.from_body(out.body)
    assert not res.ok and reason in res.error
    assert not core.queue


def test_non_finite_float_tensor_fails_the_job_with_the_reason() -> None:
    tiles = np.zeros((1, 4, 32, 32), dtype=np.float32)
    tiles[0, 0, 0, 0] = np.nan
    res = _run_one(_tensor(tiles, "float32"), n_tiles=0)
    assert not res.ok and "non-finite" in res.error


def test_operator_job_runs_before_routine_work_and_after_its_peers() -> None:
    core, _model, clock = make_core()
    for job_id, prio in ((1, 0), (2, 0), (3, 2), (4, 5), (5, 2)):
        core.handle(job(job_id, 2, priority=prio, detail=prio > 0), clock.monotonic_s())
    assert [s.job_id for s in core.queue] == [4, 3, 5, 1, 2]


def test_tensor_round_trips_through_the_command_form() -> None:
    tiles = np.random.default_rng(1).random((2, 4, 32, 32), dtype=np.float32)
    raw = tiles.tobytes()
    args = job_tensor.encode(raw, (2, 4, 32, 32), "float32")
    checked = job_tensor.check(args["tensor"], args["shape"], args["dtype"])
    assert checked.raw == raw and checked.shape == (2, 4, 32, 32)


def test_a_critical_job_is_run_twice_and_compared_a_routine_one_is_not() -> None:
    """Urgent operator jobs (flightsw.jobs.URGENT_PRIORITY and up) come marked critical:
    the payload runs their inference twice; before, nothing set the flag it reads."""
    core, model, clock = make_core()
    bright = model.infer
    model.infer = lambda batch: np.clip(bright(batch), 0.0, 1.0)  # type: ignore[method-assign]
    notes = []
    for job_id, overrides in ((1, {"priority": 3}), (2, {"priority": 8, "critical": True})):
        assert core.handle(job(job_id, 8, detail=True, **overrides), clock.monotonic_s()) == []
        (out,) = core.run_next_job(clock.monotonic_s())
        res = ResultBody.from_body(out.body)
        assert res.ok and res.integrity == "verified", res.integrity_note
        notes.append(res.integrity_note)
    assert not notes[0].startswith("run twice") and notes[1] == "run twice: identical"


def test_the_executive_marks_urgent_jobs_critical() -> None:
    from flightsw.jobs import URGENT_PRIORITY, OperatorJob, job_fields

    assert job_fields(OperatorJob(priority=URGENT_PRIORITY))["critical"] is True
    assert job_fields(OperatorJob(priority=URGENT_PRIORITY - 1))["critical"] is False
