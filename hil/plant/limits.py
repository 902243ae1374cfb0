"""Limit violations the plant reports: battery below its floor, a node beyond its limits,
a battery asked to charge outside its charge temperature range, a bus brown-out.

A violation is an episode (entry to exit), recorded with its start, duration and worst
value, so a long excursion is one line in the mission summary rather than thousands.
Each limit also keeps its counts (violating steps, seconds, episodes) and when it was
first and worst violated: :meth:`Limit.audit` is that record, what the plant's summary
carries for an audit of a finished run (:mod:`hil.limit_audit`). Checking costs a
comparison per limit per step, so the plant's step cost stays flat however long it flies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any


def iso_utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Episode:
    label: str
    unit: str
    limit: float
    above: bool  # True: violated when value > limit
    start_utc_s: float
    end_utc_s: float
    worst: float
    worst_utc_s: float = 0.0

    def describe(self) -> str:
        rel = "above" if self.above else "below"
        dur = self.end_utc_s - self.start_utc_s
        return (
            f"{iso_utc(self.start_utc_s)} {self.label} {self.worst:.2f} {self.unit} "
            f"{rel} limit {self.limit:.2f} {self.unit} for {dur:.0f} s"
        )


@dataclass
class Limit:
    label: str
    unit: str
    limit: float
    above: bool
    open: Episode | None = None
    episodes: list[Episode] = field(default_factory=list)
    steps: int = 0
    """Steps that ended (or, for a condition on the step, ran) in violation."""
    violated_s: float = 0.0
    """Seconds of those steps."""

    def check(self, value: float, now_utc_s: float, dt_s: float = 0.0) -> None:
        bad = value > self.limit if self.above else value < self.limit
        ep = self.open
        if bad:
            self.steps += 1
            self.violated_s += dt_s
            if ep is None:
                ep = Episode(self.label, self.unit, self.limit, self.above, now_utc_s,
                             now_utc_s, value, now_utc_s)
                self.open = ep
                self.episodes.append(ep)
            ep.end_utc_s = now_utc_s
            if (value > ep.worst) if self.above else (value < ep.worst):
                ep.worst = value
                ep.worst_utc_s = now_utc_s
        elif ep is not None:
            self.open = None

    def clear(self) -> None:
        """The limit does not apply this step (e.g. no charge offered): an episode ends."""
        self.open = None

    def audit(self) -> dict[str, Any]:
        """Counts and first/worst times, JSON-ready; ``worst`` is None if never violated."""
        worst: Episode | None = None
        for ep in self.episodes:
            if worst is None or ((ep.worst > worst.worst) if self.above
                                 else (ep.worst < worst.worst)):
                worst = ep
        first = self.episodes[0] if self.episodes else None
        return {
            "label": self.label,
            "unit": self.unit,
            "limit": self.limit,
            "kind": "above" if self.above else "below",
            "steps": self.steps,
            "violated_s": self.violated_s,
            "episodes": len(self.episodes),
            "first_utc_s": None if first is None else first.start_utc_s,
            "worst": None if worst is None else worst.worst,
            "worst_utc_s": None if worst is None else worst.worst_utc_s,
        }


def describe_all(limits: list[Limit]) -> list[str]:
    episodes = sorted((e for lim in limits for e in lim.episodes), key=lambda e: e.start_utc_s)
    return [e.describe() for e in episodes]
