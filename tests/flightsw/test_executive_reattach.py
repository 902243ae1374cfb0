"""The executive's side of re-attaching after a reset (in process): it says HELLO on the
plant bus, answers a TICK the plant sends again only once, and a restart in the middle
of a lockstep scenario starts its sim clock at the plant's time instead of replaying
every cycle since the scenario began."""

from __future__ import annotations

from flightsw.harness import Harness
from flightsw.wire import Envelope, Kind, try_decode


def _plant_kinds(h: Harness) -> list[Kind]:
    out = []
    for frame in h.plant.receive():
        env = try_decode(frame)
        assert isinstance(env, Envelope)
        out.append(env.kind)
    return out


def test_hello_on_the_plant_bus() -> None:
    h = Harness()
    h.executive.say_hello_to_plant()
    frames = h.plant.receive()
    env = try_decode(frames[0])
    assert isinstance(env, Envelope) and env.kind is Kind.HELLO
    assert env.body["dictionary_hash"] == h.core.dictionary.hash


def test_a_tick_sent_again_is_answered_once() -> None:
    h = Harness()
    h.run(3)
    answered = len(h.actuators)
    h.elapsed_s -= 1.0  # the plant sends its last TICK again (it got our HELLO late)
    h.run(1)
    assert len(h.actuators) == answered  # no second answer: the plant would desync
    h.run(1)
    assert len(h.actuators) == answered + 1


def test_a_restart_mid_scenario_does_not_replay_the_past() -> None:
    h = Harness()
    h.elapsed_s = 5000.0  # the restarted executive's first TICK
    h.run(2)
    assert h.core.groups.groups[0].runs <= 20  # ~one second of 10 Hz cycles, not 50,000
    assert h.clock.monotonic_s() == 5001.0
    assert h.latest("exec.uptime_s") <= 1.0
