"""The whole executive (in-process harness: topology, every component, fake payload)
flying the real plant, in lockstep: the same decisions as the onboard loop, now through
the executive's own wiring, for several orbits with no limit violated."""

from __future__ import annotations

from dataclasses import replace

from flightsw.config import FlightConfig
from flightsw.harness import Harness
from hil.plant import Plant, Profile, load_profile


def _fly(profile: Profile, orbits: float,
         **plant_kwargs: float) -> tuple[Harness, Plant, float]:
    """Fly; returns the harness, the plant and the seconds any heater was on."""
    cfg = replace(FlightConfig.from_mapping(profile.flight), capture_period_s=60.0)
    plant = Plant(profile, record=False, **plant_kwargs)
    h = Harness(cfg, sensors=plant.sensors())
    heater_on_s = 0.0
    while plant.elapsed_s < orbits * plant.orbit_period_s:
        h.sensors = plant.sensors()
        h.run(1)
        act = h.actuators[-1]
        heater_on_s += 1.0 if any(act.heaters_on.values()) else 0.0
        plant.step(1.0, act)
        if len(h.downlink) > 2000:  # keep memory flat on long runs
            h.downlink = h.downlink[-500:]
            h.actuators = h.actuators[-10:]
    return h, plant, heater_on_s


def test_executive_flies_cubesat_jetson_for_three_orbits_without_a_violation() -> None:
    h, plant, _ = _fly(load_profile("cubesat-jetson"), 3.0)
    summary = plant.summary()
    assert summary["violations"] == []
    assert h.latest("mode.current") in ("NOMINAL", "COMPUTE")
    assert summary["max_temps_c"]["payload"] < plant.profile.flight["payload_temp_warn_c"]
    assert summary["jobs_done"] > 0


def test_executive_keeps_a_cold_pack_warm_with_its_heater() -> None:
    """orbital-dc-node after its eclipse season, its pack starting at 5 C: the executive
    switches the battery heater (before: ``heaters_on={}``) and the pack warms into its
    thermostat band, as the onboard loop predicts."""
    profile = load_profile("orbital-dc-node")
    nodes = tuple(replace(n, initial_temp_c=5.0) if n.name == "battery" else n
                  for n in profile.thermal.nodes)
    profile = replace(profile, thermal=replace(profile.thermal, nodes=nodes))
    h, plant, heater_on_s = _fly(profile, 1.0, epoch_utc_s=1_817_251_200.0)  # 2027-08-01
    assert plant.summary()["violations"] == []
    assert heater_on_s > 600.0
    assert h.latest("heater.battery.on_s") > 0.0
    assert plant.sensors().battery_temp_c > 9.0
