"""Make the shipped default model: ``cloud_screen_v1.onnx`` plus its model card.

Run ``python -m payload.models.make_cloud_screen`` (needs the ``model`` extra: ``onnx``).
It trains with numpy only, writes the ONNX file, the machine-readable card
(``cloud_screen_v1.json``, which the payload checks at load time) and ``MODEL_CARD.md``.

The model screens clouds the way ESA's Phi-Sat-1 did: a tile that is more than 70 %
cloud is not worth downlinking. It is two small stages, both inside one ONNX graph:

1. a per-pixel classifier (a 1x1 "convolution" written as a MatMul over the band axis,
   8 -> 12 -> 1) on the four bands plus three spectral indices: visible brightness, an
   NDSI-like snow index ``(green - swir) / (green + swir)`` and a whiteness index. It is
   trained on the camera's true per-pixel cloud masks, and its mean over the tile is an
   estimate of the cloud cover.
2. a tile classifier (MLP, 14 -> 16 -> 1) on that estimate, the fraction of pixels it
   calls cloud, per-band means and spreads, mean indices and the bright-pixel fraction.

Features are computed in numpy here (the reference) and by ONNX ops in the graph; the
script checks that onnxruntime reproduces the numpy forward pass before it writes.
Everything is seeded, so a rerun produces the same weights on the same machine
(float summation order in BLAS may differ across machines, and with it the last bits).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from payload.camera import BANDS, CLOUDY_COVER_FRAC, TILE_PX, Capture, Surface, capture

NAME = "cloud_screen"
VERSION = "1"
OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.16 reads IR 9; 8 keeps older boards (JetPack 5) happy
THRESHOLD = 0.5
EPS = np.float32(0.01)
BRIGHT_VIS = np.float32(0.4)
PIXEL_HIDDEN = 12
TILE_HIDDEN = 16
TRAIN_SEED_BASE = 1_000
HELD_OUT_SEED_BASE = 9_000_000
TILES_PER_CAPTURE = 64

F32 = npt.NDArray[np.float32]
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- data


def make_dataset(n_captures: int, seed_base: int) -> Capture:
    """Captures at random ground positions (uniform latitude, so snow is well represented)."""
    rng = np.random.default_rng(seed_base)
    parts = []
    for i in range(n_captures):
        lat = float(rng.uniform(-90.0, 90.0))
        lon = float(rng.uniform(-180.0, 180.0))
        parts.append(capture(TILES_PER_CAPTURE, seed_base + i, lat, lon))
    return Capture(
        tiles=np.concatenate([p.tiles for p in parts]),
        cloud_frac=np.concatenate([p.cloud_frac for p in parts]),
        cloud_mask=np.concatenate([p.cloud_mask for p in parts]),
        surface=np.concatenate([p.surface for p in parts]),
    )


# ---------------------------------------------------------------- numpy reference features


def pixel_features(tiles: F32) -> F32:
    """``[n, 32, 32, 8]``: bands and indices per pixel, in the same op order as the graph."""
    r, g, b, s = (tiles[:, i : i + 1] for i in range(4))
    vis = ((r + g) + b) * np.float32(1.0 / 3.0)
    ndsi = (g - s) / ((g + s) + EPS)
    white = ((np.abs(r - vis) + np.abs(g - vis)) + np.abs(b - vis)) / (vis + EPS)
    ratio = s / (vis + EPS)
    stacked = np.concatenate([r, g, b, s, vis, ndsi, white, ratio], axis=1)
    return np.ascontiguousarray(stacked.transpose(0, 2, 3, 1), dtype=np.float32)


@dataclass
class Dense2:
    """A two-layer perceptron ``sigmoid(relu(x @ w1 + b1) @ w2 + b2)``."""

    w1: F32
    b1: F32
    w2: F32
    b2: F32

    def logit(self, x: F32) -> F32:
        hidden = np.maximum(x @ self.w1 + self.b1, 0.0)
        out: F32 = (hidden @ self.w2 + self.b2)[..., 0]
        return out

    def prob(self, x: F32) -> F32:
        return sigmoid(self.logit(x))


def sigmoid(z: F32) -> F32:
    out: F32 = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    return out


def tile_features(tiles: F32, pixel_net: Dense2) -> F32:
    """``[n, 14]`` tile features (batched so the pixel stage fits in memory)."""
    out = []
    for start in range(0, len(tiles), 512):
        chunk = tiles[start : start + 512]
        px = pixel_features(chunk)
        p = pixel_net.prob(px)  # [n, 32, 32]
        vis, ndsi, white, ratio = (px[..., i] for i in range(4, 8))
        mean = chunk.mean(axis=(2, 3))
        std = np.sqrt(((chunk - mean[:, :, None, None]) ** 2).mean(axis=(2, 3)))
        cols = [
            p.mean(axis=(1, 2))[:, None],
            (p > 0.5).astype(np.float32).mean(axis=(1, 2))[:, None],
            mean,
            std,
            ndsi.mean(axis=(1, 2))[:, None],
            white.mean(axis=(1, 2))[:, None],
            ratio.mean(axis=(1, 2))[:, None],
            (vis > BRIGHT_VIS).astype(np.float32).mean(axis=(1, 2))[:, None],
        ]
        out.append(np.concatenate(cols, axis=1).astype(np.float32))
    return np.concatenate(out)


N_TILE_FEATURES = 2 + 4 + 4 + 4


# ---------------------------------------------------------------- training (numpy only)


def train_dense2(
    x: F32, y: npt.NDArray[np.float32], hidden: int, *, steps: int, batch: int, lr: float,
    weight_decay: float, seed: int,
) -> Dense2:
    """Train on standardised inputs with Adam and binary cross-entropy; fold the scaling in.

    The returned net takes raw (unstandardised) inputs: the mean/std are folded into the
    first layer so the graph has no separate normalisation step.
    """
    rng = np.random.default_rng(seed)
    mu = x.mean(axis=0)
    sd = x.std(axis=0) + 1e-6
    xs = ((x - mu) / sd).astype(np.float32)
    d = x.shape[1]
    params = {
        "w1": rng.normal(0.0, np.sqrt(2.0 / d), size=(d, hidden)),
        "b1": np.zeros(hidden),
        "w2": rng.normal(0.0, np.sqrt(1.0 / hidden), size=(hidden, 1)),
        "b2": np.zeros(1),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    beta1, beta2 = 0.9, 0.999
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(xs), size=batch)
        xb, yb = xs[idx].astype(np.float64), y[idx].astype(np.float64)
        pre = xb @ params["w1"] + params["b1"]
        hid = np.maximum(pre, 0.0)
        z = (hid @ params["w2"] + params["b2"])[:, 0]
        p = 1.0 / (1.0 + np.exp(-z))
        dz = (p - yb)[:, None] / batch
        grads = {
            "w2": hid.T @ dz + weight_decay * params["w2"],
            "b2": dz.sum(axis=0),
        }
        dh = (dz @ params["w2"].T) * (pre > 0)
        grads["w1"] = xb.T @ dh + weight_decay * params["w1"]
        grads["b1"] = dh.sum(axis=0)
        rate = lr * (0.1 ** (step / steps))  # exponential decay to a tenth
        for k in params:
            m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
            v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
            m_hat = m[k] / (1 - beta1**step)
            v_hat = v[k] / (1 - beta2**step)
            params[k] = params[k] - rate * m_hat / (np.sqrt(v_hat) + 1e-8)
    w1 = params["w1"] / sd[:, None]
    b1 = params["b1"] - (mu / sd) @ params["w1"]
    return Dense2(
        w1=w1.astype(np.float32), b1=b1.astype(np.float32),
        w2=params["w2"].astype(np.float32), b2=params["b2"].astype(np.float32),
    )


def train(data: Capture, seed: int) -> tuple[Dense2, Dense2]:
    """Train the pixel stage on true masks, then the tile stage on true labels."""
    rng = np.random.default_rng(seed)
    n = len(data)
    # 400k pixels sampled across all training tiles.
    tile_idx = rng.integers(0, n, size=400_000)
    row = rng.integers(0, TILE_PX, size=400_000)
    col = rng.integers(0, TILE_PX, size=400_000)
    px_all = pixel_features(data.tiles[tile_idx, :, row, col][:, :, None, None])[:, 0, 0, :]
    px_label = data.cloud_mask[tile_idx, row, col].astype(np.float32)
    pixel_net = train_dense2(px_all, px_label, PIXEL_HIDDEN, steps=3000, batch=2048,
                             lr=0.01, weight_decay=1e-5, seed=seed + 1)
    feats = tile_features(data.tiles, pixel_net)
    labels = data.cloudy.astype(np.float32)
    tile_net = train_dense2(feats, labels, TILE_HIDDEN, steps=6000, batch=512,
                            lr=0.01, weight_decay=1e-4, seed=seed + 2)
    return pixel_net, tile_net


# ---------------------------------------------------------------- ONNX graph


class GraphParts:
    """The initializers and nodes of a graph being built (shared by the shipped models'
    scripts, so the spectral indices are written once). A node is named by its output."""

    def __init__(self) -> None:
        self.inits: list[Any] = []
        self.nodes: list[Any] = []

    def const(self, name: str, value: npt.ArrayLike, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, kind: str, inputs: list[str], out: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def spectral_indices(self, bands: str) -> tuple[str, str, str, str, str]:
        """Split ``bands`` [N,4,H,W] into ``r g b s`` and compute, per pixel, as
        :func:`pixel_features` does: ``(vis, vis_eps, ndsi, white, ratio)``."""
        from onnx import helper

        op, const = self.op, self.const
        eps = const("eps", EPS)
        third = const("third", np.float32(1.0 / 3.0))
        self.nodes.append(helper.make_node(
            "Split", [bands, const("split_sizes", [1, 1, 1, 1], np.int64)],
            ["r", "g", "b", "s"], name="split_bands", axis=1))
        vis = op("Mul", [op("Add", [op("Add", ["r", "g"], "rg"), "b"], "rgb"), third], "vis")
        vis_eps = op("Add", [vis, eps], "vis_eps")
        ndsi = op("Div", [op("Sub", ["g", "s"], "g_minus_s"),
                          op("Add", [op("Add", ["g", "s"], "g_plus_s"), eps], "g_plus_s_eps")],
                  "ndsi")
        dev = [op("Abs", [op("Sub", [c, vis], f"{c}_dev")], f"{c}_absdev") for c in "rgb"]
        white = op("Div", [op("Add", [op("Add", dev[:2], "dev_rg"), dev[2]], "dev_rgb"),
                           vis_eps], "white")
        ratio = op("Div", ["s", vis_eps], "ratio")
        return vis, vis_eps, ndsi, white, ratio


def build_graph(pixel_net: Dense2, tile_net: Dense2) -> Any:
    """The ONNX model: ``tiles [N,4,32,32] float32 -> cloud_prob [N] float32``."""
    import onnx
    from onnx import TensorProto, helper

    parts = GraphParts()
    inits, nodes, const, op = parts.inits, parts.nodes, parts.const, parts.op

    def dense2(prefix: str, x: str, net: Dense2) -> str:
        h = op("MatMul", [x, const(f"{prefix}_w1", net.w1)], f"{prefix}_mm1")
        h = op("Add", [h, const(f"{prefix}_b1", net.b1)], f"{prefix}_add1")
        h = op("Relu", [h], f"{prefix}_relu")
        z = op("MatMul", [h, const(f"{prefix}_w2", net.w2)], f"{prefix}_mm2")
        z = op("Add", [z, const(f"{prefix}_b2", net.b2)], f"{prefix}_add2")
        return op("Sigmoid", [z], f"{prefix}_prob")

    def mean_hw(x: str, out: str, axes: list[int]) -> str:
        return op("ReduceMean", [x], out, axes=axes, keepdims=0)

    vis, _vis_eps, ndsi, white, ratio = parts.spectral_indices("tiles")
    px = op("Concat", ["r", "g", "b", "s", vis, ndsi, white, ratio], "px_nchw", axis=1)
    px = op("Transpose", [px], "px_nhwc", perm=[0, 2, 3, 1])
    p = dense2("pixel", px, pixel_net)  # [N, 32, 32, 1]

    half = const("half", np.float32(0.5))
    bright = const("bright_vis", BRIGHT_VIS)
    cloud_px = op("Cast", [op("Greater", [p, half], "p_gt_half")], "p_gt_half_f",
                  to=TensorProto.FLOAT)
    band_mean = mean_hw("tiles", "band_mean", [2, 3])
    centred = op("Sub", ["tiles", op("ReduceMean", ["tiles"], "band_mean_k", axes=[2, 3],
                                     keepdims=1)], "centred")
    band_std = op("Sqrt", [mean_hw(op("Mul", [centred, centred], "centred_sq"), "band_var",
                                   [2, 3])], "band_std")
    bright_px = op("Cast", [op("Greater", [vis, bright], "vis_gt")], "vis_gt_f",
                   to=TensorProto.FLOAT)
    feats = op("Concat", [
        mean_hw(p, "p_mean", [1, 2]),
        mean_hw(cloud_px, "p_frac", [1, 2]),
        band_mean,
        band_std,
        mean_hw(ndsi, "ndsi_mean", [2, 3]),
        mean_hw(white, "white_mean", [2, 3]),
        mean_hw(ratio, "ratio_mean", [2, 3]),
        mean_hw(bright_px, "bright_frac", [2, 3]),
    ], "features", axis=1)
    prob = dense2("tile", feats, tile_net)
    nodes.append(helper.make_node("Reshape", [prob, const("flat", [-1], np.int64)],
                                  ["cloud_prob"], name="cloud_prob"))

    graph = helper.make_graph(
        nodes, f"{NAME}_v{VERSION}",
        [helper.make_tensor_value_info("tiles", TensorProto.FLOAT,
                                       ["N", len(BANDS), TILE_PX, TILE_PX])],
        [helper.make_tensor_value_info("cloud_prob", TensorProto.FLOAT, ["N"])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, producer_name="aisat.payload.make_cloud_screen", producer_version=VERSION,
        opset_imports=[helper.make_opsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    model.doc_string = "Cloud screening of 4-band (R,G,B,SWIR) 32x32 EO tiles; >70 % cloud = drop."
    helper.set_model_props(model, {"name": NAME, "version": VERSION,
                                   "threshold": str(THRESHOLD)})
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------- evaluation and card


def evaluate(prob: F32, data: Capture) -> dict[str, Any]:
    """Held-out metrics, with "cloudy" as the positive class."""
    pred = prob > THRESHOLD
    truth = data.cloudy
    tp = int(np.sum(pred & truth))
    fp = int(np.sum(pred & ~truth))
    fn = int(np.sum(~pred & truth))
    n = len(truth)
    per_surface = {
        s.name.lower(): round(float(np.mean(pred[data.surface == s] == truth[data.surface == s])),
                              4)
        for s in Surface if np.any(data.surface == s)
    }
    near = np.abs(data.cloud_frac - CLOUDY_COVER_FRAC) <= 0.05
    clear = ~truth
    return {
        "tiles": n,
        "cloudy_frac": round(float(truth.mean()), 4),
        "accuracy": round(float(np.mean(pred == truth)), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "recall": round(tp / max(tp + fn, 1), 4),
        "accuracy_by_surface": per_surface,
        "accuracy_away_from_rule": round(float(np.mean((pred == truth)[~near])), 4),
        "near_rule_frac": round(float(near.mean()), 4),
        "downlink_saved_frac": round(float(pred.mean()), 4),
        "clear_tiles_lost_frac": round(float(np.sum(pred & clear) / max(int(clear.sum()), 1)),
                                       4),
    }


def brightness_baseline(train: Capture, held_out: Capture) -> dict[str, Any]:
    """What a visible-brightness rule gets: the bar the model has to clear to be worth it.

    "Cloudy if more than F of the pixels are brighter than V in the visible", with V and
    F tuned on the training tiles. It cannot tell snow from cloud.
    """
    def bright_frac(data: Capture, vis_min: float) -> F32:
        vis = data.tiles[:, :3].mean(axis=1)
        frac: F32 = (vis > vis_min).mean(axis=(1, 2))
        return frac

    best = (-1.0, 0.0, 0.0)
    for vis_min in np.linspace(0.2, 0.8, 25):
        frac = bright_frac(train, float(vis_min))
        for frac_min in np.linspace(0.3, 0.95, 27):
            acc = float(np.mean((frac > frac_min) == train.cloudy))
            if acc > best[0]:
                best = (acc, float(vis_min), float(frac_min))
    _, vis_min, frac_min = best
    pred = bright_frac(held_out, vis_min) > frac_min
    snow = held_out.surface == Surface.SNOW
    return {
        "rule": f"cloudy if > {frac_min:.2f} of pixels have visible mean > {vis_min:.2f}",
        "accuracy": round(float(np.mean(pred == held_out.cloudy)), 4),
        "accuracy_snow": round(float(np.mean(pred[snow] == held_out.cloudy[snow])), 4),
    }


def card_head(name: str, version: str, onnx_name: str, blob: bytes, parameters: int,
              flops: int) -> dict[str, Any]:
    """The card fields every cloud-screening model states the same way (identity, file
    hash, the camera-tile interface, the decision rule), in the order the cards keep."""
    return {
        "name": name,
        "version": version,
        "file": onnx_name,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "format": "onnx",
        "opset": OPSET,
        "ir_version": IR_VERSION,
        "inputs": [{"name": "tiles", "dtype": "float32", "shape": ["N", 4, TILE_PX, TILE_PX],
                    "bands": list(BANDS), "units": "reflectance 0..1"}],
        "outputs": [{"name": "cloud_prob", "dtype": "float32", "shape": ["N"]}],
        "threshold": THRESHOLD,
        "label_rule": f"cloudy when true cloud cover > {CLOUDY_COVER_FRAC}",
        "parameters": parameters,
        "flops_per_tile": flops,
    }


def count_params(*nets: Dense2) -> int:
    return sum(int(a.size) for net in nets for a in (net.w1, net.b1, net.w2, net.b2))


def flops_per_tile() -> int:
    """Rough multiply-adds per tile: the pixel MLP dominates."""
    px = TILE_PX * TILE_PX
    return px * (8 * PIXEL_HIDDEN + PIXEL_HIDDEN) * 2 + px * 40 + N_TILE_FEATURES * TILE_HIDDEN * 2


def write_card_md(card: dict[str, Any], path: Path) -> None:
    held = card["held_out"]
    base = card["baseline_held_out"]
    surf = ", ".join(f"{k} {v:.1%}" for k, v in held["accuracy_by_surface"].items())
    text = f"""# Model card: {card['name']} v{card['version']}

Onboard cloud screening for aisat's synthetic Earth-observation camera, after ESA's
Phi-Sat-1: a tile more than {CLOUDY_COVER_FRAC:.0%} covered by cloud is not worth
downlinking. Made by `python -m payload.models.make_cloud_screen` (numpy training, no
downloads); the payload checks the file against `{card['file']}`'s SHA-256 in
`{card['name']}_v{card['version']}.json` at load.

| | |
| --- | --- |
| file | `{card['file']}` (ONNX opset {card['opset']}, IR {card['ir_version']}) |
| sha256 | `{card['sha256']}` |
| input | `tiles` float32 `[N, 4, 32, 32]`, reflectance 0..1, bands R, G, B, SWIR (~1.6 um) |
| output | `cloud_prob` float32 `[N]`; cloudy when > {card['threshold']} |
| parameters | {card['parameters']} |
| compute | ~{card['flops_per_tile'] / 1e3:.0f} kFLOP per tile |
| power class | `{card['power_class']}` |
| training | {card['training']['tiles']} tiles ({card['training']['cloudy_frac']:.0%} cloudy) |
| held out | {held['tiles']} tiles from other seeds and positions |

## Held-out results (threshold {card['threshold']}, "cloudy" is positive)

- accuracy **{held['accuracy']:.1%}** (precision {held['precision']:.1%},
  recall {held['recall']:.1%})
- by surface: {surf}
- {held['near_rule_frac']:.0%} of tiles have a true cover within 5 points of the
  {CLOUDY_COVER_FRAC:.0%} rule; away from them accuracy is {held['accuracy_away_from_rule']:.1%}
- downlink saved: {held['downlink_saved_frac']:.0%} of tiles are dropped onboard; the
  cost is {held['clear_tiles_lost_frac']:.1%} of the clear tiles dropped by mistake
- for scale, a tuned visible-brightness rule ({base['rule']}) gets
  {base['accuracy']:.1%} overall and {base['accuracy_snow']:.1%} on snow

## How it works

A per-pixel classifier (bands plus visible brightness, an NDSI-like snow index
`(G - SWIR) / (G + SWIR)`, whiteness and SWIR/visible ratio; 8 -> {PIXEL_HIDDEN} -> 1,
trained on the camera's true masks) estimates the cloud cover; a tile classifier
(14 -> {TILE_HIDDEN} -> 1) decides from that estimate and per-band statistics. Snow is
white like cloud in the visible but dark in SWIR, which is why the SWIR band is there.

## Limits

The tiles are synthetic (see `payload/camera.py`); accuracy on real imagery is unknown,
and the figure above is not comparable to Phi-Sat-1's 92 % on real images: the
synthetic clouds follow exactly the spectral physics the features were designed around.
Tiles near the 70 % rule are genuinely ambiguous, and thin cloud below the mask's
opacity threshold is not counted as cover by the truth.
"""
    path.write_text(text)


@dataclass
class Fit:
    pixel_net: Dense2
    tile_net: Dense2
    blob: bytes
    session: Any
    train_data: Capture
    held_out: Capture
    held_out_prob: F32


def fit_and_check(args: argparse.Namespace,
                  train_fn: Callable[[Capture, int], tuple[Dense2, Dense2]],
                  build_fn: Callable[[Dense2, Dense2], Any],
                  features_fn: Callable[[F32, Dense2], F32],
                  log: Callable[[str], None]) -> Fit:
    """Train on seeded captures, build the graph, and refuse to go on unless onnxruntime
    reproduces the numpy forward pass on the held-out tiles (shared by both scripts)."""
    import onnxruntime as ort

    train_data = make_dataset(args.train_captures, TRAIN_SEED_BASE)
    held_out = make_dataset(args.held_out_captures, HELD_OUT_SEED_BASE)
    log(f"training on {len(train_data)} tiles, holding out {len(held_out)}")
    pixel_net, tile_net = train_fn(train_data, args.seed)
    blob = build_fn(pixel_net, tile_net).SerializeToString()
    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    ort_prob = session.run(["cloud_prob"], {"tiles": held_out.tiles})[0]
    ref_prob = tile_net.prob(features_fn(held_out.tiles, pixel_net))
    worst = float(np.max(np.abs(ort_prob - ref_prob)))
    if worst > 1e-3:
        raise SystemExit(f"onnxruntime disagrees with the numpy reference by {worst}")
    log(f"onnxruntime matches the numpy reference (max |diff| {worst:.2e})")
    return Fit(pixel_net, tile_net, blob, session, train_data, held_out, ort_prob)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE)
    parser.add_argument("--train-captures", type=int, default=250)
    parser.add_argument("--held-out-captures", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    log: Callable[[str], None] = print
    fit = fit_and_check(args, train, build_graph, tile_features, log)
    pixel_net, tile_net, blob, session = fit.pixel_net, fit.tile_net, fit.blob, fit.session
    train_data, held_out, ort_prob = fit.train_data, fit.held_out, fit.held_out_prob

    train_prob = session.run(["cloud_prob"], {"tiles": train_data.tiles})[0]
    held = evaluate(ort_prob, held_out)
    baseline = brightness_baseline(train_data, held_out)
    onnx_name = f"{NAME}_v{VERSION}.onnx"
    card: dict[str, Any] = {
        **card_head(NAME, VERSION, onnx_name, blob, count_params(pixel_net, tile_net),
                    flops_per_tile()),
        "power_class": "low",
        "power_note": "CPU only, one thread; well under 1 W on an embedded ARM core",
        "training": {"tiles": len(train_data), "cloudy_frac": round(float(
            train_data.cloudy.mean()), 4), "seed": args.seed,
            "accuracy": round(float(np.mean((train_prob > THRESHOLD) == train_data.cloudy)), 4)},
        "held_out": held,
        "baseline_held_out": baseline,
        "made_by": "python -m payload.models.make_cloud_screen",
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / onnx_name).write_bytes(blob)
    (args.out_dir / f"{NAME}_v{VERSION}.json").write_text(json.dumps(card, indent=2) + "\n")
    write_card_md(card, args.out_dir / "MODEL_CARD.md")
    log(json.dumps(held, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
