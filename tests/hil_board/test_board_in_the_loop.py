"""Hardware in the loop: the same test bodies against a real board (``--hil-board
ssh://...``) or the virtual one (default, CI). Each reads the board as ``aisat board
--json`` reports it, so nothing here knows which it is."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from flightsw.wire import Envelope, Kind, try_decode
from hil.target import BoardTarget

pytestmark = pytest.mark.hil

KNOWN_FAMILIES = ("jetson", "raspberry-pi", "generic-linux")
LOAD_S = 12.0


def test_the_board_is_known_and_its_compute_is_sensed(target: BoardTarget) -> None:
    seen = target.board()
    board, sensors = seen["board"], seen["sensors"]
    family = board["family"] if board["family"] != "virtual" else None
    assert family in KNOWN_FAMILIES or board["emulates"], board
    assert math.isfinite(sensors["hottest_c"]) and 0 < sensors["hottest_c"] < 110
    online = [z for z in sensors["thermal"] if not z["offline"]]
    assert online, "no thermal zone online"
    if "ina3221" in board["sensors"]:
        rails = {r["name"]: r for r in sensors["rails"]}
        assert {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"} <= set(rails)
        assert rails["VDD_IN"]["power_w"] > 0


def test_a_cpu_ceiling_is_set_read_back_and_restored(target: BoardTarget) -> None:
    cpus = target.board()["sensors"]["cpus"]
    assert cpus, "no cpufreq on this board"
    top = int(cpus[0]["scaling_max_khz"])
    lower = int(top * 0.6)
    try:
        done = target.board("--cpu-max-khz", str(lower))
        for a in done["actuations"]:
            # the kernel may clamp to a frequency it has: then it says so, with the value
            assert a["ok"] or "clamped" in a["detail"], a
            assert int(a["read_back"]) <= top
        assert all(int(c["scaling_max_khz"]) <= top for c in done["sensors"]["cpus"])
    finally:
        restored = target.board("--cpu-max-khz", str(top))
    assert all(a["ok"] for a in restored["actuations"])


def test_load_heats_the_compute(target: BoardTarget) -> None:
    def sample() -> tuple[float, float]:
        s = target.board()["sensors"]
        return float(s["hottest_c"]), float(s["input_power_w"])

    idle_c, idle_w = sample()
    hottest_c, top_w = idle_c, idle_w
    with target.load(LOAD_S):
        deadline = time.monotonic() + LOAD_S
        while time.monotonic() < deadline and hottest_c < idle_c + 1.0:
            time.sleep(0.5)
            temp_c, power_w = sample()
            hottest_c, top_w = max(hottest_c, temp_c), max(top_w, power_w)
    assert hottest_c >= idle_c + 1.0, f"one busy core for {LOAD_S:.0f} s: {idle_c} -> {hottest_c}"
    if math.isfinite(idle_w):
        assert top_w > idle_w  # the rails saw the load too


def test_the_boards_executive_downlinks_over_the_uart(target: BoardTarget,
                                                       tmp_path: Path) -> None:
    deframer_kinds: list[Kind] = []
    temps: list[float] = []
    board_cs: list[float] = []  # the board's own readings while the telemetry came
    with target.uart(tmp_path) as link:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (Kind.HELLO in deframer_kinds and temps):
            link.wait(0.5)
            board_cs.append(float(target.board()["sensors"]["hottest_c"]))
            for frame in link.receive():
                env = try_decode(frame)
                if not isinstance(env, Envelope):
                    continue
                deframer_kinds.append(env.kind)
                if env.kind is Kind.TELEMETRY:
                    value = env.body.get("points", {}).get("thermal.payload_temp_c")
                    if isinstance(value, (int, float)):
                        temps.append(float(value))
    assert Kind.HELLO in deframer_kinds, f"only {set(deframer_kinds)} came down the UART"
    assert temps, "no compute temperature in the telemetry"
    board_cs.append(float(target.board()["sensors"]["hottest_c"]))
    # the board's, not a model's: inside what the board read over the same seconds (a
    # live virtual board under a loaded CI host moved 14 C between a packet and a read)
    assert min(board_cs) - 5 <= temps[-1] <= max(board_cs) + 5, (temps[-1], board_cs)
