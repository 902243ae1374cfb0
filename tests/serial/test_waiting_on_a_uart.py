"""Waiting on a UART: the transport seam's :class:`~flightsw.transport.Waiter` polls a
serial transport's descriptor with the ZeroMQ sockets (it used to ignore anything but
ZeroMQ and in-memory pipes, so a loop waiting on a UART returned at once, empty), and the
executive's shutdown drain keeps waiting for the ground's acknowledgements on a UART as
it does on ZeroMQ (it used to give up at the first quiet 50 ms)."""

from __future__ import annotations

import threading
import time

import zmq

from flightsw.harness import Harness
from flightsw.serial_transport import SerialTransport, open_port
from flightsw.transport import Waiter, ZmqTransport, wait_any
from flightsw.wire import decode
from hil.virtual_uart import PtyPair


def test_a_frame_on_a_uart_wakes_the_waiter(pty: PtyPair) -> None:
    host = SerialTransport(pty.master)
    board = SerialTransport(open_port(pty.slave_path, 921_600))
    try:
        assert not wait_any([host], 0.0)  # nothing sent yet: no false alarm
        assert host.descriptor == pty.master.fd
        assert board.send(b"hello over the wire")
        assert Waiter().wait([None, host], 5.0)
        assert host.receive() == [b"hello over the wire"]
    finally:
        board.close()


def test_a_uart_and_a_zmq_socket_are_waited_on_together(pty: PtyPair) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    server = ZmqTransport.pair("inproc://waiter", bind=True, ctx=ctx)
    client = ZmqTransport.pair("inproc://waiter", bind=False, ctx=ctx)
    host = SerialTransport(pty.master)
    board = SerialTransport(open_port(pty.slave_path, 921_600))
    waiter = Waiter()
    try:
        assert not waiter.wait([server, host], 0.0)
        board.send(b"from the board")
        assert waiter.wait([server, host], 5.0)  # the UART, not the socket, woke it
        assert host.receive() == [b"from the board"] and server.receive() == []
        client.send(b"from the socket")
        assert waiter.wait([server, host], 5.0)
        assert server.receive() == [b"from the socket"]
    finally:
        board.close()
        for t in (server, client):
            t.close()
        ctx.term()


def test_the_shutdown_drain_waits_for_acknowledgements_over_a_uart(pty: PtyPair) -> None:
    h = Harness(auto_ack=False)
    h.executive.link = SerialTransport(pty.master)
    h.ground = SerialTransport(open_port(pty.slave_path, 921_600))  # type: ignore[assignment]
    h.run(5)
    deadline = time.monotonic() + 10
    while not h.downlink and time.monotonic() < deadline:
        h.run(1)
    held = len(h.core.state.link.recorder)
    assert held > 0 and h.downlink

    drained = threading.Event()

    def late_ground() -> None:
        """Quiet on the line first, as a ground a few hops away is; then acknowledge
        everything it has seen, including what the drain sends again, until done."""
        time.sleep(0.3)
        seen = {e.seq for e in h.downlink}
        while not drained.is_set():
            seen |= {decode(frame).seq for frame in h.ground.receive()}
            h.ack(sorted(seen))
            h.ground.wait(0.1)

    acker = threading.Thread(target=late_ground)
    acker.start()
    try:
        h.executive.drain_downlink(max_s=10.0)
    finally:
        drained.set()
        acker.join()
    assert len(h.core.state.link.recorder) == 0, "the drain gave up before the ground's ack"
