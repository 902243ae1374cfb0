"""The watchdogs' real code paths: sd_notify datagrams on a real AF_UNIX socket (path and
abstract names), a fake watchdog device (a regular file, a FIFO) with the ioctls
recorded, and selection by option."""

from __future__ import annotations

import errno
import math
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightsw import watchdog as wd
from flightsw.watchdog import (
    MAGIC_CLOSE,
    WDIOC_KEEPALIVE,
    WDIOC_SETTIMEOUT,
    DeviceWatchdog,
    NoWatchdog,
    SystemdWatchdog,
    WatchdogError,
    from_option,
)


@pytest.fixture()
def notify(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    yield path, sock
    sock.close()


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    sock.settimeout(0.05)
    try:
        while True:
            out.append(sock.recv(4096))
    except TimeoutError:
        return out


def test_systemd_protocol_messages_on_a_real_socket(notify: tuple[str, socket.socket]) -> None:
    path, sock = notify
    dog = from_option("auto", {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"})
    assert isinstance(dog, SystemdWatchdog)
    assert dog.interval_s == 2.0  # half of WATCHDOG_USEC
    dog.ready()
    dog.kick()
    dog.kick()
    dog.stopping()
    dog.close(orderly=True)
    assert _drain(sock) == [b"READY=1", b"WATCHDOG=1", b"WATCHDOG=1", b"STOPPING=1"]
    assert dog.take_problems() == []


def test_a_crash_sends_no_stopping(notify: tuple[str, socket.socket]) -> None:
    path, sock = notify
    dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    dog.ready()
    dog.close(orderly=False)
    assert _drain(sock) == [b"READY=1"]


def test_abstract_namespace_address() -> None:
    name = f"aisat-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    try:
        dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": "@" + name,
                                        "WATCHDOG_USEC": "1000000"})
        dog.ready()
        dog.kick()
        assert _drain(sock) == [b"READY=1", b"WATCHDOG=1"]
    finally:
        sock.close()


def test_watchdog_pid_of_another_process_means_no_kicks(
        notify: tuple[str, socket.socket]) -> None:
    path, sock = notify
    dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                                    "WATCHDOG_PID": str(os.getpid() + 1)})
    assert dog.interval_s == math.inf
    dog.ready()
    dog.kick()
    assert _drain(sock) == [b"READY=1"]  # READY still goes; the watchdog is not ours
    mine = SystemdWatchdog.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000",
                                     "WATCHDOG_PID": str(os.getpid())})
    mine.kick()
    assert _drain(sock) == [b"WATCHDOG=1"]


def test_no_watchdog_usec_means_ready_and_stopping_only(
        notify: tuple[str, socket.socket]) -> None:
    path, sock = notify
    dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": path})
    assert dog.interval_s == math.inf
    dog.ready()
    dog.kick()
    dog.stopping()
    dog.close(orderly=True)
    assert _drain(sock) == [b"READY=1", b"STOPPING=1"]


def test_an_unwritable_socket_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens"),
                                    "WATCHDOG_USEC": "1000000"})
    dog.ready()
    dog.kick()
    problems = dog.take_problems()
    assert len(problems) == 2 and "READY=1" in problems[0] and "WATCHDOG=1" in problems[1]
    assert dog.take_problems() == []  # taken once


def test_problems_are_bounded(tmp_path: Path) -> None:
    dog = SystemdWatchdog.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone"),
                                    "WATCHDOG_USEC": "1000000"})
    for _ in range(wd.MAX_PROBLEMS + 5):
        dog.kick()
    problems = dog.take_problems()
    assert len(problems) == wd.MAX_PROBLEMS + 1 and problems[-1] == "5 more problems not listed"


@pytest.mark.parametrize("option, env, message", [
    ("systemd", {}, "needs $NOTIFY_SOCKET"),
    ("systemd", {"NOTIFY_SOCKET": "vsock:2:1"}, "neither an absolute path"),
    ("systemd", {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "soon"}, "not a whole number"),
    ("device:dev/watchdog", {}, "must be absolute"),
    ("device:/dev/watchdog,timeout_s=-3", {}, "timeout_s=<positive"),
    ("device:/dev/watchdog,speed=3", {}, "timeout_s=<positive"),
    ("kennel", {}, "unknown watchdog 'kennel'"),
])
def test_bad_options_are_refused_clearly(option: str, env: dict[str, str],
                                         message: str) -> None:
    with pytest.raises(WatchdogError, match=None) as err:
        from_option(option, env)
    assert message in str(err.value)


def test_auto_without_a_service_manager_is_none() -> None:
    assert isinstance(from_option("auto", {}), NoWatchdog)
    assert isinstance(from_option("none", {"NOTIFY_SOCKET": "/x"}), NoWatchdog)
    dev = from_option("device:/dev/watchdog0,timeout_s=10", {})
    assert isinstance(dev, DeviceWatchdog) and dev.timeout_s == 10 and dev.interval_s == 5.0


def test_the_payload_child_does_not_inherit_the_notify_socket() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1", "WATCHDOG_PID": "2", "HOME": "/h"}
    taken = wd.consume_notify_env(env)
    assert env == {"HOME": "/h"} and set(taken) == set(wd.NOTIFY_ENV)


# --- the device ------------------------------------------------------------------------------
class IoctlRecorder:
    """Stands in for fcntl.ioctl: records (request, arg); answers like a driver or not."""

    def __init__(self, supported: bool) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.supported = supported

    def __call__(self, fd: int, request: int, arg: Any = 0, *rest: Any) -> Any:
        self.calls.append((request, bytes(arg)))
        if not self.supported:
            raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")
        return arg  # SETTIMEOUT: the driver took the timeout asked for


def test_device_keepalive_by_ioctl_and_magic_close_when_orderly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dev = tmp_path / "watchdog"
    dev.write_bytes(b"")
    rec = IoctlRecorder(supported=True)
    monkeypatch.setattr(wd.fcntl, "ioctl", rec)
    dog = DeviceWatchdog(str(dev), timeout_s=8)
    dog.ready()
    dog.kick()
    assert [c[0] for c in rec.calls] == [WDIOC_SETTIMEOUT, WDIOC_KEEPALIVE, WDIOC_KEEPALIVE]
    assert rec.calls[0][1] == (8).to_bytes(4, "little")
    assert dog.interval_s == 4.0
    assert dev.read_bytes() == b""  # keepalives went by ioctl, nothing written
    dog.close(orderly=True)
    assert dev.read_bytes() == MAGIC_CLOSE
    assert dog.take_problems() == []


def test_device_crash_close_leaves_it_armed(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    dev = tmp_path / "watchdog"
    dev.write_bytes(b"")
    monkeypatch.setattr(wd.fcntl, "ioctl", IoctlRecorder(supported=True))
    dog = DeviceWatchdog(str(dev))
    dog.ready()
    dog.close(orderly=False)
    assert dev.read_bytes() == b""  # no 'V': the board will reset


def test_fake_file_without_the_ioctl_is_kicked_by_writing(tmp_path: Path) -> None:
    dev = tmp_path / "watchdog"
    dev.write_bytes(b"")
    dog = DeviceWatchdog(str(dev), timeout_s=6)  # the real fcntl.ioctl: ENOTTY on a file
    dog.ready()
    dog.kick()
    dog.stopping()
    dog.close(orderly=True)
    assert dev.read_bytes() == b"\0\0V"
    problems = dog.take_problems()
    assert len(problems) == 1 and "refused timeout 6 s" in problems[0]


def test_fifo_device_sees_keepalives_then_magic_close(tmp_path: Path) -> None:
    fifo = tmp_path / "watchdog.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader)
    t.start()
    dog = DeviceWatchdog(str(fifo))
    dog.ready()
    for _ in range(3):
        dog.kick()
    dog.close(orderly=True)
    t.join(5)
    assert got == [b"\0\0\0\0V"]
    assert dog.kicks == 4


def test_a_missing_device_is_a_problem_and_is_retried(tmp_path: Path) -> None:
    dev = tmp_path / "later"
    dog = DeviceWatchdog(str(dev))
    dog.ready()
    assert "cannot open watchdog" in dog.take_problems()[0]
    dev.write_bytes(b"")
    dog.kick()
    assert dog.take_problems() == [] and dog.kicks == 1
    dog.close(orderly=False)
