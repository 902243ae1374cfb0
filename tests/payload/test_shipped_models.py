"""The shipped models are what their scripts build: rebuilt from their own weights, each
graph is byte-identical to the file (so the scripts, not hand edits, define them), and
the second model is really a different, heavier network for the same job."""

from __future__ import annotations

import json

import numpy as np

from payload.model import MODELS_DIR, load_model
from payload.model_weights import decode_initializers
from payload.models import make_cloud_screen, make_cloud_screen_cnn
from payload.models.make_cloud_screen import Dense2


def _nets(blob: bytes, conv: bool) -> tuple[Dense2, Dense2]:
    a = decode_initializers(blob)

    def dense(prefix: str) -> Dense2:
        w1, w2 = a[f"{prefix}_w1"], a[f"{prefix}_w2"]
        if conv and prefix == "pixel":  # 1x1 conv weights [out, in, 1, 1] -> [in, out]
            w1, w2 = w1[:, :, 0, 0].T.copy(), w2[:, :, 0, 0].T.copy()
        return Dense2(w1, a[f"{prefix}_b1"], w2, a[f"{prefix}_b2"])

    return dense("pixel"), dense("tile")


def test_scripts_rebuild_the_shipped_files_byte_for_byte() -> None:
    for module, stem, conv in ((make_cloud_screen, "cloud_screen_v1", False),
                               (make_cloud_screen_cnn, "cloud_screen_cnn_v1", True)):
        blob = (MODELS_DIR / f"{stem}.onnx").read_bytes()
        assert module.build_graph(*_nets(blob, conv)).SerializeToString() == blob, stem


def test_the_cnn_is_a_heavier_convolutional_network_with_a_measured_card() -> None:
    import onnx

    cnn = onnx.load(str(MODELS_DIR / "cloud_screen_cnn_v1.onnx"))
    assert sum(n.op_type == "Conv" for n in cnn.graph.node) == 4
    v1_card = json.loads((MODELS_DIR / "cloud_screen_v1.json").read_text())
    card = json.loads((MODELS_DIR / "cloud_screen_cnn_v1.json").read_text())
    assert card["flops_per_tile"] > 4 * v1_card["flops_per_tile"]
    assert card["parameters"] > 3 * v1_card["parameters"]
    assert card["accuracy"] == card["held_out"]["accuracy"] > 0.95
    assert card["power_class"] == "medium"


def test_the_cnn_agrees_with_its_numpy_reference() -> None:
    from payload.camera import capture

    model = load_model(MODELS_DIR / "cloud_screen_cnn_v1.onnx")
    tiles = capture(32, 77, -30.0, 140.0).tiles
    pixel_net, tile_net = _nets((MODELS_DIR / "cloud_screen_cnn_v1.onnx").read_bytes(), True)
    ref = tile_net.prob(make_cloud_screen_cnn.tile_features(tiles, pixel_net))
    assert np.max(np.abs(model.infer(tiles) - ref)) < 1e-3
