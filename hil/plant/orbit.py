"""Orbit propagation: SGP4 from a TLE, or mean elements with two-body + J2 secular drift.

Both are vectorised over time so the plant computes a whole chunk of orbit at once (the
per-step loop only looks positions up). The J2 secular rates are the first-order ones
(Vallado, Fundamentals of Astrodynamics, eqs. 9-41): they are what makes a sun-synchronous
orbit's node follow the sun (~0.9856 deg/day) and are accurate to a few km over days for
a circular LEO orbit, plenty for power, thermal and contact timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sgp4.api import WGS72, Satrec

from hil.plant.errors import ProfileError
from hil.plant.frames import SECONDS_PER_DAY, FloatArray, unix_to_jd
from hil.plant.profile import OrbitSpec
from hil.plant.sun import mean_sun_ra_rad

MU_KM3_S2 = 398600.44  # DESIGN.md; WGS-84 398600.4418
EARTH_RADIUS_KM = 6378.14  # DESIGN.md; used for altitude, J2 and the shadow
J2 = 1.08263e-3
TROPICAL_YEAR_S = 365.2422 * SECONDS_PER_DAY
SSO_NODE_RATE_RAD_S = 2.0 * math.pi / TROPICAL_YEAR_S  # the mean sun's motion


def keplerian_period_s(altitude_km: float) -> float:
    """T = 2 pi sqrt(a^3 / mu) for a circular orbit at this altitude."""
    a = EARTH_RADIUS_KM + altitude_km
    return 2.0 * math.pi * math.sqrt(a**3 / MU_KM3_S2)


def sso_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Inclination that makes the J2 node drift equal the mean sun's (sun-synchronous)."""
    a = EARTH_RADIUS_KM + altitude_km
    p = a * (1.0 - eccentricity**2)
    n = math.sqrt(MU_KM3_S2 / a**3)
    cos_i = -SSO_NODE_RATE_RAD_S / (1.5 * n * J2 * (EARTH_RADIUS_KM / p) ** 2)
    if not -1.0 <= cos_i <= 1.0:
        raise ValueError(f"no sun-synchronous inclination at {altitude_km} km")
    return math.degrees(math.acos(cos_i))


@dataclass(frozen=True)
class MeanElements:
    """Mean orbital elements at the epoch and their J2 secular rates (rad, rad/s)."""

    a_km: float
    e: float
    i_rad: float
    raan_rad: float
    argp_rad: float
    m_rad: float
    raan_rate: float
    argp_rate: float
    m_rate: float


class Orbit:
    """Positions in the inertial frame (TEME) at times since the plant's epoch."""

    def __init__(self, spec: OrbitSpec, epoch_utc_s: float) -> None:
        self.spec = spec
        self.epoch_utc_s = epoch_utc_s
        self._satrec: Satrec | None = None
        self._tle_offset_s = 0.0
        self.elements: MeanElements | None = None
        if spec.tle is not None:
            sat = Satrec.twoline2rv(spec.tle[0], spec.tle[1], WGS72)
            if sat.error != 0:
                raise ProfileError(f"TLE rejected by sgp4 (error {sat.error})", key="orbit.tle")
            self._satrec = sat
            tle_epoch_jd = sat.jdsatepoch + sat.jdsatepochF
            self._tle_offset_s = (float(unix_to_jd(epoch_utc_s)) - tle_epoch_jd) * SECONDS_PER_DAY
            self.period_s = 2.0 * math.pi / (sat.no_kozai / 60.0)
            self.inclination_deg = math.degrees(sat.inclo)
        else:
            self.elements = _mean_elements(spec, epoch_utc_s)
            el = self.elements
            # Period from node to node (argument of latitude), what eclipses repeat with.
            self.period_s = 2.0 * math.pi / (el.m_rate + el.argp_rate)
            self.inclination_deg = math.degrees(el.i_rad)

    def positions_km(self, t_s: FloatArray) -> FloatArray:
        """Inertial positions (N,3) in km at elapsed seconds ``t_s`` since the epoch."""
        return self.state(t_s)[0]

    def state(self, t_s: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Inertial positions (N,3, km) and unit orbit normals (N,3) at elapsed seconds."""
        t_s = np.asarray(t_s, dtype=float)
        if self._satrec is not None:
            minutes = (t_s + self._tle_offset_s) / 60.0
            jd = self._satrec.jdsatepoch + np.floor(minutes / 1440.0)
            fr = self._satrec.jdsatepochF + np.mod(minutes, 1440.0) / 1440.0
            err, r, v = self._satrec.sgp4_array(jd, fr)
            if np.any(err):
                raise ValueError(f"sgp4 error {int(np.max(err))} while propagating")
            r = np.asarray(r, dtype=float)
            h = np.cross(r, np.asarray(v, dtype=float))
            return r, h / np.linalg.norm(h, axis=1)[:, None]
        assert self.elements is not None
        el = self.elements
        raan = el.raan_rad + el.raan_rate * t_s
        sin_i, cos_i = math.sin(el.i_rad), math.cos(el.i_rad)
        normals = np.column_stack(
            (np.sin(raan) * sin_i, -np.cos(raan) * sin_i, np.full_like(raan, cos_i))
        )
        return _kepler_j2_positions(el, t_s), normals


def _mean_elements(spec: OrbitSpec, epoch_utc_s: float) -> MeanElements:
    a = EARTH_RADIUS_KM + spec.altitude_km
    e = spec.eccentricity
    if spec.sun_synchronous:
        inc_deg = sso_inclination_deg(spec.altitude_km, e)
    else:
        assert spec.inclination_deg is not None
        inc_deg = spec.inclination_deg
    i = math.radians(inc_deg)
    if spec.ltan_h is not None:
        # The ascending node sits at local mean solar time LTAN: its right ascension is
        # the mean sun's plus 15 deg per hour after noon.
        raan = mean_sun_ra_rad(float(unix_to_jd(epoch_utc_s))) + math.radians(
            (spec.ltan_h - 12.0) * 15.0
        )
    else:
        assert spec.raan_deg is not None
        raan = math.radians(spec.raan_deg)
    n = math.sqrt(MU_KM3_S2 / a**3)
    p = a * (1.0 - e * e)
    k = J2 * (EARTH_RADIUS_KM / p) ** 2 if spec.j2 else 0.0
    cos_i = math.cos(i)
    return MeanElements(
        a_km=a,
        e=e,
        i_rad=i,
        raan_rad=raan % (2.0 * math.pi),
        argp_rad=math.radians(spec.arg_perigee_deg),
        m_rad=math.radians(spec.mean_anomaly_deg),
        raan_rate=-1.5 * n * k * cos_i,
        argp_rate=0.75 * n * k * (5.0 * cos_i**2 - 1.0),
        m_rate=n * (1.0 + 0.75 * k * math.sqrt(1.0 - e * e) * (3.0 * cos_i**2 - 1.0)),
    )


def _kepler_j2_positions(el: MeanElements, t_s: FloatArray) -> FloatArray:
    m = el.m_rad + el.m_rate * t_s
    raan = el.raan_rad + el.raan_rate * t_s
    argp = el.argp_rad + el.argp_rate * t_s
    e = el.e
    if e == 0.0:
        nu = m
        r = np.full_like(m, el.a_km)
    else:
        ecc_anom = m.copy() if e < 0.8 else np.full_like(m, math.pi)
        for _ in range(30):  # Newton on Kepler's equation, quadratic convergence
            f = ecc_anom - e * np.sin(ecc_anom) - m
            ecc_anom -= f / (1.0 - e * np.cos(ecc_anom))
            if np.max(np.abs(f)) < 1e-13:
                break
        nu = 2.0 * np.arctan2(
            math.sqrt(1.0 + e) * np.sin(ecc_anom / 2.0), math.sqrt(1.0 - e) * np.cos(ecc_anom / 2.0)
        )
        r = el.a_km * (1.0 - e * np.cos(ecc_anom))
    u = argp + nu  # argument of latitude
    cos_u, sin_u = np.cos(u), np.sin(u)
    cos_o, sin_o = np.cos(raan), np.sin(raan)
    cos_i, sin_i = math.cos(el.i_rad), math.sin(el.i_rad)
    return np.column_stack(
        (
            r * (cos_o * cos_u - sin_o * sin_u * cos_i),
            r * (sin_o * cos_u + cos_o * sin_u * cos_i),
            r * (sin_u * sin_i),
        )
    )
