"""Test seams for the payload core: a fake model on a sim clock, and envelope helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from flightsw.clock import SimClock
from flightsw.wire import Envelope, Kind, Sequencer
from payload.core import PayloadCore
from payload.errors import ModelError

MISSION_EPOCH_S = 1_800_000_000.0


class FakeModel:
    """Calls "cloudy" on bright tiles; each inference costs ``infer_s`` of sim time."""

    model_id = "fake_v0"
    sha256 = "0" * 64
    provider = "FakeExecutionProvider"
    threshold = 0.5

    def __init__(self, clock: SimClock, infer_s: float = 0.0) -> None:
        self.clock = clock
        self.infer_s = infer_s
        self.fail_with: str = ""
        self.calls = 0

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self.calls += 1
        self.clock.advance_by(self.infer_s)
        if self.fail_with:
            raise ModelError("inference failed", error=self.fail_with)
        prob: npt.NDArray[np.float32] = batch[:, :3].mean(axis=(1, 2, 3)) * 1.5
        return prob.astype(np.float32)


def make_core(infer_s: float = 0.0, **kwargs: Any) -> tuple[PayloadCore, FakeModel, SimClock]:
    clock = SimClock(epoch_s=MISSION_EPOCH_S)
    model = FakeModel(clock, infer_s)
    core = PayloadCore(model, clock, pid=4242, rss_mb=lambda: 12.5, **kwargs)
    # every call of the fake costs infer_s: the integrity check's one-tile re-run (1 job
    # in 8, payload.integrity) would make some jobs cost double and skew the pacing
    # tests' counts; the real models' tests (test_radiation.py) keep it on
    core.sampled_rerun = False
    return core, model, clock


_exec = Sequencer("flight")


def env(kind: Kind, body: dict[str, Any]) -> Envelope:
    return _exec.make(kind, MISSION_EPOCH_S, body)


def job(job_id: int = 1, n_tiles: int = 8, **overrides: Any) -> Envelope:
    body = {"job_id": job_id, "n_tiles": n_tiles, "seed": 99, "lat_deg": 45.0, "lon_deg": 7.0}
    body.update(overrides)
    return env(Kind.PAYLOAD_JOB, body)


def ping(n: int) -> Envelope:
    return env(Kind.PAYLOAD_PING, {"n": n})


def config(throttle_frac: float, pace: bool) -> Envelope:
    return env(Kind.PAYLOAD_CONFIG, {"throttle_frac": throttle_frac, "pace": pace})
