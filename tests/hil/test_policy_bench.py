"""``aisat bench policy`` on one profile for one day: the JSON the issue asks for, the
flight policy within the optimum's bound with no violation, and refusals of bad input;
the optimum's solve-replay-tighten loop: a bare linearisation's schedule is caught
breaking a limit in the real plant, and the tightened one replays clean."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from hil import bench, policy_bench, replay_margin
from hil.replay_margin import Margins, ReplayExcess


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
    # the bound is one the real plant flies: its schedule's replay is clean, and the
    # bare program's figures are printed beside it rather than hidden
    opt = row["optimum"]
    assert opt["replay_violations"] == 0 and opt["replay_clean"] is True
    assert 0 <= opt["tightenings"] <= 6
    assert opt["bound_full_s"] <= opt["untightened"]["bound_full_s"]
    assert opt["untightened"]["replay_violations"] >= 0
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


@pytest.fixture(scope="module")
def jetson_two_days() -> tuple[Any, ...]:
    """cubesat-jetson for two days: long enough that the bare linearisation's schedule
    breaks the battery's limit in the real plant (it misses the lagging orbital swing)."""
    profile = policy_bench.load_profile("cubesat-jetson")
    cfg = policy_bench.flight_config(profile)
    flight = policy_bench.fly_flight(profile, 2.0)
    u0 = min(max(float(np.mean(flight.u)), 0.1), 0.9)
    model = policy_bench.identify(profile, cfg, u0)
    return profile, cfg, flight, model


def test_an_untightened_optimum_is_caught_by_its_replay(jetson_two_days: tuple[Any, ...]) -> None:
    profile, cfg, flight, model = jetson_two_days
    bare = policy_bench.honest_optimum(profile, cfg, flight, model, 2.0, max_tightenings=0)
    assert bare.tightenings == 0
    # the replay through the real plant finds the schedule the program called feasible
    # breaking a limit, and says which: what used to be hidden behind a ratio of 1.000
    assert len(bare.replay.violations) > 0
    assert any("temperature" in v or "SoC" in v for v in bare.replay.violations)
    assert bare.best_s == bare.first_s


def test_the_final_optimum_replays_with_zero_violations(
        jetson_two_days: tuple[Any, ...]) -> None:
    profile, cfg, flight, model = jetson_two_days
    honest = policy_bench.honest_optimum(profile, cfg, flight, model, 2.0)
    assert len(honest.first_replay.violations) > 0
    assert honest.replay.violations == []
    assert 1 <= honest.tightenings <= policy_bench.MAX_TIGHTENINGS
    # tightening only removes schedules: the honest bound is at most the bare one
    assert honest.best_s <= honest.first_s + 1e-6
    assert honest.replay.compute_s > 0


def test_margins_add_each_excess_with_pad_and_spread_but_never_at_the_start() -> None:
    excess = ReplayExcess(hold=4, k_n=10)
    excess.high_c["battery"][5] = 1.5
    excess.soc_frac[1] = 0.01
    m = Margins.zero(10).tighten(excess)
    want = 1.5 + replay_margin.PAD_C
    spread = replay_margin.SPREAD_STEPS
    near = m.high_c["battery"][5 - spread: 5 + spread + 1]
    assert near == pytest.approx([want] * (2 * spread + 1))
    assert m.high_c["battery"][5 + spread + 1] == 0.0
    assert m.high_c["payload"].sum() == 0.0 and m.low_c["battery"].sum() == 0.0
    assert m.soc_frac[0] == 0.0  # the initial state is given, never tightened
    assert m.soc_frac[1] == pytest.approx(0.01 + replay_margin.PAD_SOC_FRAC)
    # a second round adds to the first (the loop's margins only grow)
    assert m.tighten(excess).high_c["battery"][5] == pytest.approx(2 * want)
