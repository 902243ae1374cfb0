"""Make the second shipped model: ``cloud_screen_cnn_v1.onnx``, a small convolutional net.

Run ``python -m payload.models.make_cloud_screen_cnn`` (needs ``onnx``; no downloads).

Why a second model: upload, activation and rollback must be shown with a real,
different network, and the payload must be measured on something heavier than the
378-parameter default. Same task (cloud screening of 4-band 32x32 tiles), same input and
output names and shapes, so either model can be active without touching the jobs.

The graph is a real convolutional network (ONNX ``Conv`` ops):

1. ``denoise``: a 3x3 convolution 4 -> 4 over the bands (zero padding). Its weights are
   *derived*, not fitted: a per-band Gaussian (sigma 0.85 px), which halves the sensor
   noise before the spectral indices divide by small numbers;
2. the spectral indices of :mod:`payload.models.make_cloud_screen` on the smoothed bands
   (visible brightness, NDSI-like snow index, whiteness, SWIR/visible), 8 channels;
3. ``pixel``: 1x1 convolutions 8 -> 64 -> 1 with ReLU and sigmoid, *fitted* (numpy Adam,
   binary cross-entropy) on the camera's true per-pixel cloud masks;
4. ``context``: a 3x3 convolution 1 -> 1 on the cloud-probability map (derived Gaussian):
   a pixel's neighbours vote, which removes isolated false cloud pixels;
5. ``tile``: global pooling into 14 tile features and an MLP 14 -> 24 -> 1 (fitted).

Everything is seeded; the numpy forward pass is the reference, and the script checks
that onnxruntime reproduces it before writing. Accuracy is measured on held-out tiles of
the synthetic camera (other seeds and ground positions) and written into the card.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from payload.camera import BANDS, TILE_PX, Capture
from payload.models.make_cloud_screen import (
    BRIGHT_VIS,
    IR_VERSION,
    OPSET,
    THRESHOLD,
    Dense2,
    GraphParts,
    brightness_baseline,
    card_head,
    evaluate,
    fit_and_check,
    pixel_features,
    train_dense2,
)

NAME = "cloud_screen_cnn"
VERSION = "1"
PIXEL_HIDDEN = 64
TILE_HIDDEN = 24
SIGMA_PX = 0.85
HERE = Path(__file__).resolve().parent
F32 = npt.NDArray[np.float32]


def gaussian3x3(sigma_px: float = SIGMA_PX) -> F32:
    """A normalised 3x3 Gaussian kernel."""
    ax = np.array([-1.0, 0.0, 1.0])
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma_px**2))
    out: F32 = (g / g.sum()).astype(np.float32)
    return out


def blur(x: F32, kernel: F32) -> F32:
    """Per-channel 3x3 convolution with zero padding, as ONNX ``Conv`` pads=1 computes it."""
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2, w + 2), dtype=np.float32)
    padded[:, :, 1:-1, 1:-1] = x
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += kernel[dy, dx] * padded[:, :, dy : dy + h, dx : dx + w]
    return out


def tile_features(tiles: F32, pixel_net: Dense2) -> F32:
    """``[n, 14]`` tile features of the CNN, in numpy (the reference for the graph)."""
    k = gaussian3x3()
    out = []
    for start in range(0, len(tiles), 256):
        chunk = tiles[start : start + 256]
        px = pixel_features(blur(chunk, k))  # NHWC, 8 channels
        p = pixel_net.prob(px)[:, None]  # [n, 1, 32, 32]
        p = blur(p, k)[:, 0]
        vis, ndsi, white, ratio = (px[..., i] for i in range(4, 8))
        mean = chunk.mean(axis=(2, 3))
        std = np.sqrt(((chunk - mean[:, :, None, None]) ** 2).mean(axis=(2, 3)))
        cols = [
            p.mean(axis=(1, 2))[:, None],
            (p > 0.5).astype(np.float32).mean(axis=(1, 2))[:, None],
            mean, std,
            ndsi.mean(axis=(1, 2))[:, None],
            white.mean(axis=(1, 2))[:, None],
            ratio.mean(axis=(1, 2))[:, None],
            (vis > BRIGHT_VIS).astype(np.float32).mean(axis=(1, 2))[:, None],
        ]
        out.append(np.concatenate(cols, axis=1).astype(np.float32))
    return np.concatenate(out)


def train(data: Capture, seed: int) -> tuple[Dense2, Dense2]:
    rng = np.random.default_rng(seed)
    n = len(data)
    k = gaussian3x3()
    tile_idx = rng.integers(0, n, size=400_000)
    row = rng.integers(0, TILE_PX, size=400_000)
    col = rng.integers(0, TILE_PX, size=400_000)
    # pixel features of the *smoothed* bands, sampled one tile batch at a time
    feats = np.zeros((400_000, 8), dtype=np.float32)
    for start in range(0, n, 512):
        sel = (tile_idx >= start) & (tile_idx < start + 512)
        if not np.any(sel):
            continue
        px = pixel_features(blur(data.tiles[start : start + 512], k))
        feats[sel] = px[tile_idx[sel] - start, row[sel], col[sel]]
    labels = data.cloud_mask[tile_idx, row, col].astype(np.float32)
    pixel_net = train_dense2(feats, labels, PIXEL_HIDDEN, steps=3000, batch=2048,
                             lr=0.01, weight_decay=1e-5, seed=seed + 1)
    tile_net = train_dense2(tile_features(data.tiles, pixel_net),
                            data.cloudy.astype(np.float32), TILE_HIDDEN, steps=6000,
                            batch=512, lr=0.01, weight_decay=1e-4, seed=seed + 2)
    return pixel_net, tile_net


def build_graph(pixel_net: Dense2, tile_net: Dense2) -> Any:
    """``tiles [N,4,32,32] float32 -> cloud_prob [N] float32``, with Conv layers."""
    import onnx
    from onnx import TensorProto, helper

    parts = GraphParts()
    inits, nodes, const, op = parts.inits, parts.nodes, parts.const, parts.op

    def mean(x: str, out: str, axes: list[int]) -> str:
        return op("ReduceMean", [x], out, axes=axes, keepdims=0)

    k = gaussian3x3()
    n_bands = len(BANDS)
    denoise_w = np.zeros((n_bands, n_bands, 3, 3), dtype=np.float32)
    for i in range(n_bands):
        denoise_w[i, i] = k
    smooth = op("Conv", ["tiles", const("denoise_w", denoise_w)], "denoised",
                kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    vis, _vis_eps, ndsi, white, ratio = parts.spectral_indices(smooth)
    px = op("Concat", ["r", "g", "b", "s", vis, ndsi, white, ratio], "px", axis=1)
    # 1x1 convolutions: the pixel classifier as a conv layer (weights [out, in, 1, 1])
    h = op("Conv", [px, const("pixel_w1", pixel_net.w1.T[:, :, None, None]),
                    const("pixel_b1", pixel_net.b1)], "pixel_conv1", kernel_shape=[1, 1])
    h = op("Relu", [h], "pixel_relu")
    z = op("Conv", [h, const("pixel_w2", pixel_net.w2.T[:, :, None, None]),
                    const("pixel_b2", pixel_net.b2)], "pixel_conv2", kernel_shape=[1, 1])
    p = op("Sigmoid", [z], "pixel_prob")
    p = op("Conv", [p, const("context_w", k[None, None])], "context", kernel_shape=[3, 3],
           pads=[1, 1, 1, 1])
    cloud_px = op("Cast", [op("Greater", [p, const("half", np.float32(0.5))], "p_gt")],
                  "p_gt_f", to=TensorProto.FLOAT)
    centred = op("Sub", ["tiles", op("ReduceMean", ["tiles"], "band_mean_k", axes=[2, 3],
                                     keepdims=1)], "centred")
    bright_px = op("Cast", [op("Greater", [vis, const("bright_vis", BRIGHT_VIS)], "vis_gt")],
                   "vis_gt_f", to=TensorProto.FLOAT)
    feats = op("Concat", [
        mean(p, "p_mean", [2, 3]),
        mean(cloud_px, "p_frac", [2, 3]),
        mean("tiles", "band_mean", [2, 3]),
        op("Sqrt", [mean(op("Mul", [centred, centred], "centred_sq"), "band_var", [2, 3])],
           "band_std"),
        mean(ndsi, "ndsi_mean", [2, 3]),
        mean(white, "white_mean", [2, 3]),
        mean(ratio, "ratio_mean", [2, 3]),
        mean(bright_px, "bright_frac", [2, 3]),
    ], "features", axis=1)
    t = op("Relu", [op("Add", [op("MatMul", [feats, const("tile_w1", tile_net.w1)], "tile_mm1"),
                               const("tile_b1", tile_net.b1)], "tile_add1")], "tile_relu")
    t = op("Add", [op("MatMul", [t, const("tile_w2", tile_net.w2)], "tile_mm2"),
                   const("tile_b2", tile_net.b2)], "tile_add2")
    prob = op("Sigmoid", [t], "tile_prob")
    nodes.append(helper.make_node("Reshape", [prob, const("flat", [-1], np.int64)],
                                  ["cloud_prob"], name="cloud_prob"))
    graph = helper.make_graph(
        nodes, f"{NAME}_v{VERSION}",
        [helper.make_tensor_value_info("tiles", TensorProto.FLOAT,
                                       ["N", n_bands, TILE_PX, TILE_PX])],
        [helper.make_tensor_value_info("cloud_prob", TensorProto.FLOAT, ["N"])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="aisat.payload.make_cloud_screen_cnn",
                              producer_version=VERSION,
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = "Small CNN cloud screening of 4-band 32x32 EO tiles; >70 % cloud = drop."
    helper.set_model_props(model, {"name": NAME, "version": VERSION,
                                   "threshold": str(THRESHOLD)})
    onnx.checker.check_model(model, full_check=True)
    return model


def count_params(pixel_net: Dense2, tile_net: Dense2) -> int:
    derived = 4 * 4 * 9 + 9  # the two Gaussian convolutions
    return derived + sum(int(a.size) for net in (pixel_net, tile_net)
                         for a in (net.w1, net.b1, net.w2, net.b2))


def flops_per_tile() -> int:
    """Multiply-adds x2 per tile: the convolutions dominate."""
    px = TILE_PX * TILE_PX
    macs = px * (4 * 4 * 9 + 8 * PIXEL_HIDDEN + PIXEL_HIDDEN + 9 + 20)
    return 2 * macs + 14 * TILE_HIDDEN * 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--train-captures", type=int, default=250)
    parser.add_argument("--held-out-captures", type=int, default=80)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)

    fit = fit_and_check(args, train, build_graph, tile_features, print)
    pixel_net, tile_net, blob = fit.pixel_net, fit.tile_net, fit.blob
    train_data, held_out = fit.train_data, fit.held_out
    held = evaluate(fit.held_out_prob, held_out)
    onnx_name = f"{NAME}_v{VERSION}.onnx"
    card: dict[str, Any] = {
        **card_head(NAME, VERSION, onnx_name, blob, count_params(pixel_net, tile_net),
                    flops_per_tile()),
        "power_class": "medium",
        "power_note": "CPU, one thread; ~6x the compute of cloud_screen v1 per tile",
        "accuracy": held["accuracy"],
        "training": {"tiles": len(train_data),
                     "cloudy_frac": round(float(train_data.cloudy.mean()), 4),
                     "seed": args.seed},
        "held_out": held,
        "baseline_held_out": brightness_baseline(train_data, held_out),
        "made_by": "python -m payload.models.make_cloud_screen_cnn",
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / onnx_name).write_bytes(blob)
    (args.out_dir / f"{NAME}_v{VERSION}.json").write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(held, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
