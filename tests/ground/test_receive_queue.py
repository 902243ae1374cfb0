"""The ground's receive queue is bounded: a flood pushes back on the sender (the records
stay in the spacecraft's recorder) instead of growing the ground (2.6 GB in the issue)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import zmq

from flightsw.wire import Kind, Sequencer
from ground.process import LINK_RCVHWM, GroundConfig, GroundProcess

from .conftest import DICTIONARY, free_endpoint

FRAME_BYTES = 16 << 10
ATTEMPTS = 3000  # 48 MB if nothing pushed back: enough to tell, small enough to afford
SLACK_FRAMES = 10 + (8 << 20) // FRAME_BYTES
"""The sender's own queue (SNDHWM 10) and the kernel's socket buffers (a few MB)."""


def test_a_flood_is_pushed_back_and_what_was_taken_is_archived(tmp_path: Path) -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    link = free_endpoint()
    flood = ctx.socket(zmq.PAIR)
    flood.setsockopt(zmq.LINGER, 0)
    flood.setsockopt(zmq.SNDHWM, 10)
    flood.setsockopt(zmq.SNDBUF, 64 << 10)
    flood.bind(link)
    ground = GroundProcess(GroundConfig(link=link, ops=free_endpoint(),
                                       archive=tmp_path / "a.sqlite"), DICTIONARY, ctx=ctx)
    try:
        fl = Sequencer("flight")
        pad = "x" * FRAME_BYTES
        for _ in range(200):  # until the ground has connected
            ground.turn(10)
            if ground.flight_connected:
                break
        assert ground.flight_connected
        taken = 0
        while taken < ATTEMPTS:  # the ground does not turn: nothing drains
            if not _send_soon(flood, fl.pack(Kind.TELEMETRY, 1.8e9, {"points": {"pad": pad}})):
                break
            taken += 1
        # the ground's queue, the sender's and the sockets' buffers: bounded, far below
        # the flood (without the high-water mark the ground took all 3,000)
        assert LINK_RCVHWM <= taken <= LINK_RCVHWM + SLACK_FRAMES, taken
        for _ in range(500):  # now the ground drains: everything taken is archived
            ground.turn(10)
            if ground.mission.records["tlm"] >= taken:
                break
        assert ground.mission.records["tlm"] == taken
        assert ground.mission.decode_errors == 0
    finally:
        ground.close()
        flood.close(linger=0)
        ctx.term()


def _send_soon(sock: zmq.Socket[Any], frame: bytes, patience_s: float = 0.3) -> bool:
    """Send without blocking, giving ZeroMQ's I/O thread a moment to move the queue."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            sock.send(frame, zmq.NOBLOCK)
            return True
        except zmq.Again:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
