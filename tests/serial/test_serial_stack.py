"""``aisat sim --link serial``: the whole stack (plant, executive with its payload, the
host's serial bridge, ground: four processes) with the space link on a UART - a pty pair
the bridge makes, which the executive opens by path as on a board - and line faults on
it both ways. The ground sees no difference, and nothing is lost: every record the
executive made is archived once or still held in the recorder store for the next boot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flightsw.recorder_store import RECORDER_FILE, RecorderStore
from hil.serial_stack import check_link
from tests.archive_books import archived_seqs

FAULTS = "drop=1e-4,flip=1e-4,brk=1e-5,seed=5"


@pytest.mark.integration
def test_a_stack_over_a_faulty_uart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--orbits", "0.3",
                          "--link", "serial", "--link-faults", FAULTS,
                          "--run-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout)
    assert summary["stop_reason"] == "scenario complete"
    stats = json.loads((run_dir / "exec_stats.json").read_text())
    archived = archived_seqs(run_dir / "archive.sqlite")
    assert len(archived) == len(set(archived)), "a record was archived twice"
    store = RecorderStore(run_dir / RECORDER_FILE)  # what the next boot would take back
    saved = store.load()
    store.close()
    held = {seq for seq, _, _ in saved.records}
    made = set(range(saved.next_seq or 0))
    assert stats["records_made"] == len(made) and stats["recorder_evicted"] == 0
    assert not made - set(archived) - held, "a record was lost"
    assert set(archived) <= made  # nothing invented: damaged frames never got through
    assert len(archived) > 1000
    bridge = json.loads((run_dir / "bridge_stats.json").read_text())
    faults = bridge["line_faults"]
    # the line was damaged both ways, and the framer threw the damaged frames away
    assert all(faults[d]["dropped"] and faults[d]["flipped"] for d in ("down", "up"))
    assert faults["down"]["breaks"] > 0
    rx = bridge["serial"]["rx"]["discarded"]
    assert rx["crc"] + rx["cobs"] > 0
    assert stats["frames_sent"] > len(made)  # the losses were made good by sending again
    assert bridge["down_dropped"] == 0 and bridge["up_frames"] > 0  # acks went up the UART
    for name in ("flightsw.log", "bridge.log", "ground.log"):
        assert "Traceback" not in (run_dir / name).read_text()


@pytest.mark.parametrize(("link", "faults", "words"), [
    ("radio", "", "unknown link 'radio'"),
    ("zmq", "drop=0.1", "need the serial link"),
    ("serial", "drop=2", "probability in [0, 1]"),
    ("serial", "loss=0.1", "expected drop=P"),
    ("serial", "flip=often", "is not a number"),
])
def test_a_bad_link_choice_is_refused_before_anything_starts(link: str, faults: str,
                                                             words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        check_link(link, faults)


def test_aisat_sim_refuses_bad_line_faults_with_the_reason(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--link", "serial",
                          "--link-faults", "drop=lots", "--run-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "is not a number" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "plant.log").exists()


def test_aisat_sim_refuses_a_flight_interpreter_that_is_not_there(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--flight-python",
                          str(tmp_path / "python3-aarch64"), "--run-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "is not an executable interpreter" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "plant.log").exists()
