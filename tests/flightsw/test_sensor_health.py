"""Sensor faults - missing, out of range, stuck, stale - are detected, become "no
reading", and each controller falls back to its stated safe assumption, with events."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from flightsw import sensor_health
from flightsw.component import Tick
from flightsw.config import FlightConfig, HeaterConfig
from flightsw.harness import FreeRunHarness, Harness, nominal_sensors
from flightsw.sensor_health import SensorHealthState

CFG = FlightConfig(sensor_stuck_after_s=30.0, sensor_stale_after_s=10.0)


def _check(st: SensorHealthState, t_s: float, rejected: tuple[str, ...] = (),
           **readings: float) -> tuple[SensorHealthState, object, list[tuple[str, dict]]]:
    sample = nominal_sensors(**readings)
    return sensor_health.check(st, sample, list(rejected), Tick(t_s, t_s), CFG)


@pytest.mark.parametrize(("readings", "rejected", "kind"), [
    ({"battery_temp_c": math.nan}, (), "missing"),
    ({"battery_temp_c": math.nan}, ("battery_temp_c",), "range"),
])
def test_missing_and_refused_readings_are_faults_naming_the_fallback(
        readings: dict[str, float], rejected: tuple[str, ...], kind: str) -> None:
    st, _, events = _check(SensorHealthState(), 0.0, rejected, **readings)
    assert events == [("sensor.fault", {"reading": "battery_temp_c", "kind": kind,
                                        "fallback": sensor_health.FALLBACKS["battery_temp_c"]})]
    st, _, again = _check(st, 1.0, rejected, **readings)
    assert again == []  # one event per onset
    st, _, back = _check(st, 2.0)
    assert back == [("sensor.recovered", {"reading": "battery_temp_c", "after": kind})]
    assert sensor_health.telemetry(st)["sensor.faults_total"] == 1


def test_a_frozen_temperature_is_stuck_after_the_configured_time() -> None:
    st = SensorHealthState()
    for k in range(31):
        drift = 0.01 * k  # every other temperature drifts, as in flight
        st, out, events = _check(st, float(k), payload_temp_c=40.0 + drift,
                                 battery_temp_c=20.0 + drift, radiator_temp_c=drift,
                                 avionics_temp_c=25.0)
        assert events == [] or k == 30
    assert [e[1]["reading"] for e in events] == ["avionics_temp_c"]
    assert events[0][1]["kind"] == "stuck"
    assert math.isnan(out.avionics_temp_c) and out.payload_temp_c == pytest.approx(40.3)  # type: ignore[attr-defined]
    st, out, events = _check(st, 31.0, payload_temp_c=40.6, battery_temp_c=20.5,
                             radiator_temp_c=0.5, avionics_temp_c=25.1)
    assert events[0][0] == "sensor.recovered"


def test_no_sample_for_the_stale_time_loses_every_reading() -> None:
    st, _, _ = _check(SensorHealthState(), 0.0)
    sample = nominal_sensors()
    st, out, events = sensor_health.fresh(st, sample, Tick(9.0, 9.0), CFG)
    assert out is sample and events == []
    st, out, events = sensor_health.fresh(st, sample, Tick(10.0, 10.0), CFG)
    assert math.isnan(out.battery_soc_frac) and math.isnan(out.payload_temp_c)
    assert events[0][1]["kind"] == "stale"
    st, out, events = sensor_health.fresh(st, sample, Tick(11.0, 11.0), CFG)
    assert events == []
    assert sensor_health.telemetry(st)["sensor.faulted"] == "all:stale"
    st, _, events = _check(st, 12.0)
    assert events == [("sensor.recovered", {"reading": "all", "after": "stale"})]


HEATED = replace(Harness().cfg, heaters=(HeaterConfig("battery", "battery", 2.0),),
                 sensor_stuck_after_s=30.0)


def test_lost_battery_temperature_heater_duty_and_payload_cap() -> None:
    h = Harness(HEATED)
    h.run(5)
    assert h.latest("throttle.level_pct") == 100.0
    h.run(5, battery_temp_c=math.nan)
    assert h.latest("heater.battery.state") == "sensor"
    assert h.events("heater.sensor_lost")
    assert h.latest("throttle.level_pct") == 50.0
    assert h.latest("throttle.limiting") == "battery"
    fault = h.events("sensor.fault")[-1]
    assert fault.args["reading"] == "battery_temp_c" and "50 % duty" in fault.args["fallback"]
    assert h.latest("mode.current") == "COMPUTE"  # a lost temperature alone is no SAFE
    h.run(3, battery_temp_c=20.0)
    assert h.latest("heater.battery.state") == "off"
    assert h.latest("throttle.limiting") == ""


def test_stuck_payload_temperature_stops_the_payload_until_it_moves() -> None:
    h = Harness(HEATED)
    h.run(10)  # the harness's payload temperature never changes: it is stuck at 30 s
    assert h.latest("throttle.zone") == "ok"
    h.run(25)
    assert h.latest("throttle.zone") == "sensor" and h.latest("throttle.level_pct") == 0.0
    assert "payload_temp_c:stuck" in h.latest("sensor.faulted")
    h.run(3, payload_temp_c=41.0)
    h.run(1, payload_temp_c=41.2)
    assert h.latest("throttle.zone") == "ok"


def test_a_silent_plant_is_stale_and_the_executive_goes_safe() -> None:
    h = FreeRunHarness(HEATED)
    h.run(5)
    assert h.latest("mode.current") == "COMPUTE"
    for _ in range(150):  # 15 s with no sensor sample
        h.executive.turn_free(wait=False)
        h._collect()
        h.clock.advance_by(0.1)
    stale = [e for e in h.events("sensor.fault") if e.args["kind"] == "stale"]
    assert len(stale) == 1
    assert h.latest("mode.current") == "SAFE"
