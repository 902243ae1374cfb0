"""Radiation tolerance with the real models: weights the session really computes with,
scrubbing that finds every injected flip, repair from the store, corrupt files caught at
load, per-inference integrity verdicts, and the provider fallback."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from flightsw.clock import SimClock
from flightsw.wire import Kind
from payload.camera import capture
from payload.core import PayloadCore
from payload.errors import ModelError
from payload.integrity import FAILED, SAMPLED_RERUN_EVERY, SUSPECT, VERIFIED, checked_infer
from payload.model import CPU_PROVIDER, DEFAULT_MODEL_PATH, MODELS_DIR, load_model
from payload.model_weights import flip_input_bits
from payload.scrubbing import WeightScrubber
from tests.payload.fakes import env, job

MODELS = sorted(p for p in MODELS_DIR.glob("*.onnx"))


@pytest.fixture(scope="module")
def tiles() -> np.ndarray:
    return capture(16, 5, 60.0, 20.0).tiles


def _copy(tmp_path: Path, model: Path = DEFAULT_MODEL_PATH) -> Path:
    path = tmp_path / model.name
    shutil.copy(model, path)
    shutil.copy(model.with_suffix(".json"), path.with_suffix(".json"))
    return path


@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.stem)
def test_a_flip_in_the_owned_weights_changes_the_inference(model_path: Path,
                                                           tiles: np.ndarray) -> None:
    model = load_model(model_path)
    assert model.weights is not None
    before = model.infer(tiles)
    changed = 0
    for array in model.weights.arrays.values():
        if array.dtype != np.float32:
            continue
        raw = array.reshape(-1).view(np.uint32)
        raw[0] ^= np.uint32(1 << 30)  # the exponent's top bit: a large change
        changed += int(not np.array_equal(model.infer(tiles), before))
        raw[0] ^= np.uint32(1 << 30)
    assert np.array_equal(model.infer(tiles), before)
    n_float = sum(a.dtype == np.float32 for a in model.weights.arrays.values())
    # every float tensor feeds the answer: the session reads our arrays, not a copy
    assert changed == n_float


@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.stem)
def test_scrubbing_detects_every_injected_flip_and_repairs_it(model_path: Path,
                                                              tiles: np.ndarray) -> None:
    model = load_model(model_path)
    assert model.weights is not None
    golden = model.infer(tiles)
    scrubber = WeightScrubber(period_s=1.0)
    rng = np.random.default_rng(2026)
    trials = 200
    detected = 0
    for trial in range(trials):
        n_bits = 1 + trial % 8
        flips = model.weights.flip_bits(n_bits, rng)
        assert len(flips) == n_bits
        outcome = scrubber.run_if_due(model, now_s=float(trial + 1))  # one per period
        assert outcome is not None and not outcome.error
        detected += bool(outcome.corrupted)
        assert {f.tensor for f in flips} == set(outcome.corrupted)
        assert np.array_equal(model.infer(tiles), golden)  # repaired in place
    assert detected == trials  # 100 % within one scrub period
    assert model.weights.repairs == scrubber.repaired > 0


def test_corrupt_store_file_stops_the_repair_and_is_caught_at_load(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    model = load_model(path)
    assert model.weights is not None
    model.weights.flip_bits(1, np.random.default_rng(1))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x04
    path.write_bytes(bytes(blob))
    scrubber = WeightScrubber(period_s=1.0)
    outcome = scrubber.run_if_due(model, now_s=1.0)
    assert outcome is not None and "corrupt too" in outcome.error
    with pytest.raises(ModelError, match="does not match its card's sha256"):
        load_model(path)


def test_flip_file_bits_is_caught_at_load(tmp_path: Path) -> None:
    from flightsw.model_files import flip_file_bits

    path = _copy(tmp_path)
    offsets = flip_file_bits(path, 3, seed=7)
    assert len(offsets) == 3
    with pytest.raises(ModelError, match="sha256"):
        load_model(path)


def test_provider_fallback_to_cpu_with_the_reason() -> None:
    # a board that lists CUDA: this machine has none, so the first real session is CPU
    model = load_model(available_providers=["CUDAExecutionProvider", CPU_PROVIDER])
    assert model.provider == CPU_PROVIDER
    assert "CUDAExecutionProvider" in model.fallback_reason
    plain = load_model(available_providers=[CPU_PROVIDER])
    assert plain.fallback_reason == ""


def test_fallback_reaches_the_heartbeat() -> None:
    model = load_model(available_providers=["TensorrtExecutionProvider", CPU_PROVIDER])
    core = PayloadCore(model, SimClock())
    hb = core.ready_heartbeat(0.0).body
    assert "TensorrtExecutionProvider" in hb["provider_fallback"]


# ---------------------------------------------------------------- integrity verdicts


def test_a_healthy_job_is_verified(tiles: np.ndarray) -> None:
    model = load_model()
    prob, verdict = checked_infer(model.infer, tiles, sample_seed=3 * SAMPLED_RERUN_EVERY)
    assert verdict.verdict == VERIFIED and "tile 3 re-run agrees" in verdict.note
    _, unsampled = checked_infer(model.infer, tiles, sample_seed=3)
    assert unsampled.verdict == VERIFIED and unsampled.note == "range ok"
    prob2, verdict2 = checked_infer(model.infer, tiles, sample_seed=3, run_twice=True)
    assert verdict2.verdict == VERIFIED and np.array_equal(prob, prob2)


def test_out_of_range_outputs_fail() -> None:
    batch = np.zeros((4, 4, 32, 32), np.float32)
    _, verdict = checked_infer(lambda b: np.full(len(b), np.nan, np.float32), batch,
                               sample_seed=0)
    assert verdict.verdict == FAILED


def test_run_twice_catches_an_input_upset_and_answers_with_the_majority(
        tiles: np.ndarray) -> None:
    model = load_model()
    clean = model.infer(tiles)
    rng = np.random.default_rng(11)
    caught = 0
    for _ in range(20):
        upset = tiles.copy()
        upset[rng.integers(len(tiles)), 0, 5, 5] = 1e6  # a flipped exponent in a pixel
        prob, verdict = checked_infer(model.infer, tiles, sample_seed=0, run_twice=True,
                                      first_run_input=upset)
        if not np.array_equal(model.infer(upset), clean):
            assert verdict.verdict == SUSPECT and verdict.runs == 3
            assert np.array_equal(prob, clean)  # the two clean runs win
            caught += 1
    assert caught > 0


def test_sampled_rerun_catches_an_upset_of_the_sampled_tile(tiles: np.ndarray) -> None:
    model = load_model()
    upset = tiles.copy()
    upset[3, 3, 7, 7] = 40.0  # one SWIR pixel's exponent flipped: finite, but wrong
    assert not np.array_equal(model.infer(upset)[3], model.infer(tiles)[3])
    _, verdict = checked_infer(model.infer, tiles, sample_seed=3 * SAMPLED_RERUN_EVERY,
                               first_run_input=upset)
    assert verdict.verdict == SUSPECT
    # many random flips: NaN and inf appear, and the range check fails the job outright
    noisy = flip_input_bits(tiles, 4096, np.random.default_rng(0))
    _, verdict = checked_infer(model.infer, tiles, sample_seed=3, first_run_input=noisy)
    assert verdict.verdict in (SUSPECT, FAILED)


def test_core_fault_injection_then_scrub_repairs(tiles: np.ndarray) -> None:
    model = load_model()
    clock = SimClock()
    core = PayloadCore(model, clock)
    core.handle(env(Kind.PAYLOAD_FAULT, {"target": "weights", "bits": 4, "seed": 3}), 0.0)
    assert model.weights is not None and model.weights.scrub().corrupted
    clock.advance_by(10.0)
    outcome = core.scrub_if_due(clock.monotonic_s())
    assert outcome is not None and outcome.repaired >= 1
    assert not model.weights.scrub().corrupted
    hb = core.ready_heartbeat(clock.monotonic_s()).body
    assert hb["weight_repairs"] == outcome.repaired and hb["weight_scrubs"] >= 1


def test_core_marks_each_result_with_its_verdict() -> None:
    model = load_model()
    core = PayloadCore(model, SimClock())
    core.handle(job(job_id=1, n_tiles=8), 0.0)
    (result,) = core.run_next_job(0.0)
    assert result.body["integrity"] == VERIFIED and result.body["ok"]
    assert result.body["integrity_note"] == "range ok"
    core.handle(job(job_id=SAMPLED_RERUN_EVERY, n_tiles=8), 0.0)  # a sampled job
    (sampled,) = core.run_next_job(0.0)
    assert sampled.body["integrity"] == VERIFIED
    assert "re-run agrees" in sampled.body["integrity_note"]


def test_card_of_every_shipped_model_matches_its_file() -> None:
    for path in MODELS:
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_integrity_bench_measures_both_models() -> None:
    from payload.integrity_bench import measure

    result = measure(trials=20, repeats=20)
    assert {m["model"] for m in result["models"]} == {"cloud_screen_v1",
                                                      "cloud_screen_cnn_v1"}
    for m in result["models"]:
        assert m["scrub_detection"] == 1.0
        # a whole second run costs more than a one-tile re-run (timings are CPU time)
        assert m["run_twice_overhead"] > m["sampled_overhead"]
        if m["effective_upsets"]:
            assert m["detection_of_effective"]["run_twice"] == 1.0


def test_core_input_fault_is_caught_by_run_twice() -> None:
    model = load_model()
    core = PayloadCore(model, SimClock())
    core.run_twice = True  # critical work
    core.handle(env(Kind.PAYLOAD_FAULT, {"target": "input", "bits": 2000, "seed": 1}), 0.0)
    core.handle(job(job_id=1, n_tiles=16), 0.0)
    (upset,) = core.run_next_job(0.0)
    assert upset.body["integrity"] in ("suspect", "failed"), upset.body["integrity_note"]
    core.handle(job(job_id=2, n_tiles=16), 0.0)  # the upset was one run's, not the next
    (clean,) = core.run_next_job(0.0)
    assert clean.body["integrity"] == "verified"
    hb = core.ready_heartbeat(0.0).body
    assert hb["integrity_suspect"] + hb["integrity_failed"] == 1
