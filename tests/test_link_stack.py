"""The real stack (plant, executive with its payload, ground: three processes over
ZeroMQ) flown in lockstep over a link that loses, corrupts, duplicates and reorders, set
by the profile's ``[link]`` table: every record the executive made is archived once at
the ground or still held in the recorder store for the next boot - nothing lost,
nothing archived twice."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hil.plant.profile import PROFILE_DIR
from tests.archive_books import archived_seqs

pytestmark = pytest.mark.integration

BAD_LINK = """
[link]
seed = 11
[link.down]
latency_s = 0.008
rate_bps = 2e6
loss = 0.15
corrupt = 0.05
duplicate = 0.05
reorder = 0.2
reorder_delay_s = 1.0
[link.up]
latency_s = 0.008
rate_bps = 9600
loss = 0.15
corrupt = 0.05
duplicate = 0.05
reorder = 0.2
reorder_delay_s = 1.0
"""


def _lossy_profile(tmp_path: Path) -> Path:
    text = (PROFILE_DIR / "cubesat-jetson.toml").read_text()
    head = text[:text.index("\n[link]")]
    path = tmp_path / "lossy.toml"
    path.write_text(head + "\n" + BAD_LINK)
    return path


def test_a_lossy_pass_in_the_real_stack_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--orbits", "0.3",
                          "--profile", str(_lossy_profile(tmp_path)),
                          "--run-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    stats = json.loads((run_dir / "exec_stats.json").read_text())
    archived = archived_seqs(run_dir / "archive.sqlite")
    assert len(archived) == len(set(archived)), "a record was archived twice"
    with sqlite3.connect(run_dir / "recorder.sqlite") as db:
        held = {s for (s,) in db.execute("SELECT seq FROM records")}
        (next_seq,) = db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
    made = set(range(next_seq))
    assert stats["records_made"] == len(made) and stats["recorder_evicted"] == 0
    lost = made - set(archived) - held
    assert not lost, f"lost: {sorted(lost)[:20]}"
    assert set(archived) <= made
    assert stats["frames_sent"] > len(made)  # the losses were made good by sending again
    # the scenario ends in the pass: the executive's shutdown drain (3 s of wall time)
    # got most acknowledged; whatever was not is in the store for the next boot, never
    # dropped. How much the drain finishes depends on the machine's load (measured: 0 on
    # an idle host, 113 of ~1,900 on a host running four test suites), so the bound is
    # loose; the exact claim is the one above: nothing lost
    assert len(held) <= len(made) // 10 and stats["recorder_left"] == len(held)
    assert len(archived) > 1000
    log = (run_dir / "ground.log").read_text()
    assert "Traceback" not in log
    # the profile's physics were applied: frames were lost and caught corrupted
    down = next(line for line in log.splitlines() if "link physics down:" in line)
    counts = dict(item.rsplit(" ", 1) for item in down.split("down: ")[1].split(", "))
    assert int(counts["lost"]) > 0 and int(counts["fcs_rejected"]) > 0
