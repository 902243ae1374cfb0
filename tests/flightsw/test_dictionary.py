"""Dictionary: declarations gathered once, exported with a hash, commands validated."""

from __future__ import annotations

import json

import pytest

from flightsw.catalog import build_dictionary
from flightsw.config import FlightConfig
from flightsw.dictionary import (
    Arg,
    ArgType,
    Command,
    Declarations,
    Dictionary,
    Event,
    Limits,
    Severity,
)
from flightsw.errors import CommandRejected, DictionaryError


@pytest.fixture()
def d() -> Dictionary:
    return build_dictionary()


def test_every_name_is_prefixed_by_its_component(d: Dictionary) -> None:
    for table in (d.commands, d.telemetry, d.events):
        for name, entry in table.items():
            assert name.split(".")[0] == entry.component, name


def test_json_round_trip_keeps_the_hash(d: Dictionary) -> None:
    exported = d.to_json()
    text = json.dumps(exported)
    again = Dictionary.from_json(json.loads(text))
    assert again.hash == d.hash == exported["hash"]
    assert again.commands == d.commands


def test_tampered_json_is_detected(d: Dictionary) -> None:
    exported = d.to_json()
    exported["commands"][0]["description"] = "changed"
    with pytest.raises(DictionaryError, match="hash does not match"):
        Dictionary.from_json(exported)


def test_limits_change_the_hash() -> None:
    a = build_dictionary(FlightConfig())
    b = build_dictionary(FlightConfig(payload_temp_max_c=95.0))
    assert a.hash != b.hash


def test_duplicate_declaration_is_refused() -> None:
    one = Declarations("x", commands=(Command("x.go", "go"),))
    with pytest.raises(DictionaryError, match="declared twice"):
        Dictionary.build("1", [one, one])


@pytest.mark.parametrize("name, args, reason", [
    ("nope", {}, "unknown command"),
    (42, {}, "unknown command"),
    ("mode.set", {}, "missing argument"),
    ("mode.set", {"mode": "FLY"}, "not one of the choices"),
    ("mode.set", {"mode": 1}, "not one of the choices"),
    ("mode.set", {"mode": "SAFE", "extra": 1}, "unknown argument"),
    ("mode.set", ["SAFE"], "arguments must be a map"),
    ("payload.throttle_cap", {"level_pct": 101}, "out of range"),
    ("payload.throttle_cap", {"level_pct": -0.1}, "out of range"),
    ("payload.throttle_cap", {"level_pct": "50"}, "must be a number"),
    ("payload.throttle_cap", {"level_pct": True}, "must be a number"),
    ("payload.throttle_cap", {"level_pct": float("nan")}, "finite"),
    ("payload.enable", {"enabled": 1}, "must be a bool"),
    ("exec.hk_period_set", {"period_s": 0.0}, "out of range"),
])
def test_bad_commands_are_rejected_with_a_reason(d: Dictionary, name: object, args: object,
                                                 reason: str) -> None:
    with pytest.raises(CommandRejected) as info:
        d.validate_command(name, args)
    assert reason in info.value.reason


def test_unknown_command_lists_the_valid_ones(d: Dictionary) -> None:
    with pytest.raises(CommandRejected) as info:
        d.validate_command("mode.sett", {})
    assert "mode.set" in info.value.details["valid"]


def test_good_commands_are_normalised(d: Dictionary) -> None:
    assert d.validate_command("mode.set", {"mode": "SAFE"}) == {"mode": "SAFE"}
    assert d.validate_command("payload.throttle_cap", {"level_pct": 50}) == {"level_pct": 50.0}
    assert d.validate_command("exec.noop", {}) == {}


def test_text_arguments_parse_by_type(d: Dictionary) -> None:
    assert d.parse_command_text("payload.enable", ["enabled=off"]) == {"enabled": False}
    assert d.parse_command_text("payload.throttle_cap", ["level_pct=12.5"]) == {
        "level_pct": 12.5}
    with pytest.raises(CommandRejected, match="cannot read argument as float"):
        d.parse_command_text("payload.throttle_cap", ["level_pct=lots"])
    with pytest.raises(CommandRejected, match="key=value"):
        d.parse_command_text("mode.set", ["SAFE"])
    with pytest.raises(CommandRejected, match="given twice"):
        d.parse_command_text("mode.set", ["mode=SAFE", "mode=NOMINAL"])


def test_int_arguments_refuse_fractions() -> None:
    cmd = Command("t.n", "n", args=(Arg("n", ArgType.INT, min=0, max=10),))
    d = Dictionary.build("1", [Declarations("t", commands=(cmd,))])
    assert d.validate_command("t.n", {"n": 3.0}) == {"n": 3}
    with pytest.raises(CommandRejected, match="integer"):
        d.validate_command("t.n", {"n": 3.5})


def test_limits_classify() -> None:
    lim = Limits(red_low=0, yellow_low=10, yellow_high=80, red_high=90)
    assert [lim.classify(v) for v in (-1, 5, 50, 85, 95)] == [
        "red", "yellow", "ok", "yellow", "red"]
    assert lim.classify(float("nan")) == "red"


def test_event_render_never_raises() -> None:
    ev = Event("x.y", Severity.WARNING_LO, "value {v}")
    assert ev.render({"v": 3}) == "value 3"
    assert "unformattable" in ev.render({})
