"""The onboard camera: deterministic synthetic multispectral Earth-observation tiles.

There is no real imager in the simulation, so the payload "captures" tiles that look
enough like low-resolution EO data for cloud screening to be a real decision:

- four bands (:data:`BANDS`): red, green, blue and a short-wave infrared band
  (~1.6 um, like Sentinel-2 B11). SWIR is what separates snow from cloud: both are white
  in the visible, but snow absorbs at 1.6 um while water clouds stay bright. That makes
  snow/ice the classic hard case, as on real missions.
- surfaces: ocean, vegetation, desert, snow/ice, picked with latitude-dependent odds,
  with a second surface mixed in (coasts, patches) and texture;
- clouds: a multi-octave smooth field thresholded to an exact target cover, with soft
  edges (thin cloud that does not count as cover), optional cirrus veils that never
  count, cloud shadows offset along one sun direction per capture;
- illumination that falls with latitude, per-tile gain jitter and sensor noise.

The camera knows its ground truth (per-pixel cloud mask, cover fraction, label), which
is what lets a job count how many of the model's decisions were right. A tile is
*cloudy* when more than :data:`CLOUDY_COVER_FRAC` of it is covered, the rule ESA's
Phi-Sat-1 used to discard images before downlink.

Everything is vectorised numpy and depends only on ``(seed, lat_deg, lon_deg)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

BANDS = ("red", "green", "blue", "swir")
N_BANDS = len(BANDS)
TILE_PX = 32
CLOUDY_COVER_FRAC = 0.7
"""A tile more than this fraction covered by cloud is not worth downlinking."""
MAX_TILES_PER_CAPTURE = 256

FloatArray = npt.NDArray[np.float32]


class Surface(IntEnum):
    """What lies under the clouds in one tile."""

    OCEAN = 0
    VEGETATION = 1
    DESERT = 2
    SNOW = 3


# Mean reflectance per band (red, green, blue, swir); each tile jitters these by ~15 %.
_SURFACE_REFLECTANCE = np.array(
    [
        [0.04, 0.06, 0.09, 0.01],  # ocean: dark, bluish, black in SWIR
        [0.05, 0.09, 0.04, 0.18],  # vegetation
        [0.38, 0.30, 0.22, 0.50],  # desert: bright in SWIR too
        [0.80, 0.84, 0.88, 0.08],  # snow/ice: white in the visible, dark in SWIR
    ],
    dtype=np.float32,
)

# Odds of each surface (ocean, vegetation, desert, snow) by |latitude| band upper edge.
_SURFACE_ODDS_BY_LAT = (
    (15.0, (0.60, 0.32, 0.05, 0.03)),
    (35.0, (0.55, 0.15, 0.25, 0.05)),
    (45.0, (0.55, 0.30, 0.10, 0.05)),
    (65.0, (0.50, 0.28, 0.04, 0.18)),
    (90.0, (0.35, 0.05, 0.02, 0.58)),
)

_SENSOR_NOISE = 0.01
"""Standard deviation of the additive sensor noise, in reflectance units."""


@dataclass(frozen=True)
class Capture:
    """A batch of tiles from one pass, with the truth only the simulator knows."""

    tiles: FloatArray
    """Reflectance 0..1, float32, shape ``[n, 4, 32, 32]`` (bands as in :data:`BANDS`)."""
    cloud_frac: FloatArray
    """True fraction of each tile covered by cloud, ``[n]``."""
    cloud_mask: npt.NDArray[np.bool_]
    """True per-pixel cloud mask, ``[n, 32, 32]``."""
    surface: npt.NDArray[np.int8]
    """Main :class:`Surface` of each tile, ``[n]``."""

    @property
    def cloudy(self) -> npt.NDArray[np.bool_]:
        """Ground-truth label: more than :data:`CLOUDY_COVER_FRAC` covered."""
        return self.cloud_frac > CLOUDY_COVER_FRAC

    def __len__(self) -> int:
        return int(self.tiles.shape[0])


def capture(n_tiles: int, seed: int, lat_deg: float, lon_deg: float) -> Capture:
    """Capture ``n_tiles`` tiles over ``(lat_deg, lon_deg)``; same inputs, same pixels."""
    if not 0 <= n_tiles <= MAX_TILES_PER_CAPTURE:
        raise ValueError(f"n_tiles must be in 0..{MAX_TILES_PER_CAPTURE}, got {n_tiles}")
    if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise ValueError(f"lat_deg must be in -90..90, got {lat_deg}")
    if not math.isfinite(lon_deg):
        raise ValueError(f"lon_deg must be finite, got {lon_deg}")
    rng = np.random.default_rng(entropy(seed, lat_deg, lon_deg))
    n = n_tiles

    surface, secondary = _pick_surfaces(rng, n, lat_deg)
    ground = _surface_scene(rng, surface, secondary)
    alpha, mask = _cloud_layer(rng, n)
    cirrus = _cirrus_layer(rng, n)

    # Shadows fall on the ground away from the sun: one direction for the whole pass.
    shift = tuple(int(v) for v in rng.integers(-4, 5, size=2))
    shadow = np.roll(alpha, shift, axis=(1, 2))
    # The full-size [n, 4, 32, 32] steps below work in place on arrays this function
    # owns: the same float32 operations on the same operands as the expressions in the
    # comments (products and sums commute exactly), so the same pixels, without a fresh
    # 4 MiB temporary per step (a band of the tile bank renders ~30 % faster).
    # scene = ground * (1.0 - 0.55 * shadow * (1.0 - alpha))[:, None]
    scene = ground
    scene *= (1.0 - 0.55 * shadow * (1.0 - alpha))[:, None]

    # scene = (1.0 - alpha[:, None]) * scene + alpha[:, None] * cloud
    cloud = _cloud_spectrum(rng, n)
    scene *= (1.0 - alpha)[:, None]
    cloud *= alpha[:, None]
    scene += cloud
    # scene = (1.0 - cirrus[:, None]) * scene + cirrus[:, None] * cirrus_spectrum
    cirrus_spectrum = np.array([0.45, 0.46, 0.48, 0.22], dtype=np.float32)[None, :, None, None]
    scene *= (1.0 - cirrus)[:, None]
    scene += np.multiply(cirrus[:, None], cirrus_spectrum, out=cloud)

    # Lower sun at high latitude, plus per-tile gain jitter, plus sensor noise.
    sun = sun_factor(lat_deg)
    gain = np.clip(sun + rng.normal(0.0, 0.06, size=n), 0.45, 1.1).astype(np.float32)
    scene *= gain[:, None, None, None]
    scene += rng.normal(0.0, _SENSOR_NOISE, size=scene.shape).astype(np.float32)
    tiles = np.clip(scene, 0.0, 1.0, out=scene)

    cloud_frac = mask.reshape(n, TILE_PX * TILE_PX).mean(axis=1).astype(np.float32)
    return Capture(tiles=tiles, cloud_frac=cloud_frac, cloud_mask=mask,
                   surface=surface.astype(np.int8))


def sun_factor(lat_deg: float) -> float:
    """Illumination at ``lat_deg`` relative to the equator's (a lower sun further out)."""
    return 0.55 + 0.45 * math.cos(math.radians(lat_deg))


def latitude_band_edges_deg() -> tuple[float, ...]:
    """Upper |latitude| edges of the bands that share one set of surface odds."""
    return tuple(edge for edge, _odds in _SURFACE_ODDS_BY_LAT)


def n_latitude_bands() -> int:
    return len(_SURFACE_ODDS_BY_LAT)


def latitude_band(lat_deg: float) -> int:
    """Index of the band of surface odds ``lat_deg`` falls in."""
    return next(i for i, (edge, _odds) in enumerate(_SURFACE_ODDS_BY_LAT)
                if abs(lat_deg) <= edge)


def entropy(seed: int, lat_deg: float, lon_deg: float) -> list[int]:
    """Seed material for numpy: non-negative ints from the seed and the ground position.

    Positions are quantised to 1e-4 degree (~11 m) so that a float round trip through
    msgpack cannot change the pixels; longitude is wrapped to 0..360.
    """
    lat_q = round((lat_deg + 90.0) * 10_000)
    lon_q = round((lon_deg % 360.0) * 10_000) % 3_600_000
    return [seed % (1 << 64), lat_q, lon_q]


def _pick_surfaces(
    rng: np.random.Generator, n: int, lat_deg: float
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    odds = next(p for edge, p in _SURFACE_ODDS_BY_LAT if abs(lat_deg) <= edge)
    surface = rng.choice(len(Surface), size=n, p=odds)
    secondary = rng.choice(len(Surface), size=n, p=odds)
    return surface, secondary


def _surface_scene(
    rng: np.random.Generator, surface: npt.NDArray[np.intp], secondary: npt.NDArray[np.intp]
) -> FloatArray:
    """Ground reflectance ``[n, 4, 32, 32]``: two surfaces mixed by a smooth field."""
    n = len(surface)
    jitter = rng.uniform(0.85, 1.15, size=(n, 2, N_BANDS)).astype(np.float32)
    main = _SURFACE_REFLECTANCE[surface] * jitter[:, 0]
    other = _SURFACE_REFLECTANCE[secondary] * jitter[:, 1]
    # Half of the tiles have a patch of a second surface covering up to half of them.
    patch_frac = np.where(rng.random(n) < 0.5, rng.uniform(0.0, 0.5, size=n), 0.0)
    field = _smooth_field(rng, n, (4, 8))
    mix = (field >= _upper_quantile(field, patch_frac)[:, None, None]).astype(np.float32)
    texture = 1.0 + 0.18 * _smooth_field(rng, n, (8, 16))
    # ((1 - mix) * main + mix * other) * texture, in place after the first product
    ground = (1.0 - mix[:, None]) * main[:, :, None, None]
    ground += mix[:, None] * other[:, :, None, None]
    ground *= texture[:, None]
    return ground


def _cloud_layer(
    rng: np.random.Generator, n: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Cloud opacity ``[n, 32, 32]`` in 0..1 and the mask of pixels that count as cloud.

    Cover targets are drawn so that both labels are common and a fair share of tiles sits
    near the 70 % rule (the genuinely ambiguous ones). A pixel counts as cloud when its
    opacity is at least 0.5; the soft edges below that are thin cloud the model has to
    see through.
    """
    kind = rng.random(n)
    cover = np.where(
        kind < 0.15, 0.0,
        np.where(kind < 0.40, rng.uniform(0.0, 0.35, size=n),
                 np.where(kind < 0.62, rng.uniform(0.35, 0.7, size=n),
                          rng.uniform(0.7, 1.0, size=n))),
    )
    field = _smooth_field(rng, n, (3, 6, 12))
    threshold = _upper_quantile(field, cover)
    edge_width = rng.uniform(0.3, 1.2, size=n)
    alpha = np.clip(0.5 + (field - threshold[:, None, None]) / edge_width[:, None, None],
                    0.0, 1.0).astype(np.float32)
    mask = field >= threshold[:, None, None]
    return alpha, mask


def _cirrus_layer(rng: np.random.Generator, n: int) -> FloatArray:
    """Thin cirrus veils over about a third of the tiles (opacity <= 0.35, never cover)."""
    has = rng.random(n) < 0.33
    strength = np.where(has, rng.uniform(0.08, 0.35, size=n), 0.0)
    field = np.clip(0.6 + 0.4 * _smooth_field(rng, n, (2, 4)), 0.0, 1.0)
    return (field * strength[:, None, None]).astype(np.float32)


def _cloud_spectrum(rng: np.random.Generator, n: int) -> FloatArray:
    """Cloud-top reflectance ``[n, 4, 32, 32]``: white, textured, bright-ish in SWIR."""
    visible = rng.uniform(0.6, 0.92, size=n)
    swir_ratio = rng.uniform(0.45, 0.75, size=n)  # water clouds high, icy tops lower
    spectrum = np.stack([visible, visible * 1.01, visible * 1.03, visible * swir_ratio], axis=1)
    texture = 1.0 + 0.08 * _smooth_field(rng, n, (8, 16))
    # computed in float64 (spectrum's type), rounded to float32 as it is written
    out = np.empty((n, N_BANDS, TILE_PX, TILE_PX), dtype=np.float32)
    return np.multiply(spectrum[:, :, None, None], texture[:, None], out=out,
                       casting="same_kind")


def _upper_quantile(field: FloatArray, frac: npt.ArrayLike) -> FloatArray:
    """Per-tile threshold above which ``frac`` of the pixels lie (+inf for frac 0)."""
    n = field.shape[0]
    flat = np.sort(field.reshape(n, TILE_PX * TILE_PX), axis=1)
    n_px = flat.shape[1]
    frac_arr = np.broadcast_to(np.asarray(frac, dtype=np.float64), (n,))
    idx = np.clip(np.rint((1.0 - frac_arr) * n_px).astype(np.intp), 0, n_px)
    padded = np.concatenate([flat, np.full((n, 1), np.inf, dtype=flat.dtype)], axis=1)
    return padded[np.arange(n), idx]


def _smooth_field(rng: np.random.Generator, n: int, cells: tuple[int, ...]) -> FloatArray:
    """Zero-mean, unit-std smooth noise ``[n, 32, 32]``: octaves of upsampled grids."""
    total = np.zeros((n, TILE_PX, TILE_PX), dtype=np.float32)
    for octave, k in enumerate(cells):
        grid = rng.standard_normal((n, k, k)).astype(np.float32)
        up = _upsampler(k)
        total += (0.5**octave) * np.matmul(np.matmul(up, grid), up.T)
    mean = total.mean(axis=(1, 2), keepdims=True)
    std = total.std(axis=(1, 2), keepdims=True) + 1e-6
    return ((total - mean) / std).astype(np.float32)


_UPSAMPLERS: dict[int, FloatArray] = {}


def _upsampler(cells: int) -> FloatArray:
    """Linear-interpolation matrix ``[32, cells]`` from a coarse grid to tile pixels."""
    if cells not in _UPSAMPLERS:
        pos = np.linspace(0.0, cells - 1.0, TILE_PX)
        lo = np.minimum(np.floor(pos).astype(np.intp), max(cells - 2, 0))
        frac = pos - lo
        up = np.zeros((TILE_PX, cells), dtype=np.float32)
        up[np.arange(TILE_PX), lo] += (1.0 - frac).astype(np.float32)
        if cells > 1:
            up[np.arange(TILE_PX), lo + 1] += frac.astype(np.float32)
        _UPSAMPLERS[cells] = up
    return _UPSAMPLERS[cells]
