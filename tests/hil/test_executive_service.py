"""The launcher plays systemd for the executive, against the real stack: a kill -9 is a
reset (restarted, state restored, the ground keeps receiving), a hang (SIGSTOP) is
caught by the watchdog and restarted, a clean exit is left alone, and the start limit
stops the stack with a clear message. In lockstep and free running."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ground.api import Ops
from hil.service_policy import FLIGHTSW, ServicePolicy, Unit
from hil.stack import Stack, StackOptions, WorldWatcher
from tests.procs import alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUICK = ServicePolicy(watchdog_s=4.0, restart_s=1.0, start_limit_burst=5,
                      start_limit_interval_s=120.0, start_timeout_s=60.0,
                      abort_timeout_s=2.0)
"""Shorter than the boards' policy, so that a hang test takes seconds."""


def _until(what: str, cond: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s:g} s")
        time.sleep(0.1)


def _start(tmp_path: Path, lockstep: bool, policy: ServicePolicy = QUICK,
           duration_s: float = 3000.0) -> Stack:
    return Stack.start(StackOptions(lockstep=lockstep, duration_s=duration_s, speed=10.0,
                                    run_dir=tmp_path / "run", service_policy=policy))


@pytest.fixture(params=[True, False], ids=["lockstep", "free"])
def lockstep(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture()
def stacks() -> Iterator[list[Stack]]:
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()
        assert all(p.poll() is not None for p in stack.procs.values()), "a process survived"


def _ready(stack: Stack) -> bool:
    service = stack.service
    assert service is not None
    return service.state.unit is Unit.RUNNING and service.kicks > 0


def test_kill_9_of_the_executive_is_a_reset(tmp_path: Path, lockstep: bool,
                                            stacks: list[Stack]) -> None:
    stack = _start(tmp_path, lockstep, policy=FLIGHTSW)
    stacks.append(stack)
    with Ops(stack.info.run_dir) as ops:
        ops.wait_tlm("power.battery_soc_pct", timeout_s=90)  # the first pass has begun
        ops.cmd("payload.throttle_cap", level_pct=40, timeout_s=60)
        ops.wait_tlm("payload.operator_cap_pct", lambda v: v == 40.0, timeout_s=30,
                     since="latest")
        hellos = ops.reader().counts()["hellos"]
        first = stack.procs["flightsw"]
        assert _ready(stack)  # READY=1 and WATCHDOG=1 came over the real notify socket
        mark = ops.mark()
        watcher = WorldWatcher(stack.info.world, conflate=True)
        try:
            time.sleep(0.5)
            os.kill(first.pid, signal.SIGKILL)
            time.sleep(0.3)
            watcher.latest(0)  # whatever the plant stepped before it noticed
            time.sleep(0.6)  # no executive now: RestartSec has not passed
            stepped = watcher.latest(0)
        finally:
            watcher.close()
        if lockstep:
            assert stepped is None, "sim time moved on while the executive was down"
        else:
            assert stepped is not None  # free running, the spacecraft flies on regardless
        _until("the executive was restarted", lambda: stack.procs["flightsw"] is not first
               and alive(stack.procs["flightsw"].pid), 15)
        boot = ops.wait_event("exec.boot", timeout_s=60, since=mark)
        assert boot is not None
        ops.wait_event("exec.state_restored", timeout_s=30, since=mark)
        # the restored state: boot count and the operator's cap survived the reset
        ops.wait_tlm("exec.boots", lambda v: v == 2, timeout_s=30, since=mark)
        # read the cap from the new boot's own housekeeping: packets the dead incarnation
        # made before the cap command may still arrive after the mark, played back from
        # the recorder store (CI once read 100 from one of those)
        reader = ops.reader()
        new_boot = {s.seq for s in reader.samples("exec.boots") if s.value == 2}
        caps = [s.value for s in reader.samples("payload.operator_cap_pct")
                if s.seq in new_boot]
        assert caps and set(caps) == {40.0}, caps
        assert ops.reader().counts()["hellos"] > hellos  # the new incarnation said HELLO
        done = ops.cmd("exec.noop", timeout_s=60)  # and is commanded as before
        assert done.ok
    notes = stack.take_service_notes()
    assert notes == ["executive died (signal SIGKILL, code -9); restart in 1 s",
                     "restarting the executive (restart 1)"]
    assert stack.failed_process() is None
    _until("the new executive is ready", lambda: _ready(stack), 30)
    log = (Path(stack.info.run_dir) / "launcher.log").read_text()
    assert "restarting the executive (restart 1)" in log


def test_a_hung_executive_is_killed_and_restarted(tmp_path: Path, lockstep: bool,
                                                  stacks: list[Stack]) -> None:
    stack = _start(tmp_path, lockstep)
    stacks.append(stack)
    _until("the executive is up and kicking", lambda: _ready(stack), 60)
    assert stack.service is not None
    hung = stack.procs["flightsw"]
    restarts = stack.service.restarts
    stopped_at = time.monotonic()
    os.kill(hung.pid, signal.SIGSTOP)
    _until("the hung executive was restarted",
           lambda: stack.service is not None and stack.service.restarts > restarts, 30)
    waited_s = time.monotonic() - stopped_at
    assert waited_s >= QUICK.watchdog_s - 0.5  # not before WatchdogSec was up
    assert hung.poll() is not None  # the hung one is gone
    assert any("watchdog timeout" in n for n in stack.service.history)
    _until("the new executive is ready", lambda: _ready(stack), 60)
    assert stack.failed_process() is None


def test_a_clean_exit_is_not_restarted(tmp_path: Path, lockstep: bool,
                                       stacks: list[Stack]) -> None:
    stack = _start(tmp_path, lockstep)
    stacks.append(stack)
    _until("the executive is up", lambda: _ready(stack), 60)
    proc = stack.procs["flightsw"]
    proc.send_signal(signal.SIGTERM)  # it stops in order and exits 0
    assert proc.wait(timeout=30) == 0
    assert stack.service is not None
    _until("the exit was seen", lambda: stack.service is not None
           and stack.service.state.unit is Unit.EXITED, 10)
    time.sleep(QUICK.restart_s * 3)
    assert stack.procs["flightsw"] is proc and stack.service.restarts == 0
    assert stack.take_service_notes() == ["executive exited cleanly (success): not restarted"]


def test_the_start_limit_stops_the_stack_with_a_clear_message(
        tmp_path: Path, lockstep: bool, stacks: list[Stack]) -> None:
    policy = ServicePolicy(watchdog_s=10.0, restart_s=0.2, start_limit_burst=3,
                           start_limit_interval_s=120.0, start_timeout_s=60.0,
                           abort_timeout_s=2.0)
    stack = _start(tmp_path, lockstep, policy=policy)
    stacks.append(stack)
    for _ in range(policy.start_limit_burst):
        proc = stack.procs["flightsw"]
        _until("the executive is up", lambda p=proc: alive(p.pid), 30)  # type: ignore[misc]
        proc.kill()
        proc.wait(timeout=10)
        _until("the launcher reacted",
               lambda p=proc: stack.procs["flightsw"] is not p  # type: ignore[misc]
               or stack.failed_process() is not None, 15)
    failed = stack.failed_process()
    assert failed is not None
    assert failed.startswith("executive started 3 times within 120 s (StartLimitBurst=3): "
                             "giving up after signal SIGKILL")
    assert "launcher.log" in failed


@pytest.mark.parametrize("lockstep_cli", [True, False], ids=["sim", "up"])
def test_the_cli_prints_restarts(tmp_path: Path, lockstep_cli: bool) -> None:
    """``aisat up``/``aisat sim`` print each restart as it happens."""
    import sys

    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "aisat", "sim" if lockstep_cli else "up", "--run-dir",
           str(run_dir)]
    cmd += ["--orbits", "0.5", "--speed", "20"] if lockstep_cli else ["--duration-s", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        from flightsw.stackinfo import StackInfo

        def executive_pid() -> int | None:
            try:
                return StackInfo.read(run_dir).pids.get("flightsw")
            except Exception:
                return None

        _until("the stack is up", lambda: executive_pid() is not None, 60)
        pid = executive_pid()
        assert pid is not None
        time.sleep(3.0)
        os.kill(pid, signal.SIGKILL)
        _until("a new executive", lambda: executive_pid() not in (None, pid), 30)
        restarted = executive_pid()
        time.sleep(2.0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert "aisat: executive died (signal SIGKILL, code -9); restart in 1 s" in out, out
    assert "aisat: restarting the executive (restart 1)" in out, out
    assert restarted is not None
    _until("the restarted executive stopped with the stack", lambda: not alive(restarted), 10)
