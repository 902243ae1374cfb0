"""Radiation a surface receives: direct sun, Earth albedo and Earth infrared, by facing.

The spacecraft is nadir-pointing with sun-tracking arrays; each surface is described by
where its normal points (see ``FACINGS`` in :mod:`hil.plant.profile`). The Earth view
factor of a plate is interpolated between two closed forms on the cosine of the angle
between its normal and nadir: a plate facing the Earth sees F = (R/r)^2, a plate edge-on
sees the vertical-plate factor (Gilmore, Spacecraft Thermal Control Handbook, app. A),
and a plate tilted beyond 90 deg + the Earth's angular radius sees nothing. Albedo
scales with the cosine of the sun's zenith angle below the satellite.
"""

from __future__ import annotations

import numpy as np

from hil.plant.frames import FloatArray
from hil.plant.orbit import EARTH_RADIUS_KM
from hil.plant.profile import EnvironmentSpec


def _earth_view(cos_nadir: FloatArray, r_km: FloatArray) -> FloatArray:
    h = r_km / EARTH_RADIUS_KM
    f_face = 1.0 / (h * h)
    root = np.sqrt(h * h - 1.0)
    f_side = (np.arctan(1.0 / root) - root / (h * h)) / np.pi
    sin_rho = 1.0 / h  # Earth's angular radius rho
    cos_blind = -sin_rho  # normal at 90 deg + rho from nadir
    above = f_side + (f_face - f_side) * np.clip(cos_nadir, 0.0, 1.0)
    below = f_side * np.clip((cos_nadir - cos_blind) / (0.0 - cos_blind), 0.0, 1.0)
    return np.where(cos_nadir >= 0.0, above, below)


def facing_factors(
    facing: str, r_sat_km: FloatArray, sun_unit: FloatArray, orbit_normal: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """(cosine of sun incidence clipped at 0, Earth view factor) for one facing, each (N,)."""
    r_km = np.linalg.norm(r_sat_km, axis=1)
    zenith = r_sat_km / r_km[:, None]
    sun_up = np.einsum("ij,ij->i", zenith, sun_unit)  # cos(sun angle from zenith)
    sun_normal = np.einsum("ij,ij->i", orbit_normal, sun_unit)
    zeros = np.zeros_like(r_km)
    ones = np.ones_like(r_km)
    if facing == "sun":
        return ones, _earth_view(-sun_up, r_km)
    if facing == "anti_sun":
        return zeros, _earth_view(sun_up, r_km)
    if facing == "zenith":
        return np.maximum(sun_up, 0.0), zeros
    if facing == "nadir":
        return np.maximum(-sun_up, 0.0), _earth_view(ones, r_km)
    if facing == "side":
        return zeros, _earth_view(zeros, r_km)
    if facing == "orbit_normal":
        return np.maximum(sun_normal, 0.0), _earth_view(zeros, r_km)
    if facing == "anti_orbit_normal":
        return np.maximum(-sun_normal, 0.0), _earth_view(zeros, r_km)
    raise ValueError(f"unknown facing {facing!r}")


def absorbed_w(
    env: EnvironmentSpec,
    area_m2: float,
    absorptivity: float,
    emissivity: float,
    cos_sun: FloatArray,
    earth_view: FloatArray,
    sun_frac: FloatArray,
    albedo_cos: FloatArray,
    flux_scale: FloatArray | float = 1.0,
) -> FloatArray:
    """Power (W) a surface absorbs from the sun, albedo and Earth IR (Kirchhoff: IR alpha=eps).

    ``flux_scale`` is the solar flux relative to 1 AU (:func:`hil.plant.sun.flux_scale`);
    it scales the direct sun and the albedo (reflected sunlight), not the Earth's own IR."""
    flux_w_m2 = env.solar_constant_w_m2 * flux_scale
    solar = flux_w_m2 * sun_frac * cos_sun
    albedo = flux_w_m2 * env.albedo * earth_view * albedo_cos
    infrared = env.earth_ir_w_m2 * earth_view
    return area_m2 * (absorptivity * (solar + albedo) + emissivity * infrared)
