"""The launcher's systemd role against real processes: the notify socket (0600, or an
abstract name when the run directory is too deep), WATCHDOG_PID carrying the
executive's own pid, the executive's real sd_notify client (flightsw.watchdog) driving
the policy, and messages from anyone but the main process ignored (NotifyAccess=main)."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hil.service_manager import ServiceManager, notify_argv, open_notify_socket
from hil.service_policy import ServicePolicy, Unit
from tests.procs import alive

POLICY = ServicePolicy(watchdog_s=2.0, restart_s=0.2, start_limit_burst=3,
                       start_limit_interval_s=60.0, start_timeout_s=20.0, abort_timeout_s=1.0)

CHILD = """
import os, sys, time
from flightsw.watchdog import from_option
assert os.environ["WATCHDOG_PID"] == str(os.getpid()), "WATCHDOG_PID is not ours"
dog = from_option("systemd")
dog.ready()
for _ in range(int(sys.argv[1])):
    dog.kick()
    time.sleep(0.2)
assert not dog.take_problems()
dog.stopping()
dog.close(orderly=True)
sys.exit(int(sys.argv[2]))
"""


def _spawner(kicks: int, code: int, procs: list[subprocess.Popen[bytes]]
             ) -> Callable[[dict[str, str]], subprocess.Popen[bytes]]:
    def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
        import os

        proc = subprocess.Popen(notify_argv([sys.executable, "-c", CHILD, str(kicks),
                                             str(code)]), env={**os.environ, **env})
        procs.append(proc)
        return proc
    return spawn


def _until(cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_notify_socket_is_private_and_falls_back_to_an_abstract_name(
        tmp_path: Path) -> None:
    sock, address = open_notify_socket(tmp_path)
    try:
        assert address == str(tmp_path / "notify.sock")
        assert stat.S_IMODE((tmp_path / "notify.sock").stat().st_mode) == 0o600
    finally:
        sock.close()
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    sock, address = open_notify_socket(deep)
    try:
        assert address.startswith("@aisat-notify-")
    finally:
        sock.close()


def test_the_executive_client_drives_the_policy_and_a_clean_exit_ends_it(
        tmp_path: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    manager = ServiceManager(POLICY, tmp_path, _spawner(kicks=5, code=0, procs=procs))
    try:
        manager.start()
        _until(lambda: manager.state.unit is Unit.EXITED, 30)
        assert manager.kicks == 5 and len(procs) == 1 and procs[0].returncode == 0
        assert manager.history == ["executive exited cleanly (success): not restarted"]
    finally:
        manager.stop_supervising()


def test_a_failing_executive_is_restarted_until_the_start_limit(tmp_path: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    manager = ServiceManager(POLICY, tmp_path, _spawner(kicks=1, code=3, procs=procs))
    try:
        manager.start()
        _until(lambda: bool(manager.gave_up), 60)
        assert len(procs) == POLICY.start_limit_burst
        assert manager.gave_up.startswith("executive started 3 times within 60 s")
        assert manager.history.count("executive died (exit-code, code 3); restart in 0.2 s") == 3
    finally:
        manager.stop_supervising()


def test_only_the_main_process_may_notify(tmp_path: Path) -> None:
    procs: list[subprocess.Popen[bytes]] = []
    manager = ServiceManager(POLICY, tmp_path, _spawner(kicks=200, code=0, procs=procs))
    stranger = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        manager.start()
        _until(lambda: manager.state.unit is Unit.RUNNING, 30)
        stranger.sendto(b"STOPPING=1", manager.address)
        stranger.sendto(b"WATCHDOG=1", manager.address)
        _until(lambda: manager.foreign_messages == 2, 10)
        assert manager.state.unit is Unit.RUNNING  # not believed
    finally:
        stranger.close()
        manager.stop_supervising()
        for proc in procs:
            proc.kill()
            proc.wait(timeout=10)
        assert not any(alive(p.pid) for p in procs)
