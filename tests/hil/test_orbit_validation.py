"""Orbit, time and sun against outside numbers: closed forms, published values, SGP4's
own verification vectors."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from importlib.resources import files

import numpy as np
import pytest

from hil.plant.frames import gmst_rad, unix_to_jd
from hil.plant.orbit import Orbit, keplerian_period_s, sso_inclination_deg
from hil.plant.profile import OrbitSpec
from hil.plant.sun import AU_KM, sun_position_km


def _unix(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _circular(alt_km: float, inc_deg: float, j2: bool) -> OrbitSpec:
    return OrbitSpec(None, alt_km, 0.0, inc_deg, False, None, 0.0, 0.0, 0.0, j2)


def test_period_at_400_km_matches_design_figure() -> None:
    # DESIGN.md: ~92.6 min at 400 km; ~95.6 min at 550 km.
    assert keplerian_period_s(400.0) / 60.0 == pytest.approx(92.6, abs=0.05)
    assert keplerian_period_s(550.0) / 60.0 == pytest.approx(95.6, abs=0.05)


def test_propagated_orbit_returns_after_one_period() -> None:
    orbit = Orbit(_circular(400.0, 51.6, j2=False), 0.0)
    period = keplerian_period_s(400.0)
    r = orbit.positions_km(np.array([0.0, period, 0.5 * period]))
    assert np.linalg.norm(r[1] - r[0]) < 1e-6  # km: back where it started
    assert np.linalg.norm(r[2] + r[0]) < 1e-6  # half an orbit: diametrically opposite
    assert np.linalg.norm(r[0]) == pytest.approx(6778.14, abs=1e-9)


@pytest.mark.parametrize(
    ("alt_km", "published_deg"),
    [(705.0, 98.2), (693.0, 98.18)],  # Landsat 8 (USGS), Sentinel-1 (ESA) mission facts
)
def test_sun_synchronous_inclination(alt_km: float, published_deg: float) -> None:
    assert sso_inclination_deg(alt_km) == pytest.approx(published_deg, abs=0.05)


def test_gmst_vallado_example_3_5() -> None:
    # Vallado, Fundamentals of Astrodynamics, example 3-5: 1992 Aug 20 12:14 UT1.
    jd = float(unix_to_jd(_unix("1992-08-20T12:14:00")))
    assert math.degrees(float(gmst_rad(jd))) == pytest.approx(152.578787810, abs=1e-6)


@pytest.mark.parametrize(
    ("when", "ra_deg", "dec_deg"),
    [
        ("2024-03-20T03:06:00", 0.0, 0.0),  # March equinox 03:06 UTC (USNO)
        ("2024-06-20T20:51:00", 90.0, 23.44),  # June solstice 20:51 UTC (USNO)
        ("2024-12-21T09:20:00", 270.0, -23.44),  # December solstice 09:20 UTC (USNO)
    ],
)
def test_sun_direction_at_equinox_and_solstices(when: str, ra_deg: float, dec_deg: float) -> None:
    r = sun_position_km(np.array([unix_to_jd(_unix(when))]))[0]
    ra = math.degrees(math.atan2(r[1], r[0])) % 360.0
    dec = math.degrees(math.asin(r[2] / np.linalg.norm(r)))
    assert dec == pytest.approx(dec_deg, abs=0.01)  # the model's stated accuracy
    assert (ra - ra_deg + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=0.02)


def test_sun_distance_at_perihelion() -> None:
    # Perihelion 2024-01-03 00:39 UTC at 0.983307 AU (USNO / JPL Horizons).
    r = sun_position_km(np.array([unix_to_jd(_unix("2024-01-03T00:39:00"))]))[0]
    assert np.linalg.norm(r) / AU_KM == pytest.approx(0.983307, abs=2e-4)


def _tcppver_cases() -> dict[int, list[tuple[float, float, float, float]]]:
    text = (files("sgp4") / "tcppver.out").read_text()
    cases: dict[int, list[tuple[float, float, float, float]]] = {}
    current: list[tuple[float, float, float, float]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "xx":
            current = cases.setdefault(int(parts[0]), [])
        elif len(parts) >= 4:
            current.append((float(parts[0]), float(parts[1]), float(parts[2]), float(parts[3])))
    return cases


def _tle(satnum: int) -> tuple[str, str]:
    lines = (files("sgp4") / "SGP4-VER.TLE").read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("1 ") and int(line[2:7]) == satnum:
            return line[:69], lines[i + 1][:69]
    raise LookupError(satnum)


@pytest.mark.parametrize("satnum", [5, 6251, 28057, 29238])
def test_tle_propagation_matches_sgp4_verification_vectors(satnum: int) -> None:
    """The plant's TLE path (epoch handling, chunked arrays) reproduces tcppver.out."""
    from sgp4.api import WGS72, Satrec

    line1, line2 = _tle(satnum)
    sat = Satrec.twoline2rv(line1, line2, WGS72)
    epoch_unix = (sat.jdsatepoch - 2440587.5) * 86400.0 + sat.jdsatepochF * 86400.0
    spec = OrbitSpec((line1, line2), 0.0, 0.0, None, False, None, None, 0.0, 0.0, True)
    orbit = Orbit(spec, epoch_unix)
    rows = _tcppver_cases()[satnum]
    minutes = np.array([row[0] for row in rows])
    expected = np.array([row[1:] for row in rows])
    got = orbit.positions_km(minutes * 60.0)
    # 1 cm: the published vectors have 8 decimals; the epoch round trip through Unix
    # seconds costs ~1e-7 s, i.e. below a millimetre at 7.5 km/s.
    assert np.max(np.abs(got - expected)) < 1e-5


def test_eccentric_orbit_perigee_apogee_and_period() -> None:
    """Two-body: r = a(1 -/+ e) at perigee/apogee, half a period apart."""
    spec = OrbitSpec(None, 1000.0, 0.1, 63.4, False, None, 30.0, 45.0, 0.0, False)
    orbit = Orbit(spec, 0.0)
    a = 6378.14 + 1000.0
    period = 2.0 * math.pi * math.sqrt(a**3 / 398600.44)
    r = np.linalg.norm(orbit.positions_km(np.array([0.0, period / 2.0, period])), axis=1)
    assert r[0] == pytest.approx(a * 0.9, abs=1e-6)
    assert r[1] == pytest.approx(a * 1.1, abs=1e-6)
    assert r[2] == pytest.approx(r[0], abs=1e-6)
