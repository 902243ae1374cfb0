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
from flightsw.transport import ZmqTransport
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
            ZmqTransport(self.child), core, clock, _Shutdown(), os.getppid(),
            self.key)), daemon=True)
        self.thread.start()

    def send(self, kind: Kind, body: dict[str, Any]) -> None:
        frame = self.seq.pack(kind, self.clock.mission_time_s(), body)
        self.sock.send(channel_auth.seal(self.key, channel_auth.TO_PAYLOAD, frame))

    def begin(self) -> None:
        """The ready heartbeat, then an unpaced config (nothing holds jobs back)."""
        assert self.recv().body["state"] == "ready"
        self.send(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False})

    def capture(self, job_id: int, n_tiles: int, seed: int) -> None:
        self.send(Kind.PAYLOAD_JOB, {"job_id": job_id, "n_tiles": n_tiles, "seed": seed,
                                     "lat_deg": 0.0, "lon_deg": 0.0})

    def stop(self) -> None:
        self.send(Kind.STOP, {"reason": "test over"})
        self.thread.join(timeout=10)

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
        link.begin()
        link.capture(41, n_tiles=4, seed=1)
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
        link.begin()
        for job_id in (1, 2, 3):
            link.capture(job_id, n_tiles=2, seed=job_id)
        assert [link.recv().body["job_id"] for _ in range(3)] == [1, 2, 3]
        assert seen == {"second_ran_first": True}
        link.stop()
    finally:
        link.close()


class _GatedModel(_CountingModel):
    """Its first inference waits for ``release`` (so a test can line arrivals up)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_running = threading.Event()
        self.release = threading.Event()

    def infer(self, batch: Any) -> Any:
        if self.calls == 0:
            self.first_running.set()
            self.release.wait(10)
        return super().infer(batch)


def test_jobs_arriving_with_a_finished_one_are_handed_over_before_its_result() -> None:
    """Job 1's outcome and jobs 2 and 3 reach the socket thread in the same turn (it was
    held, after answering a ping, while they came). Before, that turn built job 1's
    result first and only then handed job 2 over: the inference thread idled meanwhile,
    and here (job 1's finishing waits for job 2's inference) it waited the full 10 s
    and failed."""
    clock = ParentSyncedClock(RealClock())
    model = _GatedModel()
    core = PayloadCore(model, clock, pid=1)
    core.sampled_rerun = False
    seen: dict[str, bool] = {}
    finish, handle, maintain = core.finish_job, core.handle, core.maintain
    hold, held, go_on = threading.Event(), threading.Event(), threading.Event()

    def held_finish(outcome: Any) -> Any:
        if outcome.spec.job_id == 1:
            seen["second_ran_first"] = model.second.wait(10)
        return finish(outcome)

    def arming_handle(env: Envelope, now_s: float) -> Any:
        if env.kind is Kind.PAYLOAD_PING and env.body.get("n") == 77:
            hold.set()
        return handle(env, now_s)

    def held_maintain(now_s: float) -> None:
        if hold.is_set() and not held.is_set():  # once, in the turn that answered 77
            held.set()
            go_on.wait(10)
        maintain(now_s)

    core.finish_job = held_finish  # type: ignore[method-assign]
    core.handle = arming_handle  # type: ignore[method-assign]
    core.maintain = held_maintain  # type: ignore[method-assign]
    link = _Exec(core, clock)
    try:
        link.begin()
        link.capture(1, n_tiles=2, seed=1)
        assert model.first_running.wait(10)
        link.send(Kind.PAYLOAD_PING, {"n": 77})
        assert held.wait(10)  # the socket thread is held: what follows piles up
        for job_id in (2, 3):
            link.capture(job_id, n_tiles=2, seed=job_id)
        model.release.set()
        RealClock().sleep_s(0.2)  # job 1's outcome queued, its wake-up written
        go_on.set()
        assert link.recv().body["n"] == 77
        assert [link.recv().body["job_id"] for _ in range(3)] == [1, 2, 3]
        assert seen == {"second_ran_first": True}
        link.stop()
    finally:
        link.close()
