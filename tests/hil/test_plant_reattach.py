"""A restarted executive re-attaches to the plant's bus: the plant's bound PAIR takes the
new peer, the new executive's HELLO gets the pending TICK again, and sim time does not
move while no executive answers."""

from __future__ import annotations

import threading
import time
from typing import Any

import zmq

from flightsw.hal import Actuators
from flightsw.messages import ActuatorsBody, HelloBody, TickBody
from flightsw.wire import Kind, Sequencer, decode
from hil.plant import Plant, load_profile
from hil.plantd import PlantServer, receive_frame
from hil.stack import free_port


def test_a_hello_is_recognised_and_is_no_reply() -> None:
    got = receive_frame(Sequencer("flight").pack(Kind.HELLO, 0.0, HelloBody().to_body()))
    assert got.hello and not got.reply and got.error is None


class FakeExecutive:
    def __init__(self, ctx: zmq.Context[Any], endpoint: str) -> None:
        self.sock = ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.seq = Sequencer("flight")
        self.hello()
        self.ticks = 0

    def hello(self) -> None:
        self.sock.send(self.seq.pack(Kind.HELLO, 0.0, HelloBody().to_body()))

    def next_tick(self, timeout_ms: int = 10_000) -> float:
        for _ in range(timeout_ms // 500):
            if self.sock.poll(500):
                break
            if not self.ticks:  # as the executive does: hello again until the first TICK
                self.hello()
        else:
            raise AssertionError("no TICK came")
        self.ticks += 1
        env = decode(self.sock.recv())
        assert env.kind is Kind.TICK
        return TickBody.from_body(env.body).elapsed_s

    def answer(self) -> None:
        self.sock.send(self.seq.pack(Kind.ACTUATORS, 0.0,
                                     ActuatorsBody(Actuators()).to_body()))


def test_the_pending_tick_goes_to_the_restarted_executive() -> None:
    ctx: zmq.Context[Any] = zmq.Context()
    bus = f"tcp://127.0.0.1:{free_port()}"
    server = PlantServer(Plant(load_profile("cubesat-jetson")), bus,
                         f"tcp://127.0.0.1:{free_port()}", ctx=ctx)
    runner = threading.Thread(target=server.run_lockstep, args=(4.0,))
    runner.start()
    peers: list[FakeExecutive] = []
    try:
        first = FakeExecutive(ctx, bus)
        peers.append(first)
        start = first.next_tick()
        first.answer()
        pending = first.next_tick()
        # the HELLO may have reached the plant after its first TICK: that one came twice
        while pending == start:
            pending = first.next_tick()
        # ... and the executive dies before answering this one
        first.sock.close(0)
        # the launcher restarts RestartSec after the death; by then the plant has seen
        # the old connection close (a bound PAIR attaches one peer at a time)
        time.sleep(0.5)
        elapsed_while_down = server.plant.elapsed_s
        second = FakeExecutive(ctx, bus)
        peers.append(second)
        assert second.next_tick() == pending  # the same TICK, again
        assert server.plant.elapsed_s == elapsed_while_down  # sim time stood still
        second.answer()
        while True:
            t = second.next_tick()
            second.answer()
            if t >= 4.0:
                break
        runner.join(10)
        assert not runner.is_alive()
        assert server.stop_reason == "scenario complete" and not server.error
        assert server.hellos == 2
    finally:
        server.stop("test over")
        runner.join(10)
        server.close()
        for peer in peers:
            peer.sock.close(0)
        ctx.term()
