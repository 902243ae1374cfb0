"""The sun's position from the Astronomical Almanac's low-precision formulae.

Good to about 0.01 deg in direction between 1950 and 2050 (Astronomical Almanac, section
C "Low precision formulas for the Sun"), which is far below what eclipse timing (the sun
moves 0.01 deg in ~2 s of orbit-relative geometry) and array pointing need. No ephemeris
file to ship, and it vectorises over time.
"""

from __future__ import annotations

import numpy as np

from hil.plant.frames import J2000_JD, FloatArray

AU_KM = 149_597_870.7
SUN_RADIUS_KM = 696_000.0  # IAU 2015 nominal solar radius 695,700 km; 696,000 classic


def sun_position_km(jd: FloatArray) -> FloatArray:
    """Geocentric sun position (N,3) in km, equator and equinox of date."""
    n = np.asarray(jd, dtype=float) - J2000_JD
    mean_lon = np.radians(280.460 + 0.9856474 * n)
    g = np.radians(357.528 + 0.9856003 * n)
    ecl_lon = mean_lon + np.radians(1.915 * np.sin(g) + 0.020 * np.sin(2.0 * g))
    obliquity = np.radians(23.439 - 0.0000004 * n)
    dist_km = (1.00014 - 0.01671 * np.cos(g) - 0.00014 * np.cos(2.0 * g)) * AU_KM
    return np.column_stack(
        (
            dist_km * np.cos(ecl_lon),
            dist_km * np.cos(obliquity) * np.sin(ecl_lon),
            dist_km * np.sin(obliquity) * np.sin(ecl_lon),
        )
    )


def mean_sun_ra_rad(jd: float) -> float:
    """Right ascension of the mean sun, which sets local mean solar time (and so LTAN)."""
    n = jd - J2000_JD
    return float(np.radians(np.mod(280.460 + 0.9856474 * n, 360.0)))


def flux_scale(sun_distance_km: FloatArray) -> FloatArray:
    """Solar flux relative to its value at 1 AU: the inverse square of the Sun-Earth
    distance. The solar constant (1361 W/m^2) is the 1 AU mean; at perihelion (early
    January, 0.9833 AU) the flux is 3.4 % higher, at aphelion (early July, 1.0167 AU)
    3.3 % lower. A satellite's distance from the Earth's centre (< 0.03 % of an AU in
    LEO) is ignored."""
    au = np.asarray(sun_distance_km, dtype=float) / AU_KM
    return 1.0 / (au * au)

