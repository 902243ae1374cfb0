"""The sandbox that judges an uploaded model before it may be activated: real child
processes, real limits (the model store's shell runs exactly this)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import onnxruntime

from flightsw.model_files import ModelFiles
from flightsw.model_store import Upload
from payload.model import DEFAULT_MODEL_PATH, choose_model_path, sha256_hex
from tests.model_uplink_harness import camera_card
from tests.payload import bad_models


def judge(tmp_path: Path, blob: bytes, *, cpu_s: int = 3, wall_s: float = 60.0) -> tuple[str, str]:
    """Put ``blob`` through the store's verification; (verdict kind, reason)."""
    files = ModelFiles(tmp_path / "models", cpu_s=cpu_s, wall_s=wall_s)
    sha = sha256_hex(blob)
    up = Upload(1, len(blob), camera_card(blob, name="m"), received=[])
    chunks = tmp_path / "models" / "uploads" / "1"
    chunks.mkdir(parents=True)
    for i in range(up.n_chunks):
        (chunks / f"{i}.chunk").write_bytes(blob[i * 768:(i + 1) * 768])
    from flightsw.model_store import StoreOp

    assert files.apply([StoreOp("verify", 1, sha256=sha)], {1: up}, 0.0) == []
    t0 = time.monotonic()
    while True:
        results = files.poll(time.monotonic() - t0)
        if results:
            (res,) = results
            return res.kind, res.reason
        time.sleep(0.05)


def test_the_shipped_model_passes(tmp_path: Path) -> None:
    kind, reason = judge(tmp_path, DEFAULT_MODEL_PATH.read_bytes())
    assert kind == "verified", reason


def test_a_model_that_allocates_without_bound_is_rejected(tmp_path: Path) -> None:
    kind, reason = judge(tmp_path, bad_models.memory_hog())
    assert kind == "rejected"
    assert "allocate" in reason.lower() or "memory" in reason.lower()


def test_a_model_that_never_ends_is_killed_at_the_cpu_limit(tmp_path: Path) -> None:
    kind, reason = judge(tmp_path, bad_models.never_ends(), cpu_s=2)
    assert kind == "rejected"
    assert "SIGKILL" in reason or "SIGXCPU" in reason


def test_a_model_that_sleeps_is_killed_at_the_wall_deadline(tmp_path: Path) -> None:
    # a CPU limit the loop cannot reach in time: the wall-clock deadline ends it
    kind, reason = judge(tmp_path, bad_models.never_ends(), cpu_s=600, wall_s=3.0)
    assert kind == "rejected" and "no verdict within 3 s" in reason


def test_a_model_that_aborts_onnxruntime_on_load_is_rejected_with_the_signal(
        tmp_path: Path) -> None:
    blob = bad_models.aborts_onnxruntime_on_load()
    # first, that it is real: a bare session on it kills its process, no exception
    model = tmp_path / "abort.onnx"
    model.write_bytes(blob)
    bare = subprocess.run(
        [sys.executable, "-c", "import sys, onnxruntime as ort; "
         "ort.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider']); "
         "print('loaded')", str(model)], capture_output=True, text=True, timeout=120)
    assert bare.returncode == -signal.SIGABRT, (
        f"onnxruntime {onnxruntime.__version__} no longer aborts on this model "
        f"(exit {bare.returncode}: {bare.stdout.strip()} {bare.stderr.strip()[-200:]}); "
        "find another crash for this test")
    kind, reason = judge(tmp_path, blob)
    assert kind == "rejected"
    assert reason == "sandbox: crashed onnxruntime (SIGABRT)"
    assert not list((tmp_path / "models").glob("*.onnx"))


def test_a_model_for_another_camera_is_rejected(tmp_path: Path) -> None:
    kind, reason = judge(tmp_path, bad_models.wrong_input())
    assert kind == "rejected" and "the camera makes float32 [N, 4, 32, 32]" in reason


def test_last_good_model_is_found_in_the_store(tmp_path: Path) -> None:
    stored = tmp_path / ("a" * 64 + ".onnx")
    stored.write_bytes(b"x")
    active = tmp_path / "active.onnx"
    active.symlink_to(DEFAULT_MODEL_PATH)
    want = sha256_hex(b"x")
    (tmp_path / f"{want}.onnx").write_bytes(b"x")
    assert choose_model_path(active, want) == tmp_path / f"{want}.onnx"
    assert choose_model_path(active, "b" * 64) == DEFAULT_MODEL_PATH
