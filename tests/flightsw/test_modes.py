"""The mode table: every legal and illegal commanded transition, and the autonomous rules."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from flightsw import modes
from flightsw.config import FlightConfig
from flightsw.errors import TransitionRefused

CFG = FlightConfig()
GOOD = modes.ModeInputs(battery_soc_frac=0.9, payload_temp_c=30.0, battery_voltage_v=15.8,
                        battery_temp_c=20.0, avionics_temp_c=25.0, sun_fraction=1.0)

# The expected commanded moves, written out by hand (the table must agree).
LEGAL = {("SAFE", "NOMINAL"), ("SAFE", "STANDBY"),
         ("NOMINAL", "COMPUTE"), ("COMPUTE", "NOMINAL"),
         ("NOMINAL", "SAFE"), ("COMPUTE", "SAFE"), ("STANDBY", "SAFE"), ("LOW_POWER", "SAFE"),
         ("NOMINAL", "STANDBY"), ("COMPUTE", "STANDBY"), ("LOW_POWER", "STANDBY"),
         ("STANDBY", "NOMINAL"), ("LOW_POWER", "NOMINAL")}


def _state(mode: str, reason: str = "test") -> modes.ModeState:
    return modes.ModeState(mode, reason, 0.0)


@pytest.mark.parametrize("source, target", sorted(itertools.product(modes.MODES, repeat=2)))
def test_every_commanded_pair(source: str, target: str) -> None:
    state = _state(source)
    if source == target:
        new, events = modes.request(state, target, GOOD, CFG, 5.0)
        assert new == state and events == []
    elif (source, target) in LEGAL:
        new, events = modes.request(state, target, GOOD, CFG, 5.0)
        assert new.mode == target and new.since_mission_time_s == 5.0 and new.changes == 1
        assert events == [("mode.changed", {"old": source, "new": target,
                                            "reason": "ground command"})]
    else:
        with pytest.raises(TransitionRefused) as info:
            modes.request(state, target, GOOD, CFG, 5.0)
        assert info.value.reason == f"no transition from {source} to {target}"
        assert target not in info.value.details["valid"]


def test_unknown_mode_lists_the_modes() -> None:
    with pytest.raises(TransitionRefused) as info:
        modes.request(_state("SAFE"), "HYPERDRIVE", GOOD, CFG, 0.0)
    assert info.value.details["valid"] == sorted(modes.MODES)


@pytest.mark.parametrize("inputs, words", [
    (modes.ModeInputs(0.5, 30.0), "below 60 %"),
    (modes.ModeInputs(float("nan"), 30.0), "below"),
    (modes.ModeInputs(0.9, CFG.payload_temp_warn_c), "temperature"),
    (modes.ModeInputs(0.9, float("nan")), "temperature"),
    (modes.ModeInputs(0.9, 30.0, payload_healthy=False), "not healthy"),
])
def test_compute_guard_refuses_with_the_reason(inputs: modes.ModeInputs, words: str) -> None:
    with pytest.raises(TransitionRefused, match=words):
        modes.request(_state("NOMINAL"), "COMPUTE", inputs, CFG, 0.0)


def test_leaving_safe_needs_charge() -> None:
    with pytest.raises(TransitionRefused, match="below 45 %"):
        modes.request(_state("SAFE"), "NOMINAL", modes.ModeInputs(0.3, 20.0), CFG, 0.0)


@pytest.mark.parametrize("mode, soc, reason, expected", [
    ("COMPUTE", 0.20, "x", "SAFE"),  # battery low beats everything
    ("NOMINAL", 0.20, "x", "SAFE"),
    ("COMPUTE", 0.54, "x", "NOMINAL"),  # below compute threshold minus hysteresis
    ("COMPUTE", 0.57, "x", "COMPUTE"),  # inside the hysteresis band: stay
    ("NOMINAL", 0.61, "x", "COMPUTE"),  # power allows compute
    ("NOMINAL", 0.59, "x", "NOMINAL"),
    ("SAFE", 0.50, "battery low", "NOMINAL"),  # auto recovery after a low-battery SAFE
    ("SAFE", 0.40, "battery low", "SAFE"),  # not yet
    ("SAFE", 0.99, "ground command", "SAFE"),  # an operator's SAFE waits for the operator
])
def test_autonomous_rules(mode: str, soc: float, reason: str, expected: str) -> None:
    new, events = modes.auto_step(_state(mode, reason), modes.ModeInputs(soc, 30.0), CFG, 1.0)
    assert new.mode == expected
    assert bool(events) == (expected != mode)


def test_auto_compute_can_be_switched_off() -> None:
    cfg = FlightConfig(auto_compute=False)
    new, _ = modes.auto_step(_state("NOMINAL"), GOOD, cfg, 1.0)
    assert new.mode == "NOMINAL"


def test_boot_mode_comes_from_config() -> None:
    assert modes.boot(FlightConfig(boot_mode="SAFE"), 0.0).mode == "SAFE"
    with pytest.raises(TransitionRefused):
        modes.boot(FlightConfig(boot_mode="LAUNCH"), 0.0)


def test_diagram_is_drawn_from_the_table() -> None:
    text = modes.diagram()
    assert text.count("-->") == len(modes.TRANSITIONS)


def _inputs(**changes: float | bool) -> modes.ModeInputs:
    return replace(GOOD, **changes)  # type: ignore[arg-type]


# (mode, reason it was entered, inputs, expected mode, why): one row per guard edge.
AUTO_TABLE = [
    ("COMPUTE", "x", _inputs(battery_voltage_v=11.9), "SAFE", "bus undervoltage (4S x 3.0 V)"),
    ("STANDBY", "x", _inputs(battery_voltage_v=11.9), "SAFE", "from every working mode"),
    ("NOMINAL", "x", _inputs(battery_voltage_v=12.1), "COMPUTE", "above undervoltage"),
    ("NOMINAL", "x", _inputs(battery_temp_c=-10.5), "SAFE", "battery below its minimum"),
    ("COMPUTE", "x", _inputs(battery_temp_c=45.5), "SAFE", "battery above its maximum"),
    ("LOW_POWER", "x", _inputs(avionics_temp_c=61.0), "SAFE", "avionics above its maximum"),
    ("COMPUTE", "x", _inputs(battery_temp_c=float("nan")), "COMPUTE", "lost sensor: no move"),
    ("COMPUTE", "x", _inputs(sun_fraction=0.0, battery_soc_frac=0.44), "LOW_POWER",
     "eclipse entry with a low battery sheds the payload"),
    ("NOMINAL", "x", _inputs(sun_fraction=0.2, battery_soc_frac=0.44), "LOW_POWER", "same"),
    ("COMPUTE", "x", _inputs(sun_fraction=0.0, battery_soc_frac=0.70), "COMPUTE",
     "eclipse with charge to spare"),
    ("NOMINAL", "x", _inputs(sun_fraction=0.6, battery_soc_frac=0.44), "NOMINAL",
     "penumbra above the eclipse threshold"),
    ("LOW_POWER", "x", _inputs(sun_fraction=0.6, battery_soc_frac=0.44), "LOW_POWER",
     "hysteresis: not yet enough sun to leave"),
    ("LOW_POWER", "x", _inputs(sun_fraction=0.8, battery_soc_frac=0.44), "NOMINAL",
     "sunlight returned"),
    ("LOW_POWER", "x", _inputs(sun_fraction=1.0, battery_soc_frac=0.20), "SAFE",
     "battery low beats sunlight"),
    ("COMPUTE", "x", _inputs(payload_temp_c=CFG.payload_temp_max_c), "NOMINAL",
     "payload at its maximum"),
    ("COMPUTE", "x", _inputs(payload_healthy=False), "NOMINAL", "payload unhealthy"),
    ("COMPUTE", "x", _inputs(payload_temp_c=CFG.payload_temp_warn_c), "COMPUTE",
     "between warning and maximum: the throttle's business"),
    ("NOMINAL", "x", _inputs(payload_temp_c=CFG.payload_temp_warn_c), "NOMINAL",
     "no COMPUTE at the warning level (hysteresis with the maximum)"),
    ("SAFE", "battery low", _inputs(battery_soc_frac=0.5, battery_temp_c=-11.0), "SAFE",
     "no recovery with a limit broken"),
    ("SAFE", "bus or temperature limit", GOOD, "SAFE", "a limit SAFE waits for the ground"),
    ("STANDBY", "ground command", GOOD, "STANDBY", "STANDBY is the operator's"),
]


@pytest.mark.parametrize(("mode", "reason", "inputs", "expected", "why"), AUTO_TABLE,
                         ids=[row[4] for row in AUTO_TABLE])
def test_autonomous_guards(mode: str, reason: str, inputs: modes.ModeInputs, expected: str,
                           why: str) -> None:
    cfg = FlightConfig(battery_voltage_min_v=12.0)
    new, events = modes.auto_step(_state(mode, reason), inputs, cfg, 1.0)
    assert new.mode == expected, why
    assert bool(events) == (expected != mode)


@pytest.mark.parametrize(("source", "target", "inputs", "words"), [
    ("SAFE", "NOMINAL", _inputs(battery_temp_c=50.0), "battery temperature 50.0 C"),
    ("STANDBY", "NOMINAL", _inputs(battery_soc_frac=0.3), "below 45 %"),
    ("STANDBY", "NOMINAL", _inputs(battery_voltage_v=11.0), "bus voltage 11.00 V"),
    ("LOW_POWER", "NOMINAL", _inputs(sun_fraction=0.0), "still in eclipse"),
    ("NOMINAL", "COMPUTE", _inputs(avionics_temp_c=-25.0), "avionics temperature"),
])
def test_refused_commands_carry_the_guards_reason(source: str, target: str,
                                                   inputs: modes.ModeInputs,
                                                   words: str) -> None:
    cfg = FlightConfig(battery_voltage_min_v=12.0)
    with pytest.raises(TransitionRefused, match=words):
        modes.request(_state(source), target, inputs, cfg, 0.0)


def test_mode_inputs_come_from_the_sample() -> None:
    from flightsw.harness import nominal_sensors

    got = modes.mode_inputs(nominal_sensors(sun_fraction=0.3), payload_healthy=False)
    assert (got.sun_fraction, got.payload_healthy, got.battery_voltage_v) == (0.3, False, 15.8)


def test_eclipse_entry_with_low_battery_sheds_the_payload_in_the_executive() -> None:
    from flightsw.harness import Harness

    h = Harness()
    h.run(5)
    assert h.actuators[-1].payload_on and h.latest("mode.current") == "COMPUTE"
    h.run(3, sun_fraction=0.0, battery_soc_frac=0.42)
    assert h.latest("mode.current") == "LOW_POWER"
    assert not h.actuators[-1].payload_on
    assert [e.args["reason"] for e in h.events("mode.changed")][-1] == \
        "eclipse with a low battery"
    seq = h.command("mode.set", mode="NOMINAL")
    h.run(2)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and report.reason.startswith("still in eclipse")
    assert h.events("mode.refused")
    h.run(5, sun_fraction=1.0)
    assert h.latest("mode.current") == "NOMINAL"
    assert h.actuators[-1].payload_on
