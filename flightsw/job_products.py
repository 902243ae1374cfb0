"""The data products of one operator job: what the ground gets when a job ends.

Why a separate module: the shape of a product is an interface the ground is built
against (``aisat ground products`` reads it), so it is defined once, here, next to
nothing else. Every job's end (done, failed or cancelled) makes one ``job`` product;
a job that selected tiles and was asked for them adds ``tiles`` products (parts of at
most :data:`TILES_PER_PART` tiles, so no record grows past a few tens of kB on a thin
downlink).

``job`` product (a RESULT record's body):

- ``status`` and ``reason``; the job's number, priority, source, deadline, times;
- per-tile classification: ``cloud_prob`` (the model's output), ``cloudy`` (over the
  card's threshold), ``truth_cloudy`` (the camera's labels; empty for a tensor from the
  ground, which has none) and ``accuracy`` over them;
- downlink volume: ``tile_bytes_sent`` (the selected tiles, compressed, as sent) against
  ``all_tile_bytes`` (every tile compressed the same way) and ``raw_tile_bytes`` (every
  tile as float32, what the model read); ``downlink_saved_frac`` is against the first;
- ``audit``: model id and SHA-256, input SHA-256, the payload's job and inference time,
  latency from submission, payload temperature and throttle range over the job (the
  executive's 1 Hz readings), energy, and the integrity verdict (``unchecked`` unless
  the payload's result carries one).

Energy: ``energy_j`` is the mean power while the job ran times the payload's time on it
(``job_ms``). The power is the compute board's own (``compute_power_w``: the plant's
payload model, or in HIL the board's rails) where the HAL has it, else the bus load, an
upper bound (``energy_from`` says which; both means are given).

Tiles travel as base64 text of zlib-compressed uint8 reflectance (x 255), four bands,
C order ``[4, 32, 32]``: the ground archive keeps record bodies as JSON text.
"""

from __future__ import annotations

import base64
import math
from typing import Any, Protocol

from flightsw.messages import ResultBody

TILES_PER_PART = 16
TILE_FORMAT = "zlib-uint8-4x32x32"
TILE_RAW_BYTES = 4 * 32 * 32 * 4  # one float32 tile
UNCHECKED = "unchecked"


class JobLike(Protocol):
    job_id: int
    priority: int
    deadline_s: float
    source: str
    n_tiles: int
    tiles: bool
    submitted_s: float
    started_s: float
    payload_job_id: int

    @property
    def audit(self) -> Any: ...


def _num(value: float, digits: int = 3) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _indices(values: list[Any], n_tiles: int) -> list[int]:
    out = [v for v in values if isinstance(v, int) and not isinstance(v, bool)
           and 0 <= v < n_tiles]
    if len(out) != len(values):
        raise ValueError("selected must hold tile indices")
    return out


def build(job: JobLike, status: str, reason: str, ended_s: float,
          res: ResultBody | None) -> list[dict[str, Any]]:
    """The products of one job's end: ``[job product, tile parts...]``. Raises
    ValueError for a result whose detail does not hold together (the caller fails the
    job with that reason instead)."""
    a = job.audit
    r = res if res is not None and res.ok else None
    probs = [float(p) for p in r.probs] if r else []
    cloudy = [bool(c) for c in r.cloudy] if r else []
    truth = [bool(c) for c in r.truth] if r else []
    correct = sum(1 for c, y in zip(cloudy, truth, strict=False) if c == y)
    tiles_z = [z for z in r.tiles_z if isinstance(z, bytes)] if r and job.tiles else []
    if r and len(tiles_z) != len(r.tiles_z):
        raise ValueError("tiles_z must hold bytes, one per selected tile")
    sent_bytes = sum(len(z) for z in tiles_z)
    all_bytes = int(r.all_tiles_z_bytes) if r and job.tiles else 0
    job_ms = r.job_ms if r else 0.0
    measured = math.isfinite(a.compute_power_mean_w)
    power_w = a.compute_power_mean_w if measured else a.load_power_mean_w
    power_from = "compute_power_w" if measured else "load_power_w"
    head: dict[str, Any] = {
        "product": "job",
        "job_id": job.job_id,
        "status": status,
        "reason": reason,
        "priority": job.priority,
        "source": job.source,
        "n_tiles": job.n_tiles,
        "deadline_s": job.deadline_s or None,
        "submitted_s": job.submitted_s,
        "started_s": job.started_s or None,
        "ended_s": ended_s,
        "payload_job_id": job.payload_job_id or None,
        "cloud_prob": [round(p, 4) for p in probs],
        "cloudy": cloudy,
        "truth_cloudy": truth,
        "n_correct": correct if truth else None,
        "accuracy": round(correct / len(truth), 4) if truth else None,
        "selected": _indices(r.selected, r.n_tiles) if r else [],
        "tiles_sent": len(tiles_z),
        "tile_bytes_sent": sent_bytes,
        "all_tile_bytes": all_bytes,
        "raw_tile_bytes": (r.n_tiles if r else 0) * TILE_RAW_BYTES,
        "downlink_saved_frac": round(1.0 - sent_bytes / all_bytes, 4) if all_bytes else None,
        "tile_format": TILE_FORMAT,
        "tile_parts": math.ceil(len(tiles_z) / TILES_PER_PART),
        "audit": {
            "model": r.model if r else "",
            "model_sha256": r.model_sha256 if r else "",
            "input_sha256": r.input_sha256 if r else "",
            "job_ms": _num(job_ms),
            "infer_ms": _num(r.infer_ms) if r else None,
            "latency_s": _num(ended_s - job.submitted_s),
            "payload_temp_min_c": _num(a.payload_temp_min_c, 2),
            "payload_temp_max_c": _num(a.payload_temp_max_c, 2),
            "throttle_min_frac": _num(a.throttle_min_frac),
            "throttle_max_frac": _num(a.throttle_max_frac),
            "load_power_mean_w": _num(a.load_power_mean_w, 2),
            "compute_power_mean_w": _num(a.compute_power_mean_w, 2),
            "energy_j": _num(power_w * job_ms / 1e3, 4) if r else None,
            "energy_from": power_from,
            "readings": a.samples,
            "integrity": (r.integrity or UNCHECKED) if r else UNCHECKED,
            "integrity_note": r.integrity_note if r else "",
        },
    }
    selected = head["selected"]
    parts = []
    for k in range(head["tile_parts"]):
        chunk = range(k * TILES_PER_PART, min(len(tiles_z), (k + 1) * TILES_PER_PART))
        parts.append({
            "product": "tiles", "job_id": job.job_id, "part": k + 1,
            "parts": head["tile_parts"], "format": TILE_FORMAT,
            "tiles": [{"index": selected[i] if i < len(selected) else i,
                       "data": base64.b64encode(tiles_z[i]).decode("ascii")}
                      for i in chunk],
        })
    return [head, *parts]
