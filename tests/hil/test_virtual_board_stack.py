"""``aisat sim --board virtual:DIR``: the whole stack flying against a live virtual
board - the launcher runs its heat model beside the executive, the executive reads the
compute's temperature and power from the tree (not the plant's model of them), and the
tree warms with the executive's and payload's real CPU time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ground.archive_reader import ArchiveReader
from hil.board_heat import HeatModel
from hil.virtual_board import build_tree

pytestmark = pytest.mark.integration


def test_the_stack_throttles_against_the_virtual_boards_heat(tmp_path: Path) -> None:
    tree = build_tree(tmp_path / "board", "jetson-orin-nano", marker=True)
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--orbits", "0.1",
                          "--board", f"virtual:{tree}", "--run-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    plant_max_c = json.loads(out.stdout)["max_temps_c"]["payload"]
    with ArchiveReader(run_dir / "archive.sqlite") as archive:
        def values(name: str) -> list[float]:
            return [float(s.value) for s in archive.samples(name) if s.value is not None]

        temps, powers = values("thermal.payload_temp_c"), values("thermal.compute_power_w")
    model = HeatModel()
    idle_c = model.ambient_c + model.resistance_c_per_w * model.idle_w
    assert temps and powers
    # the board's numbers, not the plant's: the tree idles warmer than the plant's payload
    assert min(temps) >= idle_c - 1.0 > plant_max_c
    assert max(powers) > model.idle_w  # the executive's and payload's CPU time heated it
    assert "Traceback" not in (run_dir / "board_heat.log").read_text()
