"""``aisat board`` on fake trees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisat.cli import main
from hil.virtual_board import build_tree
from hil.virtual_board import main as vboard_main


def test_board_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert vboard_main(["jetson-xavier-nx", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["board", "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "virtual (emulating jetson-xavier-nx)" in out
    assert "VDD_IN" in out and "(iio)" in out and "L4T        R32.7.1" in out
    assert "nvpmodel modes: 0=MODE_15W_2CORE, 2=MODE_15W_6CORE (default)" in out


def test_board_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_tree(tmp_path, "jetson-orin-nano")
    assert main(["board", "--root", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["board"]["profile"] == "jetson-orin-nano"
    assert d["sensors"]["input_power_w"] == pytest.approx(5.08 * 1.432)


def test_board_bad_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["board", "--root", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_virtual_board_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert vboard_main(["commodore-64", "/tmp/x"]) == 2
    assert "usage" in capsys.readouterr().err
