"""Limit violations the plant reports: battery below its floor, a node beyond its limits.

A violation is an episode (entry to exit), recorded with its start, duration and worst
value, so a long excursion is one line in the mission summary rather than thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone


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

    def check(self, value: float, now_utc_s: float) -> None:
        bad = value > self.limit if self.above else value < self.limit
        ep = self.open
        if bad:
            if ep is None:
                ep = Episode(
                    self.label, self.unit, self.limit, self.above, now_utc_s, now_utc_s, value
                )
                self.open = ep
                self.episodes.append(ep)
            ep.end_utc_s = now_utc_s
            if (value > ep.worst) if self.above else (value < ep.worst):
                ep.worst = value
        elif ep is not None:
            self.open = None


def describe_all(limits: list[Limit]) -> list[str]:
    episodes = sorted((e for lim in limits for e in lim.episodes), key=lambda e: e.start_utc_s)
    return [e.describe() for e in episodes]
