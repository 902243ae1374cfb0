"""The contract the executive, the ground emulator and the launcher code against."""

from __future__ import annotations

import math
from dataclasses import fields

import msgpack
import pytest

from flightsw.hal import Actuators, Sensors
from hil.plant import Plant, Profile, list_profiles, load_profile


def test_default_profile_is_listed_first() -> None:
    names = list_profiles()
    assert names[0] == "cubesat-jetson"
    assert load_profile().name == "cubesat-jetson"


def test_every_sensor_field_is_filled(jetson: Profile) -> None:
    plant = Plant(jetson)
    for _ in range(120):
        plant.step(1.0, Actuators(payload_activity_frac=0.5))
    s = plant.sensors()
    assert isinstance(s, Sensors)
    for f in fields(Sensors):
        value = getattr(s, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f.name
    assert 0.0 <= s.battery_soc_frac <= 1.0
    # A 14.4 V nominal 4S pack at high SoC sits between 14 and 17 V.
    assert 14.0 < s.battery_voltage_v < 17.0
    assert plant.elapsed_s == pytest.approx(120.0)
    assert plant.time_utc_s == pytest.approx(jetson.epoch_utc_s + 120.0)


def test_world_is_msgpack_able_and_complete(jetson: Profile) -> None:
    plant = Plant(jetson)
    plant.step(1.0, Actuators(report_mode="NOMINAL", report_jobs_done=3))
    world = plant.world()
    msgpack.packb(world)
    for key in (
        "time_utc_s",
        "elapsed_s",
        "orbit_number",
        "lat_deg",
        "lon_deg",
        "alt_km",
        "sun_fraction",
        "beta_deg",
        "in_contact",
        "station",
        "elevation_deg",
        "next_pass",
        "battery_soc_frac",
        "battery_voltage_v",
        "array_power_w",
        "load_power_w",
        "payload_power_w",
        "temps_c",
        "mode",
        "throttle_frac",
        "jobs_done",
        "tiles_done",
        "payload_restarts",
    ):
        assert key in world, key
    assert world["jobs_done"] == 3
    assert set(world["temps_c"]) >= {"payload", "avionics", "battery", "radiator", "array"}
    assert 540.0 < world["alt_km"] < 560.0  # 550 km circular over the WGS-84 ellipsoid


def test_payload_power_follows_reported_activity(jetson: Profile) -> None:
    plant = Plant(jetson)
    loads = jetson.loads
    assert plant.payload_power_w(Actuators(payload_on=False, payload_activity_frac=1.0)) == 0.0
    assert plant.payload_power_w(Actuators(payload_activity_frac=0.0)) == loads.payload_idle_w
    half = loads.payload_idle_w + 0.5 * (loads.payload_max_w - loads.payload_idle_w)
    assert plant.payload_power_w(Actuators(payload_activity_frac=0.5)) == pytest.approx(half)
    assert plant.payload_power_w(Actuators(payload_activity_frac=math.nan)) == loads.payload_idle_w


def test_summary_counts_mode_changes_and_reports(jetson: Profile) -> None:
    plant = Plant(jetson)
    for mode in ("SAFE", "SAFE", "NOMINAL", "COMPUTE", "NOMINAL"):
        plant.step(1.0, Actuators(report_mode=mode, report_tiles_done=7))
    summary = plant.summary()
    assert summary["mode_changes"] == 3
    assert summary["tiles_done"] == 7
    assert summary["violations"] == []
    assert summary["sim_time_s"] == pytest.approx(5.0)


def test_bad_step_is_refused(jetson: Profile) -> None:
    with pytest.raises(ValueError):
        Plant(jetson).step(0.0, Actuators())
