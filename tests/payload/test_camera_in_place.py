"""The camera renders in place (:func:`payload.camera.capture`): the same pixels as the
plain expressions it replaced, bit for bit.

Why this exists: the tile bank's five band renders were the largest item of the payload
socket thread's CPU after its start (~0.25 s of ~2 s in a 2-orbit sim), and every
fresh 4 MiB temporary of a render cost time. The in-place steps must not change one
pixel: a sim's archive, the bank shared by every incarnation and every benchmark's
inputs depend on them. The reference below is the render as it was written before
(whole-array expressions), kept here as the specification.
"""

from __future__ import annotations

import numpy as np
import pytest

from payload import camera
from payload.camera import Capture, entropy, sun_factor
from payload.tile_bank import BANK_SEED, band_mid_lat_deg


def _reference_surface_scene(rng: np.random.Generator, surface: np.ndarray,
                             secondary: np.ndarray) -> np.ndarray:
    n = len(surface)
    jitter = rng.uniform(0.85, 1.15, size=(n, 2, camera.N_BANDS)).astype(np.float32)
    main = camera._SURFACE_REFLECTANCE[surface] * jitter[:, 0]
    other = camera._SURFACE_REFLECTANCE[secondary] * jitter[:, 1]
    patch_frac = np.where(rng.random(n) < 0.5, rng.uniform(0.0, 0.5, size=n), 0.0)
    field = camera._smooth_field(rng, n, (4, 8))
    mix = (field >= camera._upper_quantile(field, patch_frac)[:, None, None]).astype(
        np.float32)
    texture = 1.0 + 0.18 * camera._smooth_field(rng, n, (8, 16))
    ground = ((1.0 - mix[:, None]) * main[:, :, None, None]
              + mix[:, None] * other[:, :, None, None]) * texture[:, None]
    return ground.astype(np.float32)


def _reference_cloud_spectrum(rng: np.random.Generator, n: int) -> np.ndarray:
    visible = rng.uniform(0.6, 0.92, size=n)
    swir_ratio = rng.uniform(0.45, 0.75, size=n)
    spectrum = np.stack([visible, visible * 1.01, visible * 1.03, visible * swir_ratio],
                        axis=1)
    texture = 1.0 + 0.08 * camera._smooth_field(rng, n, (8, 16))
    return (spectrum[:, :, None, None] * texture[:, None]).astype(np.float32)


def _reference_capture(n: int, seed: int, lat_deg: float, lon_deg: float) -> Capture:
    rng = np.random.default_rng(entropy(seed, lat_deg, lon_deg))
    surface, secondary = camera._pick_surfaces(rng, n, lat_deg)
    ground = _reference_surface_scene(rng, surface, secondary)
    alpha, mask = camera._cloud_layer(rng, n)
    cirrus = camera._cirrus_layer(rng, n)
    shift = tuple(int(v) for v in rng.integers(-4, 5, size=2))
    shadow = np.roll(alpha, shift, axis=(1, 2))
    shaded = ground * (1.0 - 0.55 * shadow * (1.0 - alpha))[:, None]
    cloud = _reference_cloud_spectrum(rng, n)
    scene = (1.0 - alpha[:, None]) * shaded + alpha[:, None] * cloud
    cirrus_spectrum = np.array([0.45, 0.46, 0.48, 0.22], dtype=np.float32)[None, :, None, None]
    scene = (1.0 - cirrus[:, None]) * scene + cirrus[:, None] * cirrus_spectrum
    gain = np.clip(sun_factor(lat_deg) + rng.normal(0.0, 0.06, size=n), 0.45,
                   1.1).astype(np.float32)
    scene = scene * gain[:, None, None, None]
    scene = scene + rng.normal(0.0, camera._SENSOR_NOISE, size=scene.shape).astype(np.float32)
    tiles = np.clip(scene, 0.0, 1.0).astype(np.float32)
    cloud_frac = mask.reshape(n, camera.TILE_PX * camera.TILE_PX).mean(axis=1).astype(
        np.float32)
    return Capture(tiles=tiles, cloud_frac=cloud_frac, cloud_mask=mask,
                   surface=surface.astype(np.int8))


CASES = [(camera.MAX_TILES_PER_CAPTURE, BANK_SEED + 1, band_mid_lat_deg(1), 0.0),
         (camera.MAX_TILES_PER_CAPTURE, BANK_SEED + 4, band_mid_lat_deg(4), 0.0),
         (0, 1, 0.0, 0.0), (1, 2, 89.9, 359.0), (37, 2**63 + 5, -45.5, -12.25)]


@pytest.mark.parametrize("n,seed,lat_deg,lon_deg", CASES)
def test_the_render_is_the_reference_bit_for_bit(n: int, seed: int, lat_deg: float,
                                                 lon_deg: float) -> None:
    got, want = camera.capture(n, seed, lat_deg, lon_deg), _reference_capture(
        n, seed, lat_deg, lon_deg)
    for name in ("tiles", "cloud_frac", "cloud_mask", "surface"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), name
        assert a.tobytes() == b.tobytes(), name
    assert got.tiles.flags.c_contiguous
