"""The host's bridge: the board's UART on one side, the ground's link socket on the other.

In hardware in the loop the executive runs on the board and its space link is a serial
line (:class:`flightsw.serial_transport.SerialTransport`); the ground-station emulator
on the host knows only a ZeroMQ PAIR that it connects to, the executive's bound link
socket in the sim stack. The bridge binds that socket in the executive's place and
moves whole frames both ways, unchanged, so the ground sees no difference: the same
envelopes, the same HELLO, the same acknowledgements.

Nothing is held for long here and nothing is silent: downlink frames the ground is not
connected for wait in a bounded queue (a reconnecting ground gets them), and when that
is full the oldest go, counted (``down_dropped``); the flight's recorder still holds
every record until the ground acknowledges it, so it sends them again. The uplink is
treated the same way. :meth:`SerialBridge.turn` is one pass with no waiting, so a test
drives it step by step; :func:`main` is the process around it.

    python -m hil.serial_bridge --port /dev/ttyUSB0 --baud 921600 --link tcp://127.0.0.1:5603
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import zmq

from flightsw.serial_transport import DEFAULT_BAUD, SerialTransport, check_baud
from flightsw.transport import Transport, ZmqTransport

log = logging.getLogger("serial_bridge")

MAX_HELD_FRAMES = 10_000
TURN_WAIT_S = 0.05


@dataclass
class BridgeCounters:
    down_frames: int = 0  # board -> ground, delivered to the ground's socket
    up_frames: int = 0  # ground -> board, queued on the UART
    down_dropped: int = 0  # held too long for a ground that was not there (oldest first)
    up_dropped: int = 0


class SerialBridge:
    """Whole frames between a serial transport (the board) and the ground's transport."""

    def __init__(self, board: Transport, ground: Transport,
                 max_held_frames: int = MAX_HELD_FRAMES) -> None:
        self.board = board
        self.ground = ground
        self.max_held_frames = max_held_frames
        self._down: deque[bytes] = deque()
        self._up: deque[bytes] = deque()
        self.counters = BridgeCounters()

    @property
    def held(self) -> tuple[int, int]:
        """(downlink, uplink) frames waiting for their far side."""
        return len(self._down), len(self._up)

    def turn(self) -> int:
        """Move what has arrived on either side; the number of frames delivered."""
        c = self.counters
        c.down_dropped += _hold(self._down, self.board.receive(), self.max_held_frames)
        sent_down = _forward(self._down, self.ground.send)
        c.down_frames += sent_down
        c.up_dropped += _hold(self._up, self.ground.receive(), self.max_held_frames)
        sent_up = _forward(self._up, self.board.send)
        c.up_frames += sent_up
        return sent_down + sent_up

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = asdict(self.counters)
        out["held_down"], out["held_up"] = self.held
        if isinstance(self.board, SerialTransport):
            out["serial"] = self.board.counters()
        return out


def _hold(queue: deque[bytes], frames: list[bytes], limit: int) -> int:
    queue.extend(frames)
    dropped = 0
    while len(queue) > limit:
        queue.popleft()
        dropped += 1
    return dropped


def _forward(queue: deque[bytes], send: Callable[[bytes], bool]) -> int:
    n = 0
    while queue and send(queue[0]):
        queue.popleft()
        n += 1
    return n


def run(bridge: SerialBridge, should_stop: Callable[[], bool],
        wait_s: float = TURN_WAIT_S) -> None:
    """Turn until told to stop, waiting on both sides between turns."""
    poller = zmq.Poller()
    if isinstance(bridge.ground, ZmqTransport):
        poller.register(bridge.ground.sock, zmq.POLLIN)
    while not should_stop():
        if bridge.turn():
            continue
        if bridge.board.wait(0.0):
            continue
        if isinstance(bridge.ground, ZmqTransport):
            fd = _serial_fd(bridge.board)
            if fd is not None:
                poller.register(fd, zmq.POLLIN)
            poller.poll(int(wait_s * 1000))
            if fd is not None:
                poller.unregister(fd)
        else:
            bridge.board.wait(wait_s)


def _serial_fd(board: Transport) -> int | None:
    port = getattr(board, "port", None)
    fileno = getattr(port, "fileno", None)
    try:
        return int(fileno()) if fileno is not None else None
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.serial_bridge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True,
                   help="the UART to the board: a device path or a pyserial URL")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"line rate (default {DEFAULT_BAUD})")
    p.add_argument("--link", required=True,
                   help="the link endpoint to bind for the ground (as the executive would)")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this long")
    p.add_argument("--stats-out", help="write the bridge's counters here as JSON at exit")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s serial_bridge %(levelname)s %(message)s")
    try:
        check_baud(args.baud)
    except ValueError as exc:
        print(f"serial_bridge: {exc}", file=sys.stderr)
        return 2
    board = SerialTransport.open(args.port, args.baud)
    if board.last_error:
        log.warning("serial port %s not open yet (retrying): %s", args.port, board.last_error)
    try:
        ground = ZmqTransport.pair(args.link, bind=True)
    except zmq.ZMQError as exc:
        print(f"serial_bridge: cannot bind {args.link}: {exc}", file=sys.stderr)
        return 2
    bridge = SerialBridge(board, ground)
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _f: stop.append(signum))
    deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
    run(bridge, lambda: bool(stop) or (deadline is not None and time.monotonic() >= deadline))
    report = bridge.report()
    board.close()
    ground.close()
    if args.stats_out:
        with open(args.stats_out, "w") as f:
            json.dump(report, f)
    log.info("bridge stopped: %s", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
