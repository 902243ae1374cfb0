"""Time scales and reference frames: Julian dates, Earth rotation (GMST), geodetic WGS-84.

The inertial frame is SGP4's TEME, and the analytic sun and the J2 propagator are used
in it as if it were the mean equator and equinox of date; the difference (well under
0.01 deg) is below the sun model's own accuracy. UT1 is taken equal to UTC (< 0.9 s).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]

UNIX_EPOCH_JD = 2440587.5
J2000_JD = 2451545.0
SECONDS_PER_DAY = 86400.0

# WGS-84 (NIMA TR8350.2)
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)


def unix_to_jd(unix_s: float | FloatArray) -> float | FloatArray:
    """Julian date (UTC) of a Unix time; seconds since 1970 ignore leap seconds like UTC."""
    return unix_s / SECONDS_PER_DAY + UNIX_EPOCH_JD


def gmst_rad(jd_ut1: float | FloatArray) -> float | FloatArray:
    """Greenwich mean sidereal time, IAU-82 (Vallado eq. 3-45), in radians 0..2 pi."""
    d = jd_ut1 - J2000_JD
    t = d / 36525.0
    deg = 280.46061837 + 360.98564736629 * d + 0.000387933 * t * t - t * t * t / 38710000.0
    return np.radians(np.mod(deg, 360.0))


def eci_to_ecef(r_eci_km: FloatArray, gmst: FloatArray) -> FloatArray:
    """Rotate inertial (N,3) positions into the Earth-fixed frame by GMST about z."""
    c, s = np.cos(gmst), np.sin(gmst)
    x, y, z = r_eci_km[:, 0], r_eci_km[:, 1], r_eci_km[:, 2]
    return np.column_stack((c * x + s * y, -s * x + c * y, z))


def geodetic_to_ecef(lat_deg: float, lon_deg: float, alt_m: float) -> FloatArray:
    """Earth-fixed position (km) of a point on or above the WGS-84 ellipsoid."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    h = alt_m / 1000.0
    return np.array(
        [
            (n + h) * np.cos(lat) * np.cos(lon),
            (n + h) * np.cos(lat) * np.sin(lon),
            (n * (1.0 - WGS84_E2) + h) * np.sin(lat),
        ]
    )


def up_vector(lat_deg: float, lon_deg: float) -> FloatArray:
    """Unit normal to the ellipsoid (geodetic zenith) at a point."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.array([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def ecef_to_geodetic(r_ecef_km: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Latitude (deg), longitude (deg, -180..180) and altitude (km), Bowring's method.

    Two iterations give millimetre accuracy in LEO, far below what a ground track needs.
    """
    x, y, z = r_ecef_km[:, 0], r_ecef_km[:, 1], r_ecef_km[:, 2]
    p = np.hypot(x, y)
    lon = np.arctan2(y, x)
    lat = np.arctan2(z, p * (1.0 - WGS84_E2))
    for _ in range(2):
        n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
        alt = p / np.maximum(np.cos(lat), 1e-12) - n
        lat = np.arctan2(z, p * (1.0 - WGS84_E2 * n / (n + alt)))
    n = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * np.sin(lat) ** 2)
    alt = p / np.maximum(np.cos(lat), 1e-12) - n
    return np.degrees(lat), np.degrees(lon), alt
