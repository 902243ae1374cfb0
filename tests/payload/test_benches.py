"""The payload's CPU knobs reach onnxruntime, and the benches that show their effect run
(their figures are printed, never asserted: speed is not a test's business)."""

from __future__ import annotations

import sys
import types

import pytest

from payload import service_bench, throttle_bench
from payload.model import load_model


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_intra_op_thread_count_reaches_the_session_options(threads: int) -> None:
    model = load_model(intra_op_threads=threads)
    options = model._session.get_session_options()
    assert options.intra_op_num_threads == threads
    assert options.inter_op_num_threads == 1


def test_throttle_curve_has_a_point_per_duty_and_thread_count() -> None:
    curve = throttle_bench.bench_throttle(duties=(0.5, 1.0), threads=(1, 2), batch=4,
                                          seconds=0.05, repeats=2)
    rows = curve["curve"]
    assert [(r["intra_op_threads"], r["duty"]) for r in rows] == [
        (1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0)]
    assert all(r["tiles_per_s"] > 0 and r["cpu_cores"] >= 0 for r in rows)


def test_every_shipped_model_is_benched() -> None:
    names = [p.name for p in service_bench.shipped_models()]
    assert "cloud_screen_v1.onnx" in names


def test_integrity_slot_says_when_it_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "payload.integrity_bench", None)  # import fails
    assert service_bench.integrity_slot()["status"].startswith("not measured")
    fake = types.ModuleType("payload.integrity_bench")
    fake.measure = lambda: {"scrub_ms": 1.5}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "payload.integrity_bench", fake)
    assert service_bench.integrity_slot() == {"scrub_ms": 1.5}


@pytest.mark.integration
def test_payload_bench_runs_a_real_payload_process() -> None:
    model = service_bench.shipped_models()[0]
    result = service_bench.bench_model(model, batch=4, rounds=1, jobs_per_round=4)
    assert result["throughput_ratio_to_bare"] > 0 and result["p99_latency_ms"] > 0
    assert result["p50_latency_ms"] <= result["p99_latency_ms"]
