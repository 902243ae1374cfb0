"""Energy bookkeeping: over an orbit, energy in = stored + used + lost, to rounding.

Each term is accumulated separately (array energy drawn, load energy delivered, battery
losses) and the stored change is read from the battery's state, so a leak in any path
(a clamp at full or empty, a shed load, a heater) breaks the identity. The thermal side
closes the books: all absorbed radiation is radiated, stored as heat, or stored in the
battery.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, Profile


def _fly(plant: Plant, seconds: int) -> None:
    for k in range(seconds):
        act = Actuators(
            payload_activity_frac=(k // 300) % 2 * 1.0,  # 5 min on, 5 min idle
            heaters_on={"battery": k % 120 < 60, "payload": False},
        )
        plant.step(1.0, act)


def test_electrical_books_close_over_an_orbit(jetson: Profile) -> None:
    plant = Plant(jetson, record=False)
    _fly(plant, int(plant.orbit_period_s))
    s = plant.summary()
    assert s["energy_in_wh"] > 30.0  # the array really worked
    assert s["energy_lost_wh"] > 0.1
    residual = s["energy_in_wh"] - s["energy_out_wh"] - s["energy_lost_wh"] - s["stored_delta_wh"]
    assert abs(residual) < 1e-9 * s["energy_in_wh"]


def test_books_close_through_full_and_empty_battery(jetson: Profile) -> None:
    for soc in (0.999, 0.003):  # taper at full; brownout and load shedding when empty
        battery = replace(jetson.battery, initial_soc_frac=soc)
        array = replace(jetson.array, area_m2=0.42 if soc > 0.5 else 0.05)  # starve when empty
        profile = replace(jetson, battery=battery, array=array)
        plant = Plant(profile, record=False)
        _fly(plant, int(plant.orbit_period_s))
        s = plant.summary()
        residual = s["energy_in_wh"] - s["energy_out_wh"] - s["energy_lost_wh"]
        assert residual - s["stored_delta_wh"] == pytest.approx(0.0, abs=1e-9)
        assert 0.0 <= plant.battery.soc_frac <= 1.0
    assert any("brownout" in v for v in s["violations"])  # the empty case browned out
    assert any("battery SoC" in v for v in s["violations"])


def test_total_energy_is_conserved(jetson: Profile) -> None:
    plant = Plant(jetson, record=False)
    stored0 = plant.thermal.stored_j() + plant.battery.energy_j
    _fly(plant, int(plant.orbit_period_s))
    stored1 = plant.thermal.stored_j() + plant.battery.energy_j
    absorbed = plant.energy_env_j
    radiated = plant.thermal.radiated_j
    assert absorbed > 1e5
    assert absorbed - radiated - (stored1 - stored0) == pytest.approx(0.0, abs=1e-6 * absorbed)
