"""Everything about the spacecraft's surroundings that does not depend on what it does.

Orbit position, sun, shadow, beta angle, station elevations and the radiation each
thermal node absorbs depend only on time, so they are computed vectorised in chunks
ahead of time and the per-step loop only looks them up (plain Python lists: indexing a
list is several times faster than indexing a numpy array element by element).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hil.plant.contacts import StationNetwork
from hil.plant.environment import absorbed_w, facing_factors
from hil.plant.frames import FloatArray, ecef_to_geodetic, eci_to_ecef, gmst_rad, unix_to_jd
from hil.plant.orbit import Orbit
from hil.plant.profile import Profile
from hil.plant.shadow import beta_deg, sun_fraction, umbra_margin_rad
from hil.plant.sun import flux_scale, sun_position_km

_ARRAY_FACING = {"sun_tracking": "sun", "zenith": "zenith", "orbit_normal": "orbit_normal"}


@dataclass(frozen=True)
class Geometry:
    """Time-only quantities at N sample times (seconds since the epoch)."""

    t_s: FloatArray
    r_eci_km: FloatArray  # (N,3)
    sun_frac: FloatArray  # lit fraction of the sun's disc
    umbra_margin_rad: FloatArray  # < 0 in umbra
    beta_deg: FloatArray
    lat_deg: FloatArray
    lon_deg: FloatArray
    alt_km: FloatArray
    elevation_deg: FloatArray  # (S, N)
    array_base_w: FloatArray  # array electrical power at the reference temperature
    flux_scale: FloatArray  # solar flux relative to its 1 AU mean (Sun-Earth distance)
    env_w: FloatArray  # (nodes, N) absorbed sun + albedo + Earth IR per thermal node


class Ephemeris:
    """Vectorised sampling of the geometry for one profile and epoch."""

    def __init__(self, profile: Profile, epoch_utc_s: float) -> None:
        self.profile = profile
        self.epoch_utc_s = epoch_utc_s
        self.orbit = Orbit(profile.orbit, epoch_utc_s)
        self.network = StationNetwork(profile.stations)
        self.node_names = [n.name for n in profile.thermal.nodes]
        arr = profile.array
        years = arr.age_years
        # at 1 AU (the solar constant is the 1 AU mean); each sample scales it by the
        # inverse square of that moment's Sun-Earth distance
        self.array_peak_w = (
            profile.environment.solar_constant_w_m2
            * arr.area_m2
            * arr.packing_factor
            * arr.cell_efficiency
            * (1.0 - arr.degradation_per_year) ** years
        )

    def sample(self, t_s: FloatArray) -> Geometry:
        t_s = np.asarray(t_s, dtype=float)
        r, normal = self.orbit.state(t_s)
        jd = np.asarray(unix_to_jd(self.epoch_utc_s + t_s), dtype=float)
        r_sun = sun_position_km(jd)
        sun_dist_km = np.linalg.norm(r_sun, axis=1)
        sun_unit = r_sun / sun_dist_km[:, None]
        flux = flux_scale(sun_dist_km)  # the Sun-Earth distance: +3.4 % Jan, -3.3 % Jul
        frac = sun_fraction(r, r_sun)
        r_ecef = eci_to_ecef(r, np.asarray(gmst_rad(jd), dtype=float))
        lat, lon, alt = ecef_to_geodetic(r_ecef)
        zenith = r / np.linalg.norm(r, axis=1)[:, None]
        albedo_cos = np.maximum(np.einsum("ij,ij->i", zenith, sun_unit), 0.0)

        env = self.profile.environment
        env_w = np.zeros((len(self.node_names), len(t_s)))
        cache: dict[str, tuple[FloatArray, FloatArray]] = {}
        for surface in self.profile.thermal.surfaces:
            if surface.facing not in cache:
                cache[surface.facing] = facing_factors(surface.facing, r, sun_unit, normal)
            cos_sun, view = cache[surface.facing]
            env_w[self.node_names.index(surface.node)] += absorbed_w(
                env,
                surface.area_m2,
                surface.absorptivity,
                surface.emissivity,
                cos_sun,
                view,
                frac,
                albedo_cos,
                flux,
            )
        array_facing = _ARRAY_FACING[self.profile.array.mounting]
        array_cos, _ = facing_factors(array_facing, r, sun_unit, normal)
        return Geometry(
            t_s=t_s,
            r_eci_km=r,
            sun_frac=frac,
            umbra_margin_rad=umbra_margin_rad(r, r_sun),
            beta_deg=beta_deg(normal, r_sun),
            lat_deg=lat,
            lon_deg=lon,
            alt_km=alt,
            elevation_deg=self.network.elevations_deg(r_ecef),
            array_base_w=self.array_peak_w * flux * frac * array_cos,
            flux_scale=flux,
            env_w=env_w,
        )


class Chunk:
    """One block of the fine grid as plain lists, for the per-step lookup."""

    def __init__(self, geo: Geometry, network: StationNetwork) -> None:
        visible = geo.elevation_deg >= network.masks_deg[:, None]
        masked = np.where(visible, geo.elevation_deg, -np.inf)
        best = np.argmax(masked, axis=0)
        any_visible = visible.any(axis=0)
        self.station_idx: list[int] = np.where(any_visible, best, -1).tolist()
        cols = np.arange(geo.elevation_deg.shape[1])
        self.best_elev_deg: list[float] = geo.elevation_deg[best, cols].tolist()
        self.sun_frac: list[float] = geo.sun_frac.tolist()
        self.array_base_w: list[float] = geo.array_base_w.tolist()
        self.env_w: list[list[float]] = geo.env_w.T.tolist()
        self.lat_deg: list[float] = geo.lat_deg.tolist()
        self.lon_deg: list[float] = geo.lon_deg.tolist()
        self.alt_km: list[float] = geo.alt_km.tolist()
        self.beta_deg: list[float] = geo.beta_deg.tolist()


class FineGrid:
    """Geometry on a regular grid (default 1 s), computed chunk by chunk as time advances."""

    def __init__(self, ephemeris: Ephemeris, step_s: float = 1.0, chunk_len: int = 3600) -> None:
        self.ephemeris = ephemeris
        self.step_s = step_s
        self.chunk_len = chunk_len
        self._chunks: dict[int, Chunk] = {}

    def locate(self, t_s: float) -> tuple[Chunk, int]:
        """The chunk and index within it of the grid sample at or before ``t_s``."""
        k = math.floor(t_s / self.step_s + 1e-9)
        c, i = divmod(k, self.chunk_len)
        chunk = self._chunks.get(c)
        if chunk is None:
            chunk = self._build(c)
        return chunk, i

    def _build(self, c: int) -> Chunk:
        for old in [k for k in self._chunks if k < c - 1]:
            del self._chunks[old]  # keep memory bounded on long runs
        t = (c * self.chunk_len + np.arange(self.chunk_len)) * self.step_s
        chunk = Chunk(self.ephemeris.sample(t), self.ephemeris.network)
        self._chunks[c] = chunk
        return chunk
