"""The executive supervises a real payload child: it starts it, feeds it captures in
lockstep, notices when it is killed, and restarts it with backoff - all as telemetry and
events on the space link, never as a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.wire import Envelope, Kind, decode
from hil.stack import free_port
from tests.flightsw.test_executive_bad_input import EPOCH, FakePlant, _sealed, _sensors
from tests.procs import children as _children

pytestmark = pytest.mark.integration  # real executive process over TCP


@pytest.fixture()
def executive(tmp_path: Path) -> Iterator[tuple[FakePlant, zmq.Socket[Any],
                                                subprocess.Popen[bytes]]]:
    ctx = zmq.Context()
    plant = FakePlant(ctx)
    link_port = free_port()
    config = tmp_path / "flight.json"
    config.write_text(json.dumps({"capture_period_s": 5.0, "restart_backoff_s": 2.0,
                                  "heartbeat_timeout_s": 2.0}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightsw", "--plant", f"tcp://127.0.0.1:{plant.port}",
         "--link", f"tcp://127.0.0.1:{link_port}", "--clock", "sim", "--config", str(config),
         "--run-dir", str(tmp_path), "--stats-out", str(tmp_path / "stats.json")],
        stderr=open(tmp_path / "flightsw.log", "wb"))
    ground = ctx.socket(zmq.PAIR)
    ground.setsockopt(zmq.LINGER, 0)
    try:
        plant.tick(_sensors())
        ground.connect(f"tcp://127.0.0.1:{link_port}")
        yield plant, ground, proc
    finally:
        kids = _children(proc.pid)
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for kid in kids:
            try:
                os.kill(kid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        ground.close(0)
        plant.sock.close(0)
        ctx.term()


def _run(plant: FakePlant, ground: zmq.Socket[Any], seconds: int) -> list[Envelope]:
    out: list[Envelope] = []
    for _ in range(seconds):
        plant.tick(_sensors())
        while ground.poll(0):
            out.append(decode(ground.recv()))
    while ground.poll(100):
        out.append(decode(ground.recv()))
    return out


def _children_settle(plant: FakePlant, ground: zmq.Socket[Any], pid: int,
                     count: int) -> list[int]:
    """The executive's children once there are ``count`` of them (ticking on: a killed
    child is reaped by the executive's later cycles, never by a blocking wait)."""
    kids = _children(pid)
    for _ in range(60):
        if len(kids) == count:
            break
        _run(plant, ground, 1)
        kids = _children(pid)
    return kids


def _events(received: list[Envelope], name: str) -> list[dict[str, Any]]:
    return [dict(e.body) for e in received if e.kind is Kind.EVENT and e.body["name"] == name]


def test_killed_payload_is_restarted_and_work_resumes(
        executive: tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]],
        tmp_path: Path) -> None:
    plant, ground, proc = executive
    received = _run(plant, ground, 20)
    assert _events(received, "payload.ready"), "payload never became ready"
    results = [e for e in received if e.kind is Kind.RESULT]
    assert results and results[-1].body["tiles"] > 0 and results[-1].body["failed"] == 0
    first = _children(proc.pid)
    assert len(first) == 1

    os.kill(first[0], signal.SIGKILL)
    received = _run(plant, ground, 30)
    died = _events(received, "payload.died")
    assert died and "SIGKILL" in died[0]["args"]["cause"]
    started = _events(received, "payload.started")
    assert started and started[-1]["args"]["incarnation"] == 2
    assert _events(received, "payload.ready")
    assert proc.poll() is None
    second = _children(proc.pid)
    assert len(second) == 1 and second != first
    # newest by number: this ground never acknowledges, so older records come again
    hk = [e.body["points"] for e in sorted(received, key=lambda e: e.seq)
          if e.kind is Kind.TELEMETRY]
    assert hk[-1]["payload.restarts"] == 1 and hk[-1]["payload.state"] == "ready"
    later = [e for e in received if e.kind is Kind.RESULT]
    assert later and later[-1].body["tiles"] > 0

    plant.stop()
    assert proc.wait(timeout=15) == 0
    assert _children(proc.pid) == []  # the payload went down with the executive
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["payload_restarts"] == 1 and stats["jobs_done"] > 0


def test_operator_can_disable_and_restart_the_payload(
        executive: tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]],
        tmp_path: Path) -> None:
    from flightsw.wire import Sequencer

    plant, ground, proc = executive
    _run(plant, ground, 5)
    seq = Sequencer("ground")
    ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, EPOCH + plant.elapsed_s, {
        "name": "payload.enable", "args": {"enabled": False}})))
    received = _run(plant, ground, 5)
    assert _events(received, "payload.stopped")
    assert _children_settle(plant, ground, proc.pid, 0) == []
    ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, EPOCH + plant.elapsed_s, {
        "name": "payload.enable", "args": {"enabled": True}})))
    received = _run(plant, ground, 5)
    assert _events(received, "payload.ready")
    assert len(_children(proc.pid)) == 1
    plant.stop()
    assert proc.wait(timeout=15) == 0


def test_hung_payload_is_killed_and_restarted(
        executive: tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]]) -> None:
    plant, ground, proc = executive
    _run(plant, ground, 8)
    (first,) = _children(proc.pid)
    os.kill(first, signal.SIGSTOP)  # alive but silent: only heartbeats can tell
    try:
        received = _run(plant, ground, 20)
    finally:
        try:
            os.kill(first, signal.SIGKILL)
        except ProcessLookupError:
            pass
    died = _events(received, "payload.died")
    assert died and "heartbeat lost" in died[0]["args"]["cause"]
    assert _events(received, "payload.ready")
    kids = _children_settle(plant, ground, proc.pid, 1)
    assert first not in kids and len(kids) == 1
    plant.stop()
    assert proc.wait(timeout=15) == 0
