"""The shipped model: it is what its card says, it loads, and it is actually good."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from payload.camera import Surface, capture
from payload.errors import ModelError
from payload.model import (
    CPU_PROVIDER,
    DEFAULT_MODEL_PATH,
    ModelCard,
    card_path_for,
    choose_providers,
    load_model,
)

# Seeds far from the generator's training (1_000+) and held-out (9_000_000+) ranges.
FRESH_SEED_BASE = 123_456_789
ACCURACY_BAR = 0.95
SNOW_ACCURACY_BAR = 0.90


@pytest.fixture(scope="module")
def card() -> ModelCard:
    return ModelCard.read(card_path_for(DEFAULT_MODEL_PATH))


def test_model_file_matches_its_card(card: ModelCard) -> None:
    assert hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest() == card.sha256
    session = ort.InferenceSession(str(DEFAULT_MODEL_PATH), providers=[CPU_PROVIDER])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    assert (inp.name, inp.type) == (card.input_name, "tensor(float)")
    assert (out.name, out.type) == (card.output_name, "tensor(float)")
    assert list(inp.shape) == list(card.input_shape) == ["N", 4, 32, 32]
    assert list(out.shape) == list(card.output_shape) == ["N"]


def test_card_files_ship_beside_the_model(card: ModelCard) -> None:
    assert card.raw["file"] == DEFAULT_MODEL_PATH.name
    assert (DEFAULT_MODEL_PATH.parent / "MODEL_CARD.md").read_text().count(card.sha256) == 1


def test_loads_on_cpu_with_identity_from_the_card(card: ModelCard) -> None:
    model = load_model()
    assert model.provider == CPU_PROVIDER
    assert model.model_id == "cloud_screen_v1"
    assert model.sha256 == card.sha256
    assert model.threshold == card.threshold
    assert model.fallback_reason == ""


def test_batch_size_is_dynamic() -> None:
    model = load_model()
    tiles = capture(40, seed=1, lat_deg=0.0, lon_deg=0.0).tiles
    whole = model.infer(tiles)
    assert whole.shape == (40,)
    assert np.allclose(np.concatenate([model.infer(tiles[:1]), model.infer(tiles[1:])]), whole,
                       atol=1e-6)
    assert model.infer(tiles[:0]).shape == (0,)


def test_accuracy_on_freshly_generated_tiles() -> None:
    """Recomputed here on tiles nobody trained or tuned on: the card is not trusted."""
    model = load_model()
    rng = np.random.default_rng(FRESH_SEED_BASE)
    right, snow_right, snow_total, total = 0, 0, 0, 0
    for i in range(24):
        lat, lon = float(rng.uniform(-90, 90)), float(rng.uniform(-180, 180))
        shot = capture(64, FRESH_SEED_BASE + i, lat, lon)
        ok = (model.infer(shot.tiles) > model.threshold) == shot.cloudy
        snow = shot.surface == Surface.SNOW
        right += int(ok.sum())
        total += len(shot)
        snow_right += int(ok[snow].sum())
        snow_total += int(snow.sum())
    assert right / total > ACCURACY_BAR, right / total
    assert snow_total > 100
    assert snow_right / snow_total > SNOW_ACCURACY_BAR, snow_right / snow_total


def test_the_card_reports_what_the_generator_measured(card: ModelCard) -> None:
    held = card.raw["held_out"]
    assert held["tiles"] >= 2000
    assert held["accuracy"] > ACCURACY_BAR
    assert 0.0 < held["downlink_saved_frac"] < 1.0


# ------------------------------------------------------------------ refusals


def _copy_model(tmp_path: Path) -> Path:
    path = tmp_path / DEFAULT_MODEL_PATH.name
    shutil.copy(DEFAULT_MODEL_PATH, path)
    shutil.copy(card_path_for(DEFAULT_MODEL_PATH), card_path_for(path))
    return path


def _rewrite_card(path: Path, **changes: object) -> None:
    card_file = card_path_for(path)
    data = json.loads(card_file.read_text())
    data.update(changes)
    card_file.write_text(json.dumps(data))


def test_a_flipped_bit_is_refused_before_onnxruntime_sees_it(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="does not match its card") as info:
        load_model(path)
    assert info.value.details["actual"] == hashlib.sha256(blob).hexdigest()


def test_garbage_with_a_matching_hash_is_refused_before_onnxruntime(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    garbage = b"this is not an onnx model" * 10
    path.write_bytes(garbage)
    _rewrite_card(path, sha256=hashlib.sha256(garbage).hexdigest())
    # decoding the weights into the payload's own arrays is the first reader now
    with pytest.raises(ModelError, match="not a readable ONNX protobuf") as info:
        load_model(path)
    assert info.value.__cause__ is not None  # translated, with the original kept
    assert "error" in info.value.details


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    blob = path.read_bytes()[:200]
    path.write_bytes(blob)
    _rewrite_card(path, sha256=hashlib.sha256(blob).hexdigest())
    with pytest.raises(ModelError):
        load_model(path)


def test_card_naming_a_missing_input_is_refused(tmp_path: Path) -> None:
    path = _copy_model(tmp_path)
    _rewrite_card(path, inputs=[{"name": "pixels", "shape": ["N", 4, 32, 32]}])
    with pytest.raises(ModelError, match="no input named"):
        load_model(path)


def test_missing_model_and_missing_card_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="card not found"):
        load_model(tmp_path / "nothing.onnx")
    path = _copy_model(tmp_path)
    path.unlink()
    with pytest.raises(ModelError, match="model file unreadable"):
        load_model(path)


@pytest.mark.parametrize(
    ("change", "match"),
    [({"sha256": "abc"}, "64 hex"), ({"threshold": 2.0}, "threshold"),
     ({"name": ""}, "malformed"), ({"inputs": []}, "malformed")],
)
def test_malformed_cards_are_refused(tmp_path: Path, change: dict[str, object],
                                     match: str) -> None:
    path = _copy_model(tmp_path)
    _rewrite_card(path, **change)
    with pytest.raises(ModelError, match=match):
        load_model(path)


def test_zero_threads_is_refused() -> None:
    with pytest.raises(ModelError, match="intra_op_threads"):
        load_model(intra_op_threads=0)


# ------------------------------------------------------------------ providers


def test_providers_prefer_accelerators_and_always_end_on_cpu() -> None:
    assert choose_providers(["CPUExecutionProvider"]) == [CPU_PROVIDER]
    assert choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == [CPU_PROVIDER]
    assert choose_providers(
        ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    ) == ["TensorrtExecutionProvider", "CUDAExecutionProvider", CPU_PROVIDER]
