"""Plot decimation keeps every extreme, bounds the size, and draws text points as steps."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ground.console.series import Point, build, decimate


def test_short_series_pass_through_unchanged() -> None:
    pts = [Point(float(t), float(t * t), t) for t in range(10)]
    assert decimate(pts, 10) == pts


def test_a_one_sample_spike_survives_decimation() -> None:
    pts = [Point(float(t), 20.0, t) for t in range(10_000)]
    pts[7_321] = Point(7_321.0, 95.0, 7_321)  # a one-second overtemperature
    pts[2_000] = Point(2_000.0, -40.0, 2_000)
    out = decimate(pts, 100)
    assert len(out) <= 400
    assert max(p.value for p in out) == 95.0 and min(p.value for p in out) == -40.0
    assert out[0] == pts[0] and out[-1] == pts[-1]
    assert [p.time_s for p in out] == sorted(p.time_s for p in out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.integers(1, 50))
def test_decimation_is_bounded_ordered_and_keeps_extremes(values: list[float],
                                                         buckets: int) -> None:
    pts = [Point(float(i), v, i) for i, v in enumerate(values)]
    out = decimate(pts, buckets)
    assert len(out) <= max(len(pts) if len(pts) <= 4 * buckets else 0, 4 * buckets)
    assert max(p.value for p in out) == max(values)
    assert min(p.value for p in out) == min(values)
    assert all(a.time_s <= b.time_s for a, b in itertools.pairwise(out))


def test_bad_bucket_count_is_refused() -> None:
    with pytest.raises(ValueError, match="buckets"):
        decimate([Point(0.0, 1.0)], 0)


def test_build_filters_time_orders_by_onboard_time_and_skips_no_reading() -> None:
    # arrival order (row id) differs from onboard time: played-back history arrives late
    samples = [(1, 100.0, 5.0), (2, 50.0, 1.0), (3, 75.0, math.nan), (4, 200.0, 9.0),
               (5, 60.0, None), (6, 90.0, True)]
    s = build("x", samples, buckets=10, t0_s=55.0, t1_s=150.0)
    assert [p.time_s for p in s.points] == [90.0, 100.0]
    assert [p.value for p in s.points] == [1.0, 5.0]
    assert s.raw_count == 4 and s.last_row_id == 6  # 60, 75, 90, 100 were in range


def test_text_points_become_steps_over_categories() -> None:
    modes = ["NOMINAL"] * 5 + ["COMPUTE"] * 5 + ["SAFE"] * 3 + ["NOMINAL"] * 2
    s = build("mode.current", [(i, float(i), m) for i, m in enumerate(modes)], buckets=50)
    assert s.categories == ["NOMINAL", "COMPUTE", "SAFE"]
    assert [(p.time_s, p.value) for p in s.points] == [
        (0.0, 0.0), (5.0, 1.0), (10.0, 2.0), (13.0, 0.0), (14.0, 0.0)]
    assert s.to_json()["categories"] == ["NOMINAL", "COMPUTE", "SAFE"]
