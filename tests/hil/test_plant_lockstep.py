"""The plant process in lockstep gives the executive and the observers exactly what the
pure plant computes, step for step, however its loop is ordered: the TICKs carry the
sensors of ``Plant.step`` under the same actuators, WORLD follows every step, and the
summary is the same to the last bit, with the lookahead (the next step guessed with the
last actuators while the executive works) and without it. The loop sends each TICK before
it does the step's books and its WORLD (the executive waits for nothing else)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import zmq

from flightsw.hal import Actuators
from flightsw.messages import ActuatorsBody, TickBody
from flightsw.wire import Kind, Sequencer, decode
from hil.plant import Plant, load_profile
from hil.plantd import PlantServer

_ids = itertools.count()
PROFILE = "suncatcher-proto"


def scripted_actuators(n: int) -> list[Actuators]:
    """Mostly steady (as in flight), with heater, payload, radio and report changes."""
    base = Actuators(payload_on=True, payload_activity_frac=1.0, heaters_on={"battery": False},
                     radio_tx_on=True, report_mode="COMPUTE", report_throttle_frac=1.0)
    out = []
    for k in range(n):
        act = replace(base, report_jobs_done=k // 3, report_tiles_done=16 * (k // 3),
                      heaters_on={"battery": 10 <= k < 14})
        if 20 <= k < 23:
            act = replace(act, payload_activity_frac=0.25 * (k - 19))
        if k == 30:
            act = replace(act, payload_on=False, report_mode="SAFE")
        if k == 31:
            act = replace(act, payload_activity_frac=float("nan"))
        if 35 <= k < 37:
            act = replace(act, radio_tx_on=False)
        out.append(act)
    return out


def reference(acts: list[Actuators], steps: int) -> tuple[list[dict[str, Any]],
                                                            list[dict[str, Any]],
                                                            dict[str, Any]]:
    """(TICK sensors, WORLD bodies, summary) of the pure plant under the same inputs."""
    plant = Plant(load_profile(PROFILE))
    ticks = [plant.sensors().to_body()]
    worlds = []
    for k in range(steps):
        plant.step(1.0, acts[k])
        ticks.append(plant.sensors().to_body())
        worlds.append(plant.world())
    worlds.append(plant.world())  # the closing WORLD, after the last answer
    return ticks, worlds, plant.summary()


class CallLog(PlantServer):
    """Notes the order of the TICKs sent and the WORLDs published."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def _send_pending(self) -> None:
        if self._pending_tick is not None:
            self.calls.append("tick")
        super()._send_pending()

    def publish_world(self, world: dict[str, Any] | None = None) -> None:
        self.calls.append("world")
        super().publish_world(world)


def fly(steps: int, acts: list[Actuators], *, lookahead: bool,
        ) -> tuple[CallLog, list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the server's lockstep loop against a scripted executive on inproc sockets."""
    n = next(_ids)
    ctx: zmq.Context[Any] = zmq.Context()
    server = CallLog(Plant(load_profile(PROFILE)), f"inproc://lsbus{n}",
                     f"inproc://lsworld{n}", ctx=ctx, lookahead=lookahead)
    execu = ctx.socket(zmq.PAIR)
    execu.connect(f"inproc://lsbus{n}")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(f"inproc://lsworld{n}")
    runner = threading.Thread(target=server.run_lockstep, args=(float(steps),))
    runner.start()
    ticks: list[dict[str, Any]] = []
    worlds: list[dict[str, Any]] = []
    seq = Sequencer("flight")
    try:
        for k in range(steps + 1):
            assert execu.poll(10_000), f"no TICK {k}"
            env = decode(execu.recv())
            assert env.kind is Kind.TICK
            tick = TickBody.from_body(env.body)
            assert tick.elapsed_s == float(k)
            ticks.append(tick.sensors.to_body())
            execu.send(seq.pack(Kind.ACTUATORS, env.time_s,
                                ActuatorsBody(acts[k]).to_body()))
        runner.join(10)
        assert not runner.is_alive()
        while sub.poll(1000):
            env = decode(sub.recv())
            if env.kind is Kind.WORLD:
                worlds.append(dict(env.body))
    finally:
        _shut(server, runner, ctx, execu, sub)
    return server, ticks, worlds


def _shut(server: PlantServer, runner: threading.Thread, ctx: zmq.Context[Any],
          *socks: zmq.Socket[Any]) -> None:
    """Stop the plant's loop if a test left it running, then close everything."""
    if runner.is_alive():
        server.stop("test over")
        runner.join(10)
    server.close()
    for sock in socks:
        sock.close(0)
    ctx.term()


STEPS = 40


@pytest.fixture(scope="module", params=[True, False], ids=["lookahead", "no-lookahead"])
def flown(request: pytest.FixtureRequest) -> Iterator[
        tuple[CallLog, list[dict[str, Any]], list[dict[str, Any]],
              tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]]]:
    acts = scripted_actuators(STEPS + 1)
    server, ticks, worlds = fly(STEPS, acts, lookahead=request.param)
    yield server, ticks, worlds, reference(acts, STEPS)


def test_ticks_carry_the_pure_plants_sensors(flown: Any) -> None:
    server, ticks, _worlds, (ref_ticks, _, _) = flown
    assert server.stop_reason == "scenario complete" and not server.error
    assert ticks == ref_ticks


def test_a_world_follows_every_step_as_the_pure_plant_saw_it(flown: Any) -> None:
    _server, _ticks, worlds, (_, ref_worlds, _) = flown
    assert worlds == ref_worlds


def test_the_summary_is_the_pure_plants(flown: Any) -> None:
    server, _ticks, _worlds, (_, _, ref_summary) = flown
    assert server.plant.summary() == ref_summary
    assert server.plant.summary()["mode_changes"] == 2  # the books saw the reports


def test_each_tick_goes_before_the_previous_steps_world(flown: Any) -> None:
    server, _ticks, _worlds, _ = flown
    assert server.calls == ["tick"] + ["tick", "world"] * STEPS + ["world"]


def test_the_lookahead_stands_whenever_the_answer_drives_the_same(flown: Any) -> None:
    server, _ticks, _worlds, _ = flown
    look = server.lookahead
    if look is None:
        return  # the plain loop: nothing guessed (its numbers are checked above)
    assert not look.active
    plant = server.plant
    acts = scripted_actuators(STEPS + 1)
    # the first guess follows the default actuators, then each answer the previous one
    drives = [plant.drive(Actuators())] + [plant.drive(a) for a in acts[:STEPS]]
    changes = sum(1 for k in range(STEPS) if drives[k + 1] != drives[k])
    assert changes >= 10  # the script does exercise the undo
    assert (look.hits, look.misses) == (STEPS - changes, changes)


def test_a_stop_while_a_step_is_guessed_leaves_the_plant_as_answered() -> None:
    n = next(_ids)
    ctx: zmq.Context[Any] = zmq.Context()
    server = PlantServer(Plant(load_profile(PROFILE)), f"inproc://stbus{n}",
                         f"inproc://stworld{n}", ctx=ctx)
    execu = ctx.socket(zmq.PAIR)
    execu.connect(f"inproc://stbus{n}")
    runner = threading.Thread(target=server.run_lockstep, args=(100.0,))
    runner.start()
    acts = scripted_actuators(6)
    seq = Sequencer("flight")
    try:
        for k in range(6):  # answers TICKs 0..5; TICK 6 stays unanswered
            assert execu.poll(10_000)
            env = decode(execu.recv())
            execu.send(seq.pack(Kind.ACTUATORS, env.time_s, ActuatorsBody(acts[k]).to_body()))
        assert execu.poll(10_000)  # TICK 6 came: the plant now guesses step 7
        look = server.lookahead
        assert look is not None
        for _ in range(1000):
            if look.active:
                break
            threading.Event().wait(0.01)
        assert look.active and server.plant.elapsed_s == 7.0
        server.stop("test over")
        runner.join(10)
        assert not runner.is_alive() and not look.active
        assert server.plant.elapsed_s == 6.0
        _ticks, _worlds, summary = reference(acts, 6)
        assert server.plant.summary() == summary
    finally:
        _shut(server, runner, ctx, execu)
