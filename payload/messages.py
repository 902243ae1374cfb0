"""The bodies the executive sends the payload, decoded once and checked for range.

The wire codec (:mod:`flightsw.wire`) guarantees an envelope with a string-keyed map for
a body; the typed records of :mod:`flightsw.messages` (the one decoder of each body, shared
with the executive) check the types, and this module adds the payload's own ranges.
Every parser returns a frozen value or raises :class:`~payload.errors.MessageRejected`
with a reason an operator can act on ("n_tiles out of range", not a traceback). Unknown
extra keys are ignored so the executive can add fields (priority, deadline) before the
payload understands them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from flightsw import job_tensor
from flightsw.errors import WireError
from flightsw.messages import CancelBody, ConfigBody, JobBody, PingBody
from flightsw.records import Record
from payload.camera import MAX_TILES_PER_CAPTURE
from payload.errors import MessageRejected

MAX_INTRA_OP_THREADS = 64


@dataclass(frozen=True)
class JobSpec:
    """One capture-and-classify job, as the executive asked for it."""

    job_id: int
    n_tiles: int
    seed: int
    lat_deg: float
    lon_deg: float
    # an operator job (flightsw.jobs), see payload.products
    priority: int = 0
    source: str = "capture"
    tensor_raw: bytes = b""  # inflated and checked against shape and dtype
    tensor_shape: tuple[int, ...] = ()
    tensor_dtype: str = ""
    detail: bool = False
    tiles: bool = False
    critical: bool = False  # run twice and compare (payload.integrity)


@dataclass(frozen=True)
class PayloadConfig:
    """How hard the payload may work (see :mod:`payload.pacing`)."""

    throttle_frac: float = 1.0
    pace: bool = False
    intra_op_threads: int = 0  # 0: leave the session's count as it is


def parse_job(body: Mapping[str, Any]) -> JobSpec:
    job = _decode(JobBody, body)
    if job.job_id < 0:
        raise MessageRejected("job_id must be >= 0", job_id=job.job_id)
    if not 0 <= job.n_tiles <= MAX_TILES_PER_CAPTURE:
        raise MessageRejected("n_tiles out of range", n_tiles=job.n_tiles,
                              valid=f"0..{MAX_TILES_PER_CAPTURE}")
    _finite("lat_deg", job.lat_deg)
    if not -90.0 <= job.lat_deg <= 90.0:
        raise MessageRejected("lat_deg out of range", lat_deg=job.lat_deg, valid="-90..90")
    _finite("lon_deg", job.lon_deg)
    if not -360.0 <= job.lon_deg <= 360.0:
        raise MessageRejected("lon_deg out of range", lon_deg=job.lon_deg, valid="-360..360")
    base = JobSpec(job_id=job.job_id, n_tiles=job.n_tiles, seed=job.seed,
                   lat_deg=job.lat_deg, lon_deg=job.lon_deg)
    return _operator_fields(base, job) if job.detail or job.source != "capture" else base


def _operator_fields(base: JobSpec, job: JobBody) -> JobSpec:
    """An operator job's fields, checked: a tensor from the ground is inflated (bounded)
    and must hold exactly its declared shape and type (:mod:`flightsw.job_tensor`)."""
    if job.source not in ("capture", "tensor"):
        raise MessageRejected("job source must be capture or tensor", source=job.source[:20])
    raw, n_tiles = b"", base.n_tiles
    shape: tuple[int, ...] = ()
    if job.source == "tensor":
        if not isinstance(job.tensor, bytes) or not all(
                isinstance(d, int) and not isinstance(d, bool) for d in job.tensor_shape):
            raise MessageRejected("tensor must be bytes with an integer shape")
        try:
            shape = job_tensor.parse_shape(",".join(str(d) for d in job.tensor_shape))
            raw = job_tensor.decode_bytes(job.tensor, shape, job.tensor_dtype).raw
        except job_tensor.TensorRejected as exc:
            raise MessageRejected(exc.reason, **exc.details) from exc
        n_tiles = shape[0]
    return replace(base, n_tiles=n_tiles, priority=max(job.priority, 0), source=job.source,
                   tensor_raw=raw, tensor_shape=shape, tensor_dtype=job.tensor_dtype,
                   detail=True, tiles=job.tiles, critical=bool(job.critical))


def job_id_of(body: Mapping[str, Any]) -> int:
    """The job id to answer a rejected job with: its own if usable, else -1."""
    value = body.get("job_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def parse_config(body: Mapping[str, Any]) -> PayloadConfig:
    config = _decode(ConfigBody, body)
    _finite("throttle_frac", config.throttle_frac)
    if not 0.0 <= config.throttle_frac <= 1.0:
        raise MessageRejected("throttle_frac out of range",
                              throttle_frac=config.throttle_frac, valid="0..1")
    if not 0 <= config.intra_op_threads <= MAX_INTRA_OP_THREADS:
        raise MessageRejected("intra_op_threads out of range",
                              intra_op_threads=config.intra_op_threads,
                              valid=f"0..{MAX_INTRA_OP_THREADS}")
    return PayloadConfig(throttle_frac=config.throttle_frac, pace=config.pace,
                         intra_op_threads=config.intra_op_threads)


def parse_cancel(body: Mapping[str, Any]) -> tuple[int, str]:
    """The job to cancel, and why (said in its result)."""
    cancel = _decode(CancelBody, body)
    return cancel.job_id, cancel.reason[:200] or "cancelled by the executive"


def parse_ping(body: Mapping[str, Any]) -> int:
    n = _decode(PingBody, body).n
    if n < 0:
        raise MessageRejected("ping n must be >= 0", n=n)
    return n


R = TypeVar("R", bound=Record)


def _decode(record: type[R], body: Mapping[str, Any]) -> R:
    try:
        return record.from_body(body)
    except WireError as exc:
        raise MessageRejected(exc.reason, **exc.details) from exc


def _finite(key: str, value: float) -> None:
    if not math.isfinite(value):
        raise MessageRejected(f"{key} must be finite", got=value)
