"""The ground's side of an operator job's products: list the jobs, rebuild their tiles,
write them as PNG files.

The flight defines the products (:mod:`flightsw.job_products`); the archive keeps each
as a JSON body. A job's tiles may come in several parts, in any order, some perhaps
still on board (the recorder sends products after events, and a pass can end between
two parts): :func:`collect` puts together what has arrived and says what is missing.

Each tile is written twice: ``job<J>_tile<I>_rgb.png`` (red, green, blue) and
``job<J>_tile<I>_swir.png`` (the short-wave infrared band as grey, the band that
tells snow from cloud), 32 x 32 pixels, reflectance x 255.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.job_products import TILE_FORMAT
from ground import png

SCAN_LIMIT = 1_000_000
"""Products read to find the jobs' (routine products are small: a long run is fine)."""
TILE_PX = 32
BANDS = 4
TILE_BYTES = BANDS * TILE_PX * TILE_PX


@dataclass
class JobTiles:
    """What the ground holds of one job."""

    job_id: int
    summary: dict[str, Any] | None = None  # the ``job`` product, once it has arrived
    tiles: dict[int, bytes] = field(default_factory=dict)  # tile index -> uint8 [4,32,32]
    parts_seen: set[int] = field(default_factory=set)
    bad: list[str] = field(default_factory=list)  # tiles that could not be decoded

    @property
    def parts_missing(self) -> list[int]:
        parts = int(self.summary.get("tile_parts", 0)) if self.summary else 0
        return [k for k in range(1, parts + 1) if k not in self.parts_seen]


def decode_tile(data: str) -> bytes:
    """One downlinked tile (base64 of zlib of uint8 ``[4, 32, 32]``) back to its bytes."""
    raw = zlib.decompress(base64.b64decode(data.encode("ascii"), validate=True))
    if len(raw) != TILE_BYTES:
        raise ValueError(f"tile holds {len(raw)} bytes, expected {TILE_BYTES}")
    return raw


def collect(bodies: Iterable[Mapping[str, Any]]) -> dict[int, JobTiles]:
    """Job products and tile parts gathered by job (other products are ignored)."""
    jobs: dict[int, JobTiles] = {}
    for body in bodies:
        kind, job_id = body.get("product"), body.get("job_id")
        if kind not in ("job", "tiles") or not isinstance(job_id, int):
            continue
        entry = jobs.setdefault(job_id, JobTiles(job_id))
        if kind == "job":
            entry.summary = dict(body)
            continue
        part = body.get("part")
        if isinstance(part, int):
            entry.parts_seen.add(part)
        if body.get("format") != TILE_FORMAT:
            entry.bad.append(f"part {part}: unknown format {body.get('format')!r}")
            continue
        for tile in body.get("tiles") or []:
            try:
                entry.tiles[int(tile["index"])] = decode_tile(str(tile["data"]))
            except (KeyError, TypeError, ValueError, binascii.Error, zlib.error) as exc:
                entry.bad.append(f"part {part}: {type(exc).__name__}: {exc}")
    return jobs


def rgb_and_swir(raw: bytes) -> tuple[bytes, bytes]:
    """A tile's pixels as interleaved red-green-blue and as the SWIR band alone (grey)."""
    plane = TILE_PX * TILE_PX
    red, green, blue, swir = (raw[b * plane:(b + 1) * plane] for b in range(BANDS))
    return bytes(v for px in zip(red, green, blue, strict=True) for v in px), swir


def write_pngs(job: JobTiles, out_dir: Path) -> list[Path]:
    """Write every tile of ``job`` held so far; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index in sorted(job.tiles):
        rgb, swir = rgb_and_swir(job.tiles[index])
        stem = out_dir / f"job{job.job_id}_tile{index}"
        written.append(png.write(stem.with_name(stem.name + "_rgb.png"), rgb, TILE_PX,
                                 TILE_PX, 3))
        written.append(png.write(stem.with_name(stem.name + "_swir.png"), swir, TILE_PX,
                                 TILE_PX, 1))
    return written


def summary_row(job: JobTiles) -> list[str]:
    """One line of ``aisat ground products --jobs``: the job's end and what it sent."""
    s = job.summary or {}
    acc = s.get("accuracy")
    saved = s.get("downlink_saved_frac")
    audit = s.get("audit") or {}
    missing = job.parts_missing
    held = f"{len(job.tiles)}/{s.get('tiles_sent', '?')}"
    if missing:
        held += f" (parts {','.join(map(str, missing))} not yet down)"
    return [str(job.job_id), str(s.get("status", "(tiles only: job product not yet "
                                               "down)")),
            str(s.get("reason") or ""), str(s.get("n_tiles", "")),
            "" if acc is None else f"{acc * 100:.1f} %",
            held, "" if saved is None else f"{saved * 100:.1f} %",
            str(audit.get("integrity", ""))]


SUMMARY_HEADER = ["JOB", "STATUS", "REASON", "TILES", "ACCURACY", "TILES HELD",
                  "DOWNLINK SAVED", "INTEGRITY"]


def products_report(bodies: Iterable[Mapping[str, Any]], out_dir: Path | None) -> list[str]:
    """``aisat ground products --out DIR``'s job part: a table of the operator jobs the
    archive holds and, with ``out_dir``, their tiles written as PNG (lines to print)."""
    jobs = collect(bodies)
    if not jobs:
        return ["(no operator job products)"]
    rows = [SUMMARY_HEADER] + [summary_row(jobs[j]) for j in sorted(jobs)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    for job_id in sorted(jobs):
        for problem in jobs[job_id].bad:
            lines.append(f"job {job_id}: tile not decoded: {problem}")
    if out_dir is not None:
        n = sum(len(write_pngs(jobs[j], out_dir)) for j in sorted(jobs) if jobs[j].tiles)
        lines.append(f"{n} PNG files written to {out_dir}")
    return lines


def has_jobs(bodies: Iterable[Mapping[str, Any]]) -> bool:
    return any(b.get("product") in ("job", "tiles") for b in bodies)
