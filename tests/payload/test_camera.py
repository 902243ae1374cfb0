"""The synthetic camera: same inputs give the same pixels, and both labels are common."""

from __future__ import annotations

import numpy as np
import pytest

from payload.camera import (
    CLOUDY_COVER_FRAC,
    MAX_TILES_PER_CAPTURE,
    N_BANDS,
    TILE_PX,
    Surface,
    capture,
)


def test_same_seed_and_place_give_identical_tiles() -> None:
    a = capture(32, seed=11, lat_deg=48.1, lon_deg=11.6)
    b = capture(32, seed=11, lat_deg=48.1, lon_deg=11.6)
    assert np.array_equal(a.tiles, b.tiles)
    assert np.array_equal(a.cloud_frac, b.cloud_frac)
    assert np.array_equal(a.surface, b.surface)


@pytest.mark.parametrize("other", [(12, 48.1, 11.6), (11, 48.2, 11.6), (11, 48.1, 11.7)])
def test_seed_and_position_each_change_the_tiles(other: tuple[int, float, float]) -> None:
    base = capture(8, seed=11, lat_deg=48.1, lon_deg=11.6)
    seed, lat, lon = other
    assert not np.array_equal(base.tiles, capture(8, seed, lat, lon).tiles)


def test_longitude_wraps() -> None:
    assert np.array_equal(capture(4, 1, 10.0, -170.0).tiles, capture(4, 1, 10.0, 190.0).tiles)


def test_tiles_are_float32_reflectance_of_the_declared_shape() -> None:
    shot = capture(16, seed=3, lat_deg=0.0, lon_deg=0.0)
    assert shot.tiles.shape == (16, N_BANDS, TILE_PX, TILE_PX)
    assert shot.tiles.dtype == np.float32
    assert shot.tiles.min() >= 0.0 and shot.tiles.max() <= 1.0
    assert len(shot) == 16


def test_cloud_fraction_is_the_mean_of_the_mask_and_sets_the_label() -> None:
    shot = capture(64, seed=5, lat_deg=30.0, lon_deg=-40.0)
    assert np.allclose(shot.cloud_frac, shot.cloud_mask.mean(axis=(1, 2)))
    assert np.array_equal(shot.cloudy, shot.cloud_frac > CLOUDY_COVER_FRAC)


def test_labels_are_balanced_enough_to_learn_from() -> None:
    fracs = [capture(64, seed, lat, 0.0).cloudy.mean()
             for seed, lat in enumerate(np.linspace(-80, 80, 12))]
    cloudy = float(np.mean(fracs))
    assert 0.25 < cloudy < 0.55, cloudy


def test_snow_is_common_near_the_poles_and_rare_in_the_tropics() -> None:
    polar = capture(MAX_TILES_PER_CAPTURE, seed=1, lat_deg=75.0, lon_deg=0.0)
    tropic = capture(MAX_TILES_PER_CAPTURE, seed=1, lat_deg=5.0, lon_deg=0.0)
    assert np.mean(polar.surface == Surface.SNOW) > 0.4
    assert np.mean(tropic.surface == Surface.SNOW) < 0.1


def test_snow_is_white_but_dark_in_swir_while_cloud_stays_bright() -> None:
    """The physics the model relies on: SWIR separates snow from cloud."""
    shot = capture(MAX_TILES_PER_CAPTURE, seed=2, lat_deg=80.0, lon_deg=0.0)
    snow_px = (shot.surface == Surface.SNOW)[:, None, None] & ~shot.cloud_mask
    cloud_px = shot.cloud_mask
    red, swir = shot.tiles[:, 0], shot.tiles[:, 3]
    assert red[snow_px].mean() > 0.4
    assert swir[snow_px].mean() < 0.15
    assert swir[cloud_px].mean() > 0.25


def test_empty_capture() -> None:
    shot = capture(0, seed=1, lat_deg=0.0, lon_deg=0.0)
    assert shot.tiles.shape == (0, N_BANDS, TILE_PX, TILE_PX)


@pytest.mark.parametrize(
    ("n", "lat", "lon"),
    [(-1, 0.0, 0.0), (MAX_TILES_PER_CAPTURE + 1, 0.0, 0.0), (1, 91.0, 0.0),
     (1, float("nan"), 0.0), (1, 0.0, float("inf"))],
)
def test_out_of_range_requests_raise(n: int, lat: float, lon: float) -> None:
    with pytest.raises(ValueError):
        capture(n, seed=1, lat_deg=lat, lon_deg=lon)
