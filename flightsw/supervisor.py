"""Payload supervision policy: when to start, kill and restart the payload, and how far
to escalate when restarts do not help.

Pure, like F Prime's Health component: the executive calls :func:`on_cycle` with what
it observed (:class:`Observation`: did the process exit, how long has it been silent,
how big is it, is a job stuck) and gets back the new state, the actions to carry out
(``"spawn"``, ``"kill"``) and the events.

Detection (each one a *reset cause*, carried by every event of the restart):

========================  ===============================================================
crash                     the process exited; its exit code is mapped to a cause
                          (:func:`exit_cause`)
hang                      no heartbeat for ``heartbeat_timeout_s`` (SIGSTOP, deadlock);
                          free running: measured in seconds of silence; lockstep: counted
                          in judged pings, so runs stay deterministic
stuck inference           heartbeats continue but one job has run past ``job_deadline_s``
memory runaway            resident memory over ``payload_rss_limit_mb``
repeated job failures     ``job_failures_to_restart`` failed jobs in a row
never became ready        no ready heartbeat within the startup grace (model loading)
========================  ===============================================================

Recovery: kill (the shell sends TERM, then KILL after a grace) and restart, after a
backoff: the first restart after a healthy stretch is immediate (systemd's
``RestartSec`` is short too), the next waits ``restart_backoff_s``, and each further one
twice as long, up to ``restart_backoff_max_s``.

The escalation ladder (:data:`LADDER`), counted over unplanned restarts within
``restart_window_s`` of mission time, persisted across executive resets:

0. restart;
1. restart with the last known good model and the payload throttled to
   ``degraded_throttle_frac`` (this rung clears itself after a whole window without an
   unplanned restart);
2. lock out: the payload is disabled and the spacecraft enters SAFE; only a ground
   command (``payload.clear_faults``) clears it.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from flightsw.config import FlightConfig

STARTUP_GRACE_FACTOR = 4  # model loading may take this many times the heartbeat timeout
HEALTHY_CYCLES_TO_RESET_BACKOFF = 30
STUCK_CAUSE = "stuck inference"
"""How a stuck-job restart's cause begins (the driver fails that job, not requeues it)."""
CAUSE_LOG_MAX = 16
"""Reset causes kept (and persisted) for the ground to read after the fact."""


class PayloadExit:
    """Exit codes of ``python -m payload``: defined here, once; the payload imports them."""

    OK = 0
    MODEL = 3  # the model could not be loaded
    SOCKET = 4  # the IPC socket failed
    AUTH = 5  # no channel key was handed over at spawn

    MEANING: ClassVar[dict[int, str]] = {
        OK: "exited on its own (unexpected)", MODEL: "model could not be loaded",
        SOCKET: "IPC socket failed", AUTH: "no channel key at spawn"}


def exit_cause(code: int) -> str:
    """What an exit status says happened, in words the ground can act on."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {"SIGKILL": "killed (out of memory, or by hand)", "SIGSEGV": "crashed",
               "SIGABRT": "aborted", "SIGBUS": "crashed", "SIGFPE": "crashed",
               "SIGILL": "crashed", "SIGTERM": "terminated"}.get(name, "killed")
        return f"{why} by {name}"
    meaning = PayloadExit.MEANING.get(code, "failed")
    return f"exit code {code}: {meaning}"


@dataclass(frozen=True)
class Rung:
    level: int
    name: str
    restarts: str  # which config field says how many restarts in the window reach it
    action: str


LADDER = (
    Rung(0, "restart", "", "restart the payload"),
    Rung(1, "degraded", "restarts_to_degrade",
         "restart with the last known good model, throttle reduced"),
    Rung(2, "locked out", "restarts_to_lockout",
         "payload disabled, spacecraft to SAFE, until the ground clears it"),
)


@dataclass
class ResetRecord:
    mission_time_s: float = 0.0
    incarnation: int = 0
    cause: str = ""


@dataclass(frozen=True)
class SupervisorState:
    """The restart policy's memory. The whole record persists; the shell resets the
    process facts (``running``, ``ready``, deadlines) at boot, the child being gone."""

    enabled: bool = True
    running: bool = False  # a process was spawned and has not been seen to exit
    ready: bool = False  # it sent its ready heartbeat
    incarnation: int = 0
    misses: int = 0  # lockstep: pings judged unanswered in a row
    healthy_cycles: int = 0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at_monotonic_s: float | None = None  # a restart is scheduled for this time
    spawned_monotonic_s: float = 0.0
    last_cause: str = ""
    level: int = 0  # rung of LADDER
    recent_restarts_s: list[float] = field(default_factory=list)  # mission times, in window
    causes: list[ResetRecord] = field(default_factory=list)
    lockout_reason: str = ""
    last_good_model: str = ""  # sha256 of the model that last ran a healthy stretch
    running_model: str = ""  # sha256 the current incarnation reported when ready


@dataclass(frozen=True)
class Observation:
    """What the shell and the heartbeats say about the child this cycle."""

    exited: int | None = None  # exit status, once it has ended
    heartbeat_ok: bool | None = None  # lockstep: the last ping's answer, when judged
    silent_s: float | None = None  # free running: seconds since the last heartbeat
    rss_mb: float | None = None  # resident memory, read by the shell from the OS
    stuck_job: tuple[int, float] | None = None  # (job id, seconds it has run)
    failures_in_row: int = 0  # failed job results since the last good one


Actions = list[str]
Events = list[tuple[str, dict[str, Any]]]


def on_cycle(state: SupervisorState, obs: Observation, *, monotonic_s: float,
             mission_time_s: float, cfg: FlightConfig, judge_heartbeat: bool = True
             ) -> tuple[SupervisorState, Actions, Events]:
    """One supervision cycle (see the module docstring for the rules). The 1 Hz cycle
    judges heartbeats (``judge_heartbeat``); the shell may call it more often, free
    running, with ``judge_heartbeat=False`` to notice a death and restart sooner."""
    state = _age_ladder(state, mission_time_s, cfg)
    if not state.enabled:
        if state.running:
            return (replace(state, running=False, ready=False, restart_at_monotonic_s=None),
                    ["kill"], [("payload.stopped", {"reason": state.lockout_reason
                                                    or "disabled by command"})])
        return state, [], []

    if not state.running:
        if state.restart_at_monotonic_s is None and state.incarnation == 0:
            return _spawn(state, monotonic_s, first=True)
        if state.restart_at_monotonic_s is not None and monotonic_s >= state.restart_at_monotonic_s:
            return _spawn(state, monotonic_s, first=state.incarnation == 0)
        return state, [], []

    cause, kill = _fault(state, obs, cfg)
    if cause:
        return _schedule_restart(state, monotonic_s, mission_time_s, cause, cfg, kill=kill)
    if not judge_heartbeat:
        return state, [], []
    if obs.heartbeat_ok is True:
        healthy = state.healthy_cycles + 1
        new = replace(state, misses=0, healthy_cycles=healthy)
        if healthy >= HEALTHY_CYCLES_TO_RESET_BACKOFF:
            new = replace(new, backoff_s=0.0)
            if state.ready and state.running_model and state.level == 0:
                new = replace(new, last_good_model=state.running_model)
        return new, [], []
    if obs.heartbeat_ok is False:
        misses = state.misses + 1
        events: Events = []
        if state.ready and misses == 2:
            events.append(("payload.heartbeat_late",
                           {"misses": misses, "allowed": _allowed_misses(state, cfg)}))
        return replace(state, misses=misses, healthy_cycles=0), [], events
    return state, [], []


def _allowed_misses(state: SupervisorState, cfg: FlightConfig) -> int:
    timeout_s = cfg.heartbeat_timeout_s * (1 if state.ready else STARTUP_GRACE_FACTOR)
    return max(1, round(timeout_s))  # lockstep pings go out once per 1 s cycle


def _fault(state: SupervisorState, obs: Observation,
           cfg: FlightConfig) -> tuple[str, bool]:
    """The reset cause this observation shows (``""``: none), and whether to kill."""
    if obs.exited is not None:
        return exit_cause(obs.exited), False
    timeout_s = cfg.heartbeat_timeout_s * (1 if state.ready else STARTUP_GRACE_FACTOR)
    what = "heartbeat lost" if state.ready else "never became ready"
    if obs.silent_s is not None and obs.silent_s >= timeout_s:
        return f"{what}: silent for {obs.silent_s:.1f} s", True
    if obs.heartbeat_ok is False and state.misses + 1 >= _allowed_misses(state, cfg):
        return f"{what}: {state.misses + 1} pings unanswered", True
    if obs.rss_mb is not None and obs.rss_mb > cfg.payload_rss_limit_mb:
        return (f"memory runaway: {obs.rss_mb:.0f} MB resident, limit "
                f"{cfg.payload_rss_limit_mb:.0f} MB"), True
    if obs.stuck_job is not None:
        job_id, busy_s = obs.stuck_job
        return (f"{STUCK_CAUSE}: job {job_id} running for {busy_s:.1f} s, deadline "
                f"{cfg.job_deadline_s:.1f} s"), True
    if obs.failures_in_row >= cfg.job_failures_to_restart:
        return f"repeated job failures: {obs.failures_in_row} in a row", True
    return "", False


def on_ready(state: SupervisorState, model_sha256: str = "") -> SupervisorState:
    return replace(state, ready=True, misses=0, running_model=model_sha256)


def request_restart(state: SupervisorState, monotonic_s: float, cfg: FlightConfig,
                    cause: str) -> tuple[SupervisorState, Actions, Events]:
    """An operator asks for a restart now (no backoff, not counted on the ladder). Not a
    death: the event says ``payload.restarting``, never ``payload.died``."""
    new = replace(state, running=False, ready=False, misses=0, healthy_cycles=0,
                  restart_at_monotonic_s=monotonic_s, last_cause=cause)
    events: Events = [("payload.restarting", {"incarnation": state.incarnation,
                                              "cause": cause})]
    return new, (["kill"] if state.running else []), events


def set_enabled(state: SupervisorState, enabled: bool) -> SupervisorState:
    if enabled and not state.enabled:
        return replace(state, enabled=True, lockout_reason="",
                       restart_at_monotonic_s=None if state.running else 0.0)
    return replace(state, enabled=enabled)


def clear_faults(state: SupervisorState) -> SupervisorState:
    """The ground's word: forget the restarts, leave every rung, run the payload again."""
    return set_enabled(replace(state, level=0, recent_restarts_s=[], backoff_s=0.0,
                               lockout_reason=""), True)


def degraded(state: SupervisorState) -> bool:
    """On the ladder's second rung: run the last known good model, throttled."""
    return state.level == 1


def _age_ladder(state: SupervisorState, mission_time_s: float,
                cfg: FlightConfig) -> SupervisorState:
    recent = [t for t in state.recent_restarts_s if mission_time_s - t < cfg.restart_window_s]
    if len(recent) == len(state.recent_restarts_s):
        return state
    level = 0 if state.level == 1 and not recent else state.level
    return replace(state, recent_restarts_s=recent, level=level)


def _spawn(state: SupervisorState, monotonic_s: float,
           first: bool) -> tuple[SupervisorState, Actions, Events]:
    new = replace(state, running=True, ready=False, misses=0, healthy_cycles=0,
                  incarnation=state.incarnation + 1, restart_at_monotonic_s=None,
                  restarts=state.restarts + (0 if first else 1),
                  spawned_monotonic_s=monotonic_s, running_model="")
    event = ("payload.started", {"incarnation": new.incarnation,
                                 "cause": "boot" if first else state.last_cause,
                                 "rung": LADDER[state.level].name})
    return new, ["spawn"], [event]


def _schedule_restart(state: SupervisorState, monotonic_s: float, mission_time_s: float,
                      cause: str, cfg: FlightConfig,
                      kill: bool) -> tuple[SupervisorState, Actions, Events]:
    delay_s = state.backoff_s  # 0 after a healthy stretch: the first restart is at once
    backoff = (cfg.restart_backoff_s if delay_s <= 0
               else min(delay_s * 2, cfg.restart_backoff_max_s))
    recent = [*state.recent_restarts_s, mission_time_s]
    causes = [*state.causes, ResetRecord(mission_time_s, state.incarnation, cause)]
    new = replace(state, running=False, ready=False, misses=0, healthy_cycles=0,
                  backoff_s=backoff, restart_at_monotonic_s=monotonic_s + delay_s,
                  last_cause=cause, recent_restarts_s=recent,
                  causes=causes[-CAUSE_LOG_MAX:])
    events: Events = [("payload.died", {"incarnation": state.incarnation, "cause": cause,
                                        "restart_in_s": round(delay_s, 1)})]
    level = max(r.level for r in LADDER
                if not r.restarts or len(recent) >= int(getattr(cfg, r.restarts)))
    if level > state.level:
        rung = LADDER[level]
        events.append(("payload.escalated", {"rung": rung.name, "action": rung.action,
                                             "restarts": len(recent),
                                             "window_s": round(cfg.restart_window_s),
                                             "cause": cause}))
        new = replace(new, level=level)
        if level == 2:
            reason = f"locked out after {len(recent)} restarts (last: {cause})"
            new = replace(new, enabled=False, restart_at_monotonic_s=None,
                          lockout_reason=reason)
    return new, (["kill"] if kill else []), events
