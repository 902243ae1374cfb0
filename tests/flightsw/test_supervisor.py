"""Payload supervision policy, cycle by cycle: detection, backoff and the escalation
ladder, as a pure function of observations."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from flightsw import supervisor as sv
from flightsw.config import ConfigError, FlightConfig

CFG = FlightConfig(heartbeat_timeout_s=3.0, restart_backoff_s=2.0, restart_backoff_max_s=8.0,
                   restart_window_s=100.0, restarts_to_degrade=3, restarts_to_lockout=5)


def _cycle(state: sv.SupervisorState, now: float, *, exited: int | None = None,
           ok: bool | None = True, **obs: object
           ) -> tuple[sv.SupervisorState, list[str], list[str]]:
    new, actions, events = sv.on_cycle(
        state, sv.Observation(exited=exited, heartbeat_ok=ok, **obs),  # type: ignore[arg-type]
        monotonic_s=now, mission_time_s=now, cfg=CFG)
    return new, actions, [name for name, _ in events]


def _ready(now: float = 0.0, state: sv.SupervisorState | None = None) -> sv.SupervisorState:
    state, actions, events = _cycle(state or sv.SupervisorState(), now)
    assert actions == ["spawn"] and events == ["payload.started"]
    return sv.on_ready(state, "a" * 64)


def test_crash_restarts_at_once_then_with_exponential_backoff() -> None:
    state = _ready()
    state, actions, events = _cycle(state, 10.0, exited=-9)
    assert actions == [] and events == ["payload.died"]
    assert state.last_cause == "killed (out of memory, or by hand) by SIGKILL"
    state, actions, _ = _cycle(state, 10.0)
    assert actions == ["spawn"] and state.restarts == 1  # the first restart is immediate
    state = sv.on_ready(state)
    state, _, _ = _cycle(state, 11.0, exited=1)
    assert state.restart_at_monotonic_s == 11.0 + 2.0  # the second waits the backoff
    state, actions, _ = _cycle(state, 12.0)
    assert actions == []
    state, actions, _ = _cycle(state, 13.0)
    assert actions == ["spawn"]
    state = sv.on_ready(state)
    state, _, _ = _cycle(state, 14.0, exited=1)
    assert state.restart_at_monotonic_s == 14.0 + 4.0  # doubled


def test_backoff_is_capped() -> None:
    state = _ready()
    cfg = FlightConfig(restart_backoff_s=2.0, restart_backoff_max_s=8.0,
                       restarts_to_degrade=50, restarts_to_lockout=60)
    delays = []
    for i in range(6):
        t = 100.0 * i
        state, _, _ = sv.on_cycle(state, sv.Observation(exited=1), monotonic_s=t,
                                  mission_time_s=t, cfg=cfg)
        delays.append(state.restart_at_monotonic_s - t)  # type: ignore[operator]
        state, _, _ = sv.on_cycle(state, sv.Observation(), monotonic_s=t + 50,
                                  mission_time_s=t + 50, cfg=cfg)
        state = sv.on_ready(state)
    assert delays == [0.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.parametrize(("code", "words"), [
    (-signal.SIGSEGV, "crashed by SIGSEGV"),
    (-signal.SIGKILL, "by SIGKILL"),
    (-signal.SIGABRT, "aborted by SIGABRT"),
    (3, "exit code 3: model could not be loaded"),
    (5, "exit code 5: no channel key at spawn"),
    (0, "exit code 0: exited on its own (unexpected)"),
    (42, "exit code 42: failed"),
    (-99, "killed by signal 99"),
])
def test_exit_codes_map_to_reset_causes(code: int, words: str) -> None:
    assert words in sv.exit_cause(code)


def test_hang_is_detected_after_the_timeout_in_pings_and_killed() -> None:
    state = _ready()
    events: list[str] = []
    state, actions, ev = _cycle(state, 1.0, ok=False)
    events += ev
    state, actions, ev = _cycle(state, 2.0, ok=False)
    events += ev
    assert actions == [] and "payload.heartbeat_late" in events
    state, actions, ev = _cycle(state, 3.0, ok=False)  # 3 pings unanswered = 3 s timeout
    assert actions == ["kill"] and ev == ["payload.died"]
    assert state.last_cause == "heartbeat lost: 3 pings unanswered"


def test_hang_free_running_is_silence_in_seconds() -> None:
    state = _ready()
    state, actions, _ = _cycle(state, 1.0, ok=None, silent_s=2.9)
    assert actions == []
    state, actions, _ = _cycle(state, 1.1, ok=None, silent_s=3.0)
    assert actions == ["kill"] and "silent for 3.0 s" in state.last_cause


def test_startup_gets_a_grace_period() -> None:
    state, _, _ = _cycle(sv.SupervisorState(), 0.0)  # spawned, not ready yet
    for i in range(1, 3 * 4):
        state, actions, _ = _cycle(state, float(i), ok=False)
        assert actions == []
    state, actions, _ = _cycle(state, 12.0, ok=False)
    assert actions == ["kill"] and "never became ready" in state.last_cause


@pytest.mark.parametrize(("obs", "cause"), [
    ({"rss_mb": 5000.0}, "memory runaway: 5000 MB resident, limit 2048 MB"),
    ({"stuck_job": (7, 31.0)}, "stuck inference: job 7 running for 31.0 s"),
    ({"failures_in_row": 5}, "repeated job failures: 5 in a row"),
])
def test_faults_seen_while_heartbeats_continue(obs: dict[str, Any], cause: str) -> None:
    state = _ready()
    state, actions, events = _cycle(state, 1.0, **obs)
    assert actions == ["kill"] and events == ["payload.died"]
    assert state.last_cause.startswith(cause)


def test_below_the_limits_nothing_happens() -> None:
    state = _ready()
    state, actions, events = _cycle(state, 1.0, rss_mb=2000.0, failures_in_row=4)
    assert actions == [] and events == []


def test_backoff_resets_after_a_healthy_stretch_and_the_model_is_known_good() -> None:
    state = _ready()
    state, _, _ = _cycle(state, 1.0, exited=1)
    state, _, _ = _cycle(state, 1.0)
    state = sv.on_ready(state, "b" * 64)
    assert state.backoff_s == 2.0 and state.last_good_model == ""
    for i in range(sv.HEALTHY_CYCLES_TO_RESET_BACKOFF):
        state, _, _ = _cycle(state, 4.0 + i)
    assert state.backoff_s == 0.0 and state.last_good_model == "b" * 64


def _die(state: sv.SupervisorState, t: float) -> tuple[sv.SupervisorState, list[str]]:
    state, _, events = _cycle(state, t, exited=-11)
    if state.enabled:
        state = _ready(t + 9.0, state)
    return state, events


def test_escalation_ladder_degrades_then_locks_out_and_only_the_ground_clears_it() -> None:
    state = _ready()
    state, events = _die(state, 10.0)
    state, events = _die(state, 20.0)
    assert state.level == 0 and "payload.escalated" not in events
    state, events = _die(state, 30.0)  # third in the window: degraded
    assert state.level == 1 and sv.degraded(state) and "payload.escalated" in events
    state, events = _die(state, 40.0)
    assert state.level == 1
    state, events = _die(state, 50.0)  # fifth: locked out
    assert state.level == 2 and not state.enabled and "locked out" in state.lockout_reason
    assert [c.cause for c in state.causes][-1] == "crashed by SIGSEGV"
    state, actions, _ = _cycle(state, 500.0)  # time alone does not clear a lockout
    assert actions == [] and state.level == 2
    state = sv.clear_faults(state)
    assert state.enabled and state.level == 0 and state.recent_restarts_s == []
    state, actions, _ = _cycle(state, 501.0)
    assert actions == ["spawn"]


def test_degraded_clears_itself_after_a_quiet_window() -> None:
    state = _ready()
    for t in (10.0, 20.0, 30.0):
        state, _ = _die(state, t)
    assert state.level == 1
    state, _, _ = _cycle(state, 129.0)  # the first restart leaves the 100 s window
    assert state.level == 1
    state, _, _ = _cycle(state, 131.0)  # all three gone
    assert state.level == 0 and state.recent_restarts_s == []


def test_restarts_spread_beyond_the_window_never_escalate() -> None:
    state = _ready()
    for i in range(10):
        state, events = _die(state, 10.0 + 60.0 * i)
        assert "payload.escalated" not in events
    assert state.level == 0


def test_disable_kills_and_enable_respawns() -> None:
    state = sv.set_enabled(_ready(), False)
    state, actions, events = _cycle(state, 1.0)
    assert actions == ["kill"] and events == ["payload.stopped"]
    state, actions, _ = _cycle(state, 2.0)
    assert actions == []
    state = sv.set_enabled(state, True)
    state, actions, _ = _cycle(state, 3.0)
    assert actions == ["spawn"]


def test_operator_restart_is_immediate_and_not_on_the_ladder() -> None:
    state, actions, events = sv.request_restart(_ready(), 5.0, CFG, "ground command")
    # an operator restart is not a death: the ground must not see payload.died
    assert actions == ["kill"] and [n for n, _ in events] == ["payload.restarting"]
    assert state.recent_restarts_s == []
    state, actions, _ = _cycle(state, 5.0)
    assert actions == ["spawn"]


def test_no_news_is_neither_a_heartbeat_nor_a_miss() -> None:
    state = _ready()
    state, _, _ = _cycle(state, 1.0, ok=False)
    for t in (2.0, 3.0, 4.0):  # answers not due yet: the count must not reset
        state, actions, _ = _cycle(state, t, ok=None)
        assert actions == [] and state.misses == 1
    state, actions, _ = _cycle(state, 6.0, ok=False)
    state, actions, _ = _cycle(state, 7.0, ok=False)
    assert actions == ["kill"]


def test_a_fast_cycle_notices_a_death_but_does_not_judge_heartbeats() -> None:
    state = _ready()
    state, actions, events = sv.on_cycle(state, sv.Observation(heartbeat_ok=True),
                                         monotonic_s=1.0, mission_time_s=1.0, cfg=CFG,
                                         judge_heartbeat=False)
    assert state.healthy_cycles == 0 and actions == []
    state, actions, events = sv.on_cycle(state, sv.Observation(exited=-9), monotonic_s=1.1,
                                         mission_time_s=1.1, cfg=CFG, judge_heartbeat=False)
    assert events and events[0][0] == "payload.died"


@pytest.mark.parametrize("bad", [
    {"heartbeat_timeout_s": 0.5}, {"job_deadline_s": 0.0}, {"payload_rss_limit_mb": -1.0},
    {"restarts_to_degrade": 5, "restarts_to_lockout": 5}, {"degraded_throttle_frac": 0.0},
    {"job_failures_to_restart": 0},
])
def test_supervision_config_is_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        FlightConfig(**bad)  # type: ignore[arg-type]
