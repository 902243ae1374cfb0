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
    assert "still queued" in err and "aisat ground cancel 7" in err


def test_ctrl_c_while_queued_says_how_to_cancel(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.Ops, "wait_verification", interrupted)
    ops = FakeOps([("queued", "")])
    try:
        StackInfo(run_dir=str(tmp_path), ops=ops.endpoint).write()
        code, out, err = run("--run-dir", str(tmp_path), "cmd", "exec.noop")
    finally:
        ops.close()
    assert code == 1 and out.strip().endswith("queued")
    assert "interrupted" in err and "still queued" in err and "aisat ground cancel 7" in err
    assert "Traceback" not in err


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


def tlm_rows(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()
            if line.startswith(("power.", "mode."))}


def set_mission_now(run_dir: Path, time_s: float) -> None:
    archive = Archive(run_dir / "ground.sqlite")
    archive.set_mission_now(time_s)
    archive.close()


def test_tlm_shows_every_point_with_units_limits_and_age(archived: Path) -> None:
    set_mission_now(archived, T0 + 12)  # the ground's latest WORLD time
    code, out, _ = run("--run-dir", str(archived), "tlm")
    assert code == 0
    rows = tlm_rows(out)
    assert rows["power.battery_soc_pct"][1:4] == ["10", "%", "red"]
    assert rows["power.battery_temp_c"][1:4] == ["41", "C", "yellow"]
    assert rows["power.battery_soc_pct"][-2:] == ["2.0", "ok"]  # against mission now
    assert rows["power.battery_temp_c"][-2:] == ["12.0", "ok"]  # 3 x 10 s hk period
    assert rows["mode.current"][1] == "SAFE"
    assert "declared points never received" in out
    assert "stale: older than 3 x the housekeeping period (10 s) = 30 s" in out


def test_tlm_age_is_against_mission_now_not_the_newest_row(archived: Path) -> None:
    """Out of contact nothing new arrives: every sample ages, and goes stale."""
    set_mission_now(archived, T0 + 100)
    code, out, _ = run("--run-dir", str(archived), "tlm")
    rows = tlm_rows(out)
    assert code == 0
    assert rows["power.battery_soc_pct"][-2:] == ["90.0", "stale"]
    assert rows["power.battery_temp_c"][-2:] == ["100.0", "stale"]
    code, out, _ = run("--run-dir", str(archived), "tlm", "--stale-after", "95")
    rows = tlm_rows(out)
    assert rows["power.battery_soc_pct"][-1] == "ok" and rows["power.battery_temp_c"][-1] == (
        "stale")
    code, _, err = run("--run-dir", str(archived), "tlm", "--stale-after", "-1")
    assert code == 2 and "--stale-after" in err


def test_tlm_without_a_world_time_uses_the_newest_onboard_time(archived: Path) -> None:
    code, out, _ = run("--run-dir", str(archived), "tlm")
    assert code == 0 and tlm_rows(out)["power.battery_soc_pct"][-2:] == ["0.0", "ok"]


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


def test_events_are_in_spacecraft_time_order_ties_by_sequence(tmp_path: Path) -> None:
    StackInfo(run_dir=str(tmp_path), ops=free_endpoint(),
              archive=str(tmp_path / "ground.sqlite")).write()
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "ground.sqlite"))
    fl = Sequencer("flight")
    # played back out of order by the recorder: arrival order is not time order
    for t, name in ((T0 + 30, "link.aos"), (T0 + 10, "exec.boot"), (T0 + 20, "mode.changed"),
                    (T0 + 10, "power.battery_low")):
        mc.on_frame(fl.pack(Kind.EVENT, t, {"name": name, "severity": "ACTIVITY_HI",
                                            "text": f"{name}\x1b[2J\nforged line",
                                            "args": {}}), T0 + 40)
    mc.archive.close()
    code, out, _ = run("--run-dir", str(tmp_path), "events")
    names = [line.split()[3] for line in out.splitlines()[1:]]
    assert code == 0 and names == ["exec.boot", "power.battery_low", "mode.changed", "link.aos"]
    assert "\x1b" not in out and "forged line" in out.splitlines()[1]
    code, out, _ = run("--run-dir", str(tmp_path), "events", "--limit", "2")
    assert [line.split()[3] for line in out.splitlines()[1:]] == ["mode.changed", "link.aos"]


def test_a_stopped_runs_archive_is_readable(tmp_path: Path) -> None:
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "archive.sqlite"))
    fl = Sequencer("flight")
    mc.on_frame(fl.pack(Kind.TELEMETRY, T0, {"points": {"power.battery_soc_pct": 70.0}}), T0)
    mc.on_frame(fl.pack(Kind.EVENT, T0, {"name": "exec.boot", "severity": "ACTIVITY_HI",
                                         "text": "up", "args": {}}), T0)
    mc.archive.set_mission_now(T0 + 5)
    mc.archive.close()  # no stack.json: the stack has stopped
    code, out, err = run("--run-dir", str(tmp_path), "tlm")
    assert code == 0, err
    assert "stopped run" in out and str(tmp_path / "archive.sqlite") in out
    assert tlm_rows(out)["power.battery_soc_pct"][1] == "70"
    assert tlm_rows(out)["power.battery_soc_pct"][-2] == "5.0"  # against its last time
    code, out, _ = run("--run-dir", str(tmp_path), "events")
    assert code == 0 and "stopped run" in out and "exec.boot" in out


def test_a_missing_archive_names_the_path(tmp_path: Path) -> None:
    for action in ("tlm", "events"):
        code, out, err = run("--run-dir", str(tmp_path), action)
        assert code == 1 and out == ""
        assert str(tmp_path / "archive.sqlite") in err and "Traceback" not in err


class ScriptedOps:
    """A ground ops socket answering each request with ``answer(request)``."""

    def __init__(self, answer: Any) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = free_endpoint()
        self.sock.bind(self.endpoint)
        self.requests: list[dict[str, Any]] = []
        self._answer = answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self.sock.poll(20, zmq.POLLIN):
                req = unpack(self.sock.recv())
                self.requests.append(req)
                self.sock.send(pack(self._answer(req)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.ctx.destroy(linger=0)


def test_cancel_a_queued_command_through_the_real_ops_service(tmp_path: Path) -> None:
    from ground.ops_service import OpsService
    from ground.station import Station

    mc = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    queued = mc.submit("exec.noop", {}, now_s=T0)
    sent = mc.submit("exec.noop", {}, now_s=T0)
    mc.commands.mark_sent(sent, T0)
    service = OpsService(mc, Station())
    ops = ScriptedOps(lambda req: service.handle(req, T0 + 1, 0.0))
    try:
        StackInfo(run_dir=str(tmp_path), ops=ops.endpoint).write()
        code, out, err = run("--run-dir", str(tmp_path), "cancel", f"#{queued.cmd_seq}")
        assert code == 0 and "#0 exec.noop: cancelled before it was sent" in out
        assert queued.stage.value == "failed" and "cancelled" in queued.reason
        code, _, err = run("--run-dir", str(tmp_path), "cancel", str(queued.cmd_seq))
        assert code == 1 and "already finished" in err
        code, _, err = run("--run-dir", str(tmp_path), "cancel", str(sent.cmd_seq))
        assert code == 1 and "already sent" in err and "stage: sent" in err
        code, _, err = run("--run-dir", str(tmp_path), "cancel", "42")
        assert code == 1 and "no command #42" in err and "next number: 2" in err
        n = len(ops.requests)
        code, _, err = run("--run-dir", str(tmp_path), "cancel", "seven")
        assert code == 2 and "integer" in err and len(ops.requests) == n
    finally:
        ops.close()


def test_stack_options_may_follow_the_action(archived: Path) -> None:
    code, out, _ = run("tlm", "power.battery_soc_pct", "--run-dir", str(archived))
    assert code == 0 and "10" in out


def test_at_parses_utc_and_refuses_nonsense_with_the_reason(tmp_path: Path) -> None:
    from ground.cli import UsageError, parse_at

    assert parse_at("2026-11-22T08:30:00Z", tmp_path) == 1795336200.0
    assert parse_at("2026-11-22T08:30:00", tmp_path) == 1795336200.0  # UTC when unmarked
    for bad, words in (("tomorrow", "UTC time like"), ("+abc", "number of seconds"),
                       ("+-5", "positive"), ("+nan", "positive"),
                       ("+60", "spacecraft's time")):  # no stack here to ask
        with pytest.raises(UsageError, match=words):
            parse_at(bad, tmp_path)


def test_quarantined_records_show_in_status_and_are_listed(tmp_path: Path) -> None:
    """A record that decoded but broke its kind's schema is kept apart: the operator
    sees that it happened (status) and what it was (quarantine), not only a log line."""
    from ground.ops_service import OpsService
    from ground.station import Station

    mc = MissionControl(DICTIONARY, Archive(tmp_path / "archive.sqlite"))
    fl = Sequencer("flight")
    mc.on_frame(fl.pack(Kind.TELEMETRY, T0, {"points": ["not", "a", "map"]}), T0)
    mc.on_frame(fl.pack(Kind.TELEMETRY, T0 + 1, {"points": {"power.battery_soc_pct": 70.0}}),
                T0 + 1)
    mc.archive.flush()
    service = OpsService(mc, Station())
    ops = ScriptedOps(lambda req: service.handle(req, T0 + 2, 0.0))
    try:
        StackInfo(run_dir=str(tmp_path), ops=ops.endpoint,
                  archive=str(tmp_path / "archive.sqlite")).write()
        code, out, err = run("--run-dir", str(tmp_path), "status")
        assert code == 0, err
        assert "archive: 1 records quarantined" in out and "aisat ground quarantine" in out
        code, out, err = run("--run-dir", str(tmp_path), "quarantine")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].split()[:3] == ["RECEIVED", "(UTC)", "KIND"]
        assert len(lines) == 2 and "tlm" in lines[1] and "points must be a map" in lines[1]
        code, _, err = run("--run-dir", str(tmp_path), "quarantine", "--limit", "0")
        assert code == 2 and "--limit" in err
    finally:
        ops.close()
        mc.archive.close()


def test_nothing_quarantined_says_so(archived: Path) -> None:
    code, out, _ = run("--run-dir", str(archived), "quarantine")
    assert code == 0 and "(nothing quarantined)" in out
