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
    """Every output a finite probability. Two reductions (a NaN makes ``min`` NaN and
    fails the comparison; an infinity is out of range): per-call overhead, not the
    arithmetic, is what a 16-tile answer costs in numpy."""
    return prob.shape[0] == 0 or bool(0.0 <= prob.min() and prob.max() <= 1.0)


@dataclass(frozen=True)
class Runs:
    """What the inference thread computed for one job: the first run's answer and the
    checks' extra runs. Judged afterwards, off the inference thread (:func:`judge`)."""

    first: F32
    run_twice: bool = False
    second: F32 | None = None
    third: F32 | None = None  # only when the first two differed
    tile: int = -1  # the sampled tile re-run alone (-1: none)
    alone: F32 | None = None

    @property
    def count(self) -> int:
        """Inferences run for the job (the batch's re-runs and a one-tile re-run)."""
        return 1 + sum(r is not None for r in (self.second, self.third, self.alone))


def sampled_tile(sample_seed: int, n_tiles: int) -> int:
    """The tile re-run alone for a job seeded ``sample_seed`` (-1: this job is not one)."""
    if n_tiles == 0 or sample_seed % SAMPLED_RERUN_EVERY:
        return -1
    return (sample_seed // SAMPLED_RERUN_EVERY) % n_tiles


def infer_runs(infer: Infer, batch: F32, *, sample_seed: int, run_twice: bool = False,
               sampled: bool = True, first_run_input: F32 | None = None) -> Runs:
    """Run ``infer`` on ``batch`` as the checks need: once, then (critical jobs) again and
    a third time if the two differ, else (a sampled job) one tile alone. Only the
    comparison that decides on a third run happens here; the rest is :func:`judge`'s.
    ``first_run_input``: what the first run really read (fault injection)."""
    first = infer(batch if first_run_input is None else first_run_input)
    if batch.shape[0] == 0:
        return Runs(first)
    if run_twice:
        second = infer(batch)
        third = None if np.array_equal(first, second) else infer(batch)
        return Runs(first, True, second, third)
    i = sampled_tile(sample_seed, batch.shape[0]) if sampled else -1
    if i < 0:
        return Runs(first)
    return Runs(first, tile=i, alone=infer(batch[i : i + 1]))


def judge(runs: Runs) -> tuple[F32, Verdict]:
    """The answer to use and the verdict, from the runs (see the module docstring)."""
    prob, n = runs.first, runs.count
    if prob.shape[0] == 0:
        return prob, Verdict(VERIFIED, "empty job")
    if not range_ok(prob):
        bad = int(np.sum(~(np.isfinite(prob) & (prob >= 0) & (prob <= 1))))
        return prob, Verdict(FAILED, f"{bad} outputs are not probabilities in 0..1", runs=n)
    if runs.run_twice and runs.second is not None:
        second, third = runs.second, runs.third
        if third is None:
            return prob, Verdict(VERIFIED, "run twice: identical", runs=2)
        if np.array_equal(second, third):
            return second, Verdict(SUSPECT, "run twice: first run differed; the re-runs "
                                   "agree and are used", runs=3)
        if np.array_equal(prob, third):
            return prob, Verdict(SUSPECT, "run twice: second run differed", runs=3)
        return prob, Verdict(FAILED, "run twice: three runs, three answers", runs=3)
    if runs.alone is None:
        return prob, Verdict(VERIFIED, "range ok")
    i, alone = runs.tile, float(runs.alone[0])
    if abs(alone - float(prob[i])) > RERUN_TOLERANCE:
        return prob, Verdict(SUSPECT, f"tile {i} re-run alone gave {alone:.6f}, "
                                      f"batch gave {float(prob[i]):.6f}", runs=n)
    return prob, Verdict(VERIFIED, f"range ok; tile {i} re-run agrees", runs=n)


def checked_infer(infer: Infer, batch: F32, *, sample_seed: int, run_twice: bool = False,
                  sampled: bool = True,
                  first_run_input: F32 | None = None) -> tuple[F32, Verdict]:
    """Run ``infer`` on ``batch`` with the checks above; returns the answer to use and
    the verdict (:func:`infer_runs` then :func:`judge`, on one thread)."""
    return judge(infer_runs(infer, batch, sample_seed=sample_seed, run_twice=run_twice,
                            sampled=sampled, first_run_input=first_run_input))
