"""Schemas of the bodies the executive sends the payload, checked field by field.

The wire codec (:mod:`flightsw.wire`) guarantees an envelope with a string-keyed map for
a body; what the map holds is checked here. Every parser returns a frozen value or
raises :class:`~payload.errors.MessageRejected` with a reason an operator can act on
("n_tiles out of range", not a traceback). Unknown extra keys are ignored so the
executive can add fields (priority, deadline) before the payload understands them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from payload.camera import MAX_TILES_PER_CAPTURE
from payload.errors import MessageRejected


@dataclass(frozen=True)
class JobSpec:
    """One capture-and-classify job, as the executive asked for it."""

    job_id: int
    n_tiles: int
    seed: int
    lat_deg: float
    lon_deg: float


@dataclass(frozen=True)
class PayloadConfig:
    """How hard the payload may work (see :mod:`payload.pacing`)."""

    throttle_frac: float = 1.0
    pace: bool = False


def parse_job(body: Mapping[str, Any]) -> JobSpec:
    job_id = _int(body, "job_id")
    if job_id < 0:
        raise MessageRejected("job_id must be >= 0", job_id=job_id)
    n_tiles = _int(body, "n_tiles")
    if not 0 <= n_tiles <= MAX_TILES_PER_CAPTURE:
        raise MessageRejected("n_tiles out of range", n_tiles=n_tiles,
                              valid=f"0..{MAX_TILES_PER_CAPTURE}")
    lat_deg = _number(body, "lat_deg")
    if not -90.0 <= lat_deg <= 90.0:
        raise MessageRejected("lat_deg out of range", lat_deg=lat_deg, valid="-90..90")
    lon_deg = _number(body, "lon_deg")
    if not -360.0 <= lon_deg <= 360.0:
        raise MessageRejected("lon_deg out of range", lon_deg=lon_deg, valid="-360..360")
    return JobSpec(job_id=job_id, n_tiles=n_tiles, seed=_int(body, "seed"),
                   lat_deg=lat_deg, lon_deg=lon_deg)


def job_id_of(body: Mapping[str, Any]) -> int:
    """The job id to answer a rejected job with: its own if usable, else -1."""
    value = body.get("job_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def parse_config(body: Mapping[str, Any]) -> PayloadConfig:
    throttle_frac = _number(body, "throttle_frac")
    if not 0.0 <= throttle_frac <= 1.0:
        raise MessageRejected("throttle_frac out of range", throttle_frac=throttle_frac,
                              valid="0..1")
    pace = body.get("pace")
    if not isinstance(pace, bool):
        raise MessageRejected("pace must be a bool", got=_describe(pace))
    return PayloadConfig(throttle_frac=throttle_frac, pace=pace)


def parse_ping(body: Mapping[str, Any]) -> int:
    n = _int(body, "n")
    if n < 0:
        raise MessageRejected("ping n must be >= 0", n=n)
    return n


def _int(body: Mapping[str, Any], key: str) -> int:
    if key not in body:
        raise MessageRejected(f"missing field {key}")
    value = body[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise MessageRejected(f"{key} must be an integer", got=_describe(value))
    return value


def _number(body: Mapping[str, Any], key: str) -> float:
    if key not in body:
        raise MessageRejected(f"missing field {key}")
    value = body[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MessageRejected(f"{key} must be a number", got=_describe(value))
    if not math.isfinite(value):
        raise MessageRejected(f"{key} must be finite", got=_describe(value))
    return float(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
