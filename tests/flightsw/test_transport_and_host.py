"""The shell's edges in process: ZeroMQ and in-memory transports, and the payload host
with a stand-in interpreter (a real child process, but not the payload)."""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.payload_host import TERM_GRACE_S, ProcessPayloadHost
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
    _reaped(host, pid, within_s=5.0)


def test_payload_host_kill_never_blocks_and_kills_a_stopped_child(tmp_path: Path) -> None:
    """A SIGSTOPped child ignores TERM until continued: the host sends KILL after its
    grace, on a later call, while the executive's cycles go on (they used to block up
    to 2 s + 5 s inside kill())."""
    python = _fake_interpreter(tmp_path, "sleep 30")
    host = ProcessPayloadHost(python=python)
    assert host.spawn(1) is None
    pid = host.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    t0 = time.monotonic()
    host.kill()
    assert time.monotonic() - t0 < 0.5
    _reaped(host, pid, within_s=TERM_GRACE_S + 3.0)


def _reaped(host: ProcessPayloadHost, pid: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        host.exit_status()  # the executive calls this every cycle: it reaps
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.02)
    raise AssertionError(f"{pid} still there after {within_s} s")


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


def test_payload_host_reads_the_childs_memory_from_the_os(tmp_path: Path) -> None:
    """Memory runaway is judged on what the kernel says, not on the child's own word."""
    python = _fake_interpreter(tmp_path, "sleep 30")
    host = ProcessPayloadHost(python=python)
    assert host.rss_mb() is None  # no child
    assert host.spawn(1) is None
    try:
        # right after the fork the child is still a copy of us (big); once the shell has
        # been exec'd it is a few MB
        deadline = time.monotonic() + 5
        rss = host.rss_mb()
        while rss is not None and rss > 50.0 and time.monotonic() < deadline:
            time.sleep(0.02)
            rss = host.rss_mb()
        assert rss is not None and 0.0 < rss <= 50.0
    finally:
        host.kill()
    assert host.rss_mb() is None


def test_payload_host_hands_each_incarnation_a_fresh_key_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "key.txt"
    python = _fake_interpreter(tmp_path, f"head -n 1 > {out}")
    host = ProcessPayloadHost(python=python)
    keys = []
    for incarnation in (1, 2):
        out.unlink(missing_ok=True)
        assert host.spawn(incarnation) is None
        deadline = time.monotonic() + 5
        while host.exit_status() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert out.read_text().strip() == host.key.hex()
        keys.append(host.key)
    assert keys[0] != keys[1] and len(keys[0]) == 32


def test_payload_channel_is_a_local_unix_socket_and_only_sealed_frames_count() -> None:
    """The channel binds in the abstract Unix namespace (cheaper than loopback TCP);
    reaching it is not enough to speak for the payload: a frame must carry the tag."""
    import secrets

    from flightsw import channel_auth
    from flightsw.payload_host import _bind_local

    ctx: zmq.Context[Any] = zmq.Context.instance()
    host_sock, child_sock = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        endpoint = _bind_local(host_sock, 3)
        assert endpoint.startswith("ipc://@aisat-payload-")
        child_sock.connect(endpoint)
        key = channel_auth.new_key()
        for frame in (b"result", b"x" * 5000, b""):  # the keyed tag is copied per frame
            child_sock.send(channel_auth.seal(key, channel_auth.TO_EXECUTIVE, frame))
            assert host_sock.poll(2000)
            sealed = host_sock.recv()
            assert channel_auth.unseal(key, channel_auth.TO_EXECUTIVE, sealed) == frame
            other = secrets.token_bytes(channel_auth.KEY_BYTES)
            assert isinstance(channel_auth.unseal(other, channel_auth.TO_EXECUTIVE, sealed), str)
            assert isinstance(channel_auth.unseal(key, channel_auth.TO_PAYLOAD, sealed), str)
    finally:
        host_sock.close(linger=0)
        child_sock.close(linger=0)


def _first_frame_from_child(host: ProcessPayloadHost, timeout_s: float = 60.0) -> bytes:
    transport = host.transport
    assert transport is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert host.exit_status() is None, "the payload child died"
        transport.wait(0.1)
        frames = transport.receive(1)
        if frames:
            return frames[0]
    raise AssertionError("no frame from the payload child")


@pytest.mark.parametrize("unix", [True, False])
def test_a_real_payload_child_says_ready_over_its_channel(
        unix: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default the channel is a Unix seqpacket socket (no ZeroMQ I/O threads on the
    lockstep's path); where none can be bound it is a ZeroMQ PAIR, and the child follows
    the endpoint it is given either way."""
    from flightsw import channel_auth, payload_host
    from flightsw.transport import ZmqTransport
    from flightsw.unix_transport import UnixBusServer
    from flightsw.wire import Kind, decode

    if not unix:
        monkeypatch.setattr(payload_host, "_bind_unix", lambda incarnation: None)
    host = ProcessPayloadHost()
    try:
        assert host.spawn(1) is None
        assert isinstance(host.transport, UnixBusServer if unix else ZmqTransport)
        frame = channel_auth.unseal(host.key, channel_auth.TO_EXECUTIVE,
                                    _first_frame_from_child(host))
        assert isinstance(frame, bytes)
        assert decode(frame).kind is Kind.PAYLOAD_HEARTBEAT
    finally:
        host.kill()


def test_a_payload_child_with_nobody_on_its_unix_endpoint_exits_with_the_reason(
        tmp_path: Path) -> None:
    import subprocess
    import sys

    from flightsw import channel_auth
    from flightsw.supervisor import PayloadExit

    done = subprocess.run(
        [sys.executable, "-m", "payload", "--endpoint", f"unix://@aisat-nobody-{os.getpid()}",
         "--key-stdin", "--parent-pid", str(os.getpid())],
        input=channel_auth.new_key().hex() + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == int(PayloadExit.SOCKET)
    assert "cannot connect to unix://@aisat-nobody-" in done.stderr


def test_another_process_of_ours_cannot_cut_the_payload_child_off_its_channel() -> None:
    """The channel's server took the newest connection as its peer, from any process of
    our own user: one that found the abstract name (it is listed in /proc/net/unix)
    could connect and cut the real child off (its frames could not speak for the
    payload, but the child could no longer be heard: supervision would restart it, and
    again). Only the child the executive started (or a process it started) is taken."""
    from flightsw import channel_auth
    from flightsw.unix_transport import UnixBusClient, UnixBusServer
    from flightsw.wire import Envelope, Kind, decode, encode

    host = ProcessPayloadHost()
    try:
        assert host.spawn(1) is None
        server = host.transport
        assert isinstance(server, UnixBusServer)
        _first_frame_from_child(host)  # the child is connected and heard
        intruder = UnixBusClient(server.endpoint)  # this test's process: not the child
        try:
            intruder.send(b"anything")
            deadline = time.monotonic() + 10
            while server.refused < 1 and time.monotonic() < deadline:
                server.wait(0.05)
            assert server.refused == 1 and server.accepted == 1
            ping = channel_auth.seal(host.key, channel_auth.TO_PAYLOAD, encode(
                Envelope(Kind.PAYLOAD_PING, "flight", 1, 0.0, {"n": 7})))
            assert server.send(ping)  # still the child's channel: it answers
            for _ in range(20):
                frame = channel_auth.unseal(host.key, channel_auth.TO_EXECUTIVE,
                                            _first_frame_from_child(host))
                assert isinstance(frame, bytes)
                env = decode(frame)
                if env.kind is Kind.PAYLOAD_HEARTBEAT and env.body.get("n") == 7:
                    break
            else:
                raise AssertionError("the child did not answer the ping")
        finally:
            intruder.close()
    finally:
        host.kill()
