"""A guessed step stands only when the answer drives the physics the same, and is then
the step the plant would have made after the answer; otherwise, or when no answer comes,
the plant is put back exactly as it was."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flightsw.hal import Actuators
from hil.plant import Plant, load_profile
from hil.plant.lookahead import Lookahead
from tests.hil.test_plant_step_phases import plain

ACT = Actuators(payload_on=True, payload_activity_frac=1.0, heaters_on={"battery": False},
                report_mode="COMPUTE")


def warmed(steps: int = 3) -> Plant:
    plant = Plant(load_profile("suncatcher-proto"))
    for _ in range(steps):
        plant.step(1.0, ACT)
    return plant


def test_a_guess_that_stands_is_the_step_made_after_the_answer() -> None:
    plant, twin = warmed(), warmed()
    look = Lookahead(plant)
    look.begin(1.0, ACT)
    answer = replace(ACT, report_jobs_done=7, report_mode="SAFE")  # reports only
    assert look.resolve(answer) and not look.active
    plant.settle(answer)
    twin.step(1.0, answer)
    assert plain(plant) == plain(twin)
    assert plant.sensors() == twin.sensors() and plant.world() == twin.world()
    assert (look.hits, look.misses, look.hit_fraction()) == (1, 0, 1.0)


def test_a_wrong_guess_is_undone_and_the_step_made_with_the_answer() -> None:
    plant, twin = warmed(), warmed()
    look = Lookahead(plant)
    look.begin(1.0, ACT)
    answer = replace(ACT, heaters_on={"battery": True}, payload_activity_frac=0.3)
    assert not look.resolve(answer)
    assert plain(plant) == plain(twin)  # as before the guess
    plant.step(1.0, answer)
    twin.step(1.0, answer)
    assert plain(plant) == plain(twin)
    assert (look.hits, look.misses) == (0, 1)


def test_no_answer_puts_the_plant_back_and_misuse_is_refused() -> None:
    plant, twin = warmed(), warmed()
    look = Lookahead(plant)
    with pytest.raises(RuntimeError, match="no guessed step"):
        look.resolve(ACT)
    look.begin(1.0, ACT)
    with pytest.raises(RuntimeError, match="already waits"):
        look.begin(1.0, ACT)
    look.cancel()
    assert not look.active and plain(plant) == plain(twin)
    assert plant.summary() == twin.summary()
    look.cancel()  # nothing guessed: nothing to undo
    assert (look.hits, look.misses, look.hit_fraction()) == (0, 0, 0.0)
