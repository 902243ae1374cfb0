"""An operator job in the payload: classify, then package what the ground asked for.

Routine screening (:mod:`payload.screening`) answers with counts, as cheap as it can be.
An operator job (``JobSpec.detail``) answers with the data products
:mod:`flightsw.job_products` turns into downlink records:

- per-tile cloud probability and decision, and the camera's labels when the input was
  an onboard capture (a tensor from the ground has none);
- the SHA-256 of the exact float32 tensor the model read, and the model's SHA-256, for
  the audit record;
- the selected (clear) tiles compressed for downlink (zlib of uint8 reflectance x 255,
  :data:`flightsw.job_products.TILE_FORMAT`), and what every tile would have cost
  compressed the same way (the baseline of "downlink volume saved").

Compression runs only for jobs that asked for tiles, after inference, and is part of
the job's time (``job_ms``); inference alone is ``infer_ms``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from payload.errors import MessageRejected
from payload.messages import JobSpec
from payload.screening import Classifier
from payload.tile_bank import shared_bank

ZLIB_LEVEL = 6


def tensor_tiles(spec: JobSpec) -> npt.NDArray[np.float32]:
    """The uploaded tensor as the model's float32 input (uint8 is reflectance x 255)."""
    shape = tuple(spec.tensor_shape)
    if spec.tensor_dtype == "uint8":
        arr = np.frombuffer(spec.tensor_raw, dtype=np.uint8).reshape(shape)
        return (arr.astype(np.float32) / np.float32(255.0)).astype(np.float32)
    tiles = np.frombuffer(spec.tensor_raw, dtype=np.float32).reshape(shape).copy()
    if not np.all(np.isfinite(tiles)):
        raise MessageRejected("tensor holds non-finite values (NaN or inf)")
    return tiles


def compress_tile(tile: npt.NDArray[np.float32]) -> bytes:
    """One tile ``[4, 32, 32]`` as sent down: zlib of uint8 reflectance x 255."""
    u8 = np.clip(np.rint(tile * 255.0), 0, 255).astype(np.uint8)
    return zlib.compress(u8.tobytes(), ZLIB_LEVEL)


def run_detailed(spec: JobSpec, model: Classifier,
                 timer_s: Callable[[], float]) -> dict[str, Any]:
    """Run an operator job; returns its result body (``ok=True``). Raises
    :class:`~payload.errors.ModelError` if inference fails."""
    t0 = timer_s()
    tiles, truth = job_input(spec)
    t1 = timer_s()
    prob = model.infer(tiles)
    t2 = timer_s()
    return detailed_body(spec, tiles, truth, prob, model.threshold, model.model_id,
                         str(getattr(model, "sha256", "")), capture_ms=(t1 - t0) * 1e3,
                         infer_ms=(t2 - t1) * 1e3, started_s=t0, timer_s=timer_s)


def job_input(spec: JobSpec) -> tuple[npt.NDArray[np.float32], list[bool]]:
    """An operator job's tiles (an onboard capture or the uploaded tensor) and the
    camera's labels (none for a tensor). Raises :class:`MessageRejected` for a tensor
    with non-finite values."""
    if spec.source == "tensor":
        return tensor_tiles(spec), []
    shot = shared_bank().capture(spec.n_tiles, spec.seed, spec.lat_deg, spec.lon_deg)
    return shot.tiles, shot.cloudy.tolist()


def detailed_body(spec: JobSpec, tiles: npt.NDArray[np.float32], truth: list[bool],
                  prob: npt.NDArray[np.float32], threshold: float, model_id: str,
                  model_sha256: str, *, capture_ms: float, infer_ms: float,
                  started_s: float, timer_s: Callable[[], float]) -> dict[str, Any]:
    """An operator job's result body from its input and the model's answer; ``job_ms``
    runs from ``started_s`` to the end of the packing."""
    cloudy = prob > threshold
    selected = [int(i) for i in np.flatnonzero(~cloudy)]
    tiles_z: list[bytes] = []
    all_z = 0
    if spec.tiles:
        packed = [compress_tile(tile) for tile in tiles]
        all_z = sum(len(z) for z in packed)
        tiles_z = [packed[i] for i in selected]
    n = int(tiles.shape[0])
    n_cloudy = int(cloudy.sum())
    return {
        "job_id": spec.job_id, "ok": True, "error": "", "n_tiles": n,
        "n_cloudy": n_cloudy, "n_clear": n - n_cloudy, "selected": selected,
        "n_correct": (int(sum(c == y for c, y in zip(cloudy.tolist(), truth, strict=True)))
                      if truth else 0),
        "infer_ms": round(infer_ms, 3),
        "capture_ms": round(capture_ms, 3),
        "job_ms": round((timer_s() - started_s) * 1e3, 3),
        "model": model_id,
        "probs": [round(float(p), 5) for p in prob],
        "cloudy": [bool(c) for c in cloudy],
        "truth": truth,
        "tiles_z": tiles_z,
        "all_tiles_z_bytes": all_z,
        "input_sha256": hashlib.sha256(np.ascontiguousarray(tiles).tobytes()).hexdigest(),
        "model_sha256": model_sha256,
    }
