"""Board sensors found by name on fake trees; offline and odd values reported."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from flightsw.board.detect import detect
from flightsw.board.sensors import read_board
from flightsw.board.vcgencmd import CommandRunner
from hil.virtual_board import build_tree, canned_vcgencmd, set_value


def runner_for(replies: dict[tuple[str, ...], str]) -> CommandRunner:
    def run(argv: Sequence[str]) -> str:
        try:
            return replies[tuple(argv)]
        except KeyError:
            raise subprocess.CalledProcessError(1, list(argv)) from None
    return run


def no_commands(argv: Sequence[str]) -> str:
    raise AssertionError(f"no command expected on this board: {argv}")


def test_orin_nano_by_name(tmp_path: Path) -> None:
    s = read_board(detect(build_tree(tmp_path, "jetson-orin-nano")), no_commands)
    assert not s.problems
    cpu = s.zone("cpu-thermal")
    assert cpu is not None and cpu.temp_c == 47.5
    cv0 = s.zone("cv0-thermal")
    assert cv0 is not None and math.isnan(cv0.temp_c) and "offline" in cv0.offline
    assert s.hottest_c == 48.1  # tj-thermal; the -256 C zones do not count
    vdd_in = s.rail("VDD_IN")
    assert vdd_in is not None and vdd_in.source == "hwmon"
    assert vdd_in.power_w == pytest.approx(5.080 * 1.432)  # found by label, not index 1
    assert s.input_power_w == vdd_in.power_w
    assert {r.name for r in s.rails} == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}
    (gpu,) = s.gpus  # the vic devfreq device is not a GPU
    assert gpu.device == "17000000.gpu" and gpu.load_frac == 0.125
    assert len(s.cpus) == 6 and s.cpus[0].hw_max_khz == 1_510_400


def test_xavier_nx_older_iio_layout(tmp_path: Path) -> None:
    s = read_board(detect(build_tree(tmp_path, "jetson-xavier-nx")), no_commands)
    assert not s.problems
    rail = s.rail("VDD_CPU_GPU_CV")
    assert rail is not None and rail.source == "iio"
    assert rail.voltage_v == 5.008 and rail.current_a == 0.28
    assert s.gpus[0].device == "17000000.gv11b"
    assert s.zone("GPU-therm") is not None


def test_raspberry_pi_5_firmware(tmp_path: Path) -> None:
    board = detect(build_tree(tmp_path, "raspberry-pi-5"))
    s = read_board(board, runner_for(canned_vcgencmd("raspberry-pi-5", 83.2, 0x80008)))
    assert s.firmware is not None and s.firmware.throttled is not None
    assert s.firmware.throttled.now == {"soft_temp_limit"}
    assert s.firmware.throttled.since_boot == {"soft_temp_limit"}
    assert s.hottest_c == 83.2
    assert s.rail("VDD_CORE") is not None
    assert 0.5 < s.input_power_w < 3.0 and not s.problems


def test_raspberry_pi_4_without_vcgencmd(tmp_path: Path) -> None:
    def missing(argv: Sequence[str]) -> str:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    s = read_board(detect(build_tree(tmp_path, "raspberry-pi-4")), missing)
    assert s.zone("cpu-thermal") is not None and s.hottest_c == 51.95
    assert any("measure_temp" in p for p in s.problems)
    assert any("get_throttled" in p for p in s.problems)
    assert s.firmware is not None and s.firmware.throttled is None


def test_missing_rails_unreadable_temps_and_untyped_zones(tmp_path: Path) -> None:
    build_tree(tmp_path, "jetson-orin-nano")
    (tmp_path / "sys/class/hwmon/hwmon1/in3_label").unlink()  # VDD_CPU_GPU_CV gone
    set_value(tmp_path, "sys/class/thermal/thermal_zone0/temp", "garbage")
    (tmp_path / "sys/class/thermal/thermal_zone1/temp").unlink()
    (tmp_path / "sys/class/thermal/thermal_zone2/type").unlink()
    s = read_board(detect(tmp_path), no_commands)
    assert any("VDD_CPU_GPU_CV" in p for p in s.problems)
    assert any("without a type" in p for p in s.problems)
    offline = {z.name: z.offline for z in s.thermal if z.offline}
    assert offline["tj-thermal"].startswith("temp 'garbage'")
    assert offline["soc2-thermal"] == "temp unreadable"
    assert len(s.thermal) == 8


def test_to_dict_is_json_ready(tmp_path: Path) -> None:
    import json

    s = read_board(detect(build_tree(tmp_path, "jetson-orin-nano")), no_commands)
    d = json.loads(json.dumps(s.to_dict()))
    assert d["rails"][0]["source"] == "hwmon"
