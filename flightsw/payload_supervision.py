"""Payload supervision as a component: jobs, heartbeats and restarts, with no I/O.

The executive owns the payload's work: it numbers every job (one job counter, here),
sends it, and accounts for its end. The child process (``python -m payload``) is
started, killed and talked to by the shell (:mod:`flightsw.payload_host`); this module
decides *what* to do and keeps the books:

- supervision (1 Hz): the restart policy of :mod:`flightsw.supervisor` on what was
  observed (did the process exit, did the last ping get its heartbeat); out come the
  actions ``spawn`` / ``kill`` for the shell;
- jobs: a capture per period (lockstep, sized by the throttle) or a small queue kept
  fed (free running, the child paces itself); results are folded into the next data
  product;
- nothing vanishes: a job in flight when its payload dies is requeued once, with an
  event; lost a second time, it fails with a report that reaches the ground.

Times: every function takes a :class:`~flightsw.component.Tick`; scheduling uses
``t.monotonic_s``, records carry ``t.mission_time_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flightsw import supervisor
from flightsw.component import PERSIST, Component, Events, Handled, Tick, fixed
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import FlightError, WireError
from flightsw.messages import (
    CancelBody,
    ConfigBody,
    HeartbeatBody,
    JobBody,
    PingBody,
    ProductBody,
    ResultBody,
)
from flightsw.records import Record
from flightsw.wire import Envelope, Kind

PING_LAG_CYCLES = 3
"""In lockstep a heartbeat may come this many 1 Hz cycles late before the executive
waits for it: the payload answers between jobs, and waiting at once would put every
capture's inference on the sim's critical path. Counted in cycles: runs stay
deterministic."""
MAX_INTRA_OP_THREADS = 64
FREE_RUN_JOBS_IN_FLIGHT = 4  # enough queued work that the payload never waits for us
MAX_REQUEUES = 1
PRODUCT_JOB_IDS_MAX = 64
MEASURED_POINTS = ("payload.weight_scrubs",)
"""Telemetry that follows the payload's wall clock (it scrubs every 5 wall seconds), so a
lockstep run's values are not repeatable."""


@dataclass
class Job:
    job_id: int
    n_tiles: int
    seed: int
    lat_deg: float
    lon_deg: float
    lost: int = 0  # times its payload died while it was in flight
    operator: dict[str, Any] | None = None
    """An operator job's extra JobBody fields (flightsw.jobs): never requeued, it fails
    with its payload (the jobs component reports why)."""

    def body(self) -> JobBody:
        return JobBody(self.job_id, self.n_tiles, self.seed, self.lat_deg, self.lon_deg,
                       **(self.operator or {}))


@dataclass
class PayloadState:
    sup: supervisor.SupervisorState = field(default_factory=supervisor.SupervisorState,
                                            metadata=PERSIST)
    next_job_id: int = field(default=1, metadata=PERSIST)
    jobs_done: int = field(default=0, metadata=PERSIST)
    jobs_failed: int = field(default=0, metadata=PERSIST)
    jobs_requeued: int = field(default=0, metadata=PERSIST)
    tiles_done: int = field(default=0, metadata=PERSIST)
    operator_cap_frac: float = field(default=1.0, metadata=PERSIST)
    in_flight: dict[int, Job] = field(default_factory=dict, metadata=PERSIST)
    requeue: list[Job] = field(default_factory=list, metadata=PERSIST)
    throttle_frac: float = 0.0  # last level sent to the child
    powered: bool = True
    activity_frac: float = 0.0
    last_hb: HeartbeatBody = field(default_factory=HeartbeatBody)
    ping_n: int = 0
    hb_seen_for_ping: bool = True
    cycle: int = 0
    ping_cycle: int = 0
    exited: int | None = None  # exit status the shell observed, for the next cycle
    unresponsive: bool = False  # lockstep: gave no answer within the wall-clock grace
    restart_cause: str = ""  # a restart asked for by command, carried out next cycle
    frames_rejected: int = 0
    frames_forged: int = 0  # failed the channel's authentication: not from our child
    last_hb_monotonic_s: float = 0.0  # when this incarnation last spoke (free running)
    failures_in_row: int = 0  # failed job results since the last good one
    rss_mb: float | None = None  # the child's resident memory, as the OS reports it
    window: ProductBody = field(default_factory=ProductBody)  # results since the last one
    window_infer_ms: float = 0.0  # summed, for the product's mean
    weight_repairs: int = field(default=0, metadata=PERSIST)  # scrubs that found flips
    intra_op_threads: int = field(default=0, metadata=PERSIST)
    """onnxruntime intra-op threads commanded (payload.threads; 0: as the child started)."""
    config_due: bool = False  # the config changed by command: send it at the next cycle


@dataclass
class PayloadOut:
    """What the shell must do: messages for the child, and process actions."""

    messages: list[tuple[Kind, Record]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # "spawn", "kill"
    spawn_model: str = ""  # spawn this model (sha256; "" the configured one)
    safe_reason: str = ""  # the ladder's last rung: the spacecraft must enter SAFE


@dataclass(frozen=True)
class SuperviseInputs:
    powered: bool  # the mode lets the payload run
    throttle_frac: float  # what the throttle and caps allow now
    lockstep: bool
    lat_deg: float = 0.0
    lon_deg: float = 0.0


def initial(cfg: FlightConfig) -> PayloadState:
    return PayloadState(sup=supervisor.set_enabled(supervisor.SupervisorState(),
                                                   cfg.payload_enabled))


def ready(st: PayloadState) -> bool:
    return st.sup.running and st.sup.ready


def heartbeat_pending(st: PayloadState) -> bool:
    """A ping is outstanding (the lockstep shell may wait for its answer)."""
    return st.sup.running and not st.hb_seen_for_ping


def at_ping_deadline(st: PayloadState) -> bool:
    """Lockstep: the coming 1 Hz cycle is the one that judges the last ping's answer."""
    return st.cycle + 1 - st.ping_cycle >= PING_LAG_CYCLES


def heartbeat_overdue(st: PayloadState) -> bool:
    """Lockstep: the answer to the last ping is due before this cycle may run."""
    return heartbeat_pending(st) and at_ping_deadline(st)


# --- 1 Hz supervision ----------------------------------------------------------------------
def supervise(st: PayloadState, inp: SuperviseInputs, t: Tick,
              cfg: FlightConfig) -> tuple[PayloadState, PayloadOut, Events]:
    out = PayloadOut()
    events: Events = []
    st.cycle += 1
    st.powered = inp.powered
    if st.restart_cause:
        cause, st.restart_cause = st.restart_cause, ""
        st.sup, actions, evs = supervisor.request_restart(st.sup, t.monotonic_s, cfg, cause)
        events += evs
        if "kill" in actions:
            out.actions.append("kill")
            events += lose_in_flight(st, cause)
    # lockstep: a ping is judged exactly PING_LAG_CYCLES after it went out, whenever its
    # answer came, so the cadence of pings (and all that follows) is the same every run
    pending = (inp.lockstep and st.sup.running and st.ping_cycle > 0
               and st.cycle - st.ping_cycle < PING_LAG_CYCLES)
    if inp.lockstep:
        obs = _observe(st, t, cfg, heartbeat_ok=None if pending else st.hb_seen_for_ping)
    else:
        obs = _observe(st, t, cfg, heartbeat_ok=True if st.hb_seen_for_ping else None,
                       silent_s=_silent_s(st, t))
    actions = _supervise(st, obs, t, cfg, out, events, judge_heartbeat=True)
    if st.sup.running and "spawn" not in actions and not pending:
        st.ping_cycle = st.cycle
        st.ping_n += 1
        st.hb_seen_for_ping = False
        out.messages.append((Kind.PAYLOAD_PING, PingBody(st.ping_n)))
    level = round(min(max(inp.throttle_frac, 0.0), 1.0), 3)
    if supervisor.degraded(st.sup):
        level = min(level, cfg.degraded_throttle_frac)
    if (level != st.throttle_frac or st.config_due) and ready(st):
        out.messages.append((Kind.PAYLOAD_CONFIG, _config(st, level, inp)))
        st.config_due = False
    st.throttle_frac = level
    if not inp.lockstep:
        _refill(st, out, inp, cfg)
    return st, out, events


def _config(st: PayloadState, level: float, inp: SuperviseInputs) -> ConfigBody:
    return ConfigBody(level, not inp.lockstep, st.intra_op_threads)


def cancel(st: PayloadState, job_id: int, reason: str) -> PayloadOut:
    """Ask the child to cancel job ``job_id`` (interrupting its inference if it runs);
    nothing to send when the job is no longer with a running child."""
    out = PayloadOut()
    if job_id in st.in_flight and ready(st):
        out.messages.append((Kind.PAYLOAD_CANCEL, CancelBody(job_id, reason)))
    return out


def watch(st: PayloadState, inp: SuperviseInputs, t: Tick,
          cfg: FlightConfig) -> tuple[PayloadState, PayloadOut, Events]:
    """Free running, every fast cycle: notice a death, a hang, a runaway at once, and
    carry out a restart that has come due (heartbeats are still judged at 1 Hz)."""
    out = PayloadOut()
    events: Events = []
    obs = _observe(st, t, cfg, heartbeat_ok=None, silent_s=_silent_s(st, t))
    _supervise(st, obs, t, cfg, out, events, judge_heartbeat=False)
    return st, out, events


def _silent_s(st: PayloadState, t: Tick) -> float | None:
    if not st.sup.running:
        return None
    since = max(st.last_hb_monotonic_s, st.sup.spawned_monotonic_s)
    return max(0.0, t.monotonic_s - since)


def _observe(st: PayloadState, t: Tick, cfg: FlightConfig, *, heartbeat_ok: bool | None,
             silent_s: float | None = None) -> supervisor.Observation:
    hb = st.last_hb
    stuck: tuple[int, float] | None = None
    # the child's word for how long its job has run: it may already have been expired
    # here (lockstep), the child is stuck all the same
    if (hb.current_job is not None and hb.current_job_busy_s is not None
            and hb.current_job_busy_s > cfg.job_deadline_s):
        stuck = (hb.current_job, hb.current_job_busy_s)
    return supervisor.Observation(exited=st.exited, heartbeat_ok=heartbeat_ok,
                                  silent_s=silent_s, rss_mb=st.rss_mb, stuck_job=stuck,
                                  failures_in_row=st.failures_in_row)


def _supervise(st: PayloadState, obs: supervisor.Observation, t: Tick, cfg: FlightConfig,
               out: PayloadOut, events: Events, *, judge_heartbeat: bool) -> list[str]:
    was_running, level = st.sup.running, st.sup.level
    st.sup, actions, evs = supervisor.on_cycle(
        st.sup, obs, monotonic_s=t.monotonic_s, mission_time_s=t.mission_time_s, cfg=cfg,
        judge_heartbeat=judge_heartbeat)
    st.exited = None
    events += evs
    if was_running and not st.sup.running:
        stuck = (obs.stuck_job[0] if obs.stuck_job
                 and st.sup.last_cause.startswith(supervisor.STUCK_CAUSE) else None)
        events += lose_in_flight(st, st.sup.last_cause or "payload stopped", fail=stuck)
        st.failures_in_row = 0
        st.rss_mb = None
        st.last_hb = HeartbeatBody()
    if st.sup.level == 2 and level < 2:
        out.safe_reason = st.sup.lockout_reason
    for action in actions:
        out.actions.append(action)
        if action == "spawn":
            st.hb_seen_for_ping = True
            st.ping_cycle = 0
            st.unresponsive = False  # a new incarnation gets a fresh chance
            st.throttle_frac = 0.0
            st.last_hb_monotonic_s = t.monotonic_s
            if supervisor.degraded(st.sup):
                out.spawn_model = st.sup.last_good_model
    return actions


def lose_in_flight(st: PayloadState, cause: str, fail: int | None = None) -> Events:
    """The child is gone: requeue its jobs once; a job lost twice fails, reported, and
    so does the job ``fail`` (the one that hung the child: it would hang the next)."""
    events: Events = []
    for job in sorted(st.in_flight.values(), key=lambda j: j.job_id):
        job.lost += 1
        if job.job_id == fail:
            st.jobs_failed += 1
            st.window.failed += 1
            events.append(("payload.job_failed", {"job_id": job.job_id, "reason": cause}))
        elif job.lost <= MAX_REQUEUES and job.operator is None:
            st.requeue.append(job)
            st.jobs_requeued += 1
            events.append(("payload.job_requeued", {"job_id": job.job_id, "cause": cause}))
        else:
            st.jobs_failed += 1
            st.window.failed += 1
            events.append(("payload.job_failed", {
                "job_id": job.job_id,
                "reason": f"lost to {job.lost} payload restarts (last: {cause})"}))
    st.in_flight.clear()
    return events


# --- jobs ------------------------------------------------------------------------------------
def capture(st: PayloadState, inp: SuperviseInputs, t: Tick,
            cfg: FlightConfig) -> tuple[PayloadState, PayloadOut, Events]:
    """Lockstep: one capture per period, sized by the throttle (requeued work first)."""
    out = PayloadOut()
    if not ready(st) or not inp.powered:
        st.activity_frac = 0.0
        return st, out, []
    while st.requeue:
        _send_job(st, out, st.requeue.pop(0))
    n_tiles = round(st.throttle_frac * cfg.tiles_per_capture)
    if n_tiles <= 0:
        st.activity_frac = 0.0
        return st, out, []
    _submit(st, out, n_tiles, inp.lat_deg, inp.lon_deg)
    st.activity_frac = n_tiles / max(cfg.tiles_per_capture, 1)
    return st, out, []


def _refill(st: PayloadState, out: PayloadOut, inp: SuperviseInputs,
            cfg: FlightConfig) -> None:
    """Free running: keep a few jobs at the child; it paces itself to the throttle."""
    if not ready(st) or not st.powered or st.throttle_frac <= 0:
        return
    while st.requeue and len(st.in_flight) < FREE_RUN_JOBS_IN_FLIGHT:
        _send_job(st, out, st.requeue.pop(0))
    while len(st.in_flight) < FREE_RUN_JOBS_IN_FLIGHT:
        _submit(st, out, cfg.tiles_per_capture, inp.lat_deg, inp.lon_deg)


def _submit(st: PayloadState, out: PayloadOut, n_tiles: int, lat_deg: float,
            lon_deg: float) -> None:
    job_id = st.next_job_id
    st.next_job_id += 1
    _send_job(st, out, Job(job_id, n_tiles, job_id * 7919 + st.sup.incarnation,
                           lat_deg, lon_deg))


def send_operator_job(st: PayloadState, out: PayloadOut, n_tiles: int, lat_deg: float,
                      lon_deg: float, extra: dict[str, Any]) -> int:
    """Send an operator job (:mod:`flightsw.jobs`) now; returns its payload job id."""
    job_id = st.next_job_id
    st.next_job_id += 1
    _send_job(st, out, Job(job_id, n_tiles, job_id * 7919 + st.sup.incarnation, lat_deg,
                           lon_deg, operator=extra))
    return job_id


def _send_job(st: PayloadState, out: PayloadOut, job: Job) -> None:
    st.in_flight[job.job_id] = job
    out.messages.append((Kind.PAYLOAD_JOB, job.body()))


def take_product(st: PayloadState) -> tuple[PayloadState, ProductBody | None]:
    """The data product of the window since the last one (``None`` if nothing ran)."""
    window, st.window = st.window, ProductBody()
    infer_ms, st.window_infer_ms = st.window_infer_ms, 0.0
    if not (window.jobs or window.failed):
        return st, None
    window.infer_ms_mean = round(infer_ms / window.jobs, 3) if window.jobs else 0.0
    return st, window


def results_due(st: PayloadState) -> bool:
    """Lockstep: jobs are in flight whose results belong in the next product."""
    return bool(st.in_flight) and st.sup.running


def expire_in_flight(st: PayloadState, reason: str) -> Events:
    """Lockstep: results that did not come in time fail (the child answered nothing)."""
    events: Events = []
    for job_id in sorted(st.in_flight):
        st.jobs_failed += 1
        st.window.failed += 1
        events.append(("payload.job_failed", {"job_id": job_id, "reason": reason}))
    st.in_flight.clear()
    return events


# --- what the child says -----------------------------------------------------------------------
def receive(st: PayloadState, env: Envelope, inp: SuperviseInputs, t: Tick,
            cfg: FlightConfig) -> tuple[PayloadState, PayloadOut, Events]:
    out = PayloadOut()
    events: Events = []
    try:
        if env.kind is Kind.PAYLOAD_HEARTBEAT:
            events += _on_heartbeat(st, HeartbeatBody.from_body(env.body), out, inp, t)
        elif env.kind is Kind.PAYLOAD_RESULT:
            events += _on_result(st, ResultBody.from_body(env.body))
        else:
            raise WireError(f"unexpected kind {env.kind.value}")
    except WireError as exc:
        st.frames_rejected += 1
        events.append(("exec.frame_rejected", {"stream": "payload", "reason": str(exc)}))
    if not inp.lockstep:
        _refill(st, out, inp, cfg)
    return st, out, events


def _on_heartbeat(st: PayloadState, hb: HeartbeatBody, out: PayloadOut,
                  inp: SuperviseInputs, t: Tick) -> Events:
    if hb.incarnation and hb.incarnation != st.sup.incarnation:
        # a killed incarnation's last words (held in lockstep, or read after the restart):
        # taken for the new one, they announced it ready with the old model's name and
        # hash, and the hash could become the "last known good" model
        return []
    prev, st.last_hb = st.last_hb, hb
    st.last_hb_monotonic_s = t.monotonic_s
    if hb.n == st.ping_n or hb.n == 0:
        st.hb_seen_for_ping = True
    events: Events = []
    if st.sup.running and not st.sup.ready and hb.state in ("ready", "idle", "busy"):
        st.sup = supervisor.on_ready(st.sup, hb.model_sha256)
        out.messages.append((Kind.PAYLOAD_CONFIG, _config(st, st.throttle_frac, inp)))
        events.append(("payload.ready", {"incarnation": st.sup.incarnation,
                                         "model": hb.model or "?",
                                         "provider": hb.provider or "?"}))
        if hb.provider_fallback:
            events.append(("payload.provider_fallback", {"provider": hb.provider or "?",
                                                         "reason": hb.provider_fallback}))
    if hb.incarnation == prev.incarnation and hb.weight_repairs > prev.weight_repairs:
        st.weight_repairs += hb.weight_repairs - prev.weight_repairs
        events.append(("payload.weights_repaired", {
            "tensors": hb.weight_repairs - prev.weight_repairs, "total": st.weight_repairs}))
    if (hb.incarnation == prev.incarnation and prev.intra_op_threads
            and hb.intra_op_threads != prev.intra_op_threads):
        events.append(("payload.threads_changed", {"was": prev.intra_op_threads,
                                                   "now": hb.intra_op_threads}))
    if not inp.lockstep:
        st.activity_frac = min(max(hb.busy_frac, 0.0), 1.0)
    return events


def _on_result(st: PayloadState, res: ResultBody) -> Events:
    job = st.in_flight.pop(res.job_id, None)
    if job is None:
        raise WireError("result for a job not in flight", job_id=res.job_id)
    if res.cancelled:  # ended as asked (the jobs component reports it): no failure
        return []
    w = st.window
    events: Events = []
    if res.integrity in ("suspect", "failed"):
        events.append(("payload.integrity", {"job_id": res.job_id, "verdict": res.integrity,
                                             "note": res.integrity_note or "?"}))
    if not res.ok:
        st.jobs_failed += 1
        st.failures_in_row += 1
        w.failed += 1
        return [*events, ("payload.job_failed", {"job_id": res.job_id,
                                                 "reason": res.error or "?"})]
    st.jobs_done += 1
    st.failures_in_row = 0
    st.tiles_done += res.n_tiles
    w.jobs += 1
    w.tiles += res.n_tiles
    w.cloudy += res.n_cloudy
    w.clear += res.n_clear
    w.selected += len(res.selected)
    w.correct += res.n_correct
    st.window_infer_ms += res.infer_ms
    if len(w.job_ids) < PRODUCT_JOB_IDS_MAX:
        w.job_ids.append(res.job_id)
    return events


# --- commands ----------------------------------------------------------------------------------
def cmd_throttle_cap(st: PayloadState, args: dict[str, Any], t: Tick) -> Handled[PayloadState]:
    st.operator_cap_frac = float(args["level_pct"]) / 100.0
    return Handled(st, f"payload capped at {args['level_pct']:g} %")


def cmd_threads(st: PayloadState, args: dict[str, Any], t: Tick) -> Handled[PayloadState]:
    st.intra_op_threads = int(args["threads"])
    st.config_due = True
    return Handled(st, f"payload intra-op threads {st.intra_op_threads}: its session is "
                       "rebuilt between jobs (payload.threads_changed when done)")


def cmd_restart(st: PayloadState, args: dict[str, Any], t: Tick) -> Handled[PayloadState]:
    if not st.sup.enabled:
        raise FlightError("payload is disabled; enable it first (payload.enable enabled=true)")
    st.restart_cause = "ground command"
    return Handled(st, "payload restart at the next supervision cycle")


def cmd_enable(st: PayloadState, args: dict[str, Any], t: Tick) -> Handled[PayloadState]:
    enabled = bool(args["enabled"])
    if enabled and st.sup.lockout_reason:
        raise FlightError(f"payload is {st.sup.lockout_reason}; clear it first "
                          "(payload.clear_faults)")
    st.sup = supervisor.set_enabled(st.sup, enabled)
    return Handled(st, "payload enabled" if enabled else "payload disabled")


def cmd_clear_faults(st: PayloadState, args: dict[str, Any],
                     t: Tick) -> Handled[PayloadState]:
    was = supervisor.LADDER[st.sup.level].name
    restarts = len(st.sup.recent_restarts_s)
    st.sup = supervisor.clear_faults(st.sup)
    st.failures_in_row = 0
    return Handled(st, f"payload faults cleared (was {was}, {restarts} restarts in the "
                       "window); payload enabled",
                   [("payload.faults_cleared", {"rung": was, "restarts": restarts})])


def telemetry(st: PayloadState) -> dict[str, Any]:
    hb = st.last_hb
    state = ("disabled" if not st.sup.enabled else
             "ready" if ready(st) else "starting" if st.sup.running else "down")
    return {
        "payload.state": state,
        "payload.jobs_done": st.jobs_done,
        "payload.jobs_failed": st.jobs_failed,
        "payload.jobs_requeued": st.jobs_requeued,
        "payload.jobs_in_flight": len(st.in_flight) + len(st.requeue),
        "payload.tiles_done": st.tiles_done,
        "payload.activity_pct": round(st.activity_frac * 100, 1),
        "payload.restarts": st.sup.restarts,
        "payload.incarnation": st.sup.incarnation,
        "payload.model": hb.model,
        "payload.rss_mb": hb.rss_mb,
        "payload.operator_cap_pct": round(st.operator_cap_frac * 100, 1),
        "payload.rung": supervisor.LADDER[st.sup.level].name,
        "payload.restarts_in_window": len(st.sup.recent_restarts_s),
        "payload.last_cause": st.sup.last_cause,
        "payload.frames_forged": st.frames_forged,
        "payload.provider": hb.provider,
        "payload.weight_scrubs": hb.weight_scrubs,
        "payload.weight_repairs": st.weight_repairs,
        "payload.intra_op_threads": hb.intra_op_threads or None,
    }


DECLARATIONS = Declarations(
    component="payload",
    commands=(
        Command("payload.throttle_cap", "Cap payload activity below what the thermal "
                "throttle and the mode allow.",
                args=(Arg("level_pct", ArgType.FLOAT, "most activity allowed", units="%",
                          min=0, max=100),)),
        Command("payload.restart", "Restart the payload process now."),
        Command("payload.threads", "Set the payload's onnxruntime intra-op threads, live "
                "(its session is rebuilt between jobs; no job is lost).",
                args=(Arg("threads", ArgType.INT, "intra-op threads", min=1,
                          max=MAX_INTRA_OP_THREADS),)),
        Command("payload.enable", "Switch payload supervision (and power) on or off.",
                args=(Arg("enabled", ArgType.BOOL, "true to run the payload"),)),
        Command("payload.clear_faults", "Clear the restart escalation (degraded or locked "
                "out) and run the payload again. Leaving SAFE is a separate mode.set."),
    ),
    telemetry=(
        Telemetry("payload.state", ArgType.ENUM, "down / starting / ready / disabled"),
        Telemetry("payload.jobs_done", ArgType.INT, "Inference jobs completed since boot"),
        Telemetry("payload.jobs_failed", ArgType.INT, "Inference jobs failed since boot"),
        Telemetry("payload.jobs_requeued", ArgType.INT,
                  "Jobs resent because their payload process died"),
        Telemetry("payload.jobs_in_flight", ArgType.INT, "Jobs sent and not yet answered"),
        Telemetry("payload.tiles_done", ArgType.INT, "Image tiles classified since boot"),
        Telemetry("payload.activity_pct", ArgType.FLOAT, "Payload duty cycle (measured)",
                  units="%"),
        Telemetry("payload.restarts", ArgType.INT, "Payload process restarts since boot"),
        Telemetry("payload.incarnation", ArgType.INT, "Payload process generation"),
        Telemetry("payload.model", ArgType.STR, "Active model"),
        Telemetry("payload.rss_mb", ArgType.FLOAT, "Payload resident memory", units="MB"),
        Telemetry("payload.operator_cap_pct", ArgType.FLOAT, "Operator's activity cap",
                  units="%"),
        Telemetry("payload.rung", ArgType.ENUM,
                  "Restart escalation: " + " / ".join(r.name for r in supervisor.LADDER)),
        Telemetry("payload.restarts_in_window", ArgType.INT,
                  "Unplanned payload restarts within the escalation window"),
        Telemetry("payload.last_cause", ArgType.STR, "Cause of the last payload restart"),
        Telemetry("payload.frames_forged", ArgType.INT,
                  "Frames on the payload channel that failed authentication"),
        Telemetry("payload.provider", ArgType.STR, "onnxruntime execution provider in use"),
        Telemetry("payload.weight_scrubs", ArgType.INT,
                  "Scrubs of the in-memory weights by this payload incarnation"),
        Telemetry("payload.weight_repairs", ArgType.INT,
                  "Weight tensors found corrupted by a scrub and reloaded from the store"),
        Telemetry("payload.intra_op_threads", ArgType.INT,
                  "onnxruntime intra-op threads of the payload's session"),
    ),
    events=(
        Event("payload.started", Severity.ACTIVITY_HI,
              "Payload process #{incarnation} starting ({cause}; rung: {rung})"),
        Event("payload.escalated", Severity.WARNING_HI,
              "Payload escalated to {rung} after {restarts} restarts in {window_s} s: "
              "{action} (last cause: {cause})"),
        Event("payload.faults_cleared", Severity.ACTIVITY_HI,
              "Payload faults cleared by the ground (was {rung}, {restarts} restarts)"),
        Event("payload.forged_frame", Severity.WARNING_HI,
              "Frame on the payload channel failed authentication and was dropped "
              "({reason})", throttle=5),
        Event("payload.ready", Severity.ACTIVITY_LO,
              "Payload #{incarnation} ready: model {model} on {provider}"),
        Event("payload.died", Severity.WARNING_HI,
              "Payload #{incarnation} down: {cause}; restart in {restart_in_s} s"),
        Event("payload.restarting", Severity.ACTIVITY_HI,
              "Payload #{incarnation} restarting: {cause}"),
        Event("payload.stopped", Severity.ACTIVITY_HI, "Payload stopped: {reason}"),
        Event("payload.heartbeat_late", Severity.WARNING_LO,
              "Payload heartbeat late ({misses} of {allowed} cycles)", throttle=10),
        Event("payload.unresponsive", Severity.WARNING_LO,
              "Payload gave no answer within {grace_s} s of wall time at a lockstep "
              "deadline; counting it as silent until it speaks", throttle=10),
        Event("payload.job_failed", Severity.WARNING_LO, "Job {job_id} failed: {reason}",
              throttle=20),
        Event("payload.provider_fallback", Severity.WARNING_LO,
              "Payload runs on {provider}: {reason}"),
        Event("payload.weights_repaired", Severity.WARNING_HI,
              "Weight scrub found {tensors} corrupted tensors and reloaded them from the "
              "store ({total} since boot)"),
        Event("payload.integrity", Severity.WARNING_LO,
              "Job {job_id} integrity {verdict}: {note}", throttle=20),
        Event("payload.threads_changed", Severity.ACTIVITY_HI,
              "Payload session rebuilt: intra-op threads {was} -> {now}"),
        Event("payload.job_requeued", Severity.WARNING_LO,
              "Job {job_id} requeued: its payload went down ({cause})", throttle=20),
    ),
)

COMPONENT: Component[PayloadState] = Component(
    name="payload", declare=fixed(DECLARATIONS), initial=initial, telemetry=telemetry,
    handlers={"payload.throttle_cap": cmd_throttle_cap, "payload.restart": cmd_restart,
              "payload.threads": cmd_threads,
              "payload.enable": cmd_enable, "payload.clear_faults": cmd_clear_faults})
