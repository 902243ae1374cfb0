"""Lockstep runs are deterministic: the same scenario twice gives the same spacecraft."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SAME = ("sim_time_s", "energy_in_wh", "energy_out_wh", "min_battery_soc_pct", "max_temps_c",
        "jobs_done", "tiles_done", "mode_changes", "payload_restarts", "violations")


def _run(run_dir: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--orbits", "0.1",
                          "--run-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    summary: dict[str, object] = json.loads(out.stdout)
    return summary


def test_two_lockstep_runs_fly_the_same_spacecraft(tmp_path: Path) -> None:
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    assert {k: a[k] for k in SAME} == {k: b[k] for k in SAME}
    assert a["jobs_done"] and a["records_downlinked"] == b["records_downlinked"]
