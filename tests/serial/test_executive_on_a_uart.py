"""``python -m flightsw --link serial:DEVICE?baud=N``: the executive as a process with its
space link on a UART (a pty standing in for the cable), and bad endpoints refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from flightsw.framing import Deframer
from flightsw.serial_transport import parse_endpoint
from flightsw.wire import Kind, decode
from hil.virtual_uart import open_pty_pair
from tests.flightsw.test_executive_bad_input import FakePlant, _sensors


@pytest.mark.parametrize(("endpoint", "words"), [
    ("serial:", "needs a device"),
    ("serial:/dev/ttyS0?baud=12345", "not one a UART driver accepts"),
    ("serial:/dev/ttyS0?baud=fast", "whole number that a UART driver accepts"),
    ("serial:/dev/ttyS0?parity=odd", "unknown serial endpoint option"),
])
def test_bad_serial_endpoints_are_refused_with_the_reason(endpoint: str, words: str) -> None:
    from flightsw.errors import FlightError

    with pytest.raises(FlightError, match=words):
        parse_endpoint(endpoint)
    out = subprocess.run([sys.executable, "-m", "flightsw", "--plant", "tcp://127.0.0.1:1",
                          "--link", endpoint], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr


def test_a_good_endpoint_parses() -> None:
    ep = parse_endpoint("serial:/dev/ttyTHS1?baud=921600")
    assert ep is not None and (ep.device, ep.baud) == ("/dev/ttyTHS1", 921600)
    assert parse_endpoint("tcp://127.0.0.1:5600") is None


@pytest.mark.integration
def test_the_executive_process_downlinks_over_a_uart(tmp_path: Path) -> None:
    pty = open_pty_pair()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    plant = FakePlant(ctx)
    config = tmp_path / "flight.json"
    config.write_text(json.dumps({"payload_enabled": False}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightsw", "--plant", f"tcp://127.0.0.1:{plant.port}",
         "--link", f"serial:{pty.slave_path}?baud=921600", "--clock", "sim",
         "--config", str(config), "--run-dir", str(tmp_path)],
        stderr=open(tmp_path / "flightsw.log", "ab"))
    deframer = Deframer()
    kinds: list[Kind] = []
    try:
        for _ in range(5):
            plant.tick(_sensors())
        deadline = time.monotonic() + 20
        while Kind.HELLO not in kinds or Kind.TELEMETRY not in kinds:
            assert time.monotonic() < deadline, f"only {kinds} came down the UART"
            for frame in deframer.feed(pty.master.read(65536)):
                kinds.append(decode(frame).kind)
            time.sleep(0.02)
            plant.tick(_sensors())
        plant.stop()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        plant.sock.close(0)
        ctx.term()
        pty.close()
