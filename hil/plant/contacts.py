"""Ground-station visibility and pass prediction.

Elevation is the angle of the satellite above each station's local horizon (geodetic
zenith on WGS-84), with the satellite rotated into the Earth-fixed frame by GMST. A pass
is the interval where elevation exceeds the station's mask; its start (AOS) and end (LOS)
are found on a coarse grid and refined by linear interpolation, its maximum elevation by
a parabola through the three highest samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hil.plant.frames import FloatArray, geodetic_to_ecef, up_vector
from hil.plant.profile import Station


@dataclass(frozen=True)
class Pass:
    """One station pass, times in seconds since the plant's epoch."""

    station: str
    aos_s: float
    los_s: float
    max_elevation_deg: float


class StationNetwork:
    """The profile's ground stations, precomputed for vectorised elevation."""

    def __init__(self, stations: tuple[Station, ...]) -> None:
        self.stations = stations
        self.names = [s.name for s in stations]
        self.ecef_km = np.array([geodetic_to_ecef(s.lat_deg, s.lon_deg, s.alt_m) for s in stations])
        self.up = np.array([up_vector(s.lat_deg, s.lon_deg) for s in stations])
        self.masks_deg = np.array([s.min_elevation_deg for s in stations])

    def elevations_deg(self, r_ecef_km: FloatArray) -> FloatArray:
        """Elevation (S, N) of the satellite above each station's horizon, degrees."""
        rho = r_ecef_km[None, :, :] - self.ecef_km[:, None, :]
        dist = np.linalg.norm(rho, axis=2)
        sin_el = np.einsum("snk,sk->sn", rho, self.up) / dist
        return np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))


def crossings(t_s: FloatArray, f: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Times where f goes from < 0 to >= 0 (rises) and from >= 0 to < 0 (sets)."""
    above = f >= 0.0
    idx = np.nonzero(above[1:] != above[:-1])[0]
    f0, f1 = f[idx], f[idx + 1]
    t_cross = t_s[idx] + (t_s[idx + 1] - t_s[idx]) * (-f0) / (f1 - f0)
    rising = above[idx + 1]
    return t_cross[rising], t_cross[~rising]


def peak_deg(t_s: FloatArray, elev: FloatArray, lo: int, hi: int) -> float:
    """Maximum of ``elev[lo:hi]`` refined by a parabola through the top sample's neighbours."""
    k = lo + int(np.argmax(elev[lo:hi]))
    if 0 < k < len(elev) - 1:
        y0, y1, y2 = elev[k - 1], elev[k], elev[k + 1]
        denom = y0 - 2.0 * y1 + y2
        if denom < 0.0:
            return float(y1 - 0.125 * (y0 - y2) ** 2 / denom)
    return float(elev[k])
