"""The virtual board's heat follows the load: a lumped model (pure), a CPU meter over a
process tree read from /proc, and the loop closed through the executive - a thermal step
on the virtual board makes the throttle act, counted in cycles, and the loop settles
between full and no activity instead of switching."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flightsw.board.actuate import set_cpu_max_khz
from flightsw.board.detect import detect
from flightsw.board.sensors import read_board
from hil.board_heat import (
    BoardHeat,
    CpuMeter,
    HeatModel,
    HeatState,
    clock_frac,
    power_w,
    step,
    tree_cpu_s,
)
from hil.hil_bench import thermal_step_response
from hil.virtual_board import FakeNvpmodel, build_tree

MODEL = HeatModel()


def test_the_model_settles_where_the_power_puts_it() -> None:
    s = HeatState(MODEL.ambient_c)
    for _ in range(600):
        s = step(s, MODEL, busy_cores=2.0, clock_frac=1.0, dt_s=1.0)
    assert s.power_w == pytest.approx(MODEL.idle_w + 2 * MODEL.core_w)
    assert s.temp_c == pytest.approx(MODEL.ambient_c + MODEL.resistance_c_per_w * s.power_w,
                                     abs=0.01)
    # the same work at half the clock heats less; an idle board cools to its idle heat
    assert power_w(MODEL, 2.0, 0.5) < power_w(MODEL, 2.0, 1.0)
    for _ in range(600):
        s = step(s, MODEL, busy_cores=0.0, clock_frac=1.0, dt_s=1.0)
    assert s.temp_c == pytest.approx(MODEL.ambient_c + MODEL.resistance_c_per_w * MODEL.idle_w,
                                     abs=0.01)


def test_the_meter_counts_busy_cores_and_starts_afresh_for_a_new_process() -> None:
    cpu = {10: 5.0, 11: 100.0}
    now = [0.0]
    pid = [10]
    meter = CpuMeter(lambda: pid[0], cpu_s=lambda p: cpu[p], monotonic_s=lambda: now[0])
    assert meter.busy_cores() == 0.0  # a baseline
    cpu[10], now[0] = 6.5, 1.0
    assert meter.busy_cores() == pytest.approx(1.5)
    pid[0], now[0] = 11, 2.0  # the executive restarted: not a jump of 94.5 s
    assert meter.busy_cores() == 0.0


def test_a_childs_cpu_time_counts_in_its_parents_tree() -> None:
    before = tree_cpu_s(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "while time.process_time() < 0.4: pass\n"
         "print('done', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        used = tree_cpu_s(os.getpid()) - before  # the child is still alive: it counts
    finally:
        child.communicate("", timeout=30)
    assert used >= 0.35


def test_actuations_change_the_heat(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano", marker=True)
    assert clock_frac(root) == 1.0
    FakeNvpmodel(root)(["nvpmodel", "-m", "1"])  # 7W: the CPU ceiling 960 of 1510 MHz
    assert clock_frac(root) == pytest.approx(960_000 / 1_510_400)
    heat = BoardHeat(root, MODEL, busy_cores=lambda: 2.0)
    capped = heat.turn(1.0).power_w
    assert all(a.ok for a in set_cpu_max_khz(root, 1_510_400))
    assert heat.turn(1.0).power_w > capped
    sensors = read_board(detect(root))
    assert sensors.input_power_w == pytest.approx(heat.state.power_w, rel=0.01)
    assert sensors.hottest_c == pytest.approx(heat.state.temp_c, abs=0.001)
    assert sensors.cpus[0].cur_khz == 1_510_400


def test_a_thermal_step_makes_the_throttle_act_and_the_loop_settles(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano", marker=True)
    step = thermal_step_response(root, before=150, after=400)
    before = step.levels[:step.step_at]
    assert min(before) == 1.0 and max(step.temps_c[:step.step_at]) < 65  # cool: full speed
    acted = step.cycles_to_act
    assert acted is not None and acted < 60, f"the throttle acted only after {acted} cycles"
    settled = step.levels[-80:]
    assert 0.2 < min(settled) and max(settled) < 0.9  # held between, not switching
    assert max(settled) - min(settled) < 0.05
    settle = step.cycles_to_settle()
    assert settle is not None and settle >= acted
    # without the throttle the board would sit at 45 + 4 * (4 + 3 * 2) = 85 C
    assert step.temps_c[-1] < 75


def test_aisat_bench_hil_reports_every_figure() -> None:
    out = subprocess.run([sys.executable, "-m", "aisat", "bench", "hil", "--json",
                          "--seconds", "0.5"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    import json

    r = json.loads(out.stdout)
    assert [row["threads"] for row in r["inference"]] == [1, 2]
    for row in r["inference"]:
        assert row["tiles_per_s"] > 0 and row["mean_power_w"] > HeatModel().idle_w - 0.01
        assert row["tiles_per_joule"] > 0
    assert r["thermal_step"]["cycles_to_act"] is not None
    assert 0 < r["serial"]["overhead_pct"] < 5
    assert r["serial"]["goodput_Bps_921600"] > 7 * r["serial"]["goodput_Bps_115200"]
    bad = subprocess.run([sys.executable, "-m", "aisat", "bench", "hil", "--seconds", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "must be positive" in bad.stderr


def test_a_virtual_pi_5s_pmic_sees_the_load(tmp_path: Path) -> None:
    from flightsw.board.vcgencmd import read_firmware, tree_runner

    root = build_tree(tmp_path, "raspberry-pi-5", marker=True)
    idle_w = read_firmware(tree_runner(root), pmic=True).power_w
    heat = BoardHeat(root, MODEL, busy_cores=lambda: 2.0)
    heat.turn(1.0)
    busy = read_firmware(tree_runner(root), pmic=True)
    assert not busy.problems
    assert busy.power_w == pytest.approx(idle_w + heat.state.power_w - MODEL.idle_w, rel=1e-3)
