"""The plant process's receive path: nothing on the plant bus can crash the plant."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightsw.errors import WireError
from flightsw.hal import Actuators
from flightsw.wire import WIRE_VERSION, Kind, Sequencer, try_decode
from hil.plant import Plant, load_profile
from hil.plantd import PlantServer, receive_frame

_ids = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[PlantServer]:
    n = next(_ids)
    ctx: zmq.Context[Any] = zmq.Context()
    srv = PlantServer(Plant(load_profile("cubesat-jetson")), f"inproc://bus{n}",
                      f"inproc://world{n}", ctx=ctx)
    try:
        yield srv
    finally:
        srv.bus.close()
        srv.world.close(linger=0)
        ctx.term()


def _act_frame(body: Any, kind: str = Kind.ACTUATORS.value) -> bytes:
    return bytes(msgpack.packb([WIRE_VERSION, kind, "flightsw", 1, 0.0, body],
                               use_bin_type=True))


def test_good_actuators_are_taken() -> None:
    frame = Sequencer("flightsw").pack(Kind.ACTUATORS, 0.0, {"actuators": Actuators(
        payload_on=False, heaters_on={"battery": True}, report_mode="SAFE").to_body()})
    got = receive_frame(frame)
    assert got.reply and got.error is None and got.actuators is not None
    assert got.actuators.payload_on is False and got.actuators.report_mode == "SAFE"


@pytest.mark.parametrize(("frame", "reply"), [
    (b"", False), (b"\xc1", False), (b"\x93\x01\x02", False),
    (_act_frame({"actuators": []}), True),
    (_act_frame({"actuators": {"payload_on": "yes"}}), True),
    (_act_frame({"actuators": {"report_jobs_done": 1.5}}), True),
    (_act_frame({"actuators": {"heaters_on": 7}}), True),
    (_act_frame({"actuators": {}}, kind=Kind.TICK.value), False),
    (_act_frame({"actuators": {}}, kind="nope"), False),
])
def test_malformed_frames_are_rejected_with_a_reason(frame: bytes, reply: bool) -> None:
    got = receive_frame(frame)
    assert got.actuators is None and isinstance(got.error, WireError)
    assert got.reply is reply  # a bad ACTUATORS body still answers the TICK


def test_a_rejected_frame_keeps_the_last_good_actuators(server: PlantServer) -> None:
    good = Actuators(payload_on=False)
    server.act = good
    before = server.frames_rejected
    assert server.handle_frame(_act_frame({"actuators": {"payload_on": 3}})) is True
    assert server.act is good and server.frames_rejected == before + 1


_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
         | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
         | st.binary(max_size=20))
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=12) | st.integers(-9, 9), inner,
                                         max_size=4), max_leaves=20)
_field_names = st.sampled_from([f.name for f in Actuators.__dataclass_fields__.values()])
_actuator_bodies = st.dictionaries(_field_names | st.text(max_size=8), _values, max_size=8)
_frames = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda body: _act_frame({"actuators": body}), _actuator_bodies),
    st.builds(lambda body: _act_frame(body), st.dictionaries(st.text(max_size=8), _values,
                                                             max_size=4)),
    st.builds(lambda obj: bytes(msgpack.packb(obj, use_bin_type=True)), _values),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frame=_frames)
def test_fuzz_no_frame_crashes_the_plant(server: PlantServer, frame: bytes) -> None:
    got = receive_frame(frame)
    assert (got.actuators is None) == (got.error is not None)
    server.handle_frame(frame)  # never raises
    server.plant.step(1.0, server.act)  # whatever was taken, the physics runs on it
    world = server.plant.world()
    assert math.isfinite(float(world["battery_soc_frac"]))
    out = server.seq_world.pack(Kind.WORLD, server.plant.time_utc_s, world)
    assert not isinstance(try_decode(out), WireError)


def _late_ground_sees(await_ground_s: float) -> list[Any]:
    """A 5 s lockstep run against an executive that answers at once, watched by a ground
    that joins the world feed 0.3 s late; what the ground saw, in order."""
    import threading
    import time

    from flightsw.wire import WORLD_SIGN_IN

    n = next(_ids)
    ctx: zmq.Context[Any] = zmq.Context()
    srv = PlantServer(Plant(load_profile("cubesat-jetson")), f"inproc://bus{n}",
                      f"inproc://world{n}", ctx=ctx)
    seen: list[Any] = []

    def executive() -> None:
        sock = ctx.socket(zmq.PAIR)
        sock.connect(f"inproc://bus{n}")
        seq = Sequencer("flightsw")
        while sock.poll(5000):
            env = try_decode(sock.recv())
            if getattr(env, "kind", None) is Kind.STOP:
                break
            sock.send(seq.pack(Kind.ACTUATORS, 0.0, {"actuators": Actuators().to_body()}))
        sock.close(linger=0)

    def ground() -> None:
        time.sleep(0.3)
        sub = ctx.socket(zmq.SUB)
        for topic in (b"", WORLD_SIGN_IN):
            sub.setsockopt(zmq.SUBSCRIBE, topic)
        sub.connect(f"inproc://world{n}")
        while sub.poll(5000):
            env = try_decode(sub.recv())
            assert not isinstance(env, WireError), env
            seen.append((env.kind, env.body.get("elapsed_s")))
            if env.kind is Kind.STOP:
                break
        sub.close(linger=0)

    threads = [threading.Thread(target=executive), threading.Thread(target=ground)]
    for t in threads:
        t.start()
    try:
        srv.run_lockstep(5.0, await_ground_s=await_ground_s)
    finally:
        srv.close()
        for t in threads:
            t.join(10)
        ctx.term()
    return seen


def test_a_lockstep_plant_starts_once_the_ground_has_joined_the_world_feed() -> None:
    """A subscriber that joins a PUB late misses what went before: a short run ended
    before the stack's ground had joined (measured: half of 0.001-orbit sims), and the
    ground, never told of the STOP, waited 30 s to be stopped (``await_ground_s=0``, the
    old behaviour, leaves this ground with nothing). Signed in, it sees the scenario from
    its first WORLD to its STOP."""
    seen = _late_ground_sees(await_ground_s=5.0)
    worlds = [elapsed for kind, elapsed in seen if kind is Kind.WORLD]
    assert worlds[:2] == [1.0, 2.0] and seen[-1][0] is Kind.STOP


def test_a_negative_ground_wait_is_refused_on_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    from hil.plantd import main

    with pytest.raises(SystemExit) as exc:
        main(["--bus", "unix://@x", "--world", "ipc://@y", "--lockstep",
              "--await-ground-s", "-1"])
    assert exc.value.code == 2 and "--await-ground-s" in capsys.readouterr().err
