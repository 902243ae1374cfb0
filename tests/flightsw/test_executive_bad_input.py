"""The executive's link under bad input: garbage and malformed commands are rejected with
events and failed verifications, and the executive keeps running (answering ticks).

The test plays both the plant (lockstep ticks on the plant bus) and the ground (the space
link), and runs the real executive as a separate process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from flightsw import keyring, uplink_auth
from flightsw.catalog import build_dictionary
from flightsw.hal import Sensors
from flightsw.wire import Envelope, Kind, Sequencer, decode, encode
from hil.stack import free_port

pytestmark = pytest.mark.integration  # real executive process over TCP

EPOCH = 1_790_000_000.0


class FakePlant:
    def __init__(self, ctx: zmq.Context[Any]) -> None:
        self.sock = ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.seq = Sequencer("plant")
        self.elapsed_s = 0.0

    def tick(self, sensors: Sensors, timeout_ms: int = 30_000) -> Envelope:
        self.sock.send(self.seq.pack(Kind.TICK, EPOCH + self.elapsed_s, {
            "elapsed_s": self.elapsed_s, "dt_s": 1.0, "sensors": sensors.to_body()}))
        while True:
            assert self.sock.poll(timeout_ms), "executive did not answer the tick"
            reply = decode(self.sock.recv())
            if reply.kind is not Kind.HELLO:  # an executive says hello once it is up
                break
        assert reply.kind is Kind.ACTUATORS
        self.elapsed_s += 1.0
        return reply

    def stop(self) -> None:
        self.sock.send(self.seq.pack(Kind.STOP, EPOCH + self.elapsed_s, {"reason": "test"}))


def _sensors() -> Sensors:
    return Sensors(battery_soc_frac=0.8, battery_voltage_v=7.8, battery_current_a=0.5,
                   battery_temp_c=20.0, array_power_w=30.0, load_power_w=10.0,
                   payload_temp_c=30.0, avionics_temp_c=20.0, radiator_temp_c=0.0,
                   sun_fraction=1.0, in_contact=True, contact_station="test",
                   lat_deg=10.0, lon_deg=20.0)


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]]]:
    ctx = zmq.Context()
    plant = FakePlant(ctx)
    ground = ctx.socket(zmq.PAIR)
    ground.setsockopt(zmq.LINGER, 0)
    link_port = free_port()
    config = tmp_path / "flight.json"
    config.write_text(json.dumps({"payload_enabled": False}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightsw", "--plant", f"tcp://127.0.0.1:{plant.port}",
         "--link", f"tcp://127.0.0.1:{link_port}", "--clock", "sim", "--config", str(config),
         "--stats-out", str(tmp_path / "stats.json"), "--keys", str(tmp_path / "keys")],
        stderr=open(tmp_path / "flightsw.log", "wb"))
    try:
        plant.tick(_sensors())  # the executive is up and its link is bound
        ground.connect(f"tcp://127.0.0.1:{link_port}")
        yield plant, ground, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        ground.close(0)
        plant.sock.close(0)
        ctx.term()


def _sealed(tmp_path: Path, frame: bytes) -> bytes:
    """As the ground sends it: sealed under the key the executive created."""
    (key_id, key), = keyring.load(tmp_path / "keys").items()
    return uplink_auth.seal(key, key_id, frame)


def _drain(ground: zmq.Socket[Any]) -> list[Envelope]:
    out = []
    while ground.poll(200):
        out.append(decode(ground.recv()))
    return out


def test_garbage_and_malformed_commands_are_rejected_and_executive_survives(
        stack: tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]], tmp_path: Path) -> None:
    plant, ground, proc = stack
    for _ in range(3):
        plant.tick(_sensors())
    seq = Sequencer("ground")
    bad_frames = [
        b"",
        b"\xc1\xc1\xc1",
        b"\xdd\xff\xff\xff\xff",  # claims a 4-billion-element array
        msgpack.packb([99, "cmd", "ground", 0, 0.0, {}]),  # wrong wire version
        encode(Envelope(Kind.TELEMETRY, "ground", 0, EPOCH, {})),  # not an uplink kind
    ]
    for frame in bad_frames:
        ground.send(_sealed(tmp_path, frame))  # authentic, but garbage inside
    commands = [
        ("no.such", {}),
        ("mode.set", {"mode": "WARP"}),
        ("mode.set", {}),
        ("payload.throttle_cap", {"level_pct": 1e9}),
        ("payload.enable", {"enabled": "yes"}),
        ("mode.set", {"mode": "SAFE", "sneaky": 1}),
    ]
    now = EPOCH + plant.elapsed_s
    for name, args in commands:
        ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, now,
                                               {"name": name, "args": args})))
    ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, now, {"args": {}})))  # no name
    ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, now,
                                           {"name": "exec.noop", "args": {}})))
    for _ in range(3):
        plant.tick(_sensors())
    assert proc.poll() is None

    received = _drain(ground)
    rejected_frames = [e for e in received if e.kind is Kind.EVENT
                       and e.body["name"] == "exec.frame_rejected"]
    assert len(rejected_frames) == len(bad_frames)
    assert any("wire version" in e.body["text"] for e in rejected_frames)
    verifications = {(e.body["cmd_seq"], e.body["stage"]): e.body for e in received
                     if e.kind is Kind.VERIFICATION}
    for i in range(len(commands) + 1):
        assert (i, "failed") in verifications, f"command #{i} not refused"
        assert (i, "accepted") not in verifications
        assert verifications[(i, "failed")]["reason"]
    noop = len(commands) + 1
    assert verifications[(noop, "accepted")] and verifications[(noop, "completed")]
    assert "unknown command" in verifications[(0, "failed")]["reason"]
    assert "WARP" in verifications[(1, "failed")]["reason"]
    cmd_events = [e for e in received if e.kind is Kind.EVENT
                  and e.body["name"] == "exec.cmd_rejected"]
    assert len(cmd_events) == len(commands) + 1

    # housekeeping counts them too, and the executive still commands the plant
    hk = [e.body["points"] for e in received if e.kind is Kind.TELEMETRY]
    assert hk and hk[-1]["exec.frames_rejected"] == len(bad_frames)
    assert hk[-1]["exec.cmds_rejected"] == len(commands) + 1
    act = plant.tick(_sensors())
    assert act.body["actuators"]["report_mode"] == "NOMINAL"
    plant.stop()
    assert proc.wait(timeout=15) == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["cmds_rejected"] == len(commands) + 1


def test_guard_refusal_is_a_failed_verification_with_the_reason(
        stack: tuple[FakePlant, zmq.Socket[Any], subprocess.Popen[bytes]],
        tmp_path: Path) -> None:
    plant, ground, proc = stack
    low = _sensors()
    low.battery_soc_frac = 0.3  # below the compute threshold
    plant.tick(low)
    seq = Sequencer("ground")
    now = EPOCH + plant.elapsed_s
    ground.send(_sealed(tmp_path, seq.pack(Kind.HELLO, now,
                                           {"dictionary_hash": build_dictionary().hash})))
    ground.send(_sealed(tmp_path, seq.pack(Kind.COMMAND, now,
                                           {"name": "mode.set", "args": {"mode": "COMPUTE"}})))
    plant.tick(low)
    plant.tick(low)
    received = _drain(ground)
    failed = [e.body for e in received if e.kind is Kind.VERIFICATION
              and e.body["stage"] == "failed"]
    assert failed and "below 60 %" in failed[0]["reason"]
    assert any(e.kind is Kind.EVENT and e.body["name"] == "mode.refused" for e in received)
    assert not any(e.kind is Kind.EVENT and e.body["name"] == "link.dictionary_mismatch"
                   for e in received)
    plant.stop()
    assert proc.wait(timeout=15) == 0
