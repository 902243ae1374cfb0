"""The socket thread's drain (:class:`payload.process._Link`): every frame waiting is
answered in one turn, up to :data:`payload.process.MAX_RECV_PER_TURN`, and the rest on
the next turn; nothing is lost at the bound. (It asks the socket whether more is
waiting instead of reading until ``zmq.Again``, so this pins that the question is
right both ways.)"""

from __future__ import annotations

import zmq

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.transport import ZmqTransport
from flightsw.wire import Kind, Sequencer, decode
from payload.mission_clock import ParentSyncedClock
from payload.process import MAX_RECV_PER_TURN, _Link
from tests.payload.fakes import make_core

EXTRA = 7


def test_a_burst_is_answered_whole_up_to_the_bound_and_the_rest_next_turn() -> None:
    ctx = zmq.Context()
    exec_end, child_end = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        exec_end.bind("inproc://drain")
        child_end.connect("inproc://drain")
        key = channel_auth.new_key()
        seq = Sequencer("flight")
        core, _model, _clock = make_core()
        link = _Link(ZmqTransport(child_end), key)
        clock = ParentSyncedClock(RealClock())
        total = MAX_RECV_PER_TURN + EXTRA
        for n in range(1, total + 1):
            frame = seq.pack(Kind.PAYLOAD_PING, 1000.0 + n, {"n": n})
            exec_end.send(channel_auth.seal(key, channel_auth.TO_PAYLOAD, frame))

        def answered() -> list[int]:
            got = []
            while exec_end.poll(0):
                frame = channel_auth.unseal(key, channel_auth.TO_EXECUTIVE, exec_end.recv())
                assert isinstance(frame, bytes)
                got.append(decode(frame).body["n"])
            return got

        link.drain(core, clock)
        assert answered() == list(range(1, MAX_RECV_PER_TURN + 1))
        link.drain(core, clock)
        assert answered() == list(range(MAX_RECV_PER_TURN + 1, total + 1))
        link.drain(core, clock)  # nothing waiting: returns at once, answers nothing
        assert answered() == []
        assert core.counters.rejected_frames == 0
    finally:
        exec_end.close(linger=0)
        child_end.close(linger=0)
        ctx.term()
