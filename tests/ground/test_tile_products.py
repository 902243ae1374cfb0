"""The ground rebuilds an operator job's tiles from its products and writes valid PNGs
(checked by an independent decoder, Pillow, which matplotlib depends on)."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from flightsw.harness import Harness
from flightsw.wire import Kind, Sequencer
from ground import png
from ground.archive import Archive
from ground.cli import main as ground_cli
from ground.mission_control import MissionControl
from ground.tile_products import (
    SUMMARY_HEADER,
    collect,
    products_report,
    summary_row,
    write_pngs,
)

from .conftest import DICTIONARY


def test_png_is_valid_with_the_right_size_and_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, size=(32, 48, 3), dtype=np.uint8)
    path = png.write(tmp_path / "x.png", rgb.tobytes(), 48, 32, 3)
    data = path.read_bytes()
    assert data[:8] == png.SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    assert struct.unpack(">II", data[16:24]) == (48, 32)
    assert zlib.crc32(data[12:29]) == struct.unpack(">I", data[29:33])[0]
    with Image.open(path) as img:
        assert img.size == (48, 32) and img.mode == "RGB"
        assert np.array_equal(np.asarray(img), rgb)


def test_grey_png_round_trips(tmp_path: Path) -> None:
    grey = bytes(range(256)) * 4
    with Image.open(png.write(tmp_path / "g.png", grey, 32, 32, 1)) as img:
        assert img.mode == "L" and img.tobytes() == grey


@pytest.mark.parametrize(("size", "w", "h", "c"), [(10, 2, 2, 3), (4, 2, 2, 2), (0, 0, 1, 1)])
def test_bad_pixels_are_refused(size: int, w: int, h: int, c: int) -> None:
    with pytest.raises(png.PngError):
        png.encode(bytes(size), w, h, c)


def test_a_jobs_tiles_from_the_harness_become_pngs(tmp_path: Path) -> None:
    """Flight products, as downlinked, to files on the ground."""
    h = Harness()
    h.run(12)
    h.command("jobs.capture", n_tiles=6, priority=1, deadline_s=0.0, tiles=True)
    h.run(12)
    jobs = collect(h.products())
    job = jobs[1]
    assert job.summary is not None and job.summary["status"] == "done"
    assert sorted(job.tiles) == [0, 1, 2] and not job.parts_missing and not job.bad
    files = write_pngs(job, tmp_path / "out")
    assert [f.name for f in files[:2]] == ["job1_tile0_rgb.png", "job1_tile0_swir.png"]
    with Image.open(files[0]) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
        red = np.frombuffer(job.tiles[0][:1024], dtype=np.uint8).reshape(32, 32)
        assert np.array_equal(np.asarray(img)[:, :, 0], red)
    row = summary_row(job)
    assert len(row) == len(SUMMARY_HEADER) and row[1] == "done" and row[6] == "50.0 %"


def test_missing_parts_and_broken_tiles_are_said() -> None:
    tile = base64.b64encode(zlib.compress(bytes(4096))).decode()
    bodies: list[dict[str, Any]] = [
              {"product": "job", "job_id": 7, "status": "done", "tile_parts": 2,
               "tiles_sent": 3},
              {"product": "tiles", "job_id": 7, "part": 2, "format": "zlib-uint8-4x32x32",
               "tiles": [{"index": 5, "data": tile}, {"index": 6, "data": "!!"}]},
              {"jobs": 3}]  # a routine product: not a job's
    (job,) = collect(bodies).values()
    assert job.parts_missing == [1] and sorted(job.tiles) == [5]
    assert len(job.bad) == 1 and "part 2" in job.bad[0]
    assert "parts 1 not yet down" in summary_row(job)[5]


def test_products_report_lists_jobs_and_writes_the_pngs(tmp_path: Path) -> None:
    h = Harness()
    h.run(12)
    h.command("jobs.capture", n_tiles=4, priority=1, deadline_s=0.0, tiles=True)
    h.command("jobs.capture", n_tiles=2, priority=0, deadline_s=0.0, tiles=False)
    h.run(20)
    lines = products_report(h.products(), tmp_path / "png")
    assert lines[0].split()[:2] == ["JOB", "STATUS"]
    assert lines[1].split()[:2] == ["1", "done"] and lines[2].split()[:2] == ["2", "done"]
    assert lines[-1] == f"4 PNG files written to {tmp_path / 'png'}"  # 2 tiles, rgb + swir
    assert sorted(p.name for p in (tmp_path / "png").iterdir())[0] == "job1_tile0_rgb.png"
    assert products_report([], None) == ["(no operator job products)"]


def test_aisat_ground_products_out_writes_a_stopped_runs_job_tiles(tmp_path: Path) -> None:
    """Through the CLI: the products a harness flight downlinked, archived by mission
    control, then ``aisat ground products --out DIR`` on the stopped run."""
    h = Harness()
    h.run(12)
    h.command("jobs.capture", n_tiles=4, priority=1, deadline_s=0.0, tiles=True)
    h.run(12)
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "archive.sqlite"))
    seq = Sequencer("flight")
    for env in h.downlink:
        if env.kind is Kind.RESULT:
            mc.on_frame(seq.pack(Kind.RESULT, env.time_s, env.body), env.time_s)
    mc.archive.close()
    out = io.StringIO()
    assert ground_cli(["products", "--run-dir", str(tmp_path), "--out",
                       str(tmp_path / "png")], out=out) == 0
    text = out.getvalue()
    assert "JOB  STATUS" in text and "4 PNG files written to" in text
    with Image.open(tmp_path / "png" / "job1_tile1_rgb.png") as img:
        assert img.size == (32, 32)
    plain = io.StringIO()  # without --out and without jobs: the listing alone, as before
    empty = tmp_path / "empty"
    empty.mkdir()
    Archive(empty / "archive.sqlite").close()
    assert ground_cli(["products", "--run-dir", str(empty)], out=plain) == 0
    assert "JOB" not in plain.getvalue()
