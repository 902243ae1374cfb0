"""The plant bus over a Unix seqpacket socket (:mod:`flightsw.unix_transport`): it keeps
ZeroMQ's manners - nothing blocks, nothing raises, either end may come first or come
back - and a restarted executive takes over the bus."""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from flightsw import unix_transport
from flightsw.transport import Waiter, ZmqTransport
from flightsw.unix_transport import (
    MAX_BUS_FRAME_BYTES,
    EndpointError,
    UnixBusClient,
    UnixBusServer,
    plant_bus,
    socket_address,
)

_ids = itertools.count()


@pytest.fixture
def endpoint() -> str:
    return f"unix://@aisat-test-bus-{os.getpid()}-{next(_ids)}"


def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _receive(end: UnixBusClient | UnixBusServer, n: int = 1,
             timeout_s: float = 5.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < n:
        assert time.monotonic() < deadline, f"got {got}"
        end.wait(0.05)
        got += end.receive()
    return got


@pytest.fixture
def pair(endpoint: str) -> Iterator[tuple[UnixBusServer, UnixBusClient]]:
    server = UnixBusServer(endpoint)
    client = UnixBusClient(endpoint)
    try:
        yield server, client
    finally:
        client.close()
        server.close()


def test_frames_keep_their_boundaries_and_order_both_ways(
        pair: tuple[UnixBusServer, UnixBusClient]) -> None:
    server, client = pair
    frames = [b"", b"x", b"tick" * 300, bytes(range(256)) * 64]
    frames = [f for f in frames if f]  # an empty frame is no frame on any transport
    for f in frames:
        assert client.send(f)
    assert _receive(server, len(frames)) == frames
    for f in frames:
        assert server.send(f)
    assert _receive(client, len(frames)) == frames
    assert client.connected and server.connected and server.accepted == 1


def test_the_client_may_come_before_the_plant(endpoint: str) -> None:
    with closing(UnixBusClient(endpoint)) as client:
        assert not client.connected
        assert client.send(b"hello") is False  # refused, not raised, not queued forever
        assert client.wait(0.01) is False
        with closing(UnixBusServer(endpoint)) as server:
            _until(lambda: client.send(b"hello"))
            assert _receive(server) == [b"hello"]


def test_a_restarted_executive_takes_over_the_bus(endpoint: str) -> None:
    with closing(UnixBusServer(endpoint)) as server:
        with closing(UnixBusClient(endpoint)) as first:
            assert first.send(b"hello 1")
            assert _receive(server) == [b"hello 1"]
        # killed: the kernel closes its socket
        with closing(UnixBusClient(endpoint)) as second:
            assert second.send(b"hello 2")
            assert _receive(server) == [b"hello 2"]
            assert server.send(b"tick again")
            assert _receive(second) == [b"tick again"]
            assert server.accepted == 2


def test_the_executive_reconnects_when_the_plant_comes_back(endpoint: str) -> None:
    server = UnixBusServer(endpoint)
    client = UnixBusClient(endpoint)
    try:
        assert client.send(b"a") and _receive(server) == [b"a"]
        server.close()
        assert client.receive() == []  # the end of the old plant: no frame, no raise
        assert client.send(b"lost") is False
        assert not client.connected
        server = UnixBusServer(endpoint)
        _until(lambda: client.send(b"b"))
        assert _receive(server) == [b"b"]
    finally:
        client.close()
        server.close()


def test_a_peer_that_does_not_read_gets_its_sends_refused(
        pair: tuple[UnixBusServer, UnixBusClient]) -> None:
    server, client = pair
    assert client.send(b"connect")
    _receive(server)
    frame = b"s" * 60_000
    sent = 0
    while client.send(frame):  # the plant never reads: the kernel's queue fills
        sent += 1
        assert sent < 10_000, "a send never refused"
    assert sent > 0
    assert len(_receive(server, sent)) == sent  # all that was accepted arrives whole


def test_an_oversized_frame_is_dropped_and_counted(
        pair: tuple[UnixBusServer, UnixBusClient]) -> None:
    server, client = pair
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    raw.connect(socket_address(client.endpoint))
    try:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        raw.send(b"z" * (MAX_BUS_FRAME_BYTES + 1))
        raw.send(b"after")
        assert _receive(server) == [b"after"]  # the connection that sent it is the newest
        assert server.oversized == 1
    finally:
        raw.close()


def test_a_filesystem_socket_is_replaced_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "bus.sock"
    path.write_text("stale")  # a killed plant's leftover
    endpoint = f"unix://{path}"
    with closing(UnixBusServer(endpoint)) as server, \
            closing(UnixBusClient(endpoint)) as client:
        assert client.send(b"x") and _receive(server) == [b"x"]
    assert not path.exists()


@pytest.mark.parametrize("bad", ["unix://", "unix://@", "unix://relative", "tcp://x:1"])
def test_a_bad_endpoint_is_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(EndpointError, match="unix://"):
        socket_address(bad)


def test_the_waiter_polls_the_bus_with_the_other_streams(
        pair: tuple[UnixBusServer, UnixBusClient]) -> None:
    server, client = pair
    waiter = Waiter()
    assert waiter.wait([client], 0.01) is False
    _until(lambda: server.send(b"tick"))
    assert waiter.wait([client], 2.0) is True
    assert client.receive() == [b"tick"]


def test_other_schemes_stay_on_zeromq(endpoint: str) -> None:
    assert isinstance(plant_bus(endpoint), UnixBusClient)
    zmq_end = plant_bus("tcp://127.0.0.1:1")
    try:
        assert isinstance(zmq_end, ZmqTransport)
    finally:
        zmq_end.close()


def test_another_users_process_cannot_take_over_the_bus(
        pair: tuple[UnixBusServer, UnixBusClient], monkeypatch: pytest.MonkeyPatch) -> None:
    server, client = pair
    assert client.send(b"mine") and _receive(server) == [b"mine"]
    monkeypatch.setattr(unix_transport, "_same_user", lambda uid: False)
    intruder = UnixBusClient(client.endpoint)
    try:
        intruder.send(b"theirs")
        _until(lambda: server.wait(0.01) is not None and server.refused == 1)
        assert server.send(b"tick") and _receive(client) == [b"tick"]  # still ours
        assert server.accepted == 1
    finally:
        intruder.close()


def test_a_bad_plant_endpoint_is_refused_on_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    from flightsw.__main__ import main as flightsw_main

    assert flightsw_main(["--plant", "unix://plant", "--link", "tcp://127.0.0.1:1",
                          "--clock", "sim"]) == 2
    assert "--plant: 'unix://plant': expected unix://@NAME" in capsys.readouterr().err
    done = subprocess.run([sys.executable, "-m", "hil.plantd", "--bus", "unix://", "--world",
                           f"ipc://@aisat-test-world-{os.getpid()}", "--lockstep"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "cannot open the plant bus 'unix://'" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_payload_channel_admits_its_child_through_a_wrapper_and_no_one_else() -> None:
    """A child started through a wrapper that does not exec (a shell) connects from a
    grandchild: still admitted. This process, init and a pid that is gone are not."""
    import subprocess

    from flightsw.unix_transport import descends_from

    wrapper = subprocess.Popen(["sh", "-c", "sleep 30; true"])  # sh forks the sleep
    try:
        deadline = time.monotonic() + 10
        grandchild = None
        while grandchild is None and time.monotonic() < deadline:
            kids = Path(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children").read_text().split()
            grandchild = int(kids[0]) if kids else None
            time.sleep(0.01)
        assert grandchild is not None
        assert descends_from(wrapper.pid, wrapper.pid)
        assert descends_from(grandchild, wrapper.pid)
        assert not descends_from(os.getpid(), wrapper.pid)
        assert not descends_from(1, wrapper.pid)
    finally:
        wrapper.kill()
        wrapper.wait()
    assert not descends_from(wrapper.pid, wrapper.pid + 1)  # gone: cannot be told
