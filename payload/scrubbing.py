"""Weight scrubbing on a schedule: re-hash the live weights, repair what differs.

The payload calls :meth:`WeightScrubber.run_if_due` between jobs (never while the
inference thread reads the weights, so a repair cannot race a job). Every scrub hashes
*every* tensor (:meth:`payload.model_weights.WeightBank.scrub`), so any flipped bit is
found at the first scrub after it happened: detection within one period, by
construction; the tests and :mod:`payload.integrity_bench` check it with injected flips.

Period: :data:`SCRUB_PERIOD_S` = 5 s. Its cost is a SHA-256 over the weights: a few
microseconds for the shipped models (1.5 kB and ~13 kB of weights; the bench prints
the measured time), so the period is set by how long a corrupted weight may answer
jobs, not by the CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from payload.errors import ModelError

log = logging.getLogger(__name__)

SCRUB_PERIOD_S = 5.0


@dataclass(frozen=True)
class ScrubOutcome:
    corrupted: tuple[str, ...]
    repaired: int
    took_s: float
    error: str = ""  # repair impossible (the stored file is corrupt too)


class WeightScrubber:
    def __init__(self, period_s: float = SCRUB_PERIOD_S, *, start_s: float = 0.0) -> None:
        self.period_s = period_s
        self.next_s = start_s + period_s
        self.scrubs = 0
        self.detections = 0  # scrubs that found corrupted tensors
        self.repaired = 0  # tensors restored
        self.total_s = 0.0
        self.last_error = ""

    def due(self, now_s: float) -> bool:
        return now_s >= self.next_s

    def run_if_due(self, model: Any, now_s: float) -> ScrubOutcome | None:
        if now_s < self.next_s:
            return None
        self.next_s = now_s + self.period_s
        return self.run(model)

    def run(self, model: Any) -> ScrubOutcome | None:
        weights = getattr(model, "weights", None)
        if weights is None:
            return None  # a model without a weight bank (tests' fakes)
        report = weights.scrub()
        self.scrubs += 1
        self.total_s += report.took_s
        if not report.corrupted:
            return ScrubOutcome((), 0, report.took_s)
        self.detections += 1
        log.warning("scrub: %d weight tensors differ from golden: %s", len(report.corrupted),
                    ", ".join(report.corrupted))
        try:
            n = weights.repair(report.corrupted)
        except ModelError as exc:
            self.last_error = str(exc)
            log.error("scrub: cannot repair: %s", exc)
            return ScrubOutcome(report.corrupted, 0, report.took_s, str(exc))
        self.repaired += n
        return ScrubOutcome(report.corrupted, n, report.took_s)
