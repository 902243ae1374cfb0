"""Board detection on fake trees of real boards' layouts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flightsw.board.detect import detect, parse_l4t_release, profile_named
from hil.virtual_board import FAMILIES, build_tree, set_value


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_detected_as_itself(tmp_path: Path, family: str) -> None:
    board = detect(build_tree(tmp_path, family))
    assert board.profile.name == family
    assert not board.virtual and not board.problems


def test_orin_nano_details(tmp_path: Path) -> None:
    board = detect(build_tree(tmp_path, "jetson-orin-nano"))
    assert board.model == "NVIDIA Jetson Orin Nano Developer Kit"
    assert board.compatible[-1] == "nvidia,tegra234"
    assert board.l4t_release == "R36.3.0" and board.matched_by == "compatible"
    assert "nvpmodel" in board.to_dict()["actuators"]  # type: ignore[operator]


def test_orin_nx_module_part_number(tmp_path: Path) -> None:
    build_tree(tmp_path, "jetson-orin-nano")
    set_value(tmp_path, "proc/device-tree/compatible",
              "nvidia,p3768-0000+p3767-0000\x00nvidia,p3767-0000\x00nvidia,tegra234\x00")
    set_value(tmp_path, "proc/device-tree/model", "NVIDIA Orin NX Developer Kit\x00")
    assert detect(tmp_path).profile.name == "jetson-orin-nx"


def test_model_string_is_the_fallback(tmp_path: Path) -> None:
    set_value(tmp_path, "proc/device-tree/model", "Raspberry Pi 5 Model B Rev 1.0\x00")
    board = detect(tmp_path)
    assert board.profile.name == "raspberry-pi-5" and board.matched_by == "model"


def test_tegra_release_alone_is_some_jetson(tmp_path: Path) -> None:
    set_value(tmp_path, "etc/nv_tegra_release", "# R35 (release), REVISION: 4.1, GCID: 1\n")
    board = detect(tmp_path)
    assert board.profile.name == "jetson-other" and board.l4t_release == "R35.4.1"


def test_a_garbled_release_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    set_value(tmp_path, "etc/nv_tegra_release", "\x00\xff garbage")
    board = detect(tmp_path)
    assert board.l4t_release == "" and any("not an L4T" in p for p in board.problems)


def test_unreadable_model_is_reported(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        model = set_value(tmp_path, "proc/device-tree/model", "x")
        model.unlink()
        model.mkdir()  # reading a directory fails even for root
    else:
        set_value(tmp_path, "proc/device-tree/model", "x").chmod(0)
    board = detect(tmp_path)
    assert board.profile.name == "generic-linux"
    assert any("device-tree/model" in p for p in board.problems)


def test_empty_root_is_nothing_and_proc_alone_is_generic(tmp_path: Path) -> None:
    assert detect(tmp_path).profile.name == "none"
    (tmp_path / "proc").mkdir()
    assert detect(tmp_path).profile.name == "generic-linux"


def test_virtual_marker(tmp_path: Path) -> None:
    board = detect(build_tree(tmp_path, "raspberry-pi-5", marker=True))
    assert board.profile.name == "virtual" and board.virtual
    assert board.emulates == "raspberry-pi-5"
    assert "pmic_read_adc" in board.effective.sensors


def test_l4t_parse_and_profile_names() -> None:
    assert parse_l4t_release("# R32 (release), REVISION: 7.1, GCID: 2") == "R32.7.1"
    assert parse_l4t_release("R36") == ""
    with pytest.raises(ValueError, match="known: jetson-orin-nx"):
        profile_named("jetson-tx1")


def test_this_machine_is_detected_without_error() -> None:
    board = detect("/")
    assert board.profile.name != "none"  # CI runs on Linux
