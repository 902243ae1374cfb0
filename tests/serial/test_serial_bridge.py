"""The host's bridge: executive (in process) -> UART (pty) -> bridge -> ZeroMQ -> ground.
The ground talks to the bridge's socket exactly as to an executive's, and archives every
record once; a ground that is away for a while costs the bridge frames (counted) but the
recorder resends them, so nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.harness import EPOCH_S
from flightsw.transport import ZmqTransport
from hil.line_faults import LineFaults
from hil.serial_bridge import SerialBridge
from hil.serial_bridge import main as bridge_main
from hil.virtual_uart import PtyPair
from tests.serial.test_serial_link_lossless import SerialLinkBench
from tests.test_link_lossless import _account


class BridgedBench(SerialLinkBench):
    """The ground core behind a ZeroMQ PAIR that connects to the bridge."""

    def __init__(self, tmp: Path, pty: PtyPair, max_held_frames: int = 10_000) -> None:
        super().__init__(tmp, pty, LineFaults(), LineFaults())
        endpoint = f"ipc://{tmp}/link.sock"
        self.bridge = SerialBridge(self.host, ZmqTransport.pair(endpoint, bind=True),
                                   max_held_frames=max_held_frames)
        self.endpoint = endpoint
        self.ground_sock: ZmqTransport | None = None
        self.connect_ground()

    def connect_ground(self) -> None:
        self.ground_sock = ZmqTransport.pair(self.endpoint, bind=False)
        self.core.on_flight_connected()

    def disconnect_ground(self) -> None:
        assert self.ground_sock is not None
        self.ground_sock.close()
        self.ground_sock = None

    def take_downlink(self) -> list[bytes]:
        frames: list[bytes] = []
        for _ in range(200):
            self.board.flush()
            self.host.wait(0.002)
            moved = self.bridge.turn()
            got = self.ground_sock.receive() if self.ground_sock is not None else []
            if self.ground_sock is not None and not got and moved:
                self.ground_sock.wait(0.05)
                got = self.ground_sock.receive()
            frames += got
            if not moved and not got and not self.board.tx_pending_bytes:
                break
        return frames

    def send_up(self, frame: bytes) -> bool:
        return self.ground_sock is not None and self.ground_sock.send(frame)

    def push_uplink(self) -> None:
        for _ in range(5):
            self.bridge.turn()
        self.host.flush()


def test_ground_sees_the_board_through_the_bridge(tmp_path: Path, pty: PtyPair) -> None:
    bench = BridgedBench(tmp_path, pty)
    bench.fly(10, in_contact=True)
    rec = bench.core.mission.submit("mode.set", {"mode": "SAFE"}, EPOCH_S + 10, confirm=True)
    bench.fly(50, in_contact=True)
    books = _account(bench)
    # 10 s at one housekeeping packet a second, then SAFE's one every 2 s, plus events
    # and reports: every record made reached the ground, one may still be on its way
    assert books.archived >= books.made - 1 and books.archived > 40
    assert books.held < 40 and books.resent == 0
    assert rec.stage.value == "completed"  # up the UART, verified down it
    assert bench.h.core.state.mode.mode == "SAFE" and bench.h.core.state.mode.commanded
    c = bench.bridge.counters
    assert c.down_frames >= books.archived and c.up_frames > 0  # acks went up the UART
    assert c.down_dropped == 0 and c.up_dropped == 0
    # the executive took the ground's acknowledgements: the recorder is nearly empty
    assert len(bench.h.core.state.link.recorder.records) < 40


def test_a_ground_away_costs_the_bridge_frames_but_nothing_is_lost(tmp_path: Path,
                                                                   pty: PtyPair) -> None:
    bench = BridgedBench(tmp_path, pty, max_held_frames=20)
    bench.fly(20, in_contact=True)
    bench.disconnect_ground()
    bench.fly(40, in_contact=True)  # the flight keeps downlinking into the bridge
    assert bench.bridge.counters.down_dropped > 0  # held 20, the rest dropped, counted
    bench.connect_ground()
    bench.fly(90, in_contact=True)
    books = _account(bench)
    assert books.resent > 0 and books.held < 40


def test_bridge_cli_refuses_a_bad_baud(capsys: pytest.CaptureFixture[str]) -> None:
    assert bridge_main(["--port", "loop://", "--baud", "1234", "--link", "inproc://x"]) == 2
    assert "baud rate 1234" in capsys.readouterr().err
