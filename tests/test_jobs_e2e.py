"""End to end: operator jobs on the real stack (plant, executive, payload with the real
model, ground), through the operator scripting API: a capture job's per-tile results,
tiles and audit record reach the ground archive, and the ground writes its tiles as
PNG; a tensor sent up is classified."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flightsw import job_tensor
from ground.api import Ops
from ground.tile_products import collect, write_pngs
from hil.stack import Stack

pytestmark = pytest.mark.e2e


# the ``stack`` fixture (tests/conftest.py): this module's own lockstep stack, before a pass


def test_jobs_reach_the_ground_archive_with_tiles_and_audit(stack: Stack,
                                                            tmp_path: Path) -> None:
    with Ops(stack.info.run_dir) as ops:
        ops.wait_tlm("payload.state", lambda v: v == "ready", timeout_s=90)
        start = ops.mark()
        queued = ops.cmd("jobs.capture", n_tiles=16, priority=5, deadline_s=0.0, tiles=True,
                         timeout_s=60)
        assert queued.reason.startswith("job 1 queued")
        tiles = np.full((2, 4, 32, 32), 12, dtype=np.uint8)
        tiles[1] = 230  # bright in every band: cloud
        ops.cmd_args("jobs.tensor", {"priority": 1, "deadline_s": 0.0, "tiles": True,
                                     **job_tensor.encode(tiles.tobytes(), tiles.shape,
                                                         "uint8")}, timeout_s=60)
        ops.wait_event(lambda e: e.name == "jobs.done" and e.args.get("job_id") == 2,
                       timeout_s=120, since=start)
        ops.wait_tlm("jobs.done", lambda v: v == 2, timeout_s=60)
        bodies = [row.body for row in ops.reader().products_after(0)]
    jobs = collect(bodies)
    capture, tensor = jobs[1], jobs[2]
    assert capture.summary is not None and capture.summary["status"] == "done"
    s = capture.summary
    assert len(s["cloud_prob"]) == len(s["truth_cloudy"]) == 16
    assert s["accuracy"] is not None and s["accuracy"] >= 0.75
    audit = s["audit"]
    assert audit["model"] == "cloud_screen_v1" and len(audit["model_sha256"]) == 64
    assert len(audit["input_sha256"]) == 64 and audit["integrity"] == "verified"
    assert audit["energy_j"] is not None and audit["energy_j"] > 0
    assert audit["energy_from"] == "compute_power_w"  # the plant's payload power
    assert audit["payload_temp_min_c"] is not None and audit["readings"] >= 1
    assert sorted(capture.tiles) == s["selected"] and not capture.parts_missing
    files = write_pngs(capture, tmp_path)
    assert len(files) == 2 * len(s["selected"])
    for f in files:
        with Image.open(f) as img:
            assert img.size == (32, 32)
    assert tensor.summary is not None and tensor.summary["status"] == "done"
    assert tensor.summary["cloudy"] == [False, True] and tensor.summary["accuracy"] is None
    assert sorted(tensor.tiles) == [0]
    assert stack.failed_process() is None
