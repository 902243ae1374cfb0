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

With ``--virtual-uart FILE`` the bridge makes the cable itself: a pty pair whose slave
path it writes to FILE for the executive to open (``--link serial:PATH``), as
``aisat up --link serial`` does; it holds the master (and keeps the slave open, so an
executive that restarts reopens the same path). ``--faults drop=P,flip=P,brk=P,seed=N``
damages the bytes in both directions (:mod:`hil.line_faults`), to show on a whole stack
that the link recovers and loses nothing.
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
from pathlib import Path
from typing import Any

import zmq

from flightsw.lifeline import die_with_parent
from flightsw.serial_transport import DEFAULT_BAUD, SerialPort, SerialTransport, check_baud
from flightsw.stackinfo import atomic_write_text
from flightsw.transport import Transport, ZmqTransport
from hil.line_faults import FaultyPort, LineFaults, parse_faults
from hil.virtual_uart import PtyPair, open_pty_pair

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
                 max_held_frames: int = MAX_HELD_FRAMES,
                 faults: tuple[LineFaults, LineFaults] | None = None) -> None:
        self.board = board
        self.ground = ground
        self.max_held_frames = max_held_frames
        self.faults = faults
        """(downlink, uplink) damage applied on the line, for the report."""
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
        if self.faults is not None:
            out["line_faults"] = {"down": self.faults[0].counters(),
                                  "up": self.faults[1].counters()}
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
    die_with_parent()  # started by a launcher: no orphan holding the link's port
    p = argparse.ArgumentParser(prog="python -m hil.serial_bridge", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="the UART to the board: a device path or a pyserial URL")
    where.add_argument("--virtual-uart", type=Path, metavar="FILE",
                       help="make a pty pair and write its slave path (the board's end) "
                            "to FILE")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"line rate (default {DEFAULT_BAUD})")
    p.add_argument("--link", required=True,
                   help="the link endpoint to bind for the ground (as the executive would)")
    p.add_argument("--faults", default="",
                   help="damage both directions: drop=P,flip=P,brk=P,seed=N (any subset)")
    p.add_argument("--duration-s", type=float, default=None, help="stop after this long")
    p.add_argument("--stats-out", help="write the bridge's counters here as JSON at exit")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s serial_bridge %(levelname)s %(message)s")
    try:
        check_baud(args.baud)
        faults = None
        if args.faults:
            down = parse_faults(args.faults)
            up = parse_faults(f"{args.faults},seed={down.seed + 1}")
            faults = (down, up)
    except ValueError as exc:
        print(f"serial_bridge: {exc}", file=sys.stderr)
        return 2
    cable: PtyPair | None = None
    if args.virtual_uart is not None:
        cable = open_pty_pair()
        port: SerialPort = cable.master
        if faults is not None:
            port = FaultyPort(port, faults[0], faults[1])
        board = SerialTransport(port)
        atomic_write_text(args.virtual_uart, cable.slave_path)
    elif faults is not None:
        print("serial_bridge: --faults needs --virtual-uart (a real line has its own)",
              file=sys.stderr)
        return 2
    else:
        board = SerialTransport.open(args.port, args.baud)
        if board.last_error:
            log.warning("serial port %s not open yet (retrying): %s", args.port,
                        board.last_error)
    try:
        ground = ZmqTransport.pair(args.link, bind=True)
    except zmq.ZMQError as exc:
        print(f"serial_bridge: cannot bind {args.link}: {exc}", file=sys.stderr)
        return 2
    bridge = SerialBridge(board, ground, faults=faults)
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _f: stop.append(signum))
    deadline = None if args.duration_s is None else time.monotonic() + args.duration_s
    run(bridge, lambda: bool(stop) or (deadline is not None and time.monotonic() >= deadline))
    report = bridge.report()
    board.close()
    ground.close()
    if cable is not None:
        cable.close()
    if args.stats_out:
        with open(args.stats_out, "w") as f:
            json.dump(report, f)
    log.info("bridge stopped: %s", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
