"""Payload supervision policy: when to start, kill and restart the payload process.

Pure, like F Prime's Health component: the executive's 1 Hz cycle calls
:func:`on_cycle` with what it observed (did the process exit, did a heartbeat answer the
last ping) and gets back the new state, the actions to carry out (``"spawn"``,
``"kill"``) and the events. Heartbeats are counted in cycles of the executive's own
clock, so the policy behaves the same on sim time and on wall time. Restarts back off
exponentially and the backoff resets after a healthy stretch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flightsw.config import FlightConfig

STARTUP_GRACE_FACTOR = 4  # model loading may take this many times the normal allowance
HEALTHY_CYCLES_TO_RESET_BACKOFF = 30


@dataclass(frozen=True)
class SupervisorState:
    """The restart policy's memory. ``restarts`` and ``incarnation`` persist."""

    enabled: bool = True
    running: bool = False  # a process was spawned and has not been seen to exit
    ready: bool = False  # it sent its ready heartbeat
    incarnation: int = 0
    misses: int = 0
    healthy_cycles: int = 0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at_monotonic_s: float | None = None  # a restart is scheduled for this time
    last_cause: str = ""


Actions = list[str]
Events = list[tuple[str, dict[str, Any]]]


def on_cycle(state: SupervisorState, *, monotonic_s: float, exited: int | None,
             heartbeat_ok: bool | None, cfg: FlightConfig
             ) -> tuple[SupervisorState, Actions, Events]:
    """One supervision cycle. ``exited`` is the exit code if the process has ended;
    ``heartbeat_ok`` is ``None`` when the answer to the last ping is not due yet (no news
    is neither a heartbeat nor a miss)."""
    events: Events = []
    if not state.enabled:
        if state.running:
            return (replace(state, running=False, ready=False, restart_at_monotonic_s=None),
                    ["kill"], [("payload.stopped", {"reason": "disabled by command"})])
        return state, [], []

    if not state.running:
        if state.restart_at_monotonic_s is None and state.incarnation == 0:
            return _spawn(state, monotonic_s, first=True)
        if state.restart_at_monotonic_s is not None and monotonic_s >= state.restart_at_monotonic_s:
            return _spawn(state, monotonic_s, first=state.incarnation == 0)
        return state, [], []

    if exited is not None:
        cause = f"exited with code {exited}" if exited >= 0 else f"killed by signal {-exited}"
        return _schedule_restart(state, monotonic_s, cause, cfg, kill=False)

    if heartbeat_ok is None:
        return state, [], events
    if heartbeat_ok:
        healthy = state.healthy_cycles + 1
        backoff = state.backoff_s
        if healthy >= HEALTHY_CYCLES_TO_RESET_BACKOFF:
            backoff = 0.0
        return replace(state, misses=0, healthy_cycles=healthy, backoff_s=backoff), [], events

    misses = state.misses + 1
    allowed = cfg.heartbeat_misses_allowed * (1 if state.ready else STARTUP_GRACE_FACTOR)
    if misses > allowed:
        what = "heartbeat lost" if state.ready else "never became ready"
        return _schedule_restart(state, monotonic_s, f"{what} ({misses} cycles)", cfg, kill=True)
    if state.ready and misses == 2:
        events.append(("payload.heartbeat_late", {"misses": misses, "allowed": allowed}))
    return replace(state, misses=misses, healthy_cycles=0), [], events


def on_ready(state: SupervisorState) -> SupervisorState:
    return replace(state, ready=True, misses=0)


def request_restart(state: SupervisorState, monotonic_s: float, cfg: FlightConfig,
                    cause: str) -> tuple[SupervisorState, Actions, Events]:
    """An operator or a failed job asks for a restart now (no backoff). Not a death:
    the event says ``payload.restarting``, never ``payload.died``."""
    new, actions, _died = _schedule_restart(state, monotonic_s, cause, cfg, kill=state.running)
    events: Events = [("payload.restarting", {"incarnation": state.incarnation,
                                              "cause": cause})]
    new = replace(new, restart_at_monotonic_s=monotonic_s, backoff_s=state.backoff_s)
    return new, actions, events


def set_enabled(state: SupervisorState, enabled: bool) -> SupervisorState:
    if enabled and not state.enabled:
        return replace(state, enabled=True, restart_at_monotonic_s=None if state.running else 0.0)
    return replace(state, enabled=enabled)


def _spawn(state: SupervisorState, monotonic_s: float,
           first: bool) -> tuple[SupervisorState, Actions, Events]:
    new = replace(state, running=True, ready=False, misses=0, healthy_cycles=0,
                  incarnation=state.incarnation + 1, restart_at_monotonic_s=None,
                  restarts=state.restarts + (0 if first else 1))
    event = ("payload.started", {"incarnation": new.incarnation,
                                 "cause": "boot" if first else state.last_cause})
    return new, ["spawn"], [event]


def _schedule_restart(state: SupervisorState, monotonic_s: float, cause: str, cfg: FlightConfig,
                      kill: bool) -> tuple[SupervisorState, Actions, Events]:
    backoff = (cfg.restart_backoff_s if state.backoff_s <= 0
               else min(state.backoff_s * 2, cfg.restart_backoff_max_s))
    new = replace(state, running=False, ready=False, misses=0, healthy_cycles=0,
                  backoff_s=backoff, restart_at_monotonic_s=monotonic_s + backoff, last_cause=cause)
    events: Events = [("payload.died", {"incarnation": state.incarnation, "cause": cause,
                                        "restart_in_s": round(backoff, 1)})]
    return new, (["kill"] if kill else []), events
