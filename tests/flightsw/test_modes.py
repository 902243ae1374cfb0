"""The mode table: every legal and illegal commanded transition, and the autonomous rules."""

from __future__ import annotations

import itertools

import pytest

from flightsw import modes
from flightsw.config import FlightConfig
from flightsw.errors import TransitionRefused

CFG = FlightConfig()
GOOD = modes.ModeInputs(battery_soc_frac=0.9, payload_temp_c=30.0)

# The expected commanded moves, written out by hand (the table must agree).
LEGAL = {("SAFE", "NOMINAL"), ("NOMINAL", "COMPUTE"), ("COMPUTE", "NOMINAL"),
         ("NOMINAL", "SAFE"), ("COMPUTE", "SAFE")}


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
