"""The serial transport over loop://, a pty pair (the virtual board's UART) and a faulty line."""

from __future__ import annotations

import os
import random
import time

import pytest
import serial

from flightsw.serial_transport import SerialPort, SerialTransport, check_baud, open_port
from hil.line_faults import FaultyPort, LineFaults
from hil.virtual_uart import PtyPair


def _pump(a: SerialTransport, b: SerialTransport, expect: int | None = None,
          quiet_s: float = 0.2, limit_s: float = 30.0) -> list[bytes]:
    """Move ``a``'s frames to ``b`` until ``expect`` arrived, or the line has been quiet
    for ``quiet_s`` (a pty hands bytes on asynchronously: empty now is not empty)."""
    got: list[bytes] = []
    now = time.monotonic()
    deadline, quiet_until = now + limit_s, now + quiet_s
    while time.monotonic() < deadline:
        a.flush()
        b.wait(0.01)
        new = b.receive()
        got += new
        if expect is not None and len(got) >= expect:
            break
        now = time.monotonic()
        if new or a.tx_pending_bytes:
            quiet_until = now + quiet_s
        elif now >= quiet_until:
            break
    return got


def test_loopback_url_round_trip() -> None:
    t = SerialTransport.open("loop://", baud=921_600)
    assert t.connected
    frames = [b"", b"\x00\x00", b"hello", bytes(range(256))]
    for f in frames:
        assert t.send(f)
    assert t.wait(0.5)
    assert t.receive() == frames
    assert t.counters()["rx"]["frames"] == 4
    t.close()
    assert not t.connected and not t.send(b"late")


def test_bad_baud_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="115200"):
        check_baud(12345)
    with pytest.raises(ValueError, match="not one a UART driver accepts"):
        SerialTransport.open("loop://", baud=100)


def test_pty_pair_both_ways_with_large_frames(pty: PtyPair) -> None:
    board = SerialTransport.open(pty.slave_path, baud=115_200)
    host = SerialTransport(pty.master)
    rng = random.Random(1)
    down = [rng.randbytes(rng.randint(0, 20_000)) for _ in range(30)]
    for f in down:
        assert board.send(f)
    assert _pump(board, host, len(down)) == down  # the pty's buffer is far smaller: partial writes
    up = [b"ack %d" % i for i in range(50)]
    for f in up:
        assert host.send(f)
    assert _pump(host, board, len(up)) == up
    assert board.counters()["rx"]["discarded_bytes"] == 0
    board.close()


def test_oversize_and_full_buffer_are_refused_not_lost(pty: PtyPair) -> None:
    host = SerialTransport(pty.master, max_frame_bytes=1000, tx_buffer_bytes=0)
    assert not host.send(bytes(1001))
    assert host.refused_oversize == 1
    # the buffer holds one largest frame at least; then the caller keeps its frames
    accepted = sum(host.send(bytes(1000)) for _ in range(200))
    assert 0 < accepted < 200 and host.refused == 200 - accepted


def test_faulty_line_loses_frames_but_never_delivers_a_damaged_one(pty: PtyPair) -> None:
    faults = LineFaults(drop=0.001, flip=0.001, brk=0.0005, seed=7)
    board = SerialTransport(FaultyPort(open_port(pty.slave_path), faults))
    host = SerialTransport(pty.master)
    sent = [b"frame %05d " % i + bytes(200) for i in range(300)]
    got: list[bytes] = []
    for i in range(0, len(sent), 10):
        for f in sent[i:i + 10]:
            host.send(f)
        got += _pump(host, board, quiet_s=0.05)
    assert set(got) <= set(sent)  # nothing invented or corrupted got through
    assert got == sorted(got)  # in order
    c = faults.counters()
    assert c["dropped"] and c["flipped"] and c["breaks"]
    rx = board.deframer.counters
    assert 0 < len(sent) - len(got) <= c["dropped"] + c["flipped"] + c["breaks"]
    assert rx.discards > 0


def test_cut_cable_is_reopened_and_the_link_goes_on(pty: PtyPair) -> None:
    now = [0.0]
    opened: list[str] = []

    def factory() -> SerialPort:
        if now[0] < 1.0 and opened:
            raise serial.SerialException("could not open port: cable out")
        opened.append(pty.slave_path)
        return open_port(pty.slave_path)

    board = SerialTransport(None, reopen=factory, monotonic_s=lambda: now[0],
                            reopen_interval_s=0.5)
    host = SerialTransport(pty.master)
    assert board.send(b"before")
    assert _pump(board, host, 1) == [b"before"]
    assert board.port is not None
    board.port.close()  # the cable is cut under us
    assert not board.send(b"x" * 10) or board.errors  # the write fails, counted
    assert board.receive() == []
    assert board.errors >= 1 and not board.connected
    now[0] = 0.6
    board.receive()  # too early for the factory: refused (cable still out)
    assert not board.connected and "cable out" in board.last_error
    now[0] = 1.2
    assert board.send(b"after")
    got = _pump(board, host)
    assert got[-1] == b"after" and board.reopens == 1


def test_pty_slave_path_is_a_tty(pty: PtyPair) -> None:
    assert os.path.exists(pty.slave_path)
