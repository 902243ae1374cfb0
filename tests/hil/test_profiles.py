"""The shipped profiles: complete, and each shows the outcome it exists to show."""

from __future__ import annotations

import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, list_profiles, load_profile
from hil.plant.profile import FLIGHT_KEYS
from hil.plant.thermal import SIGMA

SHIPPED = ["cubesat-jetson", "phisat-1", "starcloud-1", "suncatcher-proto", "orbital-dc-node"]


def test_all_five_profiles_ship() -> None:
    assert sorted(list_profiles()) == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_profile_has_the_flight_table_and_time_constant(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert tuple(profile.flight)[: len(FLIGHT_KEYS)] == FLIGHT_KEYS
    # the temperature limits come from the thermal nodes, so flight and plant agree
    avionics = next(n for n in profile.thermal.nodes if n.name == "avionics")
    assert profile.flight["avionics_temp_max_c"] == avionics.max_temp_c
    assert 10.0 < profile.payload_time_constant_s < 3600.0
    assert len(profile.stations) >= 5


def _steady_payload_temp_c(name: str, activity: float, orbits: float) -> tuple[float, Plant]:
    plant = Plant(load_profile(name), record=False)
    act = Actuators(payload_activity_frac=activity)
    while plant.elapsed_s < orbits * plant.orbit_period_s:
        plant.step(1.0, act)
    return plant.sensors().payload_temp_c, plant


def test_starcloud_gpu_cannot_run_continuously() -> None:
    """An H100 at 700 W on a 0.8 m^2 radiator overheats; at ~half duty it holds its target."""
    profile = load_profile("starcloud-1")
    full_c, plant = _steady_payload_temp_c("starcloud-1", 1.0, 3.0)
    assert full_c > profile.flight["payload_temp_max_c"] + 15.0
    assert any("payload temperature" in v for v in plant.summary()["violations"])
    half_c, plant = _steady_payload_temp_c("starcloud-1", 0.5, 3.0)
    assert half_c < profile.flight["payload_temp_target_c"]
    assert plant.summary()["violations"] == []


def test_suncatcher_payload_runs_continuously_in_sunlight() -> None:
    profile = load_profile("suncatcher-proto")
    temp_c, _ = _steady_payload_temp_c("suncatcher-proto", 1.0, 3.0)
    assert temp_c < profile.flight["payload_temp_target_c"]


def test_jetson_needs_its_throttle_at_full_power() -> None:
    """25 W continuously takes the Orin Nano past its throttle setpoint (not past the max)."""
    profile = load_profile("cubesat-jetson")
    temp_c, _ = _steady_payload_temp_c("cubesat-jetson", 1.0, 5.0)
    assert profile.flight["payload_temp_target_c"] < temp_c < profile.flight["payload_temp_max_c"]


def test_orbital_dc_node_sizing_is_consistent_with_the_plant() -> None:
    profile = load_profile("orbital-dc-node")
    d = profile.derived
    # Stefan-Boltzmann by hand at the 60 C design temperature, eps 0.9.
    assert d["radiator_net_flux_w_per_m2"] < 0.9 * SIGMA * (60.0 + 273.15) ** 4
    assert d["radiator_area_m2"] * d["radiator_net_flux_w_per_m2"] == pytest.approx(
        d["radiator_heat_w"]
    )
    assert 100.0 < d["radiator_panel_area_two_sided_m2"] < 200.0
    assert 400.0 < d["array_area_m2"] < 700.0
    # Flown at full load through the worst (solstice) eclipses, the radiator stays at or
    # below its design temperature (the sizing has a 10 % margin) and the battery holds.
    _, plant = _steady_payload_temp_c("orbital-dc-node", 1.0, 3.0)
    summary = plant.summary()
    assert summary["max_temps_c"]["radiator"] <= 60.0
    assert summary["min_battery_soc_pct"] > 100.0 * profile.flight["battery_soc_safe_frac"]


@pytest.mark.parametrize("name", ["cubesat-jetson", "orbital-dc-node", "phisat-1",
                                  "starcloud-1", "suncatcher-proto"])
def test_the_stack_hands_the_planner_its_energy_figures(name: str) -> None:
    """Measured: the energy planner was off in every process stack (only the in-process
    onboard loop gave it the pack capacity and loads); the profile's flight mapping, which
    the launcher hands the executive, now carries them."""
    from flightsw.config import FlightConfig
    from flightsw.harness import Harness

    profile = load_profile(name)
    cfg = FlightConfig.from_mapping(profile.flight)
    assert cfg.battery_capacity_wh == profile.battery.capacity_wh > 0
    h = Harness(cfg)
    h.run(3)
    assert h.latest("planner.active") is True
