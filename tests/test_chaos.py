"""Chaos: the running stack, faults at random moments, and then the books.

Against the real processes (plant, executive under the launcher's systemd role, payload,
ground), free running on wall time with the `orbital-dc-node` profile (its always-on
relay keeps the link up between passes, so every record can reach the ground at once),
the test kills -9, SIGSTOPs and starves (CPU by stop/continue bursts, memory by an
address-space limit) the payload and the executive at random moments, many times, in
an order drawn from a seeded RNG (``AISAT_CHAOS_SEED`` replays one; the seed is printed).
After each fault it waits for recovery within the stated bound; at the end it checks:

- the payload came back after every death, within its bound;
- the executive came back after every kill and resumed its saved state (every boot after
  the first restored it; the boot numbers count up by one);
- the escalation ladder did what it says: degraded at the 3rd unplanned payload restart
  in its window, locked out (payload off, SAFE) at the 5th, and the executive's third
  unexplained reset within 10 min locked the payload out too; the ground cleared both;
- no telemetry packet, event, verification report or data product was lost or
  duplicated at the ground: across every boot the downlink numbers are contiguous, each
  archived once, apart from evictions the spacecraft reported (none expected here);
- the stack ends healthy: the payload ready, no process failed, nothing left running.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ground.api import Ops
from ground.archive_reader import EventRow, Mark
from hil.service_policy import FLIGHTSW
from hil.stack import Stack, StackOptions
from tests.archive_books import archived_seqs, doubled_points

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROFILE = "orbital-dc-node"
HEARTBEAT_TIMEOUT_S = 5.0  # the profile's (the default)
MODEL_LOAD_BOUND_S = 10.0  # spawn to ready on a loaded 2-core CI box
POLICY = replace(FLIGHTSW, watchdog_s=3.0, start_limit_burst=50)
"""The launcher's real policy with a shorter WatchdogSec (a SIGSTOPped executive is
caught in 3-4.5 s instead of 10-15 s) and no start limit in the way of many faults."""

PAYLOAD_FAULTS = ("payload_kill", "payload_kill", "payload_stop", "payload_kill",
                  "payload_starve_cpu", "payload_starve_memory")
EXEC_FAULTS = ("exec_kill", "exec_kill", "exec_stop", "exec_starve_cpu")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack.start(StackOptions(profile=PROFILE, lockstep=False,
                                     run_dir=tmp_path / "run", service_policy=POLICY))
    try:
        yield stack
    finally:
        stack.stop()
        assert all(p.poll() is not None for p in stack.procs.values()), "a process survived"


class Chaos:
    def __init__(self, stack: Stack, ops: Ops, rng: random.Random) -> None:
        self.stack = stack
        self.ops = ops
        self.rng = rng
        self.log: list[str] = []
        self.payload_deaths = 0  # unplanned payload restarts the ladder has counted
        self.exec_resets = 0

    # --- looking -------------------------------------------------------------------------
    def payload_pid(self) -> int:
        """The executive's live payload child (a dying one may still be reaped)."""
        exec_pid = self.exec_pid()
        kids = []
        for pid in Path(f"/proc/{exec_pid}/task/{exec_pid}/children").read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"payload" in cmdline and stat.rsplit(")", 1)[1].split()[0] not in "ZTt":
                kids.append(int(pid))
        assert len(kids) == 1, f"executive {exec_pid} has payload children {kids}"
        return kids[0]

    def exec_pid(self) -> int:
        service = self.stack.service
        assert service is not None and service.proc is not None
        return service.proc.pid

    def wait(self, name: str, since: Mark, timeout_s: float,
             match: Callable[[EventRow], bool] = lambda e: True) -> EventRow:
        return self.ops.wait_event(lambda e: e.name == name and match(e), timeout_s=timeout_s,
                                   since=since)

    def healthy_payload(self, since: Mark, timeout_s: float) -> EventRow:
        return self.wait("payload.ready", since, timeout_s)

    # --- faults --------------------------------------------------------------------------
    def payload_fault(self, kind: str) -> None:
        pid = self.payload_pid()
        mark = self.ops.mark()
        if kind == "payload_kill":
            os.kill(pid, signal.SIGKILL)
        elif kind == "payload_stop":
            os.kill(pid, signal.SIGSTOP)
        elif kind == "payload_starve_cpu":
            _starve_cpu(pid, seconds=2.0)  # 75 % of its CPU taken, under the timeout
        elif kind == "payload_starve_memory":
            _starve_memory(pid, seconds=5.0)
        if kind in ("payload_kill", "payload_stop"):
            self.wait("payload.died", mark, HEARTBEAT_TIMEOUT_S + 3.0)
            deaths = 1
        else:
            # starved, not killed: it lives on, or its supervisor restarts it. Either
            # shows within a heartbeat timeout of the starving's end (the limit is lifted
            # then, so no death can come later and be missed); count what came
            time.sleep(HEARTBEAT_TIMEOUT_S + 2.0)
            deaths = sum(1 for e in self._events_since(mark) if e.name == "payload.died")
        for _ in range(deaths):
            self.payload_deaths += 1
            if self.payload_deaths == 5:  # the ladder's top rung: no restart comes
                self.wait("payload.escalated", mark, 5.0,
                          lambda e: e.args.get("rung") == "locked out")
                self.wait("mode.changed", mark, 5.0, lambda e: e.args.get("new") == "SAFE")
                self.log.append(f"{kind}: locked out after 5 deaths")
                self.clear_lockout()
                return
            if self.payload_deaths == 3:
                self.wait("payload.escalated", mark, 5.0,
                          lambda e: e.args.get("rung") == "degraded")
        if deaths:
            died = [e for e in self._events_since(mark) if e.name == "payload.died"][-1]
            backoff = float(died.args.get("restart_in_s", 0.0))
            self.healthy_payload(Mark(events_id=died.id), backoff + MODEL_LOAD_BOUND_S)
        self.ops.wait_tlm("payload.state", lambda v: v == "ready",
                          timeout_s=HEARTBEAT_TIMEOUT_S + MODEL_LOAD_BOUND_S + 10.0)
        if self.payload_deaths >= 3:
            assert self.ops.wait_tlm("payload.rung", lambda v: v == "degraded",
                                     timeout_s=5.0) == "degraded"
        self.log.append(f"{kind}: recovered (payload deaths so far {self.payload_deaths})")

    def clear_lockout(self) -> None:
        mark = self.ops.mark()
        self.ops.cmd("payload.clear_faults", timeout_s=30.0)
        self.ops.cmd("mode.set", mode="NOMINAL", timeout_s=30.0, confirm=True)
        self.healthy_payload(mark, MODEL_LOAD_BOUND_S + 5.0)
        self.payload_deaths = 0  # the ladder starts again from the bottom

    def exec_fault(self, kind: str) -> None:
        pid = self.exec_pid()
        service = self.stack.service
        assert service is not None
        restarts = service.restarts
        mark = self.ops.mark()
        if kind == "exec_kill":
            os.kill(pid, signal.SIGKILL)
        elif kind == "exec_stop":
            os.kill(pid, signal.SIGSTOP)  # the launcher's watchdog kills and restarts it
        elif kind == "exec_starve_cpu":
            _starve_cpu(pid, seconds=2.0)
            # starved past its watchdog, it may be reset (its kicks stop while it cannot
            # run on time): give the launcher its watchdog period to decide
            time.sleep(POLICY.watchdog_s * 1.5 + POLICY.abort_timeout_s)
        if kind in ("exec_kill", "exec_stop"):
            bound = POLICY.watchdog_s * 1.5 + POLICY.abort_timeout_s + POLICY.restart_s + 30.0
            deadline = time.monotonic() + bound
            while service.restarts == restarts and time.monotonic() < deadline:
                time.sleep(0.05)
            assert service.restarts == restarts + 1, f"executive not restarted after {kind}"
        if service.restarts > restarts:
            # an unexplained reset boots into SAFE: the operator brings it back; the
            # third within 10 min is a crash loop, which also locks the payload out
            self.wait("exec.state_restored", mark, 60.0)
            self.exec_resets += 1
            if self.exec_resets >= 3:
                self.wait("exec.crash_loop", mark, 10.0)
                assert self.ops.wait_tlm("payload.rung", lambda v: v == "locked out",
                                         timeout_s=10.0) == "locked out"
                self.ops.cmd("payload.clear_faults", timeout_s=30.0)
                self.payload_deaths = 0
            self.ops.cmd("mode.set", mode="NOMINAL", timeout_s=30.0, confirm=True)
            self.healthy_payload(mark, MODEL_LOAD_BOUND_S + 10.0)
        self.log.append(f"{kind}: executive restarts {service.restarts}")

    def _events_since(self, mark: Mark) -> list[EventRow]:
        return list(self.ops.reader().events_after(mark.events_id))


def _starve_cpu(pid: int, seconds: float) -> None:
    """Take 75 % of a process's CPU for ``seconds``: stop/continue bursts."""
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.15)
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
    except ProcessLookupError:
        pass
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def _starve_memory(pid: int, seconds: float) -> None:
    """Cap the process's address space at what it has now for ``seconds``: any growth
    in that time fails. The cap is lifted afterwards, so whatever the starving did has
    shown by then (a death comes within the heartbeat timeout)."""
    status = Path(f"/proc/{pid}/status").read_text()
    vm_kb = next(int(line.split()[1]) for line in status.splitlines()
                 if line.startswith("VmSize:"))
    soft, hard = resource.prlimit(pid, resource.RLIMIT_AS)
    resource.prlimit(pid, resource.RLIMIT_AS, (vm_kb * 1024, hard))  # the soft one binds
    time.sleep(seconds)
    try:
        resource.prlimit(pid, resource.RLIMIT_AS, (soft, hard))
    except ProcessLookupError:
        pass  # it died of it


def _evictions_reported(archive: Path) -> list[str]:
    with sqlite3.connect(archive) as db:
        return [row[0] for row in db.execute(
            "SELECT args_json FROM events WHERE name = 'link.records_evicted'")]


def test_faults_at_random_moments_and_the_books_still_balance(stack: Stack) -> None:
    seed = int(os.environ.get("AISAT_CHAOS_SEED", "20261122"))
    print(f"chaos seed {seed} (AISAT_CHAOS_SEED={seed} replays it)")
    rng = random.Random(seed)
    faults = list(PAYLOAD_FAULTS + EXEC_FAULTS)
    rng.shuffle(faults)
    with Ops(stack.info.run_dir) as ops:
        chaos = Chaos(stack, ops, rng)
        chaos.healthy_payload(Mark(), 60.0)
        for kind in faults:
            time.sleep(rng.uniform(0.2, 3.0))  # a random moment in the payload's work
            if kind.startswith("payload"):
                chaos.payload_fault(kind)
            else:
                chaos.exec_fault(kind)
        ops.wait_tlm("payload.state", lambda v: v == "ready", timeout_s=30.0)
        service = stack.service
        assert service is not None
        deadline = time.monotonic() + 30.0
        while True:  # the last boot's events may still be on their way down
            names = [e.name for e in ops.reader().events_after(0)]
            if names.count("exec.boot") >= 1 + service.restarts or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        boots = names.count("exec.boot")
        restored = names.count("exec.state_restored")
    assert stack.failed_process() is None
    assert boots == 1 + service.restarts, chaos.log
    assert restored >= service.restarts  # every reset resumed its saved state
    assert service.restarts >= 3, chaos.log  # two kills and a stop at least

    stack.stop()  # orderly: the executive drains what the ground has not acknowledged
    archive = Path(stack.info.archive)
    counts = Counter(archived_seqs(archive))
    assert _evictions_reported(archive) == [] and doubled_points(archive) == 0
    duplicated = sorted(n for n, c in counts.items() if c > 1)
    assert duplicated == [], f"archived twice: {duplicated[:20]}"
    stats = stack.read_json("exec_stats.json")
    held = int(stats.get("recorder_left", 0))
    top = max(counts)
    missing = sorted(set(range(top + 1)) - set(counts))
    assert len(missing) <= held, (f"{len(missing)} numbers never archived "
                                  f"(first {missing[:20]}), {held} still held onboard")
    print("\n".join(chaos.log))
