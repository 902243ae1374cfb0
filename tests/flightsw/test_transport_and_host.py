"""The shell's edges in process: ZeroMQ and in-memory transports, and the payload host
with a stand-in interpreter (a real child process, but not the payload)."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import zmq

from flightsw.payload_host import ProcessPayloadHost
from flightsw.transport import MemoryTransport, ZmqTransport, memory_pair, wait_any
from hil.stack import free_port


def test_memory_pair_moves_frames_both_ways_and_refuses_when_closed() -> None:
    a, b = memory_pair(capacity=2)
    assert a.connected and b.connected
    assert a.send(b"1") and a.send(b"2")
    assert not a.send(b"3")  # b's inbox is full: refused, counted, not lost silently
    assert a.refused == 1
    assert wait_any([b], 1.0) and b.wait(0)
    assert b.receive(max_frames=1) == [b"1"] and b.receive() == [b"2"]
    assert not wait_any([b, None], 0.0)
    b.close()
    assert not a.connected and not a.send(b"x")
    assert not MemoryTransport().connected


def test_zmq_pair_transport_sends_receives_and_reports_no_peer() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    server = ZmqTransport.pair(endpoint, bind=True, ctx=ctx)
    assert not server.send(b"nobody")  # no peer yet: refused, not blocked
    assert not server.connected
    client = ZmqTransport.pair(endpoint, bind=False, ctx=ctx)
    deadline = time.monotonic() + 5
    while not client.send(b"hello") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.wait(5.0) and wait_any([server], 1.0)
    assert server.receive() == [b"hello"]
    assert server.send(b"back") and client.wait(5.0)
    assert client.receive() == [b"back"]
    assert not server.wait(0.0) and server.receive() == []
    client.close()
    server.close()
    assert server.receive() == [] and not server.wait(0.0)  # closed: errors counted
    assert server.errors >= 1 and server.last_error
    ctx.term()


def _fake_interpreter(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fakepython"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_payload_host_spawns_polls_and_kills_a_child(tmp_path: Path) -> None:
    python = _fake_interpreter(tmp_path, "trap 'exit 0' TERM\nsleep 30 & wait")
    host = ProcessPayloadHost(python=python, run_dir=tmp_path, model_path="m.onnx")
    assert host.transport is None and host.exit_status() is None
    assert host.spawn(1) is None
    pid = host.pid
    assert pid is not None and host.transport is not None
    assert host.exit_status() is None
    host.kill()
    assert host.transport is None and host.pid is None
    _gone(pid)


def test_payload_host_kills_a_stopped_child_and_reports_exit(tmp_path: Path) -> None:
    python = _fake_interpreter(tmp_path, "exit 3")
    host = ProcessPayloadHost(python=python)
    assert host.spawn(1) is None
    deadline = time.monotonic() + 5
    while host.exit_status() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert host.exit_status() == 3
    python = _fake_interpreter(tmp_path, "sleep 30")
    host = ProcessPayloadHost(python=python)
    host.spawn(2)
    pid = host.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # TERM stays pending on a stopped child: KILL follows
    host.stop(b"stop")
    _gone(pid)


def test_payload_host_reports_a_spawn_failure(tmp_path: Path) -> None:
    host = ProcessPayloadHost(python=str(tmp_path / "no-such-python"))
    error = host.spawn(1)
    assert error is not None and "no-such-python" in error
    assert host.exit_status() is None


def _gone(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    status = Path(f"/proc/{pid}/stat")
    assert not status.exists() or ") Z" in status.read_text(), f"{pid} still running"
