"""The thermal throttle: a pure step function, tested as a table and against a toy plant."""

from __future__ import annotations

import math

import pytest

from flightsw.config import FlightConfig
from flightsw.throttle import ThrottleState, step

CFG = FlightConfig(payload_temp_target_c=70.0, payload_temp_warn_c=80.0,
                   payload_temp_max_c=90.0)


@pytest.mark.parametrize("temp_c, cap, zone, level_max", [
    (20.0, 1.0, "ok", 1.0),
    (20.0, 0.25, "ok", 0.25),
    (85.0, 1.0, "warn", 0.1),
    (95.0, 1.0, "hot", 0.0),
    (math.nan, 1.0, "sensor", 0.0),
])
def test_zones(temp_c: float, cap: float, zone: str, level_max: float) -> None:
    state, _ = step(ThrottleState(), temp_c, cap, 1.0, CFG)
    assert state.zone == zone
    assert 0.0 <= state.level_frac <= level_max + 1e-12


def test_cold_payload_runs_at_the_cap() -> None:
    state, _ = step(ThrottleState(), 20.0, 0.7, 1.0, CFG)
    assert state.level_frac == pytest.approx(0.7)


def test_level_falls_as_temperature_rises() -> None:
    levels = []
    for temp in (60.0, 68.0, 72.0, 76.0, 79.0):
        state, _ = step(ThrottleState(integral_frac=0.5), temp, 1.0, 1.0, CFG)
        levels.append(state.level_frac)
    assert levels == sorted(levels, reverse=True)
    assert levels[0] > levels[-1]


def test_zone_changes_are_events() -> None:
    state, events = step(ThrottleState(), 95.0, 1.0, 1.0, CFG)
    assert events and events[0][0] == "throttle.zone" and events[0][1]["new"] == "hot"
    _, again = step(state, 95.0, 1.0, 1.0, CFG)
    assert again == []


def _run(steps: int, heat_c_at_full: float, tau_s: float) -> list[tuple[float, float]]:
    """A first-order thermal plant: equilibrium 30 C idle, +heat_c at full activity."""
    state, temp = ThrottleState(), 30.0
    out = []
    for _ in range(steps):
        state, _ = step(state, temp, 1.0, 1.0, CFG)
        temp += (30.0 + heat_c_at_full * state.level_frac - temp) / tau_s
        out.append((temp, state.level_frac))
    return out


def test_settles_near_target_without_limit_cycling() -> None:
    trace = _run(4000, heat_c_at_full=80.0, tau_s=300.0)
    tail = trace[-1000:]
    assert all(abs(t - CFG.payload_temp_target_c) < 1.0 for t, _ in tail)
    levels = [lvl for _, lvl in tail]
    assert max(levels) - min(levels) < 0.05  # no 0 <-> 100 % oscillation
    assert max(t for t, _ in trace) < CFG.payload_temp_warn_c  # no overshoot into warning


def test_payload_that_cannot_overheat_runs_flat_out() -> None:
    trace = _run(2000, heat_c_at_full=20.0, tau_s=300.0)
    assert trace[-1][1] == pytest.approx(1.0)


def test_integrator_does_not_wind_up_while_capped() -> None:
    state = ThrottleState()
    for _ in range(1000):  # a long cold spell at a low cap
        state, _ = step(state, 20.0, 0.2, 1.0, CFG)
    assert state.integral_frac <= 0.2


@pytest.mark.parametrize(("avionics_c", "battery_c", "shift_c", "cap", "limiting"), [
    (None, None, 0.0, 1.0, ""),          # not constrained: the PI alone
    (50.0, 30.0, 0.0, 1.0, ""),          # both below where derating starts (57.8, 42.8)
    (58.3, 30.0, 0.0, 0.5, "avionics"),  # half way from 57.8 to zero at 58.8
    (50.0, 43.6, 0.0, 0.2, "battery"),   # 4/5 of the way from 42.8 to 43.8
    (59.0, 30.0, 0.0, 0.0, "avionics"),  # past the zero point: nothing
    (math.nan, 30.0, 0.0, 0.5, "avionics"),  # lost reading: the stated 50 % assumption
    (58.3, 43.6, 0.0, 0.2, "battery"),   # the tightest binds
    # the heat forecast moves the battery's band (flightsw.heat_forecast): raised 0.5 C
    # it runs 43.3..44.3, so 43.6 allows 0.7; lowered 0.5 C, 43.6 is past its zero
    (50.0, 43.6, 0.5, 0.7, "battery"),
    (50.0, 43.6, -0.5, 0.0, "battery"),
])
def test_avionics_and_battery_derate_the_payload(avionics_c: float | None,
                                                 battery_c: float | None, shift_c: float,
                                                 cap: float, limiting: str) -> None:
    state, events = step(ThrottleState(), 20.0, 1.0, 1.0, CFG, avionics_temp_c=avionics_c,
                         battery_temp_c=battery_c, battery_shift_c=shift_c)
    assert state.level_frac == pytest.approx(cap)
    assert state.limiting == limiting
    assert any(name == "throttle.limited" for name, _ in events) == bool(limiting)


def test_a_lower_mode_cap_hides_the_derating() -> None:
    state, events = step(ThrottleState(), 20.0, 0.25, 1.0, CFG, avionics_temp_c=56.0)
    assert state.level_frac == pytest.approx(0.25) and state.limiting == ""
    assert events == []


def test_integrator_does_not_wind_up_behind_a_derating() -> None:
    state = ThrottleState()
    for _ in range(1000):
        state, _ = step(state, 20.0, 1.0, 1.0, CFG, battery_temp_c=43.4)  # cap 0.4
    assert state.integral_frac <= 0.4 + 1e-12
    state, _ = step(state, 20.0, 1.0, 1.0, CFG, battery_temp_c=30.0)
    assert state.limiting == "" and state.level_frac == pytest.approx(1.0)
