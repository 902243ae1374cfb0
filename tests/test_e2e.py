"""End to end: the real stack (plant, executive, payload, ground) as separate processes in
lockstep, driven through the operator scripting API exactly as an operator would.

The default profile's scenario starts a few minutes before a pass, and the plant is paced
to a fixed multiple of real time so that the pass lasts long enough on the wall clock to
command through it. Every process is stopped in a ``finally``, pass or fail.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from flightsw.catalog import build_dictionary
from flightsw.config import FlightConfig
from flightsw.errors import CommandRejected
from ground.api import Ops
from hil.plant import load_profile
from hil.stack import Stack

pytestmark = pytest.mark.e2e

# the ``stack`` fixture (tests/conftest.py): this module's own lockstep stack, before a pass


def test_telemetry_commands_and_results_reach_the_ground(stack: Stack) -> None:
    with Ops(stack.info.run_dir) as ops:
        # telemetry flows to the archive once the pass starts (~4 min sim after epoch)
        soc = ops.wait_tlm("power.battery_soc_pct", lambda v: v is not None and v > 0,
                           timeout_s=60)
        assert 0 < soc <= 100
        start = ops.mark()
        assert ops.latest("mode.current") is not None

        # a command round trip: validated, uplinked, accepted, completed
        done = ops.cmd("exec.noop", timeout_s=60)
        assert done.ok and done.stage == "completed"

        # inference results produced onboard arrive at the ground
        result = ops.wait_result(timeout_s=60, since=start)
        assert result is not None

        # a command the spacecraft refuses comes back failed, with the guard's reason
        refused = ops.cmd("mode.set", mode="SAFE", timeout_s=60, confirm=True)
        assert refused.ok
        again = ops.cmd("mode.set", mode="COMPUTE", check=False, timeout_s=60, confirm=True)
        assert again.stage == "failed" and "no transition from SAFE to COMPUTE" in again.reason

        # the ground refuses a bad command before sending anything
        with pytest.raises(CommandRejected):
            ops.submit("mode.set", {"mode": "WARP"})

        ops.wait_event("mode.changed", timeout_s=30, since=start)
    assert stack.failed_process() is None


def test_flight_and_ground_agree_on_the_dictionary(stack: Stack) -> None:
    cfg = FlightConfig.from_mapping(load_profile("cubesat-jetson").flight)
    with Ops(stack.info.run_dir) as ops:
        assert ops.dictionary.hash == build_dictionary(cfg).hash
        ops.cmd("exec.noop", timeout_s=60)  # the ground sends only after HELLOs matched
        assert ops.reader().counts()["hellos"] >= 2


def _aisat(*args: str, run_dir: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisat", "ground", "--run-dir", run_dir, *args],
                          capture_output=True, text=True, timeout=90)


def test_operator_cli_against_the_running_stack(stack: Stack) -> None:
    run_dir = stack.info.run_dir
    with Ops(run_dir) as ops:
        ops.wait_tlm("power.battery_soc_pct", timeout_s=60, since="latest")
        before = ops.reader().counts()["commands"]

    ok = _aisat("cmd", "exec.noop", "--timeout", "60", run_dir=run_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "completed" in ok.stdout

    bad = _aisat("cmd", "mode.set", "mode=WARP", run_dir=run_dir)
    assert bad.returncode == 2
    assert all(mode in bad.stderr for mode in ("SAFE", "NOMINAL", "COMPUTE")), bad.stderr
    unknown = _aisat("cmd", "mode.sett", run_dir=run_dir)
    assert unknown.returncode == 2 and "mode.set" in unknown.stderr
    with Ops(run_dir) as ops:
        assert ops.reader().counts()["commands"] == before + 1  # only the noop was sent

    tlm = _aisat("tlm", "power.battery_soc_pct", run_dir=run_dir)
    assert tlm.returncode == 0 and "%" in tlm.stdout, tlm.stdout + tlm.stderr
    everything = _aisat("tlm", run_dir=run_dir)
    assert everything.returncode == 0 and everything.stdout.count("\n") > 20
    events = _aisat("events", "--limit", "50", run_dir=run_dir)
    assert events.returncode == 0 and "link.aos" in events.stdout, events.stdout


def test_a_time_tagged_command_is_stored_onboard_and_runs_at_its_time(stack: Stack) -> None:
    with Ops(stack.info.run_dir) as ops:
        ops.wait_tlm("power.battery_soc_pct", lambda v: v is not None, timeout_s=60)
        with pytest.raises(CommandRejected, match="mission time"):
            ops.submit("exec.noop", at_s="soon")  # type: ignore[arg-type]
        now_s = ops.reader().mission_now_s()
        assert now_s is not None
        start = ops.mark()
        queued = ops.submit("exec.noop", at_s=now_s + 60.0)  # 6 s of wall time at 10x
        added = ops.wait_event("schedule.added", timeout_s=30, since=start)
        assert added.args["cmd_seq"] == queued.cmd_seq
        done = ops.wait_verification(queued.cmd_seq, timeout_s=60)
        assert done.ok and done.stage == "completed"
        ran = ops.wait_event("schedule.ran", timeout_s=30, since=start)
        assert ran.time_s >= now_s + 60.0 - 1.0  # not before its time
