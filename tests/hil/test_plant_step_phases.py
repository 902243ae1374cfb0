"""A plant step in two phases: ``advance`` (the physics the next sensor sample needs) and
``settle`` (the step's books). Together they are ``step``; a step cannot be skipped or
booked twice; and a plant put back with ``restore_physics`` is the plant that never
advanced, field for field (what a lookahead that guessed wrong relies on)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, load_profile
from hil.plant.plant import Drive

ACT = Actuators(payload_on=True, payload_activity_frac=0.7, heaters_on={"battery": True},
                report_mode="COMPUTE")


CACHES_AND_CONSTANTS = frozenset((
    "grid", "forecast", "ephemeris", "profile", "spec", "_look", "_appends", "_temp_appends"))


def plain(value: Any, depth: int = 0) -> Any:
    """A comparable picture of an object's whole state (caches of geometry aside)."""
    if depth > 6:
        return repr(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: plain(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "tobytes"):
        return value.tobytes()
    if hasattr(value, "__dict__"):
        return {k: plain(v, depth + 1) for k, v in vars(value).items()
                if k not in CACHES_AND_CONSTANTS}
    return value


def test_advance_then_settle_is_a_step() -> None:
    a, b = Plant(load_profile("suncatcher-proto")), Plant(load_profile("suncatcher-proto"))
    for k in range(50):
        act = replace(ACT, report_jobs_done=k, heaters_on={"battery": k % 7 < 3})
        a.step(1.0, act)
        b.advance(1.0, b.drive(act))
        b.settle(act)
    assert plain(a) == plain(b)
    assert a.summary() == b.summary()


def test_a_step_must_be_settled_before_the_next_and_before_a_summary() -> None:
    plant = Plant(load_profile("suncatcher-proto"))
    with pytest.raises(RuntimeError, match="no step to settle"):
        plant.settle(ACT)
    plant.advance(1.0, plant.drive(ACT))
    with pytest.raises(RuntimeError, match="not settled"):
        plant.advance(1.0, plant.drive(ACT))
    with pytest.raises(RuntimeError, match="not settled"):
        plant.summary()
    plant.settle(ACT)
    with pytest.raises(RuntimeError, match="no step to settle"):
        plant.settle(ACT)
    assert plant.summary()["sim_time_s"] == 1.0


def test_the_drive_is_what_moves_the_physics() -> None:
    plant = Plant(load_profile("suncatcher-proto"))
    assert plant.drive(ACT) == Drive(plant.payload_power_w(ACT), ("battery",), True)
    reports_only = replace(ACT, report_mode="SAFE", report_jobs_done=9, report_tiles_done=3,
                           report_throttle_frac=0.5, report_payload_restarts=2)
    assert plant.drive(reports_only) == plant.drive(ACT)
    # an unknown heater or a NaN activity drives nothing new; both compare equal
    assert plant.drive(replace(ACT, heaters_on={"battery": True, "nope": True})) == \
        plant.drive(ACT)
    nan = replace(ACT, payload_activity_frac=float("nan"))
    assert plant.drive(nan) == plant.drive(nan)
    assert plant.drive(replace(ACT, payload_activity_frac=0.5)) != plant.drive(ACT)


def test_restore_physics_undoes_an_unsettled_step_field_for_field() -> None:
    plant = Plant(load_profile("suncatcher-proto"))
    for _ in range(5):
        plant.step(1.0, ACT)
    before = plain(plant)
    saved = plant.physics_state()
    plant.advance(1.0, plant.drive(replace(ACT, heaters_on={}, payload_on=False)))
    assert plain(plant) != before
    plant.restore_physics(saved)
    assert plain(plant) == before
    # and it steps on as if nothing had happened
    twin = Plant(load_profile("suncatcher-proto"))
    for _ in range(6):
        twin.step(1.0, ACT)
    plant.step(1.0, ACT)
    assert plain(plant) == plain(twin)
