"""The executive's service policy (systemd's, as a pure state machine) and the shipped
unit files, which must say the same numbers as the policy the launcher applies."""

from __future__ import annotations

import configparser
import signal
from pathlib import Path

import pytest

from hil.service_policy import (
    FLIGHTSW,
    TABLE,
    Action,
    ServicePolicy,
    ServiceState,
    Trigger,
    Unit,
    exit_result,
    is_failure,
    step,
    unit_settings,
)

P = ServicePolicy(watchdog_s=10.0, restart_s=1.0, start_limit_burst=3,
                  start_limit_interval_s=60.0, start_timeout_s=30.0, abort_timeout_s=5.0)


def _running(now_s: float = 0.0) -> ServiceState:
    s = step(P, ServiceState(), Trigger.START, now_s).state
    return step(P, s, Trigger.READY, now_s + 1).state


def test_start_ready_and_watchdog_keep_it_running() -> None:
    out = step(P, ServiceState(), Trigger.START, 0.0)
    assert out.state.unit is Unit.STARTING and out.actions == (Action.SPAWN,)
    assert out.state.deadline_s == 30.0  # TimeoutStartSec
    s = step(P, out.state, Trigger.READY, 2.0).state
    assert s.unit is Unit.RUNNING and s.deadline_s == 12.0
    s = step(P, s, Trigger.WATCHDOG, 7.0).state
    assert s.deadline_s == 17.0
    assert step(P, s, Trigger.TIMER, 16.9).state == s  # before the deadline: nothing


@pytest.mark.parametrize("code, restarted", [
    (0, False), (1, True), (2, True), (-signal.SIGKILL, True), (-signal.SIGSEGV, True),
    (-signal.SIGABRT, True), (-signal.SIGTERM, False), (-signal.SIGINT, False),
    (-signal.SIGHUP, False), (-signal.SIGPIPE, False),
])
def test_restart_on_failure_semantics(code: int, restarted: bool) -> None:
    out = step(P, _running(), Trigger.EXITED, 5.0, code)
    assert is_failure(code) is restarted
    if restarted:
        assert out.state.unit is Unit.AUTO_RESTART and out.state.deadline_s == 6.0
        assert "died" in out.note and exit_result(code) in out.note
        again = step(P, out.state, Trigger.TIMER, 6.0)
        assert again.actions == (Action.SPAWN,) and again.state.restarts == 1
        assert again.note == "restarting the executive (restart 1)"
    else:
        assert out.state.unit is Unit.EXITED and out.actions == ()
        assert "not restarted" in out.note


def test_a_hung_executive_is_aborted_then_killed_then_restarted() -> None:
    s = _running()  # READY at 1 s: watchdog deadline 11 s
    out = step(P, s, Trigger.TIMER, 11.0)
    assert out.state.unit is Unit.ABORTING and out.actions == (Action.ABORT,)
    assert "watchdog timeout" in out.note
    assert step(P, out.state, Trigger.WATCHDOG, 12.0).state == out.state  # too late
    out = step(P, out.state, Trigger.TIMER, 16.0)
    assert out.actions == (Action.KILL,) and out.state.deadline_s is None
    out = step(P, out.state, Trigger.EXITED, 16.1, -signal.SIGKILL)
    assert out.state.unit is Unit.AUTO_RESTART  # restarted even though... a watchdog kill
    assert "watchdog timeout" in out.note


def test_a_hang_ended_by_a_clean_signal_is_still_restarted() -> None:
    out = step(P, _running(), Trigger.TIMER, 11.0)
    out = step(P, out.state, Trigger.EXITED, 11.5, -signal.SIGTERM)
    assert out.state.unit is Unit.AUTO_RESTART


def test_no_ready_within_the_start_timeout_is_a_failure() -> None:
    s = step(P, ServiceState(), Trigger.START, 0.0).state
    out = step(P, s, Trigger.TIMER, 30.0)
    assert out.actions == (Action.ABORT,) and "READY=1" in out.note


def test_the_start_limit_gives_up_with_a_clear_message() -> None:
    s = ServiceState()
    s = step(P, s, Trigger.START, 0.0).state
    t = 0.0
    for _ in range(P.start_limit_burst - 1):
        t += 2.0
        s = step(P, s, Trigger.EXITED, t, -signal.SIGKILL).state
        out = step(P, s, Trigger.TIMER, t + 1.0)
        assert out.actions == (Action.SPAWN,)
        s = out.state
    s = step(P, s, Trigger.EXITED, t + 2.0, 1).state
    out = step(P, s, Trigger.TIMER, t + 3.0)
    assert out.state.unit is Unit.FAILED and out.actions == (Action.GIVE_UP,)
    assert out.note == ("executive started 3 times within 60 s (StartLimitBurst=3): "
                        "giving up after exit-code")
    assert step(P, out.state, Trigger.TIMER, 1e9).actions == ()  # stays failed


def test_starts_outside_the_window_do_not_count() -> None:
    s = step(P, ServiceState(), Trigger.START, 0.0).state
    t = 0.0
    for _ in range(10):  # one crash a minute: never more than the burst in any window
        t += 61.0
        s = step(P, s, Trigger.EXITED, t, -signal.SIGKILL).state
        out = step(P, s, Trigger.TIMER, t + 1.0)
        assert out.actions == (Action.SPAWN,), out.note
        s = out.state
    assert s.restarts == 10


def test_stopping_disarms_the_watchdog_and_bounds_the_exit() -> None:
    s = step(P, _running(), Trigger.STOPPING, 3.0).state  # watchdog deadline was 11 s
    assert s.unit is Unit.STOPPING and s.deadline_s == 3.0 + P.stop_timeout_s
    assert step(P, s, Trigger.TIMER, 12.0).actions == ()  # no kicks expected now
    out = step(P, s, Trigger.EXITED, 5.0, 0)
    assert out.state.unit is Unit.EXITED and out.actions == ()
    out = step(P, s, Trigger.TIMER, 3.0 + P.stop_timeout_s)
    assert out.actions == (Action.ABORT,) and "TimeoutStopSec" in out.note


def test_policy_values_are_checked() -> None:
    with pytest.raises(ValueError, match="watchdog_s"):
        ServicePolicy(0.0, 1.0, 3, 60.0, 30.0, 5.0)
    with pytest.raises(ValueError, match="start_limit_burst"):
        ServicePolicy(1.0, 1.0, 0, 60.0, 30.0, 5.0)


def test_the_table_only_names_real_states_and_triggers() -> None:
    assert all(isinstance(u, Unit) and isinstance(t, Trigger) for u, t in TABLE)
    assert not any(u in (Unit.FAILED,) for u, _ in TABLE)  # failed is final


# --- the unit files ------------------------------------------------------------------------
UNITS = Path(__file__).resolve().parents[2] / "hil" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text())
    return parser


def test_the_flightsw_unit_says_what_the_launcher_does() -> None:
    unit = _unit("aisat-flightsw.service")
    found = {**dict(unit["Unit"]), **dict(unit["Service"])}
    for key, value in unit_settings(FLIGHTSW).items():
        assert found.get(key) == value, f"{key}: unit file {found.get(key)!r}, policy {value!r}"
    assert "StartLimitBurst" in unit["Unit"] and "StartLimitIntervalSec" in unit["Unit"]
    service = unit["Service"]
    assert "--watchdog systemd" in service["ExecStart"]
    assert service["User"] and service["User"] != "root"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    # hardening that would break the payload child must stay off
    assert "MemoryDenyWriteExecute" not in service and "PrivateDevices" not in service
    assert service["KillMode"] == "mixed"


def test_the_ground_unit_restarts_on_failure() -> None:
    service = _unit("aisat-ground.service")["Service"]
    assert service["Restart"] == "on-failure" and "-m ground" in service["ExecStart"]
    assert service["User"] != "root"
