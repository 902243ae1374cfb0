"""Thermal pre-cooling on the plant: ahead of the sunlit hot phase the set point is
lowered by what the last orbit's peak showed, so the peak stays under the warning level
without the throttle's hard clamp, for (almost) the same compute.

The spacecraft: cubesat-jetson with its radiator turned to the Sun (absorptivity 0.1:
~9 W of sunlight on it in the sunlit phase, a hot phase every orbit) and its set point
0.4 K under the warning level, so the loop's sunlit overshoot reaches the warning."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from flightsw import precool
from flightsw.config import FlightConfig
from hil.plant import load_profile
from hil.plant.onboard import DAY_S, OnboardLoop

WARN_C = 80.0


def _hot_case_loop(precool_enabled: bool) -> OnboardLoop:
    p = load_profile("cubesat-jetson")
    surfaces = tuple(replace(s, facing="sun", absorptivity=0.1) if s.node == "radiator"
                     else s for s in p.thermal.surfaces)
    p = replace(p, thermal=replace(p.thermal, surfaces=surfaces),
                flight={**p.flight, "payload_temp_target_c": WARN_C - 0.4,
                        "payload_temp_warn_c": WARN_C})
    loop = OnboardLoop(p, dt_s=10.0)
    loop.precool_enabled = precool_enabled
    # the subject is the payload's loop: the heat forecast's battery band is left fixed.
    # With it on, the payload runs harder here (60,450 payload-seconds in the day against
    # 42,090) and the first sunlit peak, before pre-cooling has learned, reached 80.01 C
    loop.forecast_enabled = False
    return loop


def _fly(loop: OnboardLoop, days: float) -> tuple[float, float, int]:
    """Peak payload temperature, the same after the first three orbits, and the steps
    the throttle spent clamped in its warning zone."""
    peak = late_peak = -math.inf
    clamped = 0
    for _ in range(round(days * DAY_S / loop.dt_s)):
        loop.step()
        temp = loop.plant.sensors().payload_temp_c
        peak = max(peak, temp)
        if loop.plant.elapsed_s > 3 * loop.plant.orbit_period_s:
            late_peak = max(late_peak, temp)
        clamped += loop.throttle.zone != "ok"
    return peak, late_peak, clamped


def test_precooling_keeps_the_hot_phase_peak_under_the_warning_level() -> None:
    without = _hot_case_loop(precool_enabled=False)
    peak0, _late0, clamped0 = _fly(without, 1.0)
    assert peak0 >= WARN_C and clamped0 > 0  # the loop alone overshoots into the clamp
    with_ = _hot_case_loop(precool_enabled=True)
    peak1, late1, clamped1 = _fly(with_, 1.0)
    assert clamped1 == 0 and peak1 < WARN_C
    assert late1 < WARN_C - precool.MARGIN_C + 0.5  # learned: near the held margin
    # the taper costs almost nothing: the compute is within 1 % of the loop alone's
    assert with_.record.payload_full_s > 0.99 * without.record.payload_full_s
    assert with_.plant.summary()["violations"] == without.plant.summary()["violations"] == []


CFG = FlightConfig(payload_temp_target_c=75.0, payload_temp_warn_c=80.0,
                   payload_temp_max_c=85.0)


@pytest.mark.parametrize("offset, peak, expected", [
    (0.0, 79.5, 0.5),    # peak 0.5 K over warn - margin: lower by that much
    (2.0, 77.0, 0.0),    # far under: unwind (clamped at 0)
    (2.0, 78.5, 1.5),    # 0.5 K under: unwind by 0.5
    (9.5, 85.0, precool.MAX_OFFSET_C),  # bounded
])
def test_the_offset_learns_from_the_last_sunlit_peak(offset: float, peak: float,
                                                     expected: float) -> None:
    state = precool.PrecoolState(offset_c=offset, peak_c=peak)
    got = precool.step(state, dark=True, entered_eclipse=True, eclipse_left_s=2000.0,
                       payload_temp_c=20.0, has_eclipses=True, cfg=CFG)
    assert got.offset_c == pytest.approx(expected)
    assert got.active_c == 0.0  # eclipse, more than LEAD_S before its exit


@pytest.mark.parametrize("dark, left_s, seen, active", [
    (True, precool.LEAD_S + 1, True, False),   # early eclipse: the loop runs to target
    (True, precool.LEAD_S - 1, True, True),    # lead before the Sun returns
    (False, math.nan, True, True),             # the sunlit (hot) phase
    (False, math.nan, False, False),           # no eclipse seen: no hot phase known
])
def test_the_offset_applies_from_the_lead_through_the_sunlit_phase(
        dark: bool, left_s: float, seen: bool, active: bool) -> None:
    state = precool.PrecoolState(offset_c=2.0)
    got = precool.step(state, dark=dark, entered_eclipse=False, eclipse_left_s=left_s,
                       payload_temp_c=70.0, has_eclipses=seen, cfg=CFG)
    assert got.active_c == (2.0 if active else 0.0)
