"""Heater control keeps every battery inside its charge range through its coldest season.

Flown with the executive's own pure components on the plant (:mod:`hil.plant.onboard`,
30 s steps), so a season takes seconds. Before heater control the executive sent
``heaters_on={}``: 60 days of ``orbital-dc-node`` took the pack below 0 C around day 30
(charging refused, the bus browned out) and to -84 C by day 60.

The coldest season of each profile, and why:

- dawn-dusk orbits (starcloud-1, suncatcher-proto, orbital-dc-node): the weeks right
  after the eclipse season, near aphelion - no eclipse discharge warms the pack, and the
  sun is 3.3 % weaker than its mean;
- the 10:30 LTAN orbits (cubesat-jetson, phisat-1): eclipses all year; aphelion (early
  July) is the coldest;
- for every profile, at low payload load (the throttle capped at idle), since the payload
  is the largest heat source on board.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hil.plant import load_profile
from hil.plant.onboard import fly

COLDEST: list[tuple[str, str, float]] = [
    ("cubesat-jetson", "2025-06-22T00:00:00", 5.0),
    ("phisat-1", "2021-06-22T00:00:00", 5.0),
    ("starcloud-1", "2026-08-01T00:00:00", 10.0),
    ("suncatcher-proto", "2027-07-20T00:00:00", 10.0),
    ("orbital-dc-node", "2027-08-01T00:00:00", 5.0),
]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("name", "start", "days"), COLDEST, ids=[c[0] for c in COLDEST])
def test_battery_stays_chargeable_through_the_coldest_season_at_low_load(
        name: str, start: str, days: float) -> None:
    profile = load_profile(name)
    record = fly(profile, days, dt_s=30.0, epoch_utc_s=_utc(start), operator_cap_frac=0.0)
    charge_min = profile.battery.charge_min_temp_c
    charge_max = profile.battery.charge_max_temp_c
    assert charge_min <= record.battery_temp_min_c
    assert record.battery_temp_max_c <= charge_max
    assert record.violations == []


def test_orbital_dc_node_60_days_no_longer_freezes() -> None:
    """The issue's run: 60 days from the June solstice under the flight policy."""
    profile = load_profile("orbital-dc-node")
    record = fly(profile, 60.0, dt_s=30.0)
    assert record.days == 60
    assert min(record.daily_battery_temp_min_c) >= profile.battery.charge_min_temp_c
    assert max(record.daily_battery_temp_max_c) <= profile.battery.charge_max_temp_c
    assert record.violations == []
    assert record.heater_on_s > 0.0  # the heater did the work (the pack would have frozen)
    assert record.payload_full_s > 0.5 * 60 * 86_400  # and the node still computed


def test_without_heater_control_the_same_season_freezes_the_pack() -> None:
    """The contrast: starcloud-1's coldest season with the thermostats disabled (what the
    executive did before: ``heaters_on={}``) takes the pack below its charge range."""
    profile = load_profile("starcloud-1")
    record = fly(profile, 3.0, dt_s=30.0, epoch_utc_s=_utc("2026-08-01T00:00:00"),
                 operator_cap_frac=0.0, heaters_enabled=False)
    assert record.battery_temp_min_c < profile.battery.charge_min_temp_c
    assert record.violations
