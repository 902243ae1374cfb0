"""A pre-rendered, seeded bank of camera tiles, so a job's cost is the inference.

Why: rendering synthetic tiles (:mod:`payload.camera`) took 73-75 % of every job (about
4.1 ms per 16 tiles against 1.2 ms of inference), so the payload measured the camera,
not the model, and the lockstep sim waited on it. A real imager hands the computer a
finished frame; the simulation should cost the computer no more than that.

The bank renders :data:`BANK_TILES` tiles once per latitude band (the bands of the
camera's surface odds), the first time a capture falls in that band, with a fixed seed:
the same bank in every process and every run. A capture then draws its tiles from the
band's bank: a window of ``n`` consecutive tiles (distinct within one capture) placed
by a generator seeded by ``(seed, lat_deg, lon_deg)``. Same inputs, same pixels and the
same ground truth, as with the camera itself; the cost is a view of the bank (a few
microseconds, no copy: onnxruntime reads the bank's memory) instead of a render
(milliseconds). The bank is never written to.

What is traded: the variety of the scene. Over a long sim the same tiles recur (256 per
band, in windows that overlap), lit as at the middle of their band (the camera
dims tiles continuously with latitude; the bank in five steps); the decision the
model has to make per tile is the camera's, with its labels.
"""

from __future__ import annotations

import math
import random
import threading

from payload.camera import (
    MAX_TILES_PER_CAPTURE,
    Capture,
    capture,
    entropy,
    latitude_band,
    latitude_band_edges_deg,
    n_latitude_bands,
)

BANK_TILES = MAX_TILES_PER_CAPTURE
"""Tiles rendered per latitude band: the largest capture draws each at most once."""
BANK_SEED = 0xA15A7
"""Seed of the bank's renders: fixed, so every payload incarnation holds the same bank."""


class TileBank:
    """Rendered tiles by latitude band; :meth:`capture` is the camera's drop-in."""

    def __init__(self, tiles_per_band: int = BANK_TILES, seed: int = BANK_SEED) -> None:
        if not 1 <= tiles_per_band <= MAX_TILES_PER_CAPTURE:
            raise ValueError(f"tiles_per_band must be in 1..{MAX_TILES_PER_CAPTURE}")
        self.tiles_per_band = tiles_per_band
        self.seed = seed
        self._bands: dict[int, Capture] = {}
        self._lock = threading.Lock()
        self.renders = 0
        """Bands rendered so far (each costs one full camera render)."""

    def band(self, lat_deg: float) -> Capture:
        """The bank of the band ``lat_deg`` falls in (rendered on first use)."""
        index = latitude_band(lat_deg)
        with self._lock:
            found = self._bands.get(index)
            if found is None:
                mid = band_mid_lat_deg(index)
                found = capture(self.tiles_per_band, self.seed + index, mid, 0.0)
                for array in (found.tiles, found.cloud_frac, found.cloud_mask, found.surface):
                    array.setflags(write=False)  # captures are views: nobody writes
                self._bands[index] = found
                self.renders += 1
            return found

    def prewarm(self) -> None:
        """Render every band now (a benchmark does this so it measures steady state)."""
        for index in range(n_latitude_bands()):
            self.band(band_mid_lat_deg(index))

    def capture(self, n_tiles: int, seed: int, lat_deg: float, lon_deg: float) -> Capture:
        """``n_tiles`` distinct tiles of the band, chosen by ``(seed, lat_deg, lon_deg)``."""
        if not 0 <= n_tiles <= self.tiles_per_band:
            raise ValueError(f"n_tiles must be in 0..{self.tiles_per_band}, got {n_tiles}")
        if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
            raise ValueError(f"lat_deg must be in -90..90, got {lat_deg}")
        if not math.isfinite(lon_deg):
            raise ValueError(f"lon_deg must be finite, got {lon_deg}")
        shot = self.band(lat_deg)
        seed_q, lat_q, lon_q = entropy(seed, lat_deg, lon_deg)
        # Python's generator: a tenth of numpy's set-up cost for one number, as
        # deterministic; and a window of consecutive tiles, a view (no copy): the bank's
        # tiles are independent draws of the camera, so any window is a fair capture
        start = random.Random((seed_q << 64 | lat_q) << 32 | lon_q).randrange(
            self.tiles_per_band - n_tiles + 1)
        window = slice(start, start + n_tiles)
        return Capture(tiles=shot.tiles[window], cloud_frac=shot.cloud_frac[window],
                       cloud_mask=shot.cloud_mask[window], surface=shot.surface[window])


def band_mid_lat_deg(index: int) -> float:
    """A latitude inside band ``index`` (the middle of its |latitude| range)."""
    edges = (0.0, *latitude_band_edges_deg())
    return (edges[index] + edges[index + 1]) / 2.0


_SHARED: TileBank | None = None
_SHARED_LOCK = threading.Lock()


def shared_bank() -> TileBank:
    """The process's one bank (rendered lazily, band by band)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = TileBank()
        return _SHARED
