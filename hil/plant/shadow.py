"""Earth's shadow as a cone: umbra, penumbra and the lit fraction of the sun's disc.

The satellite sees two discs, the sun (apparent radius a) and the Earth (b), whose centres
are c apart. The lit fraction is 1 minus the overlapped area over the sun's disc area
(Montenbruck & Gill, Satellite Orbits, sec. 3.4.2). This gives a smooth penumbra (about
8-10 s long in LEO) instead of a step, and a slightly shorter umbra than the cylinder.
"""

from __future__ import annotations

import numpy as np

from hil.plant.frames import FloatArray
from hil.plant.orbit import EARTH_RADIUS_KM
from hil.plant.sun import SUN_RADIUS_KM


def disc_geometry(
    r_sat_km: FloatArray, r_sun_km: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Apparent sun radius a, Earth radius b and their separation c (rad), all (N,)."""
    to_sun = r_sun_km - r_sat_km
    d_sun = np.linalg.norm(to_sun, axis=1)
    d_earth = np.linalg.norm(r_sat_km, axis=1)
    a = np.arcsin(SUN_RADIUS_KM / d_sun)
    b = np.arcsin(np.minimum(EARTH_RADIUS_KM / d_earth, 1.0))
    cos_c = -np.einsum("ij,ij->i", r_sat_km, to_sun) / (d_earth * d_sun)
    c = np.arccos(np.clip(cos_c, -1.0, 1.0))
    return a, b, c


def sun_fraction(r_sat_km: FloatArray, r_sun_km: FloatArray) -> FloatArray:
    """Fraction of the sun's disc visible from each position: 1 lit, 0 umbra."""
    a, b, c = disc_geometry(r_sat_km, r_sun_km)
    frac = np.ones_like(c)
    umbra = c <= b - a
    frac[umbra] = 0.0
    partial = (c < a + b) & ~umbra
    if np.any(partial):
        ap, bp, cp = a[partial], b[partial], c[partial]
        x = (cp * cp + ap * ap - bp * bp) / (2.0 * cp)
        y = np.sqrt(np.maximum(ap * ap - x * x, 0.0))
        overlap = (
            ap * ap * np.arccos(np.clip(x / ap, -1.0, 1.0))
            + bp * bp * np.arccos(np.clip((cp - x) / bp, -1.0, 1.0))
            - cp * y
        )
        frac[partial] = np.clip(1.0 - overlap / (np.pi * ap * ap), 0.0, 1.0)
    return frac


def umbra_margin_rad(r_sat_km: FloatArray, r_sun_km: FloatArray) -> FloatArray:
    """c - (b - a): negative inside the umbra; a smooth function for finding entry times."""
    a, b, c = disc_geometry(r_sat_km, r_sun_km)
    return c - (b - a)


def beta_deg(orbit_normal: FloatArray, r_sun_km: FloatArray) -> FloatArray:
    """Beta angle: elevation of the sun above the orbit plane, degrees."""
    s = r_sun_km / np.linalg.norm(r_sun_km, axis=1)[:, None]
    return np.degrees(np.arcsin(np.clip(np.einsum("ij,ij->i", orbit_normal, s), -1.0, 1.0)))


def cylindrical_eclipse_fraction(altitude_km: float, beta: float) -> float:
    """Closed-form eclipse fraction of a circular orbit in a cylindrical shadow (DESIGN.md)."""
    r = EARTH_RADIUS_KM + altitude_km
    if abs(np.sin(np.radians(beta))) >= EARTH_RADIUS_KM / r:
        return 0.0
    h = altitude_km
    arg = np.sqrt(h * h + 2.0 * EARTH_RADIUS_KM * h) / (r * np.cos(np.radians(beta)))
    return float(np.arccos(arg) / np.pi)
