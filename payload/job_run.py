"""One job on its way through the payload's pipeline: prepared input, interrupt, outcome.

Why: the payload's throughput target is 0.95 of a bare onnxruntime loop, and every job
carries Python work beside its inference (drawing the capture, judging the integrity
checks, building and encoding the result: ~0.15-0.25 ms against ~1.2 ms of inference
for 16 tiles). Done in series with inference, that work alone costs 10-20 % of the
throughput. So a job is cut in three stages and only the middle one runs on the
inference thread:

1. :class:`JobInput` (socket thread): the tiles drawn or decoded, the checks it will
   get, its :class:`Interrupt`; made while the previous job's inference runs;
2. :func:`run_inference` (inference thread): the model's runs and nothing else
   (:func:`payload.integrity.infer_runs`); onnxruntime releases the GIL meanwhile;
3. the result body, the integrity verdict and the books (socket thread,
   :meth:`payload.core.PayloadCore.finish_job`), while the next job's inference runs.

A cancel (:class:`Interrupt`) reaches a job at any stage: before its inference it is
never run, during it onnxruntime stops at its next operator (``RunOptions.terminate``),
after it the result is replaced by the cancel's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from payload.camera import Capture
from payload.integrity import Runs, infer_runs
from payload.messages import JobSpec

F32 = npt.NDArray[np.float32]


class Interrupt:
    """A job's cancel switch: thrown on the socket thread, seen by the inference thread
    (``terminate`` on the job's onnxruntime ``RunOptions``, where the model has them)."""

    def __init__(self, run_options: Any = None) -> None:
        self.run_options = run_options
        self.cancelled = False
        self.reason = ""

    def cancel(self, reason: str) -> None:
        self.reason = reason
        self.cancelled = True
        if self.run_options is not None:
            self.run_options.terminate = True


@dataclass
class JobInput:
    """A job ready for inference (stage 1)."""

    spec: JobSpec
    tiles: F32
    shot: Capture | None  # a routine capture (its labels); None: an operator job
    truth: list[bool]  # an operator job's camera labels (none for a tensor)
    capture_ms: float
    prepared_s: float  # monotonic, when stage 1 began
    interrupt: Interrupt
    run_twice: bool
    sampled: bool
    first_run_input: F32 | None = None  # fault injection: an upset of the first run's input
    error: Exception | None = None  # stage 1 failed (a bad tensor): nothing to infer


@dataclass(frozen=True)
class JobOutcome:
    """What stage 2 produced: the runs, or the exception that ended them."""

    job: JobInput
    runs: Runs | None
    error: Exception | None
    start_s: float  # monotonic: the inference thread's start and end of the job
    end_s: float

    @property
    def spec(self) -> JobSpec:
        return self.job.spec


def infer_fn(model: Any, interrupt: Interrupt) -> Callable[[F32], F32]:
    """The model's ``infer``, bound to the job's run options when the model takes them."""
    if interrupt.run_options is None:
        return model.infer
    options = interrupt.run_options
    return lambda batch: model.infer(batch, options)


def run_inference(job: JobInput, model: Any, timer_s: Callable[[], float]) -> JobOutcome:
    """Stage 2, on the inference thread: the job's runs, nothing else."""
    start_s = timer_s()
    if job.error is not None or job.interrupt.cancelled:
        return JobOutcome(job, None, job.error, start_s, start_s)
    try:
        runs = infer_runs(infer_fn(model, job.interrupt), job.tiles,
                          sample_seed=job.spec.job_id, run_twice=job.run_twice,
                          sampled=job.sampled, first_run_input=job.first_run_input)
    except Exception as exc:  # judged on the socket thread (a cancel, a model error)
        return JobOutcome(job, None, exc, start_s, timer_s())
    return JobOutcome(job, runs, None, start_s, timer_s())
