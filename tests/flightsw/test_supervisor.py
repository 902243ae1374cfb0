"""Payload supervision policy, cycle by cycle."""

from __future__ import annotations

from flightsw import supervisor as sv
from flightsw.config import FlightConfig

CFG = FlightConfig(heartbeat_misses_allowed=3, restart_backoff_s=2.0,
                   restart_backoff_max_s=8.0)


def _cycle(state: sv.SupervisorState, now: float, exited: int | None = None,
           ok: bool = True) -> tuple[sv.SupervisorState, list[str], list[str]]:
    new, actions, events = sv.on_cycle(state, monotonic_s=now, exited=exited, heartbeat_ok=ok,
                                       cfg=CFG)
    return new, actions, [name for name, _ in events]


def _ready() -> sv.SupervisorState:
    state, actions, events = _cycle(sv.SupervisorState(), 0.0)
    assert actions == ["spawn"] and events == ["payload.started"]
    return sv.on_ready(state)


def test_crash_restarts_with_exponential_backoff() -> None:
    state = _ready()
    state, actions, events = _cycle(state, 10.0, exited=-9)
    assert actions == [] and events == ["payload.died"] and "signal 9" in state.last_cause
    state, actions, _ = _cycle(state, 11.0)
    assert actions == []  # still backing off
    state, actions, _ = _cycle(state, 12.0)
    assert actions == ["spawn"] and state.restarts == 1 and state.incarnation == 2
    state = sv.on_ready(state)
    state, _, _ = _cycle(state, 13.0, exited=1)
    assert state.restart_at_monotonic_s == 13.0 + 4.0  # doubled
    for t in range(17, 60, 10):
        state, _, _ = _cycle(state, float(t))
        state = sv.on_ready(state)
        state, _, _ = _cycle(state, float(t) + 1, exited=1)
    assert state.backoff_s == CFG.restart_backoff_max_s  # capped


def test_hang_is_detected_after_allowed_misses_and_killed() -> None:
    state = _ready()
    actions: list[str] = []
    events: list[str] = []
    for i in range(1, 5):
        state, actions, ev = _cycle(state, float(i), ok=False)
        events += ev
    assert actions == ["kill"] and "heartbeat lost" in state.last_cause
    assert "payload.heartbeat_late" in events and events[-1] == "payload.died"


def test_startup_gets_a_grace_period() -> None:
    state, _, _ = _cycle(sv.SupervisorState(), 0.0)  # spawned, not ready yet
    for i in range(1, 3 * 4 + 1):
        state, actions, _ = _cycle(state, float(i), ok=False)
        assert actions == []
    state, actions, _ = _cycle(state, 13.0, ok=False)
    assert actions == ["kill"] and "never became ready" in state.last_cause


def test_backoff_resets_after_a_healthy_stretch() -> None:
    state = _ready()
    state, _, _ = _cycle(state, 1.0, exited=1)
    state, _, _ = _cycle(state, 3.0)
    state = sv.on_ready(state)
    for i in range(sv.HEALTHY_CYCLES_TO_RESET_BACKOFF):
        state, _, _ = _cycle(state, 4.0 + i)
    assert state.backoff_s == 0.0


def test_disable_kills_and_enable_respawns() -> None:
    state = sv.set_enabled(_ready(), False)
    state, actions, events = _cycle(state, 1.0)
    assert actions == ["kill"] and events == ["payload.stopped"]
    state, actions, _ = _cycle(state, 2.0)
    assert actions == []
    state = sv.set_enabled(state, True)
    state, actions, _ = _cycle(state, 3.0)
    assert actions == ["spawn"]


def test_operator_restart_is_immediate() -> None:
    state, actions, events = sv.request_restart(_ready(), 5.0, CFG, "ground command")
    # an operator restart is not a death: the ground must not see payload.died
    assert actions == ["kill"] and [n for n, _ in events] == ["payload.restarting"]
    state, actions, _ = _cycle(state, 5.0)
    assert actions == ["spawn"]


def test_no_news_is_neither_a_heartbeat_nor_a_miss() -> None:
    state = _ready()
    state, _, _ = _cycle(state, 1.0, ok=False)
    state, _, _ = _cycle(state, 2.0, ok=False)
    for t in (3.0, 4.0, 5.0):  # answers not due yet: the count must not reset
        state, actions, _ = sv.on_cycle(state, monotonic_s=t, exited=None, heartbeat_ok=None,
                                        cfg=CFG)
        assert actions == [] and state.misses == 2
    state, actions, _ = _cycle(state, 6.0, ok=False)
    state, actions, _ = _cycle(state, 7.0, ok=False)
    assert actions == ["kill"]
