"""Figures derived from a profile's physics: payload time constant, array and radiator size.

A profile may write ``area_m2 = "derive"`` for its array and radiator surfaces and give a
``[sizing]`` table; the areas are then computed here from first principles, so a large
concept (the orbital data-centre node) states its assumptions, not its answers:

- array: orbit-average load through the worst eclipse of the year, battery round trip
  efficiency, cell efficiency, packing, degradation and the hot-cell temperature factor;
- radiator: all electrical power ends as heat; a radiator at ``radiator_temp_c`` rejects
  eps sigma (T^4 - T_sink^4) per m^2 of surface, less the Earth IR and albedo it absorbs.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hil.plant.errors import ProfileError
from hil.plant.frames import unix_to_jd
from hil.plant.orbit import EARTH_RADIUS_KM, Orbit
from hil.plant.profile import Profile, SurfaceSpec, ThermalSpec
from hil.plant.shadow import beta_deg, cylindrical_eclipse_fraction
from hil.plant.sun import sun_position_km
from hil.plant.thermal import KELVIN, SIGMA, ThermalNetwork

SIZING_KEYS: dict[str, str] = {
    "radiator_temp_c": "design radiator temperature at full load",
    "array_temp_c": "array cell temperature in sunlight",
    "power_margin_frac": "extra array power over the requirement",
    "heat_margin_frac": "extra radiator capacity over the heat load",
}


def worst_eclipse_fraction(profile: Profile, days: int = 366) -> tuple[float, float]:
    """(min |beta| over a year in deg, cylindrical eclipse fraction at that beta)."""
    orbit = Orbit(profile.orbit, profile.epoch_utc_s)
    t = np.arange(days) * 86400.0
    r, normal = orbit.state(t)
    r_sun = sun_position_km(np.asarray(unix_to_jd(profile.epoch_utc_s + t), dtype=float))
    beta_min = float(np.min(np.abs(beta_deg(normal, r_sun))))
    alt = float(np.mean(np.linalg.norm(r, axis=1))) - EARTH_RADIUS_KM
    return beta_min, cylindrical_eclipse_fraction(alt, beta_min)


def side_view_factor(altitude_km: float) -> float:
    """View factor from a plate edge-on to nadir to the Earth (vertical plate to sphere)."""
    h = (EARTH_RADIUS_KM + altitude_km) / EARTH_RADIUS_KM
    root = math.sqrt(h * h - 1.0)
    return (math.atan(1.0 / root) - root / (h * h)) / math.pi


def derive_profile(profile: Profile, sizing: dict[str, float]) -> Profile:
    """Fill derived areas (if asked) and the derived figures every profile reports."""
    derived: dict[str, float] = {}
    surfaces = list(profile.thermal.surfaces)
    array = profile.array
    wants = math.isnan(array.area_m2) or any(math.isnan(s.area_m2) for s in surfaces)
    if wants:
        missing = [k for k in SIZING_KEYS if k not in sizing]
        if missing:
            raise ProfileError(
                f"'derive' needs a [sizing] table with {', '.join(missing)}",
                source=profile.source,
                key="sizing",
            )
    unknown = sorted(set(sizing) - set(SIZING_KEYS))
    if unknown:
        raise ProfileError(
            f"unknown key(s) {unknown}; valid: {', '.join(SIZING_KEYS)}",
            source=profile.source,
            key="sizing",
        )
    loads = profile.loads
    bus_w = loads.payload_max_w + loads.avionics_w + loads.radio_rx_w
    env = profile.environment
    if wants:
        beta_min, f_ecl = worst_eclipse_fraction(profile)
        eta_rt = profile.battery.charge_efficiency * profile.battery.discharge_efficiency
        sun_w = bus_w * (1.0 + f_ecl / ((1.0 - f_ecl) * eta_rt))
        temp_factor = 1.0 + array.temp_coeff_per_c * (sizing["array_temp_c"] - array.ref_temp_c)
        per_m2 = (
            env.solar_constant_w_m2
            * array.cell_efficiency
            * array.packing_factor
            * (1.0 - array.degradation_per_year) ** array.age_years
            * temp_factor
        )
        array_area = sun_w * (1.0 + sizing["power_margin_frac"]) / per_m2
        alt = profile.orbit.altitude_km
        f_side = side_view_factor(alt)
        rad_surfaces = [s for s in surfaces if s.node == "radiator" and math.isnan(s.area_m2)]
        if not rad_surfaces:
            raise ProfileError("no radiator surface to derive", source=profile.source, key="sizing")
        eps = rad_surfaces[0].emissivity
        alpha = rad_surfaces[0].absorptivity
        t_rad = sizing["radiator_temp_c"] + KELVIN
        emitted = eps * SIGMA * (t_rad**4 - profile.thermal.sink_temp_k**4)
        albedo_w_m2 = env.solar_constant_w_m2 * env.albedo * 0.5  # orbit-average cosine
        absorbed = f_side * (eps * env.earth_ir_w_m2 + alpha * albedo_w_m2)
        heat_w = bus_w * (1.0 + sizing["heat_margin_frac"])
        radiator_area = heat_w / (emitted - absorbed)
        derived.update(
            {
                "worst_beta_deg": beta_min,
                "worst_eclipse_frac": f_ecl,
                "array_power_required_w": sun_w,
                "array_area_m2": array_area,
                "array_w_per_m2": per_m2,
                "radiator_area_m2": radiator_area,
                "radiator_panel_area_two_sided_m2": radiator_area / 2.0,
                "radiator_heat_w": heat_w,
                "radiator_net_flux_w_per_m2": emitted - absorbed,
            }
        )
        if math.isnan(array.area_m2):
            array = replace(array, area_m2=array_area)
        n_rad = len(rad_surfaces)
        new_surfaces: list[SurfaceSpec] = []
        for s in surfaces:
            if not math.isnan(s.area_m2):
                new_surfaces.append(s)
            elif s.node == "radiator":
                new_surfaces.append(replace(s, area_m2=radiator_area / n_rad))
            elif s.node == "array":
                new_surfaces.append(replace(s, area_m2=array.area_m2))
            else:
                raise ProfileError(
                    "only array and radiator surfaces can be derived",
                    source=profile.source,
                    key=f"thermal.surfaces (node {s.node!r})",
                )
        surfaces = new_surfaces
    thermal = replace(profile.thermal, surfaces=tuple(surfaces))
    derived["payload_time_constant_s"] = _payload_time_constant_s(profile, thermal)
    derived["array_peak_w"] = (
        env.solar_constant_w_m2 * array.area_m2 * array.packing_factor * array.cell_efficiency
    )
    return replace(profile, array=array, thermal=thermal, derived=derived)


def _payload_time_constant_s(profile: Profile, thermal: ThermalSpec) -> float:
    net = ThermalNetwork(thermal)
    return net.time_constant_s("payload", profile.flight["payload_temp_target_c"])
