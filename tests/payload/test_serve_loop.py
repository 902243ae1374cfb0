"""The real serve loop (socket thread + inference thread) with real and fake models.

A cancel interrupts the running inference (onnxruntime ``RunOptions.terminate``).
Before, ``jobs.cancel`` of a running job only ended the job in the executive's books:
the payload ran the inference to its end and the result was dropped on arrival, so a
long job kept the payload busy and everything behind it waited. Here a real
onnxruntime session runs a model whose inference on a bright capture practically never
ends (:func:`tests.payload.bad_models.slow_on_bright`); the job is caught running,
cancelled, answered ``cancelled``, and the job queued behind it (dark input: instant)
is done; the payload keeps serving.

And the pipeline's point (:mod:`payload.job_run`): the next inference runs while the
last job's result is still being built on the socket thread.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path
from typing import Any

import zmq

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.wire import Envelope, Kind, Sequencer, decode
from payload.core import PayloadCore
from payload.mission_clock import ParentSyncedClock
from payload.model import load_model, sha256_hex
from payload.process import _serve, _Shutdown
from tests.payload.bad_models import slow_on_bright

RECV_TIMEOUT_MS = 15_000


def _write_model(tmp_path: Path) -> Path:
    blob = slow_on_bright()
    path = tmp_path / "slow_v1.onnx"
    path.write_bytes(blob)
    card = {"name": "slow", "version": "1", "sha256": sha256_hex(blob),
            "inputs": [{"name": "tiles", "shape": ["N", 4, 32, 32]}],
            "outputs": [{"name": "cloud_prob", "shape": ["N"]}], "threshold": 0.5,
            "power_class": "low", "accuracy": 0.5}
    path.with_suffix(".json").write_text(json.dumps(card))
    return path


class _Exec:
    """The executive's end of a PAIR socket to a serve loop on a thread of this process."""

    def __init__(self, core: PayloadCore, clock: ParentSyncedClock) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.child = self.ctx.socket(zmq.PAIR)
        self.child.setsockopt(zmq.LINGER, 0)
        self.child.connect(f"tcp://127.0.0.1:{port}")
        self.key = channel_auth.new_key()
        self.seq = Sequencer("flight")
        self.clock = clock
        self.code: dict[str, int] = {}
        self.thread = threading.Thread(target=lambda: self.code.update(code=_serve(
            self.child, core, clock, _Shutdown(), os.getppid(), self.key)), daemon=True)
        self.thread.start()

    def send(self, kind: Kind, body: dict[str, Any]) -> None:
        frame = self.seq.pack(kind, self.clock.mission_time_s(), body)
        self.sock.send(channel_auth.seal(self.key, channel_auth.TO_PAYLOAD, frame))

    def recv(self) -> Envelope:
        frame = channel_auth.unseal(self.key, channel_auth.TO_EXECUTIVE, self.sock.recv())
        assert isinstance(frame, bytes)
        return decode(frame)

    def close(self) -> None:
        self.sock.close()
        self.child.close()
        self.ctx.term()


def test_cancel_interrupts_the_running_inference_and_the_next_job_runs(
        tmp_path: Path) -> None:
    clock = ParentSyncedClock(RealClock())
    core = PayloadCore(load_model(_write_model(tmp_path)), clock, pid=1)
    link = _Exec(core, clock)
    try:
        assert link.recv().body["state"] == "ready"
        link.send(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False})
        link.send(Kind.PAYLOAD_JOB, {"job_id": 41, "n_tiles": 4, "seed": 1, "lat_deg": 0.0,
                                     "lon_deg": 0.0})
        link.send(Kind.PAYLOAD_JOB, {"job_id": 42, "n_tiles": 1, "seed": 2, "lat_deg": 0.0,
                                     "lon_deg": 0.0, "source": "tensor",
                                     "tensor": zlib.compress(bytes(4 * 32 * 32)),
                                     "tensor_shape": [1, 4, 32, 32], "tensor_dtype": "uint8"})
        busy_s = 0.0
        for n in range(1, 200):  # caught running: the heartbeat names it, for a while
            link.send(Kind.PAYLOAD_PING, {"n": n})
            hb = link.recv()
            assert hb.kind is Kind.PAYLOAD_HEARTBEAT, hb  # nothing may end before the cancel
            if hb.body["current_job"] == 41 and (hb.body["current_job_busy_s"] or 0) > 0.3:
                busy_s = hb.body["current_job_busy_s"]
                break
            RealClock().sleep_s(0.05)
        assert busy_s > 0.3
        link.send(Kind.PAYLOAD_CANCEL, {"job_id": 41, "reason": "by the ground"})
        first, second = link.recv(), link.recv()
        assert first.kind is Kind.PAYLOAD_RESULT and first.body["job_id"] == 41
        assert first.body["cancelled"] is True and first.body["ok"] is False
        assert "by the ground" in first.body["error"]
        assert second.kind is Kind.PAYLOAD_RESULT and second.body["job_id"] == 42
        assert second.body["ok"] is True and second.body["n_tiles"] == 1
        link.send(Kind.PAYLOAD_PING, {"n": 999})
        hb = link.recv()
        assert hb.body["n"] == 999 and hb.body["current_job"] is None
        assert hb.body["jobs_done"] == 1 and hb.body["jobs_failed"] == 0
        link.send(Kind.STOP, {"reason": "test over"})
        link.thread.join(timeout=10)
        assert link.code.get("code") == 0
    finally:
        link.close()


class _CountingModel:
    """Answers at once and counts its inferences (signalled, for another thread)."""

    model_id = "count_v0"
    sha256 = "2" * 64
    provider = "FakeExecutionProvider"
    threshold = 0.5

    def __init__(self) -> None:
        self.calls = 0
        self.second = threading.Event()

    def infer(self, batch: Any) -> Any:
        self.calls += 1
        if self.calls >= 2:
            self.second.set()
        import numpy as np

        return np.zeros(len(batch), dtype=np.float32)


def test_the_next_inference_starts_before_the_last_result_is_built() -> None:
    """The pipeline's point: with the socket thread held inside job 1's finishing (its
    result not yet built), the inference thread already runs job 2. One job at a time,
    as before, job 2 would wait for job 1's result: the wait below would time out."""
    clock = ParentSyncedClock(RealClock())
    model = _CountingModel()
    core = PayloadCore(model, clock, pid=1)
    core.sampled_rerun = False
    seen: dict[str, bool] = {}
    finish = core.finish_job

    def held_finish(outcome: Any) -> Any:
        if outcome.spec.job_id == 1:
            seen["second_ran_first"] = model.second.wait(10)
        return finish(outcome)

    core.finish_job = held_finish  # type: ignore[method-assign]
    link = _Exec(core, clock)
    try:
        assert link.recv().body["state"] == "ready"
        link.send(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False})
        for job_id in (1, 2, 3):
            link.send(Kind.PAYLOAD_JOB, {"job_id": job_id, "n_tiles": 2, "seed": job_id,
                                         "lat_deg": 0.0, "lon_deg": 0.0})
        assert [link.recv().body["job_id"] for _ in range(3)] == [1, 2, 3]
        assert seen == {"second_ran_first": True}
        link.send(Kind.STOP, {"reason": "test over"})
        link.thread.join(timeout=10)
    finally:
        link.close()
