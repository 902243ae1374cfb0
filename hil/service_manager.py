"""The launcher playing systemd for the executive: the process side of
:mod:`hil.service_policy`.

It owns a notify socket (an AF_UNIX datagram socket in the run directory, mode 0600, or
an abstract name when the run directory's path is too long for a socket address) and
gives the executive what systemd gives a ``Type=notify`` service: ``NOTIFY_SOCKET``,
``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (set by a ``/bin/sh`` that then ``exec``s the
executive, so it carries the executive's own pid). The executive therefore runs its
*real* systemd code path (:class:`flightsw.watchdog.SystemdWatchdog`) in the sim stack.

Like ``NotifyAccess=main``, only datagrams whose kernel-attested sender (SCM_CREDENTIALS)
is the current executive are believed; a payload child or a stranger on the socket is
ignored and counted. A worker thread reads the socket, watches the process and the
policy's deadlines, and carries out the policy's actions: spawn, SIGABRT, SIGKILL, or
give up (the stack is then stopped by its owner with the policy's message). Every
restart is a note for the operator (the CLI prints it) and a line in ``launcher.log``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from hil.service_policy import (
    Action,
    Outcome,
    ServicePolicy,
    ServiceState,
    Trigger,
    Unit,
    step,
)

MAX_SOCKET_PATH = 107
"""sockaddr_un's sun_path holds 108 bytes, one of them the terminating NUL."""
POLL_S = 0.1
NOTIFY_MESSAGES = {b"READY=1": Trigger.READY, b"WATCHDOG=1": Trigger.WATCHDOG,
                   b"STOPPING=1": Trigger.STOPPING}
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid

Spawn = Callable[[dict[str, str]], "subprocess.Popen[bytes]"]
"""Starts the executive with these extra environment variables; returns its process."""


def notify_argv(argv: list[str]) -> list[str]:
    """``argv`` run by a shell that first sets ``WATCHDOG_PID`` to its own pid and then
    becomes the executive (``exec`` keeps the pid), as systemd sets it after fork."""
    return ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh", *argv]


def open_notify_socket(run_dir: Path) -> tuple[socket.socket, str]:
    """A bound notify socket and its ``NOTIFY_SOCKET`` value."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        path = Path(run_dir) / "notify.sock"
        if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
            path.unlink(missing_ok=True)
            old = os.umask(0o177)  # created 0600: only our user may speak to it
            try:
                sock.bind(str(path))
            finally:
                os.umask(old)
            os.chmod(path, 0o600)
            return sock, str(path)
        name = f"aisat-notify-{os.getpid()}-{time.monotonic_ns()}"
        sock.bind(b"\0" + name.encode())
        return sock, "@" + name
    except BaseException:
        sock.close()
        raise


class ServiceManager:
    """Keeps one executive running under a :class:`ServicePolicy`."""

    def __init__(self, policy: ServicePolicy, run_dir: Path, spawn: Spawn,
                 log_path: Path | None = None) -> None:
        self.policy = policy
        self.spawn = spawn
        self.log_path = log_path
        self.state = ServiceState()
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock, self.address = open_notify_socket(run_dir)
        self.notes: deque[str] = deque(maxlen=1000)
        self.history: list[str] = []  # every note, for tests and the summary
        self.gave_up = ""
        self.foreign_messages = 0
        self.kicks = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- driving ---------------------------------------------------------------------------
    def start(self) -> subprocess.Popen[bytes]:
        """Start the executive (in the calling thread) and supervise it from a thread."""
        with self._lock:
            self._apply(step(self.policy, self.state, Trigger.START, time.monotonic()))
        assert self.proc is not None, "the policy refused the first start"
        self._thread = threading.Thread(target=self._run, name="service-manager",
                                        daemon=True)
        self._thread.start()
        return self.proc

    def stop_supervising(self) -> None:
        """No more restarts from now on (the stack is stopping); idempotent."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self.sock.close()
        if not self.address.startswith("@"):
            Path(self.address).unlink(missing_ok=True)

    def take_notes(self) -> list[str]:
        out = []
        while self.notes:
            out.append(self.notes.popleft())
        return out

    @property
    def restarts(self) -> int:
        return self.state.restarts

    # --- the loop ----------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll(POLL_S)
            except Exception as exc:  # the supervisor must outlive any one bad turn
                self._note(f"service manager error: {type(exc).__name__}: {exc}")
                self._stop.wait(POLL_S)

    def poll(self, timeout_s: float) -> None:
        """One turn: notify messages, the process's exit, the policy's deadlines."""
        try:
            readable, _, _ = select.select([self.sock], [], [], timeout_s)
        except (OSError, ValueError):  # closed under us at stop
            return
        with self._lock:
            if self._stop.is_set():
                return
            if readable:
                self._read_notify()
            proc = self.proc
            if proc is not None and self.state.unit in (Unit.STARTING, Unit.RUNNING,
                                                       Unit.STOPPING, Unit.ABORTING):
                code = proc.poll()
                if code is not None:
                    self._apply(step(self.policy, self.state, Trigger.EXITED,
                                     time.monotonic(), code))
            self._apply(step(self.policy, self.state, Trigger.TIMER, time.monotonic()))

    def _read_notify(self) -> None:
        space = socket.CMSG_SPACE(_UCRED.size)
        while True:
            try:
                data, ancdata, _flags, _addr = self.sock.recvmsg(4096, space,
                                                                 socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sender = None
            for level, kind, payload in ancdata:
                if (level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
                        and len(payload) >= _UCRED.size):
                    sender = _UCRED.unpack(payload[:_UCRED.size])[0]
            if self.proc is None or sender != self.proc.pid:
                self.foreign_messages += 1  # NotifyAccess=main: not the executive
                continue
            for line in data.split(b"\n"):
                trigger = NOTIFY_MESSAGES.get(line.strip())
                if trigger is None:
                    continue
                if trigger is Trigger.WATCHDOG:
                    self.kicks += 1
                self._apply(step(self.policy, self.state, trigger, time.monotonic()))

    def _apply(self, outcome: Outcome) -> None:
        self.state = outcome.state
        if outcome.note:
            self._note(outcome.note)
        for action in outcome.actions:
            if action is Action.SPAWN:
                env = {"NOTIFY_SOCKET": self.address,
                       "WATCHDOG_USEC": str(round(self.policy.watchdog_s * 1e6))}
                try:
                    self.proc = self.spawn(env)
                except OSError as exc:
                    self._note(f"could not start the executive: {exc}")
                    self.proc = None
                    self.state = ServiceState(unit=Unit.AUTO_RESTART,
                                              deadline_s=time.monotonic()
                                              + self.policy.restart_s,
                                              starts_s=self.state.starts_s,
                                              restarts=self.state.restarts,
                                              result="spawn failed")
            elif action in (Action.ABORT, Action.KILL) and self.proc is not None:
                sig = signal.SIGABRT if action is Action.ABORT else signal.SIGKILL
                with contextlib.suppress(ProcessLookupError):
                    self.proc.send_signal(sig)
                if action is Action.ABORT:
                    with contextlib.suppress(ProcessLookupError):
                        self.proc.send_signal(signal.SIGCONT)  # a stopped one can die
            elif action is Action.GIVE_UP:
                self.gave_up = outcome.note

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.history.append(text)
        if self.log_path is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            with contextlib.suppress(OSError), open(self.log_path, "a") as fh:
                fh.write(f"{stamp} {text}\n")
