"""The real thing: ``python -m payload`` as a child process on a loopback PAIR socket.

Every test kills its child in a ``finally``, so a failing assertion cannot leave one
behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import zmq

from flightsw import channel_auth
from flightsw.wire import Envelope, Kind, Sequencer, decode
from payload.model import DEFAULT_MODEL_PATH, card_path_for, choose_model_path

REPO_ROOT = Path(__file__).resolve().parents[2]
RECV_TIMEOUT_MS = 20_000  # generous: a loaded CI box may take seconds to import onnxruntime
MISSION_T_S = 1_900_000_000.0


def _child_env() -> dict[str, str]:
    """Let the child import the packages even when the project is not pip-installed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


class Exec:
    """The executive's end of the link, just enough of it for these tests."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.seq = Sequencer("flight")
        self.key = channel_auth.new_key()

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def send(self, kind: Kind, body: dict[str, Any]) -> None:
        self.sock.send(channel_auth.seal(self.key, channel_auth.TO_PAYLOAD,
                                         self.seq.pack(kind, MISSION_T_S, body)))

    def recv(self) -> Envelope:
        frame = channel_auth.unseal(self.key, channel_auth.TO_EXECUTIVE, self.sock.recv())
        assert isinstance(frame, bytes), frame
        return decode(frame)

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@contextmanager
def payload_child(*extra: str, key: bytes | None = None
                  ) -> Iterator[tuple[Exec, subprocess.Popen[bytes]]]:
    """A child as the executive starts it: the channel key on its stdin (``key``: write
    this instead of the right one)."""
    link = Exec()
    proc = subprocess.Popen(
        [sys.executable, "-m", "payload", "--endpoint", link.endpoint, "--incarnation", "3",
         "--key-stdin", *extra],
        cwd=REPO_ROOT, env=_child_env(), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None
    proc.stdin.write((link.key if key is None else key).hex().encode() + b"\n")
    proc.stdin.close()
    try:
        yield link, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        link.close()


def test_ready_heartbeat_job_result_and_stop() -> None:
    with payload_child() as (link, proc):
        ready = link.recv()
        assert ready.kind is Kind.PAYLOAD_HEARTBEAT and ready.source == "payload"
        assert ready.body["n"] == 0 and ready.body["state"] == "ready"
        assert ready.body["pid"] == proc.pid and ready.body["incarnation"] == 3
        assert ready.body["model"] == "cloud_screen_v1"

        link.send(Kind.PAYLOAD_CONFIG, {"throttle_frac": 1.0, "pace": False})
        link.send(Kind.PAYLOAD_JOB, {"job_id": 11, "n_tiles": 16, "seed": 5,
                                     "lat_deg": 60.0, "lon_deg": 25.0})
        result = link.recv()
        assert result.kind is Kind.PAYLOAD_RESULT
        assert result.body["ok"] is True and result.body["job_id"] == 11
        assert result.body["n_tiles"] == 16
        assert result.body["n_correct"] >= 12
        # Mission time follows the executive's stamps, not the child's wall clock.
        assert abs(result.time_s - MISSION_T_S) < 60.0

        link.send(Kind.PAYLOAD_PING, {"n": 1})
        hb = link.recv()
        assert hb.body["n"] == 1 and hb.body["jobs_done"] == 1 and hb.body["tiles_done"] == 16
        assert hb.body["rss_mb"] > 0

        link.send(Kind.STOP, {"reason": "test over"})
        assert proc.wait(timeout=10) == 0


def test_garbage_and_bad_jobs_do_not_kill_it() -> None:
    with payload_child() as (link, proc):
        link.recv()  # ready
        link.sock.send(channel_auth.seal(link.key, channel_auth.TO_PAYLOAD,
                                         b"\xff\x00 definitely not msgpack"))
        link.send(Kind.PAYLOAD_JOB, {"job_id": 2, "n_tiles": 9999})
        bad = link.recv()
        assert bad.body["ok"] is False and bad.body["job_id"] == 2
        link.send(Kind.PAYLOAD_PING, {"n": 5})
        hb = link.recv()
        assert hb.body["n"] == 5 and hb.body["rejected_frames"] == 2
        assert proc.poll() is None


def test_frames_without_the_key_are_dropped_not_obeyed() -> None:
    """Only the executive that spawned it (it holds the key) may give it work or stop it."""
    with payload_child() as (link, proc):
        link.recv()  # ready
        forged = Sequencer("flight")
        link.sock.send(forged.pack(Kind.PAYLOAD_JOB, MISSION_T_S, {
            "job_id": 7, "n_tiles": 4, "seed": 1, "lat_deg": 0.0, "lon_deg": 0.0}))
        link.sock.send(forged.pack(Kind.STOP, MISSION_T_S, {"reason": "mallory"}))
        other = channel_auth.seal(channel_auth.new_key(), channel_auth.TO_PAYLOAD,
                                  forged.pack(Kind.STOP, MISSION_T_S, {"reason": "old key"}))
        link.sock.send(other)
        link.sock.send(b"")
        link.send(Kind.PAYLOAD_PING, {"n": 9})
        hb = link.recv()
        assert hb.body["n"] == 9 and hb.body["rejected_frames"] == 4
        assert hb.body["jobs_done"] == 0 and hb.body["queue_depth"] == 0
        assert proc.poll() is None  # the forged STOPs were not obeyed


def test_without_a_channel_key_it_refuses_to_run() -> None:
    for bad_key in (b"", b"\x01" * 5):
        with payload_child(key=bad_key) as (_, proc):
            assert proc.wait(timeout=30) == 5
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            assert "channel key" in err and "Traceback" not in err


def test_the_last_known_good_model_is_chosen_by_hash(tmp_path: Path) -> None:
    """``--model-sha256``: the supervisor's last known good model, picked among the
    known ones (here the configured one is a copy under another name: it matches)."""
    good = hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest()
    assert choose_model_path(None, good) == DEFAULT_MODEL_PATH
    other = tmp_path / "other.onnx"
    other.write_bytes(DEFAULT_MODEL_PATH.read_bytes())
    assert choose_model_path(other, good) == other
    assert choose_model_path(other, "") == other
    assert choose_model_path(other, "0" * 64) == DEFAULT_MODEL_PATH  # unknown: shipped


def test_sigterm_exits_cleanly_without_a_traceback() -> None:
    with payload_child() as (link, proc):
        link.recv()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
        assert "Traceback" not in err
        assert "SIGTERM" in err


def test_a_corrupt_model_exits_3_with_the_reason(tmp_path: Path) -> None:
    model = tmp_path / "broken.onnx"
    model.write_bytes(DEFAULT_MODEL_PATH.read_bytes()[:-10])
    shutil.copy(card_path_for(DEFAULT_MODEL_PATH), card_path_for(model))
    with payload_child("--model", str(model)) as (_, proc):
        assert proc.wait(timeout=20) == 3
        assert proc.stderr is not None
        assert "does not match its card" in proc.stderr.read().decode()


def test_an_unusable_endpoint_exits_4() -> None:
    proc = subprocess.run([sys.executable, "-m", "payload", "--endpoint", "nonsense://x",
                           "--key-stdin"], input=channel_auth.new_key().hex().encode(),
                          cwd=REPO_ROOT, env=_child_env(), capture_output=True, timeout=30,
                          check=False)
    assert proc.returncode == 4
    assert b"socket failed" in proc.stderr and b"Traceback" not in proc.stderr


def test_it_exits_when_its_parent_dies() -> None:
    """A middle process starts the payload, then dies: the payload must not stay orphaned."""
    link = Exec()
    launcher = textwrap.dedent(f"""
        import os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-m", "payload", "--endpoint",
                                  {link.endpoint!r}, "--parent-pid", str(os.getpid()),
                                  "--key-stdin"], stdin=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        child.stdin.write({link.key.hex()!r}.encode() + b"\\n")
        child.stdin.close()
        sys.stdin.read()  # live until the test closes our stdin
        os._exit(0)
    """)
    middle = subprocess.Popen([sys.executable, "-c", launcher], cwd=REPO_ROOT,
                              env=_child_env(), stdin=subprocess.PIPE)
    payload_pid = 0
    try:
        ready = link.recv()  # up and serving under its parent
        payload_pid = ready.body["pid"]
        assert middle.stdin is not None
        middle.stdin.close()
        assert middle.wait(timeout=10) == 0
        deadline = time.monotonic() + 10.0
        while _alive(payload_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(payload_pid), "payload outlived its parent"
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if payload_pid and _alive(payload_pid):
            os.kill(payload_pid, signal.SIGKILL)
        link.close()


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "zombie" not in state
