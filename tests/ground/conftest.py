"""Seams for the ground tests: a fake executive + plant, and a ground process to run.

The fake executive binds what the real one binds (a PAIR on the link, a PUB for WORLD)
on random loopback ports, so the ground under test connects exactly as in a stack.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.catalog import build_dictionary
from flightsw.stackinfo import StackInfo
from flightsw.uplink_auth import peel
from flightsw.wire import Envelope, Kind, Sequencer, encode, try_decode

REPO = Path(__file__).resolve().parents[2]
DICTIONARY = build_dictionary()


def free_endpoint() -> str:
    """A loopback TCP endpoint nobody listens on (for sockets that must bind by name)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


class FakeExecutive:
    """The flight side of the link plus the plant's WORLD publisher, scriptable."""

    def __init__(self, link: str | None = None, world: str | None = None) -> None:
        self.ctx = zmq.Context()
        self.seq = Sequencer("flight")
        self.boots = 1
        self.world_seq = Sequencer("plant")
        self.link = self._bind(zmq.PAIR, link)
        self.world = self._bind(zmq.PUB, world)
        self.link_endpoint = self.link.getsockopt_string(zmq.LAST_ENDPOINT)
        self.world_endpoint = self.world.getsockopt_string(zmq.LAST_ENDPOINT)
        self.in_contact = False
        self.received: list[Envelope] = []

    def _bind(self, kind: int, endpoint: str | None) -> zmq.Socket[Any]:
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint or "tcp://127.0.0.1:*")
        return sock

    def restart_link(self) -> None:
        """Close and rebind the link PAIR on the same port: an executive restart."""
        self.link.close(linger=0)
        time.sleep(0.05)
        self.link = self._bind(zmq.PAIR, self.link_endpoint)
        self.seq = Sequencer("flight")
        self.boots += 1  # a boot without saved numbering: HELLO says it restarted

    def publish_world(self, in_contact: bool | None = None) -> None:
        if in_contact is not None:
            self.in_contact = in_contact
        self.world.send(self.world_seq.pack(Kind.WORLD, 1.8e9, {
            "time_utc_s": 1.8e9, "elapsed_s": 0.0, "in_contact": self.in_contact,
            "station": "test-station" if self.in_contact else "",
            "elevation_deg": 30.0 if self.in_contact else -10.0, "next_pass": None}))

    def send(self, kind: Kind, body: Mapping[str, Any], time_s: float = 1.8e9) -> int:
        env = self.seq.make(kind, time_s, body)
        self.link.send(encode(env))
        return env.seq

    def send_raw(self, frame: bytes) -> None:
        self.link.send(frame)

    def hello(self, dictionary_hash: str | None = None) -> int:
        return self.send(Kind.HELLO, {"dictionary_hash": dictionary_hash or DICTIONARY.hash,
                                      "dictionary_version": DICTIONARY.version,
                                      "boot_id": self.boots,
                                      "boot_mission_time_s": 1.8e9 + self.boots,
                                      "first_seq": 0, "seq_continued": False})

    def wait_for(self, kind: Kind, timeout_s: float = 5.0) -> Envelope:
        """Receive until an envelope of ``kind`` arrives; keeps WORLD flowing meanwhile."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.publish_world()
            if self.link.poll(50, zmq.POLLIN):
                env = try_decode(peel(self.link.recv()))
                assert isinstance(env, Envelope), env
                self.received.append(env)
                if env.kind is kind:
                    return env
        raise AssertionError(f"no {kind.value} from the ground within {timeout_s} s; "
                             f"got {[e.kind.value for e in self.received]}")

    def close(self) -> None:
        self.ctx.destroy(linger=0)


@pytest.fixture
def fake_exec() -> Iterator[FakeExecutive]:
    fake = FakeExecutive()
    try:
        yield fake
    finally:
        fake.close()


def write_stack(run_dir: Path, link: str, world: str, ops: str | None = None) -> StackInfo:
    info = StackInfo(run_dir=str(run_dir), link=link, world=world,
                     ops=ops or free_endpoint(), archive=str(run_dir / "ground.sqlite"))
    info.write()
    return info


class GroundRun:
    """A ``python -m ground`` child process; always stopped by the fixture."""

    def __init__(self, run_dir: Path, *extra: str) -> None:
        self.log_path = run_dir / "ground.log"
        self._log = open(self.log_path, "w")  # closed in stop()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ground", "--run-dir", str(run_dir), *extra],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=env)

    def log(self) -> str:
        return self.log_path.read_text()

    def wait(self, timeout_s: float = 5.0) -> int:
        return self.proc.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
