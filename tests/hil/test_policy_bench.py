"""``aisat bench policy`` on one profile for one day: the JSON the issue asks for, the
flight policy within the optimum's bound with no violation, and refusals of bad input."""

from __future__ import annotations

import json

import pytest

from hil import bench


def test_one_day_of_one_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["policy", "--json", "--days", "1", "--profile", "cubesat-jetson",
                       "--workers", "1"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    row = result["profiles"]["cubesat-jetson"]
    assert row["violations"] == 0
    # the flight's own trajectory is feasible in the program, so the bound is above it
    assert 0.5 < row["ratio_to_optimum"] <= 1.0 + 1e-6
    assert set(row["baselines"]) == {"fixed_duty", "bang_bang"}
    for base in row["baselines"].values():
        assert 0.0 <= base["ratio_to_optimum"] <= 1.2 and base["violations"] >= 0
    assert 0.0 < row["baselines"]["fixed_duty"]["duty"] <= 1.0
    model = row["optimum"]["model"]
    assert model["payload"]["gain_c"] > 0 and model["payload"]["tau_s"] > 0


@pytest.mark.parametrize("argv, words", [
    (["--days", "0"], "--days must be positive"),
    (["--profile", "no-such-craft"], "unknown profile"),
])
def test_bad_arguments_are_refused(argv: list[str], words: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["policy", *argv]) == 2
    assert words in capsys.readouterr().err
