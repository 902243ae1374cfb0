"""One job: capture tiles over a ground position and screen them for clouds.

The outcome says what the ground cares about: how many tiles are worth downlinking
(``selected``: the clear ones), and, because the synthetic camera knows the truth, how
many of the model's decisions were right. That second number is what lets the ground
watch the model's health in flight (a radiation-corrupted weight shows up as accuracy
falling, long before anything crashes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from payload.camera import CLOUDY_COVER_FRAC, Capture
from payload.messages import JobSpec
from payload.tile_bank import shared_bank


class Classifier(Protocol):
    """What a job needs from a model (:class:`payload.model.LoadedModel` is one)."""

    @property
    def model_id(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class ScreeningResult:
    """The body of a ``PAYLOAD_RESULT`` for a job that ran."""

    job_id: int
    n_tiles: int
    n_cloudy: int
    n_clear: int
    selected: list[int]
    n_correct: int
    cloud_frac_mean: float
    cloud_prob_mean: float
    downlink_saved_frac: float
    capture_ms: float
    infer_ms: float
    model: str
    ok: bool = True
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_body(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies every field, a tenth of a small job
        body = {f.name: getattr(self, f.name) for f in _RESULT_FIELDS if f.name != "extra"}
        body.update(self.extra)
        return body


_RESULT_FIELDS = fields(ScreeningResult)


def failed_result_body(job_id: int, error: str, model: str, n_tiles: int = 0) -> dict[str, Any]:
    """The body answering a job that was rejected or could not run."""
    return {
        "job_id": job_id, "ok": False, "error": error, "n_tiles": n_tiles, "n_cloudy": 0,
        "n_clear": 0, "selected": [], "n_correct": 0, "cloud_frac_mean": 0.0,
        "cloud_prob_mean": 0.0, "downlink_saved_frac": 0.0, "capture_ms": 0.0,
        "infer_ms": 0.0, "model": model,
    }


def screen(spec: JobSpec, model: Classifier, timer_s: Callable[[], float]) -> ScreeningResult:
    """Capture (from the pre-rendered :mod:`payload.tile_bank`) and classify; raises
    :class:`~payload.errors.ModelError` if inference fails."""
    t0 = timer_s()
    shot = shared_bank().capture(spec.n_tiles, spec.seed, spec.lat_deg, spec.lon_deg)
    t1 = timer_s()
    prob = model.infer(shot.tiles)
    t2 = timer_s()
    return screening_result(spec, shot, prob, model.threshold, model.model_id,
                            capture_ms=(t1 - t0) * 1e3, infer_ms=(t2 - t1) * 1e3)


def screening_result(spec: JobSpec, shot: Capture, prob: npt.NDArray[np.float32],
                     threshold: float, model_id: str, *, capture_ms: float,
                     infer_ms: float) -> ScreeningResult:
    """The result of a routine job from its capture and the model's answer (the payload
    builds it off the inference thread, while the next job's inference runs)."""
    # in Python over lists: for a few dozen tiles numpy's per-call overhead (a dozen
    # reductions) cost more than the arithmetic; this runs while the next job infers
    probs = prob.tolist()
    fracs = shot.cloud_frac.tolist()
    cloudy = [p > threshold for p in probs]
    n = len(probs)
    n_cloudy = sum(cloudy)
    return ScreeningResult(
        job_id=spec.job_id,
        n_tiles=n,
        n_cloudy=n_cloudy,
        n_clear=n - n_cloudy,
        selected=[i for i, c in enumerate(cloudy) if not c],
        n_correct=sum(c == (f > CLOUDY_COVER_FRAC) for c, f in zip(cloudy, fracs,
                                                                  strict=True)),
        cloud_frac_mean=round(sum(fracs) / n, 4) if n else 0.0,
        cloud_prob_mean=round(sum(probs) / n, 4) if n else 0.0,
        downlink_saved_frac=round(n_cloudy / n, 4) if n else 0.0,
        capture_ms=round(capture_ms, 3),
        infer_ms=round(infer_ms, 3),
        model=model_id,
    )
