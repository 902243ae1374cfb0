"""The payload's intra-op thread count changed while it runs (``payload.threads``).

Before, the count was fixed when the payload started (``--intra-op-threads``); changing
it meant a restart. Now a config message carries it, the payload rebuilds its session
between jobs (no job lost), its heartbeat says the new count and the executive reports
the change as an event."""

from __future__ import annotations

import time

import pytest

from flightsw.board.threads import os_threads
from flightsw.clock import RealClock
from flightsw.harness import Harness
from flightsw.messages import ConfigBody
from flightsw.wire import Kind
from payload.model import DEFAULT_MODEL_PATH
from payload.service_bench import _Jobs, _Payload


def test_the_thread_command_reaches_the_payload_and_its_change_is_reported() -> None:
    h = Harness()
    h.run(12)
    payload = h.payload.current
    assert payload is not None and h.latest("payload.intra_op_threads") == 1
    cmd = h.command("payload.threads", threads=3)
    h.run(10)
    assert h.verification(cmd)[-1].stage == "completed"
    assert payload.config.intra_op_threads == 3
    (changed,) = h.events("payload.threads_changed")
    assert changed.args == {"was": 1, "now": 3}
    assert h.latest("payload.intra_op_threads") == 3


def test_a_thread_count_out_of_range_is_refused_by_the_dictionary() -> None:
    h = Harness()
    h.run(3)
    cmd = h.command("payload.threads", threads=0)
    h.run(1)
    assert h.verification(cmd)[-1].stage == "failed"


def _settled_threads(pid: int) -> int:
    """The OS's thread count of ``pid`` once it has held for a second (onnxruntime's
    pool starts its threads a little after the session)."""
    seen: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        n = os_threads(pid)
        assert n is not None
        seen.append(n)
        if len(seen) > 5 and len(set(seen[-6:])) == 1:
            break
        time.sleep(0.2)
    return seen[-1]


@pytest.mark.integration
def test_the_live_thread_count_changes_and_no_job_is_lost() -> None:
    clock = RealClock()
    payload = _Payload(DEFAULT_MODEL_PATH, clock)
    jobs = _Jobs(16)
    try:
        pid = payload.host.pid
        assert pid is not None
        one = _settled_threads(pid)
        for _ in range(4):
            payload.send(Kind.PAYLOAD_JOB, jobs.body())
        payload.send(Kind.PAYLOAD_CONFIG, ConfigBody(1.0, False, 4).to_body())
        for _ in range(4):
            payload.send(Kind.PAYLOAD_JOB, jobs.body())
        answered: list[int] = []
        while len(answered) < 8:
            answered += [r.job_id for r in payload.results()]  # raises on a failed job
        assert sorted(answered) == list(range(1, 9))
        for n in range(1, 100):
            payload.send(Kind.PAYLOAD_PING, {"n": n})
            hb = payload._wait(lambda kind, body: kind is Kind.PAYLOAD_HEARTBEAT, 10.0,
                               "a heartbeat")[-1]
            if hb["intra_op_threads"] == 4:
                break
            clock.sleep_s(0.1)
        assert hb["intra_op_threads"] == 4 and hb["incarnation"] == 1  # no restart
        four = _settled_threads(pid)
        assert four - one >= 3, (one, four)  # onnxruntime's pool: n - 1 workers
        payload.send(Kind.PAYLOAD_JOB, jobs.body())
        assert [r.job_id for r in payload.results()] == [9]
    finally:
        payload.close()
