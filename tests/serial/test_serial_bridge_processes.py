"""The bridge and the ground as real processes: the executive (in process) speaks on a
pty's master, ``python -m hil.serial_bridge`` holds the slave as a host holds its
USB-serial adapter, and ``python -m ground`` connects to the bridge as to an executive.
The ground archives the downlink and its acknowledgements come back up the UART."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flightsw import keyring
from flightsw.harness import Harness
from flightsw.serial_transport import SerialTransport
from hil.virtual_uart import PtyPair

pytestmark = [pytest.mark.integration]


def _archived(path: Path) -> set[int]:
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(path) as db:
            return {s for (s,) in db.execute("SELECT DISTINCT seq FROM telemetry")}
    except sqlite3.Error:
        return set()  # not created yet


def test_real_ground_through_the_real_bridge(tmp_path: Path, pty: PtyPair) -> None:
    link = f"ipc://{tmp_path}/link.sock"
    stats = tmp_path / "bridge.json"
    archive = tmp_path / "archive.sqlite"
    h = Harness(auto_ack=False)
    (tmp_path / "keys").mkdir(mode=0o700)  # provisioned with the flight's (harness's) key
    keyring.write_key(tmp_path / "keys", h.key_id, h.key)
    bridge = subprocess.Popen([sys.executable, "-m", "hil.serial_bridge", "--port",
                               pty.slave_path, "--baud", "921600", "--link", link,
                               "--stats-out", str(stats)])
    ground = subprocess.Popen([sys.executable, "-m", "ground", "--link", link, "--world", "",
                               "--ops", f"ipc://{tmp_path}/ops.sock", "--archive",
                               str(archive), "--clock", "real", "--log-level", "WARNING",
                               "--keys", str(tmp_path / "keys")])
    h.executive.link = SerialTransport(pty.master)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            h.run(1)
            time.sleep(0.1)
            if len(_archived(archive)) >= 20 and len(h.core.state.link.recorder) < 10:
                break
        archived = _archived(archive)
        held = len(h.core.state.link.recorder)
    finally:
        for p in (ground, bridge):
            p.send_signal(signal.SIGTERM)
        for p in (ground, bridge):
            p.wait(timeout=20)
    assert len(archived) >= 20, f"the ground archived {len(archived)} packets"
    assert held < 10  # the ground's acknowledgements came back through the bridge
    report = json.loads(stats.read_text())
    assert report["down_frames"] > 20 and report["up_frames"] > 0
    assert report["serial"]["rx"]["discarded_bytes"] == 0
    assert bridge.returncode == 0
