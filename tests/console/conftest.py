"""A ground for console tests: the real ground core (mission control, archive, ops API)
answering on a real ZeroMQ ops socket in a thread, with records written into its archive
the way the ground process writes them. No flight: commands wait in the ground queue."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from starlette.testclient import TestClient

from flightsw.catalog import build_dictionary
from flightsw.stackinfo import StackInfo
from flightsw.wire import Kind, Sequencer
from ground.archive import Archive
from ground.console.backend import ConsoleBackend
from ground.console.server import create_app
from ground.core import GroundCore, WallTime

DICTIONARY = build_dictionary()
T0 = 1.8e9
CSRF = "test-csrf-value"


class FakeGround:
    """The ground core behind a REP socket; ``do`` runs a function on its thread (SQLite
    connections belong to the thread that made them)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.archive_path = run_dir / "ground.sqlite"
        self.seq = Sequencer("flight")
        self._jobs: queue.Queue[tuple[Callable[[GroundCore], Any], queue.Queue[Any]]] = \
            queue.Queue()
        self._stop = threading.Event()
        self._ready: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.ops = self._ready.get(timeout=10)
        StackInfo(run_dir=str(run_dir), ops=self.ops, archive=str(self.archive_path)).write()

    def _run(self) -> None:
        core = GroundCore(DICTIONARY, Archive(self.archive_path), always_in_contact=True)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind("tcp://127.0.0.1:*")
        self._ready.put(sock.getsockopt_string(zmq.LAST_ENDPOINT))
        try:
            while not self._stop.is_set():
                while not self._jobs.empty():
                    fn, reply = self._jobs.get()
                    try:
                        reply.put(fn(core))
                    except Exception as exc:  # handed back to the test
                        reply.put(exc)
                if sock.poll(10, zmq.POLLIN):
                    data = sock.recv()
                    sock.send(core.on_ops(data, WallTime(time.monotonic(), T0 + 100)))
        finally:
            sock.close(0)
            ctx.term()
            core.archive.close()

    def do(self, fn: Callable[[GroundCore], Any]) -> Any:
        reply: queue.Queue[Any] = queue.Queue()
        self._jobs.put((fn, reply))
        result = reply.get(timeout=10)
        if isinstance(result, Exception):
            raise result
        return result

    def downlink(self, kind: Kind, body: dict[str, Any], time_s: float) -> None:
        frame = self.seq.pack(kind, time_s, body)

        def put(core: GroundCore) -> None:
            core.mission.on_frame(frame, time_s)
            core.archive.set_mission_now(time_s)
            core.archive.flush(meta_only_too=True)
        self.do(put)

    def tlm(self, time_s: float, **points: Any) -> None:
        self.downlink(Kind.TELEMETRY, {"points": points}, time_s)

    def event(self, time_s: float, name: str, severity: str, text: str) -> None:
        self.downlink(Kind.EVENT, {"name": name, "severity": severity, "text": text,
                                   "args": {}}, time_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def ground(tmp_path: Path) -> Iterator[FakeGround]:
    g = FakeGround(tmp_path)
    try:
        yield g
    finally:
        g.close()


@pytest.fixture
def client(ground: FakeGround) -> Iterator[TestClient]:
    backend = ConsoleBackend(ground.run_dir, ops_timeout_s=2.0)
    app = create_app(backend, "127.0.0.1", 8080, csrf=CSRF)
    with TestClient(app, base_url="http://127.0.0.1:8080") as c:
        yield c


def post(client: TestClient, path: str, body: Any, **headers: str) -> Any:
    """POST ``body`` as the page does (NaN and infinities as JavaScript would never send
    them, but an attacker may)."""
    return client.post(path, content=json.dumps(body).encode(),
                       headers={"X-Aisat-Csrf": CSRF, "Content-Type": "application/json",
                                **headers})
