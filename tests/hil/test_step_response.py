"""Throttle step responses on every profile's plant: no overshoot into the warning band,
every constrained temperature inside its limit, no limit cycle. Settling time and
overshoot are printed (``pytest -s``, or ``python -m hil.plant.step_response``), not
asserted: they are measurements, not requirements."""

from __future__ import annotations

import pytest

from hil.plant import load_profile
from hil.plant.profile import list_profiles
from hil.plant.step_response import measure

LIMIT_CYCLE_SWING_FRAC = 0.3
"""A bang-bang limit cycle swings the level 0 <-> 100 %; tracking an orbit's eclipse
and sun angle moves it much less (orbital-dc-node: ~0.24 as the avionics follow)."""


@pytest.mark.parametrize("name", list_profiles())
def test_step_response(name: str) -> None:
    profile = load_profile(name)
    r = measure(profile)
    print(f"\n{name}: {r.start_c:.1f} -> {r.final_c:.1f} C (target {r.target_c:.0f}), "
          f"overshoot {r.overshoot_c:.2f} C, settling {r.settling_s:.0f} s, "
          f"level {r.level_final_frac:.2f} (swing {r.level_swing_frac:.3f})")
    flight = profile.flight
    assert r.worst_temps_c["payload"] < flight["payload_temp_warn_c"]
    assert r.worst_temps_c["avionics"] < flight["avionics_temp_max_c"]
    assert r.worst_temps_c["battery"] < flight["battery_temp_max_c"]
    assert r.level_swing_frac < LIMIT_CYCLE_SWING_FRAC
    assert r.final_c > r.start_c  # the step really heated the payload
