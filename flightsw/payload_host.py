"""The payload child process, as the executive's shell sees it: spawn, kill, talk.

:class:`PayloadHost` is the seam: the executive asks it to spawn an incarnation, gets a
:class:`~flightsw.transport.Transport` and a channel key to talk to it, polls its exit
status and memory, and kills it (TERM, then KILL; without blocking the executive's
cycles). :class:`ProcessPayloadHost` does this for real (``python -m payload`` on a fresh
ZeroMQ PAIR per incarnation, so a dead child's stale messages can never be mistaken
for the new one's); the in-process harness plugs in a fake.
"""

from __future__ import annotations

import functools
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import zmq

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.model_files import active_model_path
from flightsw.transport import Transport, ZmqTransport
from flightsw.unix_transport import UnixBusServer, descends_from

TERM_GRACE_S = 2.0
KILL_REAP_S = 5.0
STOP_GRACE_S = 3.0
RSS_READ_PERIOD_S = 0.5


def resident_mb(pid: int | str = "self") -> float | None:
    """A process's resident memory in MiB, from Linux ``/proc`` (``None`` where it cannot
    be read: gone, or not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return statm_resident_mb(f.read())
    except OSError:
        return None


def statm_resident_mb(statm: bytes) -> float | None:
    """The resident memory in MiB that a ``/proc/PID/statm`` text says (its second
    number, in pages); ``None`` if it does not parse. The payload reads its own with it
    through a descriptor it keeps open (:mod:`payload.resident_memory`)."""
    try:
        resident_pages = int(statm.split()[1])
    except (ValueError, IndexError):
        return None
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def _bind_unix(incarnation: int) -> tuple[str, Transport] | None:
    """The payload channel as a Unix seqpacket socket in the abstract namespace (one
    kernel hop a message, no ZeroMQ I/O threads: see :mod:`flightsw.unix_transport`);
    None where there is none (then ZeroMQ, :func:`_bind_local`)."""
    endpoint = f"unix://@aisat-payload-{os.getpid()}-{incarnation}-{secrets.token_hex(6)}"
    try:
        return endpoint, UnixBusServer(endpoint)
    except OSError:
        return None


def _bind_local(sock: zmq.Socket[bytes], incarnation: int) -> str:
    """The ZeroMQ payload channel, where no Unix seqpacket socket can be bound
    (:func:`_bind_unix`): ZeroMQ's ``ipc://`` in the abstract namespace (a message costs
    the child ~39 us of CPU there against ~53 us over loopback TCP), or a random
    loopback TCP port where there is none. Every way, the frames are authenticated
    (:mod:`flightsw.channel_auth`): reaching the socket is not speaking for the
    payload."""
    endpoint = f"ipc://@aisat-payload-{os.getpid()}-{incarnation}-{secrets.token_hex(6)}"
    try:
        sock.bind(endpoint)
        return endpoint
    except zmq.ZMQError:
        return f"tcp://127.0.0.1:{sock.bind_to_random_port('tcp://127.0.0.1')}"


class PayloadHost(Protocol):
    @property
    def transport(self) -> Transport | None: ...

    @property
    def key(self) -> bytes:
        """This incarnation's channel key (:mod:`flightsw.channel_auth`)."""
        ...

    def spawn(self, incarnation: int, model_sha256: str = "") -> str | None:
        """Start an incarnation, on the model with that hash if given (the escalation's
        last known good), else the configured one; ``None`` on success, else why not."""
        ...

    def exit_status(self) -> int | None:
        """The exit code (negative: killed by that signal) once it has ended."""
        ...

    def rss_mb(self) -> float | None:
        """The child's resident memory as the OS sees it (``None``: no child)."""
        ...

    def kill(self) -> None:
        """TERM now, KILL after a grace if it has not gone; never blocks the caller.
        Closes the transport at once."""
        ...

    def stop(self, frame: bytes) -> None:
        """Orderly shutdown: send ``frame`` (a STOP), wait a little, then kill (blocks)."""
        ...


@dataclass
class _Dying:
    proc: subprocess.Popen[bytes]
    kill_at_s: float


class ProcessPayloadHost:
    def __init__(self, *, model_path: str | None = None, run_dir: Path | None = None,
                 python: str = sys.executable, ctx: zmq.Context[Any] | None = None) -> None:
        self._model_path = model_path
        self._run_dir = run_dir
        self._python = python
        self._ctx = ctx or zmq.Context.instance()
        self._proc: subprocess.Popen[bytes] | None = None
        self._transport: Transport | None = None
        self._key = b""
        self._dying: list[_Dying] = []
        self._wall = RealClock()
        self._rss: tuple[int, float, float] | None = None  # pid, valid until, MB
        self.intra_op_threads: int | None = None
        """onnxruntime intra-op threads for the next child (None: the payload's default);
        set through :func:`flightsw.board.threads.set_payload_threads`."""

    @property
    def transport(self) -> Transport | None:
        return self._transport

    def _bind_channel(self, incarnation: int) -> tuple[str, Transport]:
        """This incarnation's channel, bound before the child starts (it connects)."""
        unix = _bind_unix(incarnation)
        if unix is not None:
            return unix
        sock = self._ctx.socket(zmq.PAIR)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        return _bind_local(sock, incarnation), ZmqTransport(sock)

    @property
    def key(self) -> bytes:
        return self._key

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self, incarnation: int, model_sha256: str = "") -> str | None:
        self.kill()
        endpoint, self._transport = self._bind_channel(incarnation)
        self._key = channel_auth.new_key()
        argv = [self._python, "-m", "payload", "--endpoint", endpoint,
                "--incarnation", str(incarnation), "--parent-pid", str(os.getpid()),
                "--key-stdin"]
        model_path = active_model_path(self._run_dir) or self._model_path  # the store's
        if model_path:
            argv += ["--model", str(model_path)]
        if model_sha256:  # the payload picks the known model with this hash
            argv += ["--model-sha256", model_sha256]
        if self.intra_op_threads is not None:
            argv += ["--intra-op-threads", str(self.intra_op_threads)]
        log = None
        try:
            if self._run_dir is not None:
                log = open(Path(self._run_dir) / "payload.log", "ab")
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                    stdout=log or subprocess.DEVNULL,
                                    stderr=log or subprocess.DEVNULL)
        except OSError as exc:
            self._proc = None
            return str(exc)
        finally:
            if log is not None:
                log.close()
        self._proc = proc
        if isinstance(self._transport, UnixBusServer):
            # the channel is this child's (or a wrapper's child's): a connection accepted
            # later, in this thread, from any other process of ours is refused
            self._transport.admit = functools.partial(descends_from, ancestor=proc.pid)
        try:  # a pipe write of 65 bytes never blocks; a child dead already is no error here
            assert proc.stdin is not None
            proc.stdin.write(self._key.hex().encode() + b"\n")
            proc.stdin.close()
        except OSError:
            pass  # it died at once: exit_status() tells the supervisor why
        return None

    def exit_status(self) -> int | None:
        self._reap()
        return self._proc.poll() if self._proc is not None else None

    def rss_mb(self) -> float | None:
        """Read from ``/proc`` at most every :data:`RSS_READ_PERIOD_S` of wall time: a
        lockstep sim asks hundreds of times a wall second, and memory does not run away
        faster than that."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None
        now = self._wall.monotonic_s()
        if self._rss is not None and self._rss[0] == proc.pid and now < self._rss[1]:
            return self._rss[2]
        mb = resident_mb(proc.pid)
        if mb is None:
            return None
        self._rss = (proc.pid, now + RSS_READ_PERIOD_S, mb)
        return mb

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            self._dying.append(_Dying(proc, self._wall.monotonic_s() + TERM_GRACE_S))
        self._reap()

    def _reap(self) -> None:
        """KILL what TERM did not end within its grace (a SIGSTOPped child ignores TERM
        until continued) and collect every exit, so no zombie is left."""
        now = self._wall.monotonic_s()
        keep: list[_Dying] = []
        for dying in self._dying:
            if dying.proc.poll() is not None:
                continue
            if now >= dying.kill_at_s:
                dying.proc.kill()
                dying.kill_at_s = now + KILL_REAP_S
            keep.append(dying)
        self._dying = keep

    def stop(self, frame: bytes) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None and self._transport is not None:
            self._transport.send(channel_auth.seal(self._key, channel_auth.TO_PAYLOAD, frame))
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        deadline = self._wall.monotonic_s() + TERM_GRACE_S + KILL_REAP_S
        while self._dying and self._wall.monotonic_s() < deadline:
            self._wall.sleep_s(0.02)
            self._reap()
