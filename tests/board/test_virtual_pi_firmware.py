"""A virtual Pi's own ``vcgencmd``, answering from its live tree, run by the board layer
as it runs the real one: the firmware's temperature, throttle bits that follow the heat
(now, and since boot until a reboot), the Pi 5's PMIC rails - and hybrid sensing on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.board.detect import detect
from flightsw.board.hybrid import from_option
from flightsw.board.sensors import read_board
from flightsw.board.vcgencmd import read_firmware, tree_runner
from flightsw.harness import nominal_sensors
from hil.virtual_board import build_tree, set_value


def _cpu_zone(root: Path) -> str:
    for zone in sorted((root / "sys/class/thermal").glob("thermal_zone*")):
        if (zone / "type").read_text().strip() == "cpu-thermal":
            return str((zone / "temp").relative_to(root))
    raise AssertionError("no cpu-thermal zone")


def test_the_firmware_follows_the_trees_heat_and_remembers_since_boot(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-4", marker=True)
    run = tree_runner(root)
    fw = read_firmware(run)
    assert fw.temp_c == pytest.approx(52.0, abs=0.1) and not fw.problems
    assert fw.throttled is not None and not fw.throttled.now and not fw.throttled.since_boot
    set_value(root, _cpu_zone(root), 86_000)
    hot = read_firmware(run)
    assert hot.throttled is not None
    assert hot.throttled.now == {"soft_temp_limit", "throttled", "arm_freq_capped"}
    set_value(root, _cpu_zone(root), 50_000)
    cool = read_firmware(run)
    assert cool.throttled is not None and not cool.throttled.now
    assert cool.throttled.since_boot == {"soft_temp_limit", "throttled", "arm_freq_capped"}


def test_an_unknown_firmware_command_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-4", marker=True)
    fw = read_firmware(tree_runner(root), pmic=True)  # a Pi 4 has no PMIC ADC
    assert fw.rails == () and any("pmic_read_adc" in p for p in fw.problems)


def test_hybrid_sensing_on_a_virtual_pi_5_uses_its_firmware(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-5", marker=True)
    sensing = from_option(f"virtual:{root}")
    assert sensing is not None
    merged = sensing.merge(nominal_sensors(payload_temp_c=10.0))
    board = read_board(detect(root), tree_runner(root))
    assert board.firmware is not None and not board.problems
    assert merged.payload_temp_c == pytest.approx(board.hottest_c)
    assert merged.compute_power_w == pytest.approx(board.firmware.power_w) and \
        merged.compute_power_w > 0


def test_a_tree_without_its_own_command_runs_the_systems(tmp_path: Path) -> None:
    assert tree_runner(tmp_path)(["echo", "from the system"]) == "from the system\n"
