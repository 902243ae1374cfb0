"""The operator CLI: exit codes, messages, and that bad input never reaches the ground."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from flightsw.stackinfo import StackInfo
from flightsw.wire import Kind, Sequencer
from ground import cli
from ground.archive import Archive
from ground.mission_control import MissionControl
from ground.ops_service import pack, unpack

from .conftest import DICTIONARY, free_endpoint

T0 = 1.8e9


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


class FakeOps:
    """A ground ops socket that records requests and plays back a command's stages."""

    def __init__(self, stages: list[tuple[str, str]] | None = None) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = free_endpoint()
        self.sock.bind(self.endpoint)
        self.requests: list[dict[str, Any]] = []
        self.stages = list(stages or [("queued", "")])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        polls = 0
        while not self._stop.is_set():
            if not self.sock.poll(20, zmq.POLLIN):
                continue
            req = unpack(self.sock.recv())
            self.requests.append(req)
            at = min(polls, len(self.stages) - 1)
            stage, reason = self.stages[at]
            times = {s: T0 for s, _ in self.stages[:at + 1]}
            polls += req["op"] == "cmd_status"
            rec = {"cmd_seq": 7, "name": "exec.hk_period_set", "args": {"period_s": 2.0},
                   "stage": stage, "reason": reason, "stage_times_s": times,
                   "failed_at": "flight" if stage == "failed" else ""}
            reply = {"ok": True, "command": rec}
            if req["op"] == "cmd":
                reply.update(cmd_seq=7, stage="queued", reason="")
            self.sock.send(pack(reply))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.ctx.destroy(linger=0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, FakeOps]]:
    ops = FakeOps([("queued", ""), ("sent", ""), ("accepted", ""), ("completed", "")])
    StackInfo(run_dir=str(tmp_path), ops=ops.endpoint,
              archive=str(tmp_path / "ground.sqlite")).write()
    try:
        yield tmp_path, ops
    finally:
        ops.close()


@pytest.mark.parametrize("argv, problem, listed", [
    (["cmd", "exec.nop"], "unknown command", ["exec.noop", "mode.set"]),
    (["cmd", "exec.hk_period_set", "period_s=fast"], "cannot read argument as float",
     ["period_s: float in [0.1, 60] s"]),
    (["cmd", "exec.hk_period_set", "period_s=600"], "argument out of range",
     ["period_s: float in [0.1, 60] s"]),
    (["cmd", "exec.hk_period_set", "period_s"], "argument must be written key=value",
     ["period_s: float in [0.1, 60] s"]),
    (["cmd", "exec.hk_period_set"], "missing argument", ["period_s: float"]),
    (["cmd", "exec.noop", "x=1"], "unknown argument", ["takes no arguments"]),
])
def test_bad_commands_exit_2_name_the_problem_and_send_nothing(
        stack: tuple[Path, FakeOps], argv: list[str], problem: str, listed: list[str]) -> None:
    run_dir, ops = stack
    code, out, err = run("--run-dir", str(run_dir), *argv)
    assert code == 2
    assert problem in err and all(choice in err for choice in listed)
    assert "Traceback" not in err and out == ""
    assert ops.requests == []  # nothing reached the ops socket


def test_bad_enum_value_lists_the_choices(stack: tuple[Path, FakeOps]) -> None:
    run_dir, ops = stack
    code, _, err = run("--run-dir", str(run_dir), "cmd", "mode.set", "mode=WARP")
    assert code == 2 and "one of" in err and "SAFE" in err and ops.requests == []


def test_cmd_prints_each_stage_and_exits_0_on_completed(stack: tuple[Path, FakeOps]) -> None:
    run_dir, ops = stack
    code, out, _ = run("--run-dir", str(run_dir), "cmd", "exec.hk_period_set", "period_s=2")
    assert code == 0
    assert [line.rsplit(": ", 1)[-1] for line in out.splitlines()] == [
        "queued", "sent", "accepted", "completed"]
    assert ops.requests[0] == {"op": "cmd", "name": "exec.hk_period_set",
                               "args": {"period_s": 2.0}}


def test_cmd_exits_1_on_failed_with_the_reason(tmp_path: Path) -> None:
    ops = FakeOps([("queued", ""), ("sent", ""), ("failed", "refused by a guard")])
    try:
        StackInfo(run_dir=str(tmp_path), ops=ops.endpoint).write()
        code, out, _ = run("--run-dir", str(tmp_path), "cmd", "exec.hk_period_set",
                           "period_s=2")
    finally:
        ops.close()
    assert code == 1 and "failed (flight): refused by a guard" in out


def test_cmd_times_out_with_exit_1(tmp_path: Path) -> None:
    ops = FakeOps([("queued", "")])
    try:
        StackInfo(run_dir=str(tmp_path), ops=ops.endpoint).write()
        code, _, err = run("--run-dir", str(tmp_path), "cmd", "exec.noop", "--timeout", "0.2")
    finally:
        ops.close()
    assert code == 1 and "queued" in err and "ground:" in err


def test_no_wait_returns_once_queued(stack: tuple[Path, FakeOps]) -> None:
    run_dir, ops = stack
    code, out, _ = run("--run-dir", str(run_dir), "cmd", "exec.noop", "--no-wait")
    assert code == 0 and out.strip().endswith("queued")
    assert [r["op"] for r in ops.requests] == ["cmd"]


def test_no_stack_is_exit_1_without_a_traceback(tmp_path: Path) -> None:
    for argv in (["cmd", "exec.noop"], ["tlm"], ["events"], ["status"]):
        code, _, err = run("--run-dir", str(tmp_path), *argv)
        assert code == 1, argv
        assert "no running stack" in err and "Traceback" not in err


def test_stack_without_ground_answering_is_exit_1(tmp_path: Path) -> None:
    StackInfo(run_dir=str(tmp_path), ops=free_endpoint()).write()
    code, _, err = run("--run-dir", str(tmp_path), "--ops-timeout", "0.2", "status")
    assert code == 1 and "does not answer" in err


@pytest.fixture
def archived(tmp_path: Path) -> Path:
    """A run dir whose archive holds a little telemetry and a few events."""
    StackInfo(run_dir=str(tmp_path), ops=free_endpoint(),
              archive=str(tmp_path / "ground.sqlite")).write()
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "ground.sqlite"))
    fl = Sequencer("flight")
    mc.on_frame(fl.pack(Kind.TELEMETRY, T0, {"points": {"power.battery_soc_pct": 20.0,
                                                        "power.battery_temp_c": 41.0,
                                                        "mode.current": "SAFE"}}), T0)
    mc.on_frame(fl.pack(Kind.TELEMETRY, T0 + 10, {"points": {"power.battery_soc_pct": 10.0}}),
                T0 + 10)
    for sev, name in (("ACTIVITY_HI", "exec.boot"), ("WARNING_HI", "power.battery_low")):
        mc.on_frame(fl.pack(Kind.EVENT, T0, {"name": name, "severity": sev,
                                             "text": f"{name} text", "args": {}}), T0)
    mc.archive.close()
    return tmp_path


def test_tlm_shows_every_point_with_units_limits_and_age(archived: Path) -> None:
    code, out, _ = run("--run-dir", str(archived), "tlm")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:4]}
    assert rows["power.battery_soc_pct"][1:4] == ["10", "%", "red"]
    assert rows["power.battery_temp_c"][1:4] == ["41", "C", "yellow"]
    assert rows["power.battery_temp_c"][-1] == "10.0"  # 10 s behind the newest sample
    assert rows["mode.current"][1] == "SAFE"
    assert "declared points never received" in out


def test_tlm_one_point_and_close_matches_for_a_typo(archived: Path) -> None:
    code, out, _ = run("--run-dir", str(archived), "tlm", "power.battery_soc_pct")
    assert code == 0 and "power.battery_soc_pct  10" in out
    code, _, err = run("--run-dir", str(archived), "tlm", "power.battery_soc")
    assert code == 2 and "did you mean: power.battery_soc_pct" in err


def test_events_with_severity_filter(archived: Path) -> None:
    code, out, _ = run("--run-dir", str(archived), "events")
    assert code == 0 and "exec.boot" in out and "power.battery_low" in out
    code, out, _ = run("--run-dir", str(archived), "events", "--severity", "warning")
    assert code == 0 and "exec.boot" not in out and "power.battery_low" in out
    code, _, err = run("--run-dir", str(archived), "events", "--severity", "loud")
    assert code == 2 and "WARNING_HI" in err


def test_stack_options_may_follow_the_action(archived: Path) -> None:
    code, out, _ = run("tlm", "power.battery_soc_pct", "--run-dir", str(archived))
    assert code == 0 and "10" in out
