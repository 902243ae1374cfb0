"""The command-line edges: argument parsing, the BLAS thread cap, the benchmark."""

from __future__ import annotations

import os

import pytest

from payload.__main__ import SINGLE_THREAD_ENV, limit_blas_threads, parse_args
from payload.bench import run_bench


def test_the_executive_command_line_parses() -> None:
    args = parse_args(["--endpoint", "tcp://127.0.0.1:5601", "--incarnation", "2",
                       "--log-level", "DEBUG"])
    assert (args.endpoint, args.incarnation, args.model, args.intra_op_threads) == (
        "tcp://127.0.0.1:5601", 2, None, 1)
    assert args.parent_pid is None


def test_endpoint_is_required() -> None:
    with pytest.raises(SystemExit):
        parse_args([])


def test_blas_is_capped_to_one_thread_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in SINGLE_THREAD_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")  # an operator's explicit choice stands
    limit_blas_threads()
    assert os.environ["OMP_NUM_THREADS"] == "4"
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"


def test_bench_reports_throughput_and_load_time() -> None:
    result = run_bench(batch=4, repeats=5)
    assert result["tiles_per_s"] > 0 and result["bare_onnxruntime_tiles_per_s"] > 0
    assert 0 < result["first_load_s"] < 30
    assert result["provider"] == "CPUExecutionProvider"
