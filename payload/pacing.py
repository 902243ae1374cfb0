"""The throttle as a duty cycle, and the meter that shows it is honoured.

On a free-running stack (``pace=True``) the executive's thermal/power logic hands the
payload a throttle L in 0..1 and expects its CPU use to follow. The payload does that by
resting after each job in proportion to how long the job kept it busy: after ``b``
seconds of work it waits ``b * (1 - L) / L`` before starting the next job, so over any
stretch of queued work the busy fraction is L. L = 0 means run nothing (the queue is
kept). In lockstep simulation (``pace=False``) the executive sizes the work itself and
jobs run as soon as they arrive.

Both classes are pure: they take times, they never read a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from payload.messages import PayloadConfig


def rest_after_s(busy_s: float, throttle_frac: float) -> float:
    """How long to rest after ``busy_s`` of work so that work is ``throttle_frac`` of time."""
    if throttle_frac <= 0.0:
        return math.inf
    if throttle_frac >= 1.0:
        return 0.0
    return max(busy_s, 0.0) * (1.0 - throttle_frac) / throttle_frac


@dataclass
class DutyCycle:
    """Decides when the next job may start."""

    config: PayloadConfig = field(default_factory=PayloadConfig)
    last_end_s: float = -math.inf
    last_busy_s: float = 0.0

    def job_finished(self, end_s: float, busy_s: float) -> None:
        self.last_end_s = end_s
        self.last_busy_s = busy_s

    def earliest_start_s(self) -> float:
        """Monotonic time at which the next job may start (inf: not while L is 0).

        Computed from the last job and the *current* throttle, so raising the throttle
        shortens a rest that has already begun.
        """
        if not self.config.pace:
            return -math.inf
        rest = rest_after_s(self.last_busy_s, self.config.throttle_frac)
        if math.isinf(rest):
            return math.inf
        return self.last_end_s + rest

    def wait_s(self, now_s: float) -> float:
        """Seconds until a job may start: 0 now, ``inf`` while the throttle is 0."""
        return max(self.earliest_start_s() - now_s, 0.0)


@dataclass
class BusyMeter:
    """Measures the fraction of wall time spent working between two readings."""

    window_start_s: float
    busy_s: float = 0.0

    def add_busy(self, seconds: float) -> None:
        self.busy_s += max(seconds, 0.0)

    def read_and_reset(self, now_s: float) -> float:
        """Busy fraction since the previous reading (0..1), and start a new window."""
        elapsed = now_s - self.window_start_s
        frac = self.busy_s / elapsed if elapsed > 0 else 0.0
        self.window_start_s = now_s
        self.busy_s = 0.0
        return min(max(frac, 0.0), 1.0)
