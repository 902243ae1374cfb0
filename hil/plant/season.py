"""Eclipse seasons: minutes of shadow per orbit, day by day over a year.

A dawn-dusk sun-synchronous orbit sees the Earth's shadow only while the sun's
declination tilts the orbit plane's normal far enough from the sun (beta below the
limit asin(R/(R+h))); this module measures that numerically along the propagated orbit
so the README and the tests can state the season from the same physics the plant flies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from hil.plant.frames import unix_to_jd
from hil.plant.orbit import Orbit
from hil.plant.profile import Profile
from hil.plant.shadow import sun_fraction
from hil.plant.sun import sun_position_km


@dataclass(frozen=True)
class Season:
    """Eclipse minutes per orbit for each day of a year starting 1 January."""

    year: int
    minutes_per_orbit: list[float]

    @property
    def eclipse_days(self) -> int:
        return sum(1 for m in self.minutes_per_orbit if m > 0.0)

    @property
    def max_minutes(self) -> float:
        return max(self.minutes_per_orbit)

    def first_and_last_day(self) -> tuple[int, int] | None:
        days = [d for d, m in enumerate(self.minutes_per_orbit) if m > 0.0]
        return (days[0], days[-1]) if days else None


def eclipse_season(profile: Profile, year: int | None = None, step_s: float = 10.0) -> Season:
    """Shadow per orbit (penumbra weighted by its lit fraction) for each day of ``year``."""
    epoch = profile.epoch_utc_s
    if year is None:
        year = datetime.fromtimestamp(epoch, tz=timezone.utc).year
    start = datetime(year, 1, 1, tzinfo=timezone.utc).timestamp()
    orbit = Orbit(profile.orbit, epoch)
    offsets = np.arange(0.0, orbit.period_s, step_s)
    minutes: list[float] = []
    for day in range(365):
        t = (start - epoch) + day * 86400.0 + offsets
        r, _ = orbit.state(t)
        frac = sun_fraction(r, sun_position_km(np.asarray(unix_to_jd(epoch + t))))
        minutes.append(float(np.sum(1.0 - frac) * step_s / 60.0))
    return Season(year, minutes)
