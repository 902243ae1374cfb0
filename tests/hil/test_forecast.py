"""Forecasts (next umbra, next pass) agree with what stepping the plant then sees."""

from __future__ import annotations

import itertools

import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, Profile


def test_predicted_eclipse_and_contact_happen_on_time(jetson: Profile) -> None:
    plant = Plant(jetson, record=False)
    first = plant.sensors()
    predicted_umbra = first.next_eclipse_in_s
    predicted_aos = first.next_contact_in_s
    assert 0.0 < predicted_aos < 600.0  # the default epoch starts just before a pass
    seen_umbra = seen_aos = None
    act = Actuators()
    while plant.elapsed_s < 2.0 * plant.orbit_period_s and (seen_umbra is None or seen_aos is None):
        plant.step(1.0, act)
        s = plant.sensors()
        if seen_aos is None and s.in_contact:
            seen_aos = plant.elapsed_s
        if seen_umbra is None and s.sun_fraction == 0.0:
            seen_umbra = plant.elapsed_s
        if seen_aos is not None:
            assert s.next_contact_in_s == 0.0 or not s.in_contact
    assert seen_umbra == pytest.approx(predicted_umbra, abs=2.0)  # 1 s grid + 1 s steps
    assert seen_aos == pytest.approx(predicted_aos, abs=2.0)


def test_default_orbit_sees_a_pass_about_every_orbit(jetson: Profile) -> None:
    plant = Plant(jetson, record=False)
    day = 86400.0
    passes = plant.forecast.passes_between(0.0, day)
    # Merge overlapping passes of different stations into contact windows.
    windows: list[list[float]] = []
    for p in sorted(passes, key=lambda p: p.aos_s):
        if windows and p.aos_s <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], p.los_s)
        else:
            windows.append([p.aos_s, p.los_s])
    orbits_per_day = day / plant.orbit_period_s
    assert len(windows) >= 0.8 * orbits_per_day
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(windows)]
    assert max(gaps) < 2.0 * plant.orbit_period_s
    for p in passes:
        assert 5.0 <= p.max_elevation_deg <= 90.0
        assert 0.0 < p.los_s - p.aos_s < 20 * 60  # a LEO pass lasts minutes
