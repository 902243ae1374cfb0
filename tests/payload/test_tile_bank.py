"""The tile bank: deterministic, distinct tiles per capture, the camera's own truth."""

from __future__ import annotations

import numpy as np
import pytest

from payload.camera import MAX_TILES_PER_CAPTURE, capture, latitude_band
from payload.tile_bank import TileBank, band_mid_lat_deg


@pytest.fixture(scope="module")
def bank() -> TileBank:
    return TileBank(tiles_per_band=64)


def test_same_inputs_same_tiles(bank: TileBank) -> None:
    a = bank.capture(16, 7, 48.1, 11.6)
    b = TileBank(tiles_per_band=64).capture(16, 7, 48.1, 11.6)
    assert np.array_equal(a.tiles, b.tiles)
    assert np.array_equal(a.cloudy, b.cloudy)


def test_other_seed_or_place_other_tiles(bank: TileBank) -> None:
    base = bank.capture(16, 7, 48.1, 11.6).tiles
    assert not np.array_equal(base, bank.capture(16, 8, 48.1, 11.6).tiles)
    assert not np.array_equal(base, bank.capture(16, 7, 48.1, 12.6).tiles)


def test_tiles_are_the_cameras_with_their_truth(bank: TileBank) -> None:
    """Every banked tile is a camera render of its band, with that render's labels."""
    lat = 48.1
    rendered = capture(64, bank.seed + latitude_band(lat), band_mid_lat_deg(latitude_band(lat)),
                       0.0)
    shot = bank.capture(20, 3, lat, 0.0)
    for tile, frac in zip(shot.tiles, shot.cloud_frac, strict=True):
        (hit,) = np.flatnonzero((rendered.tiles == tile).all(axis=(1, 2, 3)))
        assert rendered.cloud_frac[hit] == frac
    assert len({t.tobytes() for t in shot.tiles}) == 20  # distinct within a capture


def test_one_render_per_band(bank: TileBank) -> None:
    before = bank.renders
    bank.capture(4, 1, 50.0, 0.0)
    bank.capture(4, 2, 55.0, 0.0)  # same band
    assert bank.renders - before <= 1
    bank.capture(4, 1, -80.0, 0.0)  # the polar band
    assert bank.renders - before <= 2


@pytest.mark.parametrize(("n", "lat", "lon"), [(-1, 0.0, 0.0), (65, 0.0, 0.0),
                                               (4, 91.0, 0.0), (4, float("nan"), 0.0),
                                               (4, 0.0, float("inf"))])
def test_bad_capture_refused(bank: TileBank, n: int, lat: float, lon: float) -> None:
    with pytest.raises(ValueError):
        bank.capture(n, 1, lat, lon)


def test_full_size_bank_serves_the_largest_capture() -> None:
    shot = TileBank().capture(MAX_TILES_PER_CAPTURE, 1, 0.0, 0.0)
    assert shot.tiles.shape == (MAX_TILES_PER_CAPTURE, 4, 32, 32)
    assert shot.tiles.dtype == np.float32 and shot.tiles.flags["C_CONTIGUOUS"]
