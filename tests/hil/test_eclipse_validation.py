"""Eclipses against the closed-form cylinder (DESIGN.md) and a numerical shadow test along
the propagated orbit; the dawn-dusk eclipse season against DESIGN.md's figures."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from hil.plant import load_profile
from hil.plant.frames import unix_to_jd
from hil.plant.orbit import Orbit, keplerian_period_s
from hil.plant.profile import OrbitSpec
from hil.plant.season import eclipse_season
from hil.plant.shadow import beta_deg, cylindrical_eclipse_fraction, sun_fraction
from hil.plant.sun import sun_position_km

MARCH_EQUINOX_2024 = datetime(2024, 3, 20, 3, 6, tzinfo=timezone.utc).timestamp()


def _shadow_along_orbit(
    spec: OrbitSpec, epoch: float, duration_s: float, step_s: float
) -> tuple[np.ndarray, np.ndarray]:
    orbit = Orbit(spec, epoch)
    t = np.arange(0.0, duration_s, step_s)
    r, normal = orbit.state(t)
    r_sun = sun_position_km(np.asarray(unix_to_jd(epoch + t)))
    return sun_fraction(r, r_sun), beta_deg(normal, r_sun)


@pytest.mark.parametrize(
    ("alt_km", "design_eclipse_min", "design_period_min"),
    [(400.0, 36.0, 92.6), (550.0, 35.6, 95.6)],  # DESIGN.md facts
)
def test_beta_zero_eclipse_matches_closed_form(
    alt_km: float, design_eclipse_min: float, design_period_min: float
) -> None:
    # At the March equinox the sun lies on the node line of an orbit with RAAN 0: beta ~ 0.
    spec = OrbitSpec(None, alt_km, 0.0, 51.6, False, None, 0.0, 0.0, 0.0, False)
    period = keplerian_period_s(alt_km)
    step = 0.25
    frac, beta = _shadow_along_orbit(spec, MARCH_EQUINOX_2024, period, step)
    assert abs(beta).max() < 0.05
    closed_min = cylindrical_eclipse_fraction(alt_km, 0.0) * period / 60.0
    assert closed_min == pytest.approx(design_eclipse_min, abs=0.2)
    assert period / 60.0 == pytest.approx(design_period_min, abs=0.05)
    # Numerical, conical shadow: the lit-fraction deficit integrates to the cylinder's
    # eclipse (penumbra halves balance) within 0.3 %.
    eclipse_min = np.sum(1.0 - frac) * step / 60.0
    assert eclipse_min == pytest.approx(closed_min, rel=3e-3)
    umbra_min = np.sum(frac == 0.0) * step / 60.0
    penumbra_s = np.sum((frac > 0.0) & (frac < 1.0)) * step / 2.0  # per side
    assert umbra_min < closed_min  # the umbra cone narrows behind the Earth
    assert 5.0 < penumbra_s < 15.0  # ~8-10 s in LEO at beta 0 (sun's 0.53 deg disc)


def test_dawn_dusk_sso_has_an_eclipse_season() -> None:
    """suncatcher-proto, 650 km dawn-dusk SSO: eclipses only in a ~3-month season, up to
    ~20 min (DESIGN.md); the closed form at the year's lowest beta gives 19.7 min."""
    season = eclipse_season(load_profile("suncatcher-proto"))
    assert 70 <= season.eclipse_days <= 110  # "~3-month season"
    assert season.max_minutes == pytest.approx(20.0, abs=1.5)  # "up to ~20 min"
    # One contiguous block centred on the June solstice (day 171): for LTAN 18:00 the
    # orbit normal leans away from the sun when the sun is furthest north.
    minutes = np.array(season.minutes_per_orbit)
    days = np.nonzero(minutes > 0.0)[0]
    assert np.all(np.diff(days) == 1)
    assert abs(int(np.argmax(minutes)) - 171) <= 10
