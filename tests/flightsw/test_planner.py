"""The energy planner: its budget against numbers worked by hand, and on the plant: a
low pack going into eclipse is planned around instead of shed by the mode table."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from flightsw import planner
from flightsw.component import Tick
from flightsw.config import FlightConfig
from flightsw.hal import Sensors

# 100 Wh pack (360 kJ); payload 5 W idle, 25 W full (span 20 W); bus 10 W; no heaters.
# The planned floor is resume 0.45 + margin 0.03 = 0.48 (172.8 kJ); eclipse load 15 W.
CFG = FlightConfig(battery_capacity_wh=100.0, payload_idle_w=5.0, payload_max_w=25.0,
                   bus_load_w=10.0)


@pytest.mark.parametrize("soc, sun, tau_s, surplus_w, left_s, expected", [
    # in eclipse: (0.55 - 0.48) * 360 kJ = 25.2 kJ; 1000 s * 15 W = 15 kJ; 10.2 kJ / 20 kJ
    (0.55, 0.0, math.nan, math.nan, 1000.0, 0.51),
    (0.50, 0.0, math.nan, math.nan, 1000.0, 0.0),  # 7.2 kJ < 15 kJ: payload idle
    (0.90, 0.0, math.nan, math.nan, 1000.0, 1.0),
    # sunlit, 1000 s to the eclipse, 10 W surplus with the payload idle, at 50 %:
    # need 172.8 + 15 = 187.8 kJ at entry; full load gives 180 - 10 = 170 kJ (short);
    # idle gives 190 kJ: (190 - 187.8) / (1000 s * 20 W) = 0.11
    (0.50, 1.0, 1000.0, 10.0, 1000.0, 0.11),
    (0.50, 1.0, 1000.0, 0.0, 1000.0, 0.0),  # 180 kJ < 187.8 kJ even idle
    (0.70, 1.0, 1000.0, 10.0, 1000.0, 1.0),  # 252 - 10 = 242 kJ at entry: enough
    (0.50, 1.0, math.inf, 0.0, 1000.0, 1.0),  # no eclipse in the forecast
    (math.nan, 1.0, 1000.0, 10.0, 1000.0, 0.0),  # charge unknown: assume empty
])
def test_budget_matches_the_hand_numbers(soc: float, sun: float, tau_s: float,
                                         surplus_w: float, left_s: float,
                                         expected: float) -> None:
    assert planner.plan(soc, sun, tau_s, surplus_w, left_s, CFG) == pytest.approx(expected)


def test_without_an_energy_model_the_planner_caps_nothing_and_says_so() -> None:
    s = Sensors(battery_soc_frac=0.3, sun_fraction=0.0, array_power_w=0.0, load_power_w=20.0)
    state, cap, _ = planner.step(planner.PlannerState(), s, 1.0, Tick(0.0, 0.0),
                                 FlightConfig())
    assert cap == 1.0 and not state.active
    assert planner.telemetry(state)["planner.active"] is False


def test_the_eclipse_length_is_measured_and_the_plan_uses_the_time_left() -> None:
    state = planner.PlannerState()
    sun = Sensors(battery_soc_frac=0.9, sun_fraction=1.0, array_power_w=50.0,
                  load_power_w=15.0, next_eclipse_in_s=100.0)
    dark = replace(sun, sun_fraction=0.0, array_power_w=0.0, next_eclipse_in_s=0.0)
    state, _, _ = planner.step(state, sun, 0.0, Tick(0.0, 0.0), CFG)
    for t in range(100, 1300, 100):
        state, _, _ = planner.step(state, dark, 0.0, Tick(float(t), float(t)), CFG)
    state, _, _ = planner.step(state, sun, 0.0, Tick(1300.0, 1300.0), CFG)
    assert state.eclipse_s == pytest.approx(1200.0)
    assert math.isnan(state.entered_s)
    # 1100 s into the next eclipse at 55 %: 100 s left: (25.2 - 1.5) kJ / 2 kJ -> full
    low = replace(dark, battery_soc_frac=0.55)
    state, _, _ = planner.step(state, low, 0.0, Tick(5000.0, 5000.0), CFG)
    state, cap, _ = planner.step(state, low, 0.0, Tick(6100.0, 6100.0), CFG)
    assert cap == 1.0
