"""Power modes from the board's own table and CPU ceilings, each read back."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.board.actuate import (
    parse_nvpmodel_conf,
    parse_nvpmodel_query,
    read_mode_table,
    set_cpu_max_khz,
    set_power_mode,
)
from hil.virtual_board import FakeNvpmodel, build_tree


def test_mode_table_is_read_from_the_board(tmp_path: Path) -> None:
    orin = read_mode_table(build_tree(tmp_path / "orin", "jetson-orin-nano"))
    xavier = read_mode_table(build_tree(tmp_path / "xavier", "jetson-xavier-nx"))
    assert [(m.id, m.name) for m in orin.modes] == [(0, "15W"), (1, "7W")]
    assert orin.default_id == 0 and not orin.problems
    assert orin.modes[1].setting("CPU_A78_0", "MAX_FREQ") == "960000"
    assert xavier.find("MODE_20W_6CORE") is not None
    assert xavier.find("MODE_20W_6CORE").id == 8  # type: ignore[union-attr]
    assert xavier.default_id == 2 and orin.find("MODE_20W_6CORE") is None


def test_power_mode_set_and_read_back(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano")
    nvp = FakeNvpmodel(root)
    table = read_mode_table(root)
    a = set_power_mode(table, "7W", nvp)
    assert a.ok and a.read_back == "7W"
    assert ["nvpmodel", "-m", "1"] in nvp.calls  # the id came from the board's table
    cpu0 = root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq"
    assert cpu0.read_text().strip() == "960000"


def test_unknown_mode_and_a_mode_that_did_not_take(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano")
    table = read_mode_table(root)
    a = set_power_mode(table, "MAXN", FakeNvpmodel(root))
    assert not a.ok and "it has: 0=15W, 1=7W" in a.detail
    b = set_power_mode(table, "7W", FakeNvpmodel(root, needs_reboot=True))
    assert not b.ok and b.read_back == "15W" and "active is 15W" in b.detail


def test_nvpmodel_missing_is_reported(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "jetson-orin-nano")

    def absent(argv: object) -> str:
        raise FileNotFoundError(2, "No such file or directory", "nvpmodel")

    a = set_power_mode(read_mode_table(root), "7W", absent)
    assert not a.ok and "nvpmodel -m 1" in a.detail and a.read_back.startswith("?")


def test_no_table_and_odd_lines(tmp_path: Path) -> None:
    assert "not found" in read_mode_table(tmp_path).problems[-1]
    t = parse_nvpmodel_conf("< POWER_MODEL ID=x NAME=a >\n< POWER_MODEL ID=1 NAME=b >\n"
                            "CPU MAX_FREQ\n< POWER_MODEL ID=1 NAME=c >\n")
    assert [m.name for m in t.modes] == ["b", "c"]
    assert len(t.problems) == 3  # bad id, short line, duplicate ids


def test_query_parse() -> None:
    assert parse_nvpmodel_query("NV Power Mode: MODE_15W_6CORE\n2\n") == ("MODE_15W_6CORE", 2)
    with pytest.raises(ValueError, match="nvpmodel -q"):
        parse_nvpmodel_query("NVPM ERROR")


def test_cpu_ceiling_written_and_read_back(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-5")
    acts = set_cpu_max_khz(root, 1_500_000)
    assert [a.knob for a in acts] == [f"cpu{i}.scaling_max_freq" for i in range(4)]
    assert all(a.ok and a.read_back == "1500000" for a in acts)
    some = set_cpu_max_khz(root, 1_000_000, cpus=[1, 9])
    assert [(a.knob, a.ok) for a in some] == [("cpu9.scaling_max_freq", False),
                                             ("cpu1.scaling_max_freq", True)]
    assert not set_cpu_max_khz(root, float("nan"))[0].ok


def test_refused_write_is_reported(tmp_path: Path) -> None:
    root = build_tree(tmp_path, "raspberry-pi-4")
    knob = root / "sys/devices/system/cpu/cpu2/cpufreq/scaling_max_freq"
    knob.unlink()
    knob.mkdir()  # a write that fails even for root (CI may run as root)
    acts = set_cpu_max_khz(root, 1_000_000)
    assert [a.ok for a in acts] == [True, True, False, True]
    assert "write refused" in acts[2].detail and acts[2].read_back == ""
