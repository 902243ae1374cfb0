"""The heat forecast that places the slow temperatures' derating band: learning from each
orbit's peak (numbers worked by hand), the orbit counted from eclipse exit to exit, a lost
reading teaching nothing, the transmitter's heat on its way lowering the band, the sunlit
allowance, and the bounds that keep the band's zero under the shed rung."""

from __future__ import annotations

import math

import pytest

from flightsw import heat_forecast as hf
from flightsw import limits, throttle
from flightsw.heat_forecast import HeatForecastState, NodePeak

LIMIT_C = 45.0
TARGET_C = LIMIT_C - hf.PEAK_MARGIN_C


BAND_START_C = LIMIT_C - throttle.DERATE_MARGIN_C  # where the unshifted band starts


@pytest.mark.parametrize("shift, peak, expected", [
    (0.0, TARGET_C - 0.4, 0.4 * hf.LEARN_GAIN),   # 0.4 C cool, inside the band: raise
    (0.0, TARGET_C + 0.4, -0.4 * hf.LEARN_GAIN),  # 0.4 C hot: lower
    (0.0, BAND_START_C - 0.1, 0.0),       # under the band: it did not hold that peak
    # lowered 1 C the band starts 1 C sooner: it held that peak, so it learns from it
    (-1.0, BAND_START_C - 0.9, -1.0 + hf.LEARN_GAIN * (TARGET_C - BAND_START_C + 0.9)),
    (0.58, BAND_START_C + 0.6, hf.MAX_RAISE_C),  # 0.58 + 0.3 * 0.55 would pass the bound
    (-2.9, TARGET_C + 1.0, -hf.MAX_LOWER_C),
])
def test_each_orbit_moves_the_band_by_a_share_of_the_peak_error(shift: float, peak: float,
                                                          expected: float) -> None:
    got = hf.learn(NodePeak(shift_c=shift, peak_c=peak), LIMIT_C)
    assert got.shift_c == pytest.approx(expected)
    assert got.last_peak_c == peak and got.peak_c == -math.inf


def test_a_window_with_a_lost_reading_teaches_nothing() -> None:
    got = hf.learn(NodePeak(shift_c=0.3, peak_c=TARGET_C - 2.0, lost=True), LIMIT_C)
    assert got.shift_c == 0.3 and not got.lost and got.peak_c == -math.inf


def _step(state: HeatForecastState, t: float, temp: float, *, dark: bool = False,
          left: bool = False, tx: bool = False) -> HeatForecastState:
    return hf.step(state, now_s=t, dark=dark, left_eclipse=left, transmitting=tx,
                   temps_c={"battery": (temp, LIMIT_C)})


def test_the_orbit_runs_from_eclipse_exit_to_exit() -> None:
    s = _step(HeatForecastState(), 0.0, 44.5)  # before any exit: no window, no peak
    assert s.nodes["battery"].peak_c == -math.inf
    s = _step(s, 100.0, 40.0, left=True)  # the first exit opens a window
    s = _step(s, 99.0 + hf.MIN_ORBIT_S, 40.5, left=True)  # too soon: not an orbit
    assert s.window_start_s == 100.0 and s.nodes["battery"].shift_c == 0.0
    s = _step(s, 2000.0, TARGET_C - 0.5, dark=True)  # the peak, early in the eclipse
    s = _step(s, 3000.0, 41.0, dark=True)
    assert s.nodes["battery"].peak_c == TARGET_C - 0.5 and s.nodes["battery"].shift_c == 0.0
    s = _step(s, 5800.0, 40.0, left=True)  # the window ends: learn from its peak
    assert s.nodes["battery"].shift_c == pytest.approx(0.5 * hf.LEARN_GAIN)
    assert s.nodes["battery"].last_peak_dark  # it peaked in eclipse: sunlight is cheap
    assert s.nodes["battery"].peak_c == 40.0  # the next window has started with this read
    assert s.window_start_s == 5800.0


def test_a_nan_reading_marks_the_window_lost() -> None:
    s = _step(HeatForecastState(), 0.0, 40.0, left=True)
    s = _step(s, 1000.0, math.nan, dark=True)
    assert s.nodes["battery"].lost
    s = _step(s, 5800.0, 40.0, left=True)
    assert s.nodes["battery"].shift_c == 0.0  # that orbit's peak was not used


def test_the_transmitters_heat_on_its_way_lowers_the_band() -> None:
    s = _step(HeatForecastState(), 0.0, 40.0, dark=True)
    day = 86_400
    for t in range(30, 3 * day, 30):  # three days of passes 10 % of the time: the mean
        s = _step(s, float(t), 40.0, dark=True, tx=(t % 6000) < 600)
    assert s.tx_mean_frac == pytest.approx(0.1, abs=0.02)
    quiet, quiet_excess = hf.band_shift_c(s, "battery"), s.tx_excess_frac
    for t in range(3 * day, 3 * day + 1800, 30):  # a long pass: half an hour on the air
        s = _step(s, float(t), 40.0, dark=True, tx=True)
    # 1800 s of duty 1 into a 3000 s running mean: 1 - exp(-0.6) = 0.45 of the way up
    assert s.tx_excess_frac - quiet_excess > 0.3
    assert hf.band_shift_c(s, "battery") == pytest.approx(
        quiet - hf.TX_GAIN_C * (s.tx_excess_frac - quiet_excess))
    assert hf.band_shift_c(s, "battery") < quiet - 0.9


def test_the_band_sits_higher_in_sunlight_where_the_last_orbit_peaked_in_eclipse() -> None:
    node = NodePeak(shift_c=-0.8, last_peak_dark=True)
    dark = HeatForecastState(nodes={"battery": node}, dark=True)
    sun = HeatForecastState(nodes={"battery": node}, dark=False)
    assert hf.band_shift_c(dark, "battery") == pytest.approx(-0.8)
    assert hf.band_shift_c(sun, "battery") == pytest.approx(-0.8 + hf.SUN_EXTRA_C)
    # a node that peaked in sunlight has no cheap phase: no allowance
    sunlit_peak = HeatForecastState(nodes={"battery": NodePeak(shift_c=-0.8)}, dark=False)
    assert hf.band_shift_c(sunlit_peak, "battery") == pytest.approx(-0.8)
    high = HeatForecastState(nodes={"battery": NodePeak(shift_c=hf.MAX_RAISE_C)})
    assert hf.band_shift_c(high, "battery") == hf.MAX_RAISE_C
    assert hf.shifts(high) == {"battery_shift_c": hf.MAX_RAISE_C}


def test_the_raised_band_still_ends_under_the_shed_rung() -> None:
    # the zero of the band at its highest is under the limit checker's shed level
    assert throttle.DERATE_ZERO_MARGIN_C - hf.MAX_RAISE_C > limits.HEAT_SHED_MARGIN_C
    zero_c = LIMIT_C - throttle.DERATE_ZERO_MARGIN_C + hf.MAX_RAISE_C
    assert throttle.derate(zero_c, LIMIT_C, hf.MAX_RAISE_C) == 0.0
    assert throttle.derate(math.nan, LIMIT_C, hf.MAX_RAISE_C) == throttle.SENSOR_LOST_CAP_FRAC
