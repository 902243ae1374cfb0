"""Hybrid sensing: the spacecraft from the plant, the compute's temperature and power
from the board (its tree, found by name), so the executive throttles against the board's
heat; the ``--board`` switch, refused with the reason when it is wrong."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from flightsw.board.detect import detect
from flightsw.board.hybrid import BoardSensing, from_option, hybrid_sample
from flightsw.board.sensors import read_board
from flightsw.errors import FlightError
from flightsw.harness import Harness, nominal_sensors
from hil.virtual_board import build_tree, set_value


def test_the_compute_comes_from_the_board_the_rest_from_the_plant(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano", marker=True)
    plant = nominal_sensors(payload_temp_c=20.0)
    merged = hybrid_sample(plant, read_board(detect(root)))
    assert merged.payload_temp_c == pytest.approx(48.1)  # tj-thermal, the hottest zone
    assert merged.compute_power_w == pytest.approx(5.080 * 1.432)  # VDD_IN
    assert merged.battery_soc_frac == plant.battery_soc_frac
    assert merged.sun_fraction == plant.sun_fraction and merged.in_contact


def test_a_board_that_cannot_be_read_is_a_lost_reading_not_the_plants(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-4", marker=True)
    for zone in (root / "sys/class/thermal").glob("thermal_zone*"):
        (zone / "temp").unlink()
    merged = hybrid_sample(nominal_sensors(payload_temp_c=20.0), read_board(detect(root)))
    assert math.isnan(merged.payload_temp_c) and math.isnan(merged.compute_power_w)


def test_the_board_is_read_at_most_once_per_interval(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano", marker=True)
    now = [0.0]
    sensing = BoardSensing(detect(root), min_interval_s=0.5, monotonic_s=lambda: now[0])
    for _ in range(10):
        sensing.merge(nominal_sensors())
    assert sensing.reads == 1
    set_value(root, "sys/class/thermal/thermal_zone0/temp", 77_000)  # tj-thermal
    assert sensing.merge(nominal_sensors()).payload_temp_c == pytest.approx(48.1)
    now[0] = 0.5
    assert sensing.merge(nominal_sensors()).payload_temp_c == pytest.approx(77.0)
    assert sensing.reads == 2


def test_the_executive_throttles_against_the_boards_heat(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano", marker=True)
    h = Harness(sensors=nominal_sensors(payload_temp_c=30.0))  # the plant says: cool
    h.executive.board_sensing = BoardSensing(detect(root), min_interval_s=0.0)
    h.run(20)
    assert h.latest("thermal.payload_temp_c") == pytest.approx(48.1)
    assert h.latest("thermal.compute_power_w") == pytest.approx(7.27, abs=0.01)
    assert h.core.state.throttle.level_frac == 1.0
    set_value(root, "sys/class/thermal/thermal_zone0/temp", 95_000)  # the board is hot
    h.run(3)
    assert h.core.state.throttle.level_frac == 0.0 and h.core.state.throttle.zone == "hot"


def test_board_options(tmp_path: Path) -> None:
    assert from_option("none") is None
    generic = build_tree(tmp_path / "pc", "generic-linux")
    assert from_option("auto", root=generic) is None  # a laptop's CPU is not the payload
    jetson = build_tree(tmp_path / "orin", "jetson-orin-nano")
    auto = from_option("auto", root=jetson)
    assert auto is not None and auto.board.profile.name == "jetson-orin-nano"
    virtual = build_tree(tmp_path / "v", "raspberry-pi-5", marker=True)
    chosen = from_option(f"virtual:{virtual}")
    assert chosen is not None and chosen.board.emulates == "raspberry-pi-5"
    with pytest.raises(FlightError, match="not a virtual board's tree"):
        from_option(f"virtual:{jetson}")
    with pytest.raises(FlightError, match="needs the tree's path"):
        from_option("virtual:")
    with pytest.raises(FlightError, match="unknown --board choice"):
        from_option("jetson")


def test_the_executive_refuses_a_bad_board_option_with_the_reason(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "flightsw", "--plant", "tcp://127.0.0.1:1",
                          "--link", "tcp://127.0.0.1:2", "--board", f"virtual:{tmp_path}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "not a virtual board's tree" in out.stderr
    assert "Traceback" not in out.stderr
