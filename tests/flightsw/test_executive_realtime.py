"""The executive on the real clock (as on a board): samples instead of ticks, mission time
taken from the plant's time source, and no autonomy on the NaNs before the first sample."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from flightsw.wire import Kind, Sequencer, decode
from hil.stack import free_port
from tests.flightsw.test_executive_bad_input import _sensors

pytestmark = pytest.mark.integration  # real executive process over TCP

SCENARIO_UTC_S = 1_750_582_800.0  # 2025-06-22 09:00 UTC, far from the wall clock


def test_free_running_executive_follows_plant_time_and_boots_calmly(tmp_path: Path) -> None:
    ctx = zmq.Context()
    plant = ctx.socket(zmq.PAIR)
    plant.setsockopt(zmq.LINGER, 0)
    plant_port = plant.bind_to_random_port("tcp://127.0.0.1")
    link_port = free_port()
    config = tmp_path / "flight.json"
    config.write_text(json.dumps({"payload_enabled": False}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "flightsw", "--plant", f"tcp://127.0.0.1:{plant_port}",
         "--link", f"tcp://127.0.0.1:{link_port}", "--clock", "real", "--config", str(config)],
        stderr=subprocess.DEVNULL)
    ground = ctx.socket(zmq.PAIR)
    ground.setsockopt(zmq.LINGER, 0)
    try:
        time.sleep(1.5)  # boot with no sensor sample for a while: it must not go SAFE
        ground.connect(f"tcp://127.0.0.1:{link_port}")
        seq = Sequencer("plant")
        received = []
        for i in range(30):
            plant.send(seq.pack(Kind.SENSORS, SCENARIO_UTC_S + 0.1 * i,  # real time
                                {"sensors": _sensors().to_body()}))
            time.sleep(0.1)
            while ground.poll(0):
                received.append(decode(ground.recv()))
        modes_seen = [e.body["args"]["new"] for e in received
                      if e.kind is Kind.EVENT and e.body["name"] == "mode.changed"]
        assert modes_seen == []  # payload disabled: NOMINAL it stays, and never SAFE
        hk = [e for e in received if e.kind is Kind.TELEMETRY]
        assert hk, "no housekeeping"
        assert hk[-1].body["points"]["mode.current"] == "NOMINAL"
        assert hk[-1].body["points"]["power.battery_soc_pct"] == 80.0
        # stamped with plant time (a year from the wall clock), within one 1 Hz cycle
        assert SCENARIO_UTC_S <= hk[-1].time_s <= SCENARIO_UTC_S + 2.9 + 0.5
        acts = []
        while plant.poll(0):
            acts.append(decode(plant.recv()))
        assert acts and acts[-1].kind is Kind.ACTUATORS
        assert acts[-1].body["actuators"]["report_mode"] == "NOMINAL"
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0  # SIGTERM is an orderly stop
        plant.close(0)
        ground.close(0)
        ctx.term()
