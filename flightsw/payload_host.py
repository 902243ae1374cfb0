"""The payload child process, as the executive's shell sees it: spawn, kill, talk.

:class:`PayloadHost` is the seam: the executive asks it to spawn an incarnation, gets a
:class:`~flightsw.transport.Transport` to talk to it, polls its exit status and kills
it. :class:`ProcessPayloadHost` does this for real (``python -m payload`` on a fresh
ZeroMQ PAIR per incarnation, so a dead child's stale messages can never be mistaken
for the new one's); the in-process harness plugs in a fake.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

import zmq

from flightsw.transport import Transport, ZmqTransport

TERM_GRACE_S = 2.0
STOP_GRACE_S = 3.0


class PayloadHost(Protocol):
    @property
    def transport(self) -> Transport | None: ...

    def spawn(self, incarnation: int) -> str | None:
        """Start an incarnation; ``None`` on success, else why it could not start."""
        ...

    def exit_status(self) -> int | None:
        """The exit code (negative: killed by that signal) once it has ended."""
        ...

    def kill(self) -> None:
        """TERM, then KILL if it does not go; closes the transport."""
        ...

    def stop(self, frame: bytes) -> None:
        """Orderly shutdown: send ``frame`` (a STOP), wait a little, then kill."""
        ...


class ProcessPayloadHost:
    def __init__(self, *, model_path: str | None = None, run_dir: Path | None = None,
                 python: str = sys.executable, ctx: zmq.Context[Any] | None = None) -> None:
        self._model_path = model_path
        self._run_dir = run_dir
        self._python = python
        self._ctx = ctx or zmq.Context.instance()
        self._proc: subprocess.Popen[bytes] | None = None
        self._transport: ZmqTransport | None = None

    @property
    def transport(self) -> Transport | None:
        return self._transport

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self, incarnation: int) -> str | None:
        self.kill()
        sock = self._ctx.socket(zmq.PAIR)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        self._transport = ZmqTransport(sock)
        argv = [self._python, "-m", "payload", "--endpoint", f"tcp://127.0.0.1:{port}",
                "--incarnation", str(incarnation), "--parent-pid", str(os.getpid())]
        if self._model_path:
            argv += ["--model", self._model_path]
        log = None
        try:
            if self._run_dir is not None:
                log = open(Path(self._run_dir) / "payload.log", "ab")
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=log or subprocess.DEVNULL,
                                          stderr=log or subprocess.DEVNULL)
        except OSError as exc:
            self._proc = None
            return str(exc)
        finally:
            if log is not None:
                log.close()
        return None

    def exit_status(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5.0)

    def stop(self, frame: bytes) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None and self._transport is not None:
            self._transport.send(frame)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
