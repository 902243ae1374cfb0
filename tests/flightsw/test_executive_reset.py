"""A real executive killed with SIGKILL and started again on the same run directory
resumes from its saved state: downlink numbering continues, and the unexplained reset
sends the spacecraft to SAFE to wait for the ground."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.wire import Envelope, Kind, Sequencer, decode
from hil.stack import free_port
from tests.flightsw.test_executive_bad_input import EPOCH, FakePlant, _sealed, _sensors

pytestmark = pytest.mark.integration  # real executive processes over TCP


def _start(tmp_path: Path, plant_port: int, link_port: int) -> subprocess.Popen[bytes]:
    config = tmp_path / "flight.json"
    config.write_text(json.dumps({"payload_enabled": False}))
    return subprocess.Popen(
        [sys.executable, "-m", "flightsw", "--plant", f"tcp://127.0.0.1:{plant_port}",
         "--link", f"tcp://127.0.0.1:{link_port}", "--clock", "sim", "--config", str(config),
         "--run-dir", str(tmp_path)],
        stderr=open(tmp_path / "flightsw.log", "ab"))


def _drain(ground: zmq.Socket[Any]) -> list[Envelope]:
    out = []
    while ground.poll(300):
        out.append(decode(ground.recv()))
    return out


def test_kill_9_then_restart_resumes_state_and_enters_safe(tmp_path: Path) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    plant = FakePlant(ctx)
    link_port = free_port()
    first = _start(tmp_path, plant.port, link_port)
    ground = ctx.socket(zmq.PAIR)
    ground.setsockopt(zmq.LINGER, 0)
    second = None
    try:
        plant.tick(_sensors())
        ground.connect(f"tcp://127.0.0.1:{link_port}")
        for _ in range(5):
            plant.tick(_sensors())
        ground.send(_sealed(tmp_path, Sequencer("ground").pack(
            Kind.COMMAND, EPOCH + plant.elapsed_s, {"name": "exec.noop", "args": {}})))
        for _ in range(3):
            plant.tick(_sensors())
        before = _drain(ground)
        assert any(e.kind is Kind.VERIFICATION for e in before)
        first.kill()  # no orderly shutdown, no final save
        first.wait(timeout=10)
        ground.close(0)
        ground = ctx.socket(zmq.PAIR)
        ground.setsockopt(zmq.LINGER, 0)
        # the same plant: its bound PAIR takes the new executive once it has let go of the
        # old one, which takes the plant's socket a few calls (a plant's loop polls every
        # 0.2 s; the launcher restarts after RestartSec, 1 s, so the order is the same)
        for _ in range(5):
            plant.sock.poll(100)
        second = _start(tmp_path, plant.port, link_port)
        plant.tick(_sensors())
        ground.connect(f"tcp://127.0.0.1:{link_port}")
        for _ in range(4):
            plant.tick(_sensors())
        after = _drain(ground)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        ground.close(0)
        plant.sock.close(0)
        ctx.term()
    names = [e.body["name"] for e in after if e.kind is Kind.EVENT]
    assert "exec.reset_unexplained" in names and "exec.state_restored" in names
    modes = [e.body["points"]["mode.current"] for e in sorted(after, key=lambda e: e.seq)
             if e.kind is Kind.TELEMETRY]
    assert modes and modes[-1] == "SAFE"
    # the downlink numbering went on exactly from the recorder store; this ground never
    # acknowledged, so the first run's records come again, unchanged, under their numbers
    hello = [e.body for e in after if e.kind is Kind.HELLO and e.body["boot_id"] == 2]
    assert hello and hello[0]["seq_continued"]
    assert hello[0]["first_seq"] > max(e.seq for e in before)
    first_run = {e.seq: e for e in before}
    assert all(first_run[e.seq] == e for e in after
               if e.seq in first_run)


def test_an_executive_refused_by_a_busy_plant_connects_afresh(tmp_path: Path) -> None:
    """A bound PAIR that still holds a peer (a dead executive it has not let go of yet)
    refuses a new one without telling it: the executive must notice the silence and
    connect again, and is then taken."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    plant = FakePlant(ctx)
    squatter = ctx.socket(zmq.PAIR)  # the peer the plant has not let go of
    squatter.setsockopt(zmq.LINGER, 0)
    squatter.connect(f"tcp://127.0.0.1:{plant.port}")
    squatter.send(b"x")
    assert plant.sock.poll(5000) and plant.sock.recv() == b"x"
    proc = _start(tmp_path, plant.port, free_port())
    try:
        time.sleep(2.0)  # the executive is up, connected, and refused
        squatter.close(0)
        for _ in range(5):  # the plant's loop runs on and lets go of the old peer
            plant.sock.poll(100)
        hello = False
        started = time.monotonic()
        while not hello and time.monotonic() - started < 20:
            hello = bool(plant.sock.poll(200)) and decode(plant.sock.recv()).kind is Kind.HELLO
        assert hello, "the executive never reached the plant"
        assert plant.tick(_sensors()).kind is Kind.ACTUATORS
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        plant.sock.close(0)
        ctx.term()
    assert "connecting afresh" in (tmp_path / "flightsw.log").read_text()
