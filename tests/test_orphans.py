"""No orphans, ever: whatever kills a parent - even SIGKILL, which runs no cleanup - its
children go too (flightsw.lifeline: PR_SET_PDEATHSIG plus the reparenting check)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flightsw.lifeline import PARENT_PID_ENV, child_env, parent_is
from hil.stack import ORDERLY_STOP_S
from tests.procs import alive as _alive
from tests.procs import children as _children

REPO_ROOT = Path(__file__).resolve().parents[1]
GONE_WITHIN_S = 5.0
"""A child whose parent died goes within this (the kernel's SIGKILL or a quick exit)."""


def _wait_gone(pids: list[int], timeout_s: float = GONE_WITHIN_S) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = [pid for pid in pids if _alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.parametrize("command", [["up", "--speed", "5"], ["sim", "--orbits", "1",
                                                              "--speed", "20"]])
def test_sigkill_of_the_launcher_takes_every_child_down(tmp_path: Path,
                                                        command: list[str]) -> None:
    launcher = subprocess.Popen([sys.executable, "-m", "aisat", *command, "--run-dir",
                                 str(tmp_path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=REPO_ROOT)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 90
        payload: list[int] = []
        while time.monotonic() < deadline and not payload:
            stack = tmp_path / "stack.json"
            if stack.exists():
                pids = list(json.loads(stack.read_text())["pids"].values())
                if len(pids) == 3:
                    flightsw = json.loads(stack.read_text())["pids"]["flightsw"]
                    payload = _children(flightsw)
            time.sleep(0.2)
        assert len(pids) == 3 and payload, "stack did not come up"
        pids += payload
        assert all(_alive(pid) for pid in pids)
        launcher.kill()  # SIGKILL: the launcher runs no cleanup at all
        launcher.wait(timeout=10)
        # the kernel's SIGTERM starts each child's orderly stop, which may take the
        # launcher's whole allowance (measured: over 5 s on a loaded CI host)
        assert _wait_gone(pids, ORDERLY_STOP_S + GONE_WITHIN_S) == [], \
            "children outlived a SIGKILLed launcher"
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait(timeout=10)
        _kill_all(pids)


def test_sigkill_of_the_process_that_spawned_the_payload_ends_it() -> None:
    """The executive's role, played by a small script that binds the payload's socket."""
    script = textwrap.dedent("""
        import os, subprocess, sys, zmq
        sock = zmq.Context.instance().socket(zmq.PAIR)
        sock.setsockopt(zmq.RCVTIMEO, 60_000)  # a child that never serves fails the test
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        child = subprocess.Popen([sys.executable, "-m", "payload", "--endpoint",
                                  f"tcp://127.0.0.1:{port}", "--parent-pid", str(os.getpid()),
                                  "--key-stdin"], stdin=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
        child.stdin.write(os.urandom(32).hex().encode() + b"\\n")
        child.stdin.close()
        sock.recv()  # its first heartbeat: it is serving
        print(child.pid, flush=True)
        sys.stdin.read()
    """)
    middle = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    payload_pid = 0
    try:
        assert middle.stdout is not None
        payload_pid = int(middle.stdout.readline())
        assert _alive(payload_pid)
        middle.kill()
        middle.wait(timeout=10)
        assert _wait_gone([payload_pid]) == [], "payload outlived its SIGKILLed parent"
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if payload_pid:
            _kill_all([payload_pid])


_CHILD = textwrap.dedent("""
    import os, sys, time
    from flightsw.lifeline import die_with_parent
    die_with_parent({parent})
    print("armed", flush=True)
    time.sleep(60)
""")


def test_a_child_whose_parent_is_already_gone_signals_itself() -> None:
    """The race: the parent died before prctl. A pid that is not our parent stands in."""
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(parent="999999999")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == -signal.SIGTERM
    assert "armed" not in proc.stdout


def test_the_launchers_pid_comes_through_the_environment_and_is_consumed() -> None:
    env = child_env(parent_pid=999999999)
    proc = subprocess.run([sys.executable, "-c", _CHILD.format(parent="")], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == -signal.SIGTERM  # it took 999999999 as its parent
    script = ("import os; from flightsw.lifeline import die_with_parent; die_with_parent(); "
              f"print(os.environ.get({PARENT_PID_ENV!r}))")
    env = child_env()  # the real parent: us
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.strip() == "None"  # not passed further down


def test_a_grandchild_dies_with_its_sigkilled_parent() -> None:
    middle_script = textwrap.dedent(f"""
        import subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", {_CHILD.format(parent="")!r}],
                                 stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        print(child.pid, flush=True)
        sys.stdin.read()
    """)
    middle = subprocess.Popen([sys.executable, "-c", middle_script], cwd=REPO_ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert middle.stdout is not None
        child = int(middle.stdout.readline())
        middle.kill()
        middle.wait(timeout=10)
        assert _wait_gone([child], 3.0) == []
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait(timeout=10)
        if child:
            _kill_all([child])


def test_parent_is_tells_whether_we_were_reparented() -> None:
    assert parent_is(os.getppid())
    assert not parent_is(999999999)
