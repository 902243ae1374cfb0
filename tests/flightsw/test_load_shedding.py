"""The load plan: what is shed, in which order, with what hysteresis (a table)."""

from __future__ import annotations

import math

import pytest

from flightsw.config import FlightConfig, HeaterConfig
from flightsw.load_shedding import LoadPlan, heater_budget_w, plan

# floor 0.15, safe 0.25 (heaters shed below their midpoint 0.20), resume 0.45
CFG = FlightConfig(heaters=(HeaterConfig("battery", "battery", 2.0),
                            HeaterConfig("payload", "payload", 4.0)))
SUN, DARK = 1.0, 0.0


@pytest.mark.parametrize(("previous", "soc", "sun", "level"), [
    (0, 0.90, SUN, 0),
    (0, 0.26, SUN, 0),
    (0, 0.24, SUN, 1),          # below SAFE level: payload
    (0, 0.44, DARK, 1),         # in eclipse below resume: payload
    (0, 0.46, DARK, 0),
    (0, 0.19, DARK, 2),         # + comfort heaters
    (0, 0.14, DARK, 3),         # + battery heater, last
    (0, 0.14, SUN, 1),          # in sunlight the array carries the heaters
    (0, 0.14, math.nan, 3),     # illumination unknown: as in eclipse
    (1, 0.26, SUN, 1),          # hysteresis: 2 % above the threshold to restore
    (1, 0.28, SUN, 0),
    (3, 0.16, DARK, 3),
    (3, 0.18, DARK, 2),
    (0, math.nan, SUN, 2),      # unknown SoC: assumed low, battery heater kept
])
def test_shedding_levels(previous: int, soc: float, sun: float, level: int) -> None:
    got = plan(LoadPlan(previous), soc, sun, CFG)
    assert got.level == level
    assert bool(got.reason) == (level > 0)


def test_order_and_heater_budget() -> None:
    assert plan(LoadPlan(), 0.14, DARK, CFG).shed == ("payload", "heaters", "battery heater")
    assert heater_budget_w(LoadPlan(0), CFG) == 6.0
    assert heater_budget_w(LoadPlan(2), CFG) == 2.0
    assert heater_budget_w(LoadPlan(3), CFG) == 0.0
    assert "in eclipse" in plan(LoadPlan(), 0.40, DARK, CFG).reason
