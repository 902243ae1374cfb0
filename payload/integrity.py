"""A verdict on every inference: verified, suspect or failed.

Why: a bit flip in an input buffer, an activation or a weight changes an answer without
crashing anything. The scrubber (:mod:`payload.model_weights`) catches corrupted weights
within one scrub period; this module judges each *result*:

- **range check** (every job, ~free): each output is a finite probability in 0..1. A
  violation is impossible for a healthy sigmoid output, so the verdict is ``failed``;
- **sampled re-run** (one job in :data:`SAMPLED_RERUN_EVERY`, one tile): one tile, chosen
  from the job id, is run again on its own and must reproduce its batch answer within
  :data:`RERUN_TOLERANCE`. A mismatch means the batch run and the re-run saw different
  inputs or weights: ``suspect``. Not every job: for models this small onnxruntime's
  fixed cost per run makes a one-tile run cost most of a 16-tile one (measured: +60 %
  per job on cloud_screen_v1), which the payload's throughput target cannot afford;
- **run twice** (optional, critical jobs): the whole batch runs again and must agree;
  on a mismatch a third run breaks the tie (the two that agree win, the verdict is
  ``suspect`` and the answer is the majority's); if all three differ, ``failed``.

A fault that persists (a corrupted weight) gives the same wrong answer every time, so
re-runs cannot see it: that is the scrubber's job. Re-runs catch *transient* upsets
(one run's input or activations). Detection rates and overheads of each check are
measured by :mod:`payload.integrity_bench`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

VERIFIED = "verified"
SUSPECT = "suspect"
FAILED = "failed"
SAMPLED_RERUN_EVERY = 8
"""Jobs whose id is a multiple of this get the one-tile re-run (the others: range only)."""
RERUN_TOLERANCE = 1e-4
"""A tile run alone vs in a batch: kernels may sum in another order (measured ~1e-7)."""

F32 = npt.NDArray[np.float32]
Infer = Callable[[F32], F32]


@dataclass(frozen=True)
class Verdict:
    verdict: str
    note: str = ""
    runs: int = 1  # inferences of the whole batch (re-runs included)

    def to_body(self) -> dict[str, Any]:
        return {"integrity": self.verdict, "integrity_note": self.note}


def range_ok(prob: F32) -> bool:
    return bool(np.all(np.isfinite(prob)) and np.all(prob >= 0.0) and np.all(prob <= 1.0))


def checked_infer(infer: Infer, batch: F32, *, sample_seed: int, run_twice: bool = False,
                  sampled: bool = True,
                  first_run_input: F32 | None = None) -> tuple[F32, Verdict]:
    """Run ``infer`` on ``batch`` with the checks above; returns the answer to use and
    the verdict. ``first_run_input``: what the first run really read (fault injection:
    an upset in the input buffer during that run only)."""
    n = batch.shape[0]
    prob = infer(batch if first_run_input is None else first_run_input)
    if n == 0:
        return prob, Verdict(VERIFIED, "empty job")
    if not range_ok(prob):
        bad = int(np.sum(~(np.isfinite(prob) & (prob >= 0) & (prob <= 1))))
        return prob, Verdict(FAILED, f"{bad} outputs are not probabilities in 0..1")
    if run_twice:
        second = infer(batch)
        if np.array_equal(prob, second):
            return prob, Verdict(VERIFIED, "run twice: identical", runs=2)
        third = infer(batch)
        if np.array_equal(second, third):
            return second, Verdict(SUSPECT, "run twice: first run differed; the re-runs "
                                   "agree and are used", runs=3)
        if np.array_equal(prob, third):
            return prob, Verdict(SUSPECT, "run twice: second run differed", runs=3)
        return prob, Verdict(FAILED, "run twice: three runs, three answers", runs=3)
    if not sampled or sample_seed % SAMPLED_RERUN_EVERY:
        return prob, Verdict(VERIFIED, "range ok")
    i = (sample_seed // SAMPLED_RERUN_EVERY) % n
    alone = infer(batch[i : i + 1])
    if abs(float(alone[0]) - float(prob[i])) > RERUN_TOLERANCE:
        return prob, Verdict(SUSPECT, f"tile {i} re-run alone gave {float(alone[0]):.6f}, "
                                      f"batch gave {float(prob[i]):.6f}")
    return prob, Verdict(VERIFIED, f"range ok; tile {i} re-run agrees")


class CheckedModel:
    """A classifier whose every :meth:`infer` is judged (:func:`checked_infer`); the
    job's verdict is :attr:`verdict` afterwards. Wraps the payload's model for one job."""

    def __init__(self, model: Any, *, sample_seed: int, run_twice: bool = False,
                 sampled: bool = True,
                 input_fault: Callable[[F32], F32] | None = None) -> None:
        self.model = model
        self.sample_seed = sample_seed
        self.run_twice = run_twice
        self.sampled = sampled
        self.input_fault = input_fault
        self.verdict = Verdict(VERIFIED, "no inference")

    def __getattr__(self, name: str) -> Any:
        """Everything else (``sha256``, ``provider``, ...) is the wrapped model's."""
        return getattr(self.model, name)

    @property
    def model_id(self) -> str:
        return str(self.model.model_id)

    @property
    def threshold(self) -> float:
        return float(self.model.threshold)

    @property
    def sha256(self) -> str:
        """The wrapped model's file hash (a job's audit record names it)."""
        return str(getattr(self.model, "sha256", ""))

    def infer(self, batch: F32) -> F32:
        first = self.input_fault(batch) if self.input_fault is not None else None
        prob, self.verdict = checked_infer(self.model.infer, batch,
                                           sample_seed=self.sample_seed,
                                           run_twice=self.run_twice, sampled=self.sampled,
                                           first_run_input=first)
        return prob
