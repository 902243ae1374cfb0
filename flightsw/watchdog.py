"""Watchdogs the executive kicks while its loop is alive and on time.

Three kinds, chosen by configuration (``--watchdog auto|systemd|device:/path|none``):

- :class:`SystemdWatchdog`: the sd_notify protocol, written by hand (no libsystemd on a
  board image, and nothing to mock in tests): one datagram per message on an AF_UNIX
  SOCK_DGRAM socket to ``$NOTIFY_SOCKET`` (a path, or an abstract-namespace name written
  with a leading ``@``). ``READY=1`` once after boot, ``WATCHDOG=1`` every half of
  ``$WATCHDOG_USEC`` (systemd's own advice), ``STOPPING=1`` as an orderly shutdown
  begins (the service manager stops expecting kicks and waits for the exit).
  ``$WATCHDOG_PID``, when set, names the process the watchdog is meant for; any other
  process does not send ``WATCHDOG=1``. In the sim stack the launcher plays systemd
  (:mod:`hil.service_policy`), so this real code path runs there too.
- :class:`DeviceWatchdog`: a Linux ``/dev/watchdog``-style device. Opening it arms it,
  ``WDIOC_KEEPALIVE`` kicks it (a written byte where the ioctl is not supported, as on a
  fake file or FIFO), and the magic close ``'V'`` disarms it - on an orderly shutdown
  only: a crash must leave it armed so the board resets.
- :class:`NoWatchdog`: nothing to kick.

I/O trouble (an unwritable socket, a missing device) never raises out of a watchdog: it
is kept in :meth:`Watchdog.take_problems` for the executive to report as events, and the
watchdog goes on trying.
"""

from __future__ import annotations

import errno
import fcntl
import math
import os
import socket
import struct
from collections.abc import Mapping
from typing import Protocol

from flightsw.errors import FlightError

WDIOC_KEEPALIVE = 0x80045705
"""``_IOR('W', 5, int)`` from ``<linux/watchdog.h>``."""
WDIOC_SETTIMEOUT = 0xC0045706
"""``_IOWR('W', 6, int)``: set the timeout in seconds; the driver answers the one it took."""
MAGIC_CLOSE = b"V"
DEVICE_DEFAULT_TIMEOUT_S = 15
"""Assumed device timeout when none is set (the Raspberry Pi's bcm2835_wdt tops out near
15-16 s); the executive kicks at half of it."""
MAX_PROBLEMS = 100
"""Problems kept until the executive takes them (a socket that fails every kick must not
grow memory without bound); the rest are counted."""


class WatchdogError(FlightError):
    """A watchdog option that cannot be understood (a configuration error)."""


class Watchdog(Protocol):
    """What the executive needs from a watchdog."""

    name: str
    interval_s: float
    """How often :meth:`kick` should be called (wall seconds); ``math.inf``: never."""

    def ready(self) -> None:
        """The executive has booted and its loop runs."""
        ...

    def kick(self) -> None:
        """The loop is alive and on time."""
        ...

    def stopping(self) -> None:
        """An orderly shutdown begins (no more kicks will come)."""
        ...

    def close(self, orderly: bool) -> None:
        """Stop watching; ``orderly``: a clean shutdown (not a crash)."""
        ...

    def take_problems(self) -> list[str]:
        """I/O problems since the last call, oldest first."""
        ...


class _Problems:
    """Bounded list of problems, shared by the watchdogs."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.dropped = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.dropped += 1

    def take_problems(self) -> list[str]:
        out, self.problems = self.problems, []
        if self.dropped:
            out.append(f"{self.dropped} more problems not listed")
            self.dropped = 0
        return out


class NoWatchdog(_Problems):
    name = "none"
    interval_s = math.inf

    def ready(self) -> None:
        pass

    def kick(self) -> None:
        pass

    def stopping(self) -> None:
        pass

    def close(self, orderly: bool) -> None:
        pass


def notify_address(raw: str) -> str | bytes:
    """``$NOTIFY_SOCKET`` as a socket address: a filesystem path, or an abstract name
    (``@name`` becomes ``b"\\0name"``). Anything else (e.g. ``vsock:``) is refused."""
    if raw.startswith("@") and len(raw) > 1:
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    raise WatchdogError(f"NOTIFY_SOCKET {raw!r} is neither an absolute path nor "
                        f"an abstract name starting with '@'")


class SystemdWatchdog(_Problems):
    """sd_notify to a service manager (systemd on a board, the launcher in the sim)."""

    name = "systemd"

    def __init__(self, address: str | bytes, watchdog_usec: int | None = None,
                 watchdog_pid: int | None = None, pid: int | None = None) -> None:
        super().__init__()
        self.address = address
        me = os.getpid() if pid is None else pid
        self.watchdog_enabled = (watchdog_usec is not None and watchdog_usec > 0
                                 and (watchdog_pid is None or watchdog_pid == me))
        self.interval_s = (watchdog_usec / 2e6 if self.watchdog_enabled and watchdog_usec
                           else math.inf)
        self._sock: socket.socket | None = None
        self.sent = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str], pid: int | None = None) -> SystemdWatchdog:
        raw = env.get("NOTIFY_SOCKET", "")
        if not raw:
            raise WatchdogError("--watchdog systemd needs $NOTIFY_SOCKET (run under "
                                "systemd with Type=notify, or under the aisat launcher)")
        usec = _env_int(env, "WATCHDOG_USEC")
        wd_pid = _env_int(env, "WATCHDOG_PID")
        return cls(notify_address(raw), usec, wd_pid, pid)

    def ready(self) -> None:
        self._send("READY=1")

    def kick(self) -> None:
        if self.watchdog_enabled:
            self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def close(self, orderly: bool) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, message: str) -> None:
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX,
                                           socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
            self.sent += 1
        except OSError as exc:
            self.problem(f"sd_notify {message} to {self._where()}: "
                         f"{exc.strerror or exc}")
            if self._sock is not None:  # start afresh next time
                self._sock.close()
                self._sock = None

    def _where(self) -> str:
        a = self.address
        return "@" + a[1:].decode(errors="replace") if isinstance(a, bytes) else a


class DeviceWatchdog(_Problems):
    """A ``/dev/watchdog``-style device, opened (and so armed) at the first use."""

    name = "device"

    def __init__(self, path: str, timeout_s: int | None = None) -> None:
        super().__init__()
        self.path = path
        self.timeout_s = timeout_s
        self.interval_s = (timeout_s or DEVICE_DEFAULT_TIMEOUT_S) / 2.0
        self._fd: int | None = None
        self._ioctl_works = True
        self.kicks = 0

    def _open(self) -> int | None:
        if self._fd is not None:
            return self._fd
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as exc:
            self.problem(f"cannot open watchdog {self.path}: {exc.strerror or exc}")
            return None
        if self.timeout_s is not None:
            try:
                got = fcntl.ioctl(self._fd, WDIOC_SETTIMEOUT,
                                  struct.pack("i", int(self.timeout_s)))
                took = struct.unpack("i", got)[0]
                if took > 0:
                    self.interval_s = took / 2.0
            except OSError as exc:
                self.problem(f"watchdog {self.path} refused timeout {self.timeout_s} s: "
                             f"{exc.strerror or exc}")
        return self._fd

    def ready(self) -> None:
        self.kick()  # opening arms it: start the first period with a kick

    def kick(self) -> None:
        fd = self._open()
        if fd is None:
            return
        if self._ioctl_works:
            try:
                fcntl.ioctl(fd, WDIOC_KEEPALIVE, struct.pack("i", 0))
                self.kicks += 1
                return
            except OSError as exc:
                if exc.errno not in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
                    self.problem(f"watchdog {self.path} keepalive: {exc.strerror or exc}")
                    return
                self._ioctl_works = False  # not a watchdog device: any write kicks it
        try:
            os.write(fd, b"\0")
            self.kicks += 1
        except OSError as exc:
            self.problem(f"watchdog {self.path} write: {exc.strerror or exc}")

    def stopping(self) -> None:
        pass  # the device is disarmed by the magic close at the very end

    def close(self, orderly: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if orderly:
                os.write(fd, MAGIC_CLOSE)  # disarm: this is a clean stop, not a hang
        except OSError as exc:
            self.problem(f"watchdog {self.path} magic close: {exc.strerror or exc}")
        finally:
            os.close(fd)


WATCHDOG_CHOICES = "auto|systemd|device:/path[,timeout_s=N]|none"


def from_option(option: str, env: Mapping[str, str] | None = None,
                pid: int | None = None) -> Watchdog:
    """The watchdog an option names. ``auto``: systemd when ``$NOTIFY_SOCKET`` is set
    (a service manager is listening), else none. Raises :class:`WatchdogError` for an
    option that makes no sense, before anything is opened."""
    env = os.environ if env is None else env
    option = option.strip()
    if option == "auto":
        option = "systemd" if env.get("NOTIFY_SOCKET") else "none"
    if option == "none":
        return NoWatchdog()
    if option == "systemd":
        return SystemdWatchdog.from_env(env, pid)
    if option.startswith("device:"):
        path, _, extra = option.removeprefix("device:").partition(",")
        if not path.startswith("/"):
            raise WatchdogError(f"watchdog device path must be absolute: {path!r}")
        timeout: int | None = None
        if extra:
            key, _, value = extra.partition("=")
            if key != "timeout_s" or not value.isdigit() or int(value) <= 0:
                raise WatchdogError(f"watchdog device option {extra!r}: expected "
                                    f"timeout_s=<positive whole seconds>")
            timeout = int(value)
        return DeviceWatchdog(path, timeout)
    raise WatchdogError(f"unknown watchdog {option!r}: expected {WATCHDOG_CHOICES}")


NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def consume_notify_env(environ: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """Take the service manager's variables out of ``environ`` (as sd_notify's
    ``unset_environment`` does), so the payload child does not inherit a socket that
    is not its to speak on; returns what was there."""
    return {k: environ.pop(k) for k in NOTIFY_ENV if k in environ}


def _env_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise WatchdogError(f"${name} is not a whole number: {raw!r}") from None
