"""The ``aisat`` command as a user runs it: exit codes, output, and clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flightsw.catalog import build_dictionary
from flightsw.config import FlightConfig
from flightsw.dictionary import Dictionary
from hil.plant import load_profile


def _aisat(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisat", *args], capture_output=True,
                          text=True, timeout=timeout)


def _descendants_alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()
            and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]]


def test_dictionary_export_matches_the_flight_dictionary() -> None:
    out = _aisat("dictionary")
    assert out.returncode == 0
    exported = Dictionary.from_json(json.loads(out.stdout))
    cfg = FlightConfig.from_mapping(load_profile("cubesat-jetson").flight)
    assert exported.hash == build_dictionary(cfg).hash


def test_bad_profile_is_a_clear_error() -> None:
    out = _aisat("sim", "--profile", "no-such-craft", "--orbits", "0.01")
    assert out.returncode == 2
    assert "cubesat-jetson" in out.stderr and "Traceback" not in out.stderr


def test_sim_prints_a_mission_summary(tmp_path: Path) -> None:
    out = _aisat("sim", "--orbits", "0.05", "--run-dir", str(tmp_path), "--json",
                 "--report", str(tmp_path / "run.html"))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["orbits_flown"] == pytest.approx(0.05, abs=0.001)
    assert summary["violations"] == []
    assert summary["jobs_done"] > 0 and summary["speedup"] > 1
    assert summary["energy_in_wh"] > 0 and 0 < summary["min_battery_soc_pct"] <= 100
    assert (tmp_path / "run.html").read_text().count("<svg") >= 5
    assert not (tmp_path / "stack.json").exists()  # stopped stacks leave no stale address


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["ctrl-c", "hangup"])
def test_up_stops_cleanly_on_ctrl_c_or_a_closed_terminal(tmp_path: Path,
                                                         sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "aisat", "up", "--run-dir", str(tmp_path),
                             "--speed", "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        pids: list[int] = []
        while time.monotonic() < deadline:
            stack = tmp_path / "stack.json"
            if stack.exists():
                pids = list(json.loads(stack.read_text())["pids"].values())
                if len(pids) == 3 and (tmp_path / "payload.log").exists():
                    break
            time.sleep(0.2)
        assert len(pids) == 3, "stack did not come up"
        time.sleep(3)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr
    assert "COMPUTE" in stdout or "NOMINAL" in stdout  # the status line was printed
    assert f"stopping the stack ({sig.name})" in stdout and "aisat: stopped." in stdout
    time.sleep(0.5)
    assert _descendants_alive(pids) == []
    payload_pids = [int(line.split("payload[")[1].split(".")[0])
                    for line in (tmp_path / "payload.log").read_text().splitlines()
                    if "payload[" in line]
    assert payload_pids and _descendants_alive(payload_pids) == []
    for name in ("flightsw", "plant", "ground"):
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text(), name
    assert not os.path.exists(tmp_path / "stack.json")


def test_second_stack_in_the_same_run_dir_is_refused(tmp_path: Path) -> None:
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(json.dumps({"run_dir": str(tmp_path), "pids": {"flightsw":
                                                                        os.getpid()}}))
    out = _aisat("sim", "--orbits", "0.01", "--run-dir", str(tmp_path))
    assert out.returncode == 2
    assert "already running" in out.stderr and "--run-dir" in out.stderr
    stack_file.write_text(json.dumps({"run_dir": str(tmp_path), "pids": {"flightsw": 999_999}}))
    out = _aisat("sim", "--orbits", "0.01", "--run-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr  # a stale file from a crashed stack is no obstacle


def test_sim_exits_non_zero_when_a_limit_is_violated(tmp_path: Path) -> None:
    shipped = Path(load_profile("cubesat-jetson").source).read_text()
    # the avionics qualified only up to 21 C: the sun warms them past it within minutes
    hot = shipped.replace("max_temp_c = 60.0 ", "max_temp_c = 20.5 ", 1)
    assert hot != shipped
    profile = tmp_path / "fragile.toml"
    profile.write_text(hot)
    out = _aisat("sim", "--profile", str(profile), "--orbits", "0.2", "--run-dir",
                 str(tmp_path / "run"), "--json")
    assert out.returncode == 1, out.stderr
    violations = json.loads(out.stdout)["violations"]
    assert violations and "avionics" in json.dumps(violations)


def test_version() -> None:
    from aisat.cli import version
    from flightsw import __version__

    out = _aisat("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"aisat {version()}" and version() == __version__


@pytest.mark.parametrize("args", [
    ["up", "--speed", "0"], ["up", "--speed", "-2"], ["up", "--speed", "nan"],
    ["up", "--speed", "inf"], ["up", "--speed", "fast"], ["sim", "--speed", "0"],
    ["up", "--duration-s", "0"], ["up", "--duration-s=-inf"],
    ["sim", "--orbits", "0"], ["sim", "--orbits", "nan"], ["sim", "--orbits", "-1"],
])
def test_non_positive_or_non_finite_numbers_are_usage_errors(tmp_path: Path,
                                                             args: list[str]) -> None:
    out = _aisat(*args, "--run-dir", str(tmp_path / "run"), timeout=30)
    assert out.returncode == 2
    flag = args[1].split("=")[0]
    assert f"argument {flag}:" in out.stderr and "Traceback" not in out.stderr
    assert "positive finite number" in out.stderr or "not a number" in out.stderr
    assert not (tmp_path / "run").exists()  # refused before anything started


def _bad_models(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    no_card = tmp_path / "no_card.onnx"
    no_card.write_bytes(b"onnx")
    return {
        "missing": (tmp_path / "nope.onnx", "does not exist"),
        "directory": (tmp_path, "is not a file"),
        "no card": (no_card, "no model card"),
    }


@pytest.mark.parametrize("command", ["up", "sim"])
@pytest.mark.parametrize("case", ["missing", "directory", "no card"])
def test_a_bad_model_path_fails_before_anything_is_spawned(tmp_path: Path, command: str,
                                                           case: str) -> None:
    model, reason = _bad_models(tmp_path)[case]
    out = _aisat(command, "--model", str(model), "--run-dir", str(tmp_path / "run"),
                 timeout=30)
    assert out.returncode == 2
    assert reason in out.stderr and "argument --model" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


def test_the_stack_api_checks_the_model_too(tmp_path: Path) -> None:
    from hil.stack import Stack, StackError, StackOptions

    with pytest.raises(StackError, match="does not exist"):
        Stack.start(StackOptions(run_dir=tmp_path / "run", model=str(tmp_path / "x.onnx")))
    assert not list((tmp_path / "run").glob("*.log")) if (tmp_path / "run").exists() else True


def test_a_model_that_fails_to_read_is_refused(tmp_path: Path) -> None:
    """/proc/self/mem is a regular file whose first byte no one can read (EIO): it
    stands in for an unreadable model even for root."""
    out = _aisat("up", "--model", "/proc/self/mem", "--run-dir", str(tmp_path / "run"),
                 timeout=30)
    assert out.returncode == 2 and "cannot be read" in out.stderr, out.stderr
    assert not (tmp_path / "run").exists()


def test_a_new_run_keeps_the_last_runs_archive(tmp_path: Path) -> None:
    from hil.stack import archived_records

    first = _aisat("sim", "--orbits", "0.05", "--run-dir", str(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "previous run" not in first.stdout + first.stderr
    records = archived_records(tmp_path / "archive.sqlite")
    assert records
    second = _aisat("sim", "--orbits", "0.05", "--run-dir", str(tmp_path), "--json")
    assert second.returncode == 0, second.stderr
    json.loads(second.stdout)  # the note went to stderr: stdout is still pure JSON
    (saved,) = (tmp_path / "runs").iterdir()
    assert f"previous run's archive is now {saved / 'archive.sqlite'}" in second.stderr
    assert archived_records(saved / "archive.sqlite") == records
    assert (saved / "dictionary.json").exists()
    assert archived_records(tmp_path / "archive.sqlite")  # the new run's, where it was
    # a new run is a new mission: it does not inherit the last run's onboard backlog
    assert (saved / "recorder.sqlite").exists()
    # the run directory is owner-only: archive, recorder store, logs, saved runs
    from hil.private_files import readable_by_others
    assert readable_by_others(tmp_path) == []
    db = sqlite3.connect(tmp_path / "archive.sqlite")
    restored = db.execute("SELECT COUNT(*) FROM events WHERE name = 'link.backlog_restored'"
                          ).fetchone()[0]
    db.close()
    assert restored == 0
