"""The payload answers pings while a job runs (inference is on its own thread).

Before, one thread did both: a ping waited for the job in progress, so a stuck
inference looked like silence (a hang) and a long job like a dead payload. Here the
real serve loop runs on a thread with a model that takes 1.5 s per inference.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import zmq

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.transport import ZmqTransport
from flightsw.wire import Envelope, Kind, Sequencer, decode
from payload.core import PayloadCore
from payload.mission_clock import ParentSyncedClock
from payload.process import _serve, _Shutdown

INFER_S = 1.5


class SlowModel:
    model_id = "slow_v0"
    sha256 = "1" * 64
    provider = "FakeExecutionProvider"
    threshold = 0.5

    def infer(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        time.sleep(INFER_S)  # releases the GIL, as onnxruntime does
        return np.zeros(len(batch), dtype=np.float32)


def test_a_ping_during_a_job_is_answered_at_once_with_the_jobs_progress() -> None:
    ctx = zmq.Context()
    exec_sock = ctx.socket(zmq.PAIR)
    exec_sock.setsockopt(zmq.LINGER, 0)
    exec_sock.setsockopt(zmq.RCVTIMEO, 10_000)
    port = exec_sock.bind_to_random_port("tcp://127.0.0.1")
    child_sock = ctx.socket(zmq.PAIR)
    child_sock.setsockopt(zmq.LINGER, 0)
    child_sock.connect(f"tcp://127.0.0.1:{port}")
    key = channel_auth.new_key()
    clock = ParentSyncedClock(RealClock())
    core = PayloadCore(SlowModel(), clock, pid=1)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(
        code=_serve(ZmqTransport(child_sock), core, clock, _Shutdown(),
                    os.getppid(), key)), daemon=True)
    seq = Sequencer("flight")

    def send(kind: Kind, body: dict[str, Any]) -> None:
        frame = seq.pack(kind, clock.mission_time_s(), body)
        exec_sock.send(channel_auth.seal(key, channel_auth.TO_PAYLOAD, frame))

    def recv() -> Envelope:
        frame = channel_auth.unseal(key, channel_auth.TO_EXECUTIVE, exec_sock.recv())
        assert isinstance(frame, bytes)
        return decode(frame)

    thread.start()
    try:
        assert recv().body["state"] == "ready"
        send(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False})
        send(Kind.PAYLOAD_JOB, {"job_id": 41, "n_tiles": 2, "seed": 1, "lat_deg": 0.0,
                                "lon_deg": 0.0})
        time.sleep(0.3)  # the job is running now
        t0 = time.monotonic()
        send(Kind.PAYLOAD_PING, {"n": 1})
        hb = recv()
        answered_s = time.monotonic() - t0
        assert hb.kind is Kind.PAYLOAD_HEARTBEAT and hb.body["n"] == 1
        assert answered_s < INFER_S / 2, f"ping waited {answered_s:.2f} s for the job"
        assert hb.body["state"] == "busy" and hb.body["current_job"] == 41
        assert 0.1 < hb.body["current_job_busy_s"] < INFER_S
        res = recv()
        assert res.kind is Kind.PAYLOAD_RESULT and res.body["job_id"] == 41
        assert res.body["ok"] is True
        send(Kind.PAYLOAD_PING, {"n": 2})
        hb = recv()
        assert hb.body["current_job"] is None and hb.body["current_job_busy_s"] is None
        assert hb.body["jobs_done"] == 1
        send(Kind.STOP, {"reason": "test over"})
        thread.join(timeout=10)
        assert result.get("code") == 0
    finally:
        exec_sock.close()
        child_sock.close()
        ctx.term()
