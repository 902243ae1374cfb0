"""Heater control: thermostats with hysteresis, the power budget, the lost-sensor
fallback, commands and telemetry, alone and inside the whole executive."""

from __future__ import annotations

import math

import pytest

from flightsw import heaters
from flightsw.catalog import build_dictionary
from flightsw.component import Tick
from flightsw.config import ConfigError, FlightConfig, HeaterConfig
from flightsw.errors import FlightError
from flightsw.harness import Harness
from flightsw.heaters import HeaterInputs

CFG = FlightConfig(heaters=(HeaterConfig("battery", "battery", 2.0),
                            HeaterConfig("payload", "payload", 4.0)))


@pytest.mark.parametrize(("was_on", "temp_c", "expected"), [
    (False, 9.9, True),     # below on: on
    (False, 12.0, False),   # inside the band: stays off
    (True, 12.0, True),     # inside the band: stays on (hysteresis)
    (True, 15.1, False),    # above off: off
    (True, 10.0, True),     # at the set point: unchanged
    (False, 15.0, False),
])
def test_thermostat_hysteresis(was_on: bool, temp_c: float, expected: bool) -> None:
    assert heaters.thermostat(was_on, temp_c, 10.0, 15.0) is expected


def test_default_set_points_come_from_the_charge_range() -> None:
    st = heaters.initial(CFG)
    assert (st.settings["battery"].on_c, st.settings["battery"].off_c) == (10.0, 15.0)
    assert (st.settings["payload"].on_c, st.settings["payload"].off_c) == (-15.0, -10.0)
    lo, hi = heaters.allowed_range("battery", CFG)
    assert (lo, hi) == (CFG.battery_charge_min_temp_c, CFG.battery_charge_max_temp_c)


def _step(st: heaters.HeaterState, t_s: float, **inputs: object) -> tuple[
        heaters.HeaterState, list[str]]:
    new, events = heaters.step(st, HeaterInputs(**inputs), Tick(t_s, t_s),  # type: ignore[arg-type]
                               CFG)
    return new, [name for name, _ in events]


def test_cold_nodes_get_heat_within_the_budget_battery_first() -> None:
    st = heaters.initial(CFG)
    cold = {"battery": 5.0, "payload": -30.0}
    st, ev = _step(st, 1.0, temps_c=cold, budget_w=10.0)
    assert heaters.commands(st, 1.0) == {"battery": True, "payload": True}
    assert ev.count("heater.switched") == 2
    # only 3 W left: the battery heater (2 W) is kept, the payload's (4 W) denied
    st, ev = _step(st, 2.0, temps_c=cold, budget_w=3.0, budget_reason="battery at 22 %")
    assert heaters.commands(st, 2.0) == {"battery": True, "payload": False}
    assert st.status["payload"] == "denied" and ev == ["heater.denied"]
    assert heaters.power_w(st, CFG, 2.0) == 2.0
    # comfort heaters shed by the load plan even with budget to spare
    st, ev = _step(st, 3.0, temps_c=cold, budget_w=10.0, comfort_allowed=False)
    assert st.status == {"battery": "on", "payload": "denied"}


def test_warm_nodes_switch_off_above_the_band() -> None:
    st = heaters.initial(CFG)
    st, _ = _step(st, 1.0, temps_c={"battery": 5.0, "payload": 20.0})
    assert st.status == {"battery": "on", "payload": "off"}
    st, _ = _step(st, 2.0, temps_c={"battery": 14.0, "payload": 20.0})
    assert st.status["battery"] == "on"
    st, _ = _step(st, 3.0, temps_c={"battery": 15.5, "payload": 20.0})
    assert st.status["battery"] == "off"
    assert st.on_s["battery"] == pytest.approx(2.0)


def test_lost_sensor_runs_the_stated_duty_cycle_with_one_event() -> None:
    st = heaters.initial(CFG)
    names: list[str] = []
    on_count = 0
    for k in range(int(heaters.FALLBACK_PERIOD_S)):
        st, ev = _step(st, float(k), temps_c={"battery": math.nan, "payload": 20.0})
        names += ev
        on_count += heaters.commands(st, float(k))["battery"]
    assert names == ["heater.sensor_lost"]
    assert st.status["battery"] == "sensor"
    assert on_count == pytest.approx(heaters.FALLBACK_DUTY_FRAC * heaters.FALLBACK_PERIOD_S)


def test_disabled_heater_stays_off_and_commands_validate() -> None:
    handlers = heaters.make_handlers(CFG)
    st = heaters.initial(CFG)
    t = Tick(0.0, 0.0)
    done = handlers["heater.enable"](st, {"heater": "battery", "enabled": False}, t)
    st = done.state
    st, _ = _step(st, 1.0, temps_c={"battery": -5.0, "payload": 20.0})
    assert st.status["battery"] == "disabled"
    assert not heaters.commands(st, 1.0)["battery"]
    done = handlers["heater.set_points"](st, {"heater": "battery", "on_c": 12.0,
                                              "off_c": 18.0}, t)
    assert done.state.settings["battery"].on_c == 12.0 and "12" in done.note
    for bad in ({"on_c": 18.0, "off_c": 12.0}, {"on_c": -5.0, "off_c": 5.0},
                {"on_c": 40.0, "off_c": 50.0}):
        with pytest.raises(FlightError):
            handlers["heater.set_points"](st, {"heater": "battery", **bad}, t)


def test_dictionary_has_per_heater_telemetry_and_commands() -> None:
    d = build_dictionary(CFG)
    assert {"heater.enable", "heater.set_points"} <= set(d.commands)
    assert "heater.battery.state" in d.telemetry and "heater.payload.on_c" in d.telemetry
    assert "heater.enable" not in build_dictionary(FlightConfig()).commands


@pytest.mark.parametrize("bad", [
    [{"name": "b", "node": "nowhere", "power_w": 1.0}],
    [{"name": "b", "node": "battery", "power_w": -1.0}],
    [{"name": "b", "node": "battery"}],
    [{"name": "b", "node": "battery", "power_w": 1.0}] * 2,
    "battery",
])
def test_bad_heater_config_is_refused(bad: object) -> None:
    with pytest.raises(ConfigError):
        FlightConfig.from_mapping({"heaters": bad})


def test_executive_switches_the_heaters_and_reports_them() -> None:
    """Before: the executive sent ``heaters_on={}`` whatever the temperature."""
    h = Harness(CFG)
    h.run(3, battery_temp_c=3.0)
    assert h.actuators[-1].heaters_on == {"battery": True, "payload": False}
    assert h.latest("heater.battery.state") == "on"
    h.run(3, battery_temp_c=16.0)
    assert h.actuators[-1].heaters_on == {"battery": False, "payload": False}
    seq = h.command("heater.set_points", heater="battery", on_c=20.0, off_c=25.0)
    h.run(2)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.actuators[-1].heaters_on["battery"] is True
    seq = h.command("heater.set_points", heater="battery", on_c=40.0, off_c=50.0)
    h.run(1)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and "range" in report.reason


def test_low_battery_sheds_the_comfort_heater_then_the_battery_heater() -> None:
    h = Harness(CFG)
    cold = {"battery_temp_c": 3.0, "payload_temp_c": -30.0, "sun_fraction": 0.0}
    h.run(3, battery_soc_frac=0.9, **cold)
    assert h.actuators[-1].heaters_on == {"battery": True, "payload": True}
    mid = 0.5 * (CFG.battery_soc_floor_frac + CFG.battery_soc_safe_frac) - 0.01
    h.run(3, battery_soc_frac=mid)
    assert h.actuators[-1].heaters_on == {"battery": True, "payload": False}
    assert h.latest("power.shed_level") == 2
    assert h.events("heater.denied")
    h.run(3, battery_soc_frac=CFG.battery_soc_floor_frac - 0.01)
    assert h.actuators[-1].heaters_on == {"battery": False, "payload": False}
    assert h.latest("power.shed_level") == 3


def test_commanded_set_points_survive_a_reset() -> None:
    from flightsw.component import persisted, restore

    st = heaters.initial(CFG)
    done = heaters.make_handlers(CFG)["heater.set_points"](
        st, {"heater": "battery", "on_c": 12.0, "off_c": 20.0}, Tick(0.0, 0.0))
    saved = persisted(done.state)
    back = restore(heaters.initial(CFG), {"settings": {
        k: {"enabled": v.enabled, "on_c": v.on_c, "off_c": v.off_c}
        for k, v in saved["settings"].items()}})
    assert back.settings["battery"].on_c == 12.0 and back.settings["battery"].off_c == 20.0
    assert back.settings["payload"].on_c == -15.0
