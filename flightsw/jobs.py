"""Operator jobs as a component: a queue with priorities and deadlines, cancel, and an
end for every job that reaches the ground.

Routine screening (one capture per period, :mod:`flightsw.payload_supervision`) keeps
the payload busy; an operator who wants *this* scene classified now, or a tensor sent up
from the ground classified, submits a job by command (``jobs.capture``,
``jobs.tensor``; time-tagged with ``--at`` like any command, through the onboard
schedule). The queue lives here, in the executive, not in the payload child:

- it survives a payload crash (the child is restarted; the queue is not its to lose)
  and an executive reset (the queue is ``PERSIST`` state: queued jobs run after the
  reset; the one job that was running fails with the reason "executive reset", since
  its result went down with the child);
- its decisions are pure: which job next (highest priority, then earliest deadline,
  then first submitted), which deadlines have passed, what a job's end looks like.

One operator job runs at a time, ahead of the routine captures (the child puts it at
the front of its own queue). **No job disappears**: each ends exactly once as
``done``, ``failed`` (with the reason: deadline missed, payload error, payload went
down with the cause of its restart, executive reset) or ``cancelled``, with an event
and a data product (:mod:`flightsw.job_products`) carrying its per-tile classification,
its selected tiles (compressed) and its audit record. A job refused at submission (queue
full, bad tensor, deadline already past) never enters the queue: its command fails with
the reason, which the ground sees in the verification report.

Times: queue order and deadlines are mission time (``deadline_s`` is UTC seconds, the
operator's clock); nothing here reads a clock.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any

from flightsw import job_products, job_tensor
from flightsw.component import PERSIST, Component, Events, Handled, Tick, fixed
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.errors import FlightError
from flightsw.messages import ResultBody
from flightsw.recorder import Priority

MAX_QUEUED = 32
"""Jobs waiting at most; a submission beyond is refused with the reason (a flood of
commands cannot grow the state record or starve routine screening)."""
MAX_QUEUED_TENSOR_BYTES = 64 * 1024
"""Compressed tensors waiting at most, in all (the queue is in the state record, saved
every second)."""
MAX_PRIORITY = 9
URGENT_PRIORITY = 7
"""From this priority a job is critical: its result record is downlinked with the events
(first), and the payload runs its inference twice and compares (payload.integrity), so an
upset in its input or its run cannot pass as a verified answer."""
LATENCY_WINDOW = 256
"""Recent payload jobs (routine and operator) behind the latency percentiles."""
LIST_MAX = 12

DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
MEASURED_POINTS = ("jobs.latency_p50_ms", "jobs.latency_p99_ms",
                   "jobs.throughput_tiles_per_s")
"""Telemetry that is the payload's wall-clock measurement (not repeatable run to run)."""


@dataclass
class JobAudit:
    """What happened while a job ran, from the executive's own readings (1 Hz)."""

    samples: int = 0
    payload_temp_min_c: float = math.nan
    payload_temp_max_c: float = math.nan
    throttle_min_frac: float = math.nan
    throttle_max_frac: float = math.nan
    load_power_sum_w: float = 0.0  # summed over samples: mean = sum / samples
    compute_power_sum_w: float = 0.0  # the compute board's own power, where measured
    compute_samples: int = 0

    def add(self, payload_temp_c: float, load_power_w: float, throttle_frac: float,
            compute_power_w: float = math.nan) -> None:
        self.samples += 1
        if math.isfinite(compute_power_w):
            self.compute_power_sum_w += compute_power_w
            self.compute_samples += 1
        self.payload_temp_min_c = _min(self.payload_temp_min_c, payload_temp_c)
        self.payload_temp_max_c = _max(self.payload_temp_max_c, payload_temp_c)
        self.throttle_min_frac = _min(self.throttle_min_frac, throttle_frac)
        self.throttle_max_frac = _max(self.throttle_max_frac, throttle_frac)
        if math.isfinite(load_power_w):
            self.load_power_sum_w += load_power_w

    @property
    def load_power_mean_w(self) -> float:
        return self.load_power_sum_w / self.samples if self.samples else math.nan

    @property
    def compute_power_mean_w(self) -> float:
        return (self.compute_power_sum_w / self.compute_samples if self.compute_samples
                else math.nan)


def _min(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else min(a, b)


def _max(a: float, b: float) -> float:
    return b if math.isnan(a) else a if math.isnan(b) else max(a, b)


@dataclass
class OperatorJob:
    job_id: int = 0  # the operator's number (jobs.*), not the payload's
    priority: int = 0
    deadline_s: float = 0.0  # mission time by which it must be done; 0: none
    source: str = "capture"  # "capture" (onboard camera) or "tensor" (from the ground)
    n_tiles: int = 0
    tiles: bool = True  # downlink the selected tiles themselves
    tensor: bytes = b""  # zlib of the raw tensor (source "tensor")
    tensor_shape: list[int] = field(default_factory=list)
    tensor_dtype: str = ""
    submitted_s: float = 0.0  # mission time
    started_s: float = 0.0
    payload_job_id: int = 0  # the payload's number once sent (0: queued)
    incarnation: int = 0  # the payload process it was sent to
    audit: JobAudit = field(default_factory=JobAudit)


@dataclass
class JobsState:
    queue: list[OperatorJob] = field(default_factory=list, metadata=PERSIST)
    running: OperatorJob | None = field(default=None, metadata=PERSIST)
    next_id: int = field(default=1, metadata=PERSIST)
    done: int = field(default=0, metadata=PERSIST)
    failed: int = field(default=0, metadata=PERSIST)
    cancelled: int = field(default=0, metadata=PERSIST)
    refused: int = field(default=0, metadata=PERSIST)
    tiles_sent: int = field(default=0, metadata=PERSIST)
    tile_bytes_sent: int = field(default=0, metadata=PERSIST)
    all_tile_bytes: int = field(default=0, metadata=PERSIST)
    """What sending every classified tile would have cost (the volume-saved baseline)."""
    discard: list[int] = field(default_factory=list, metadata=PERSIST)
    """Payload job ids of jobs cancelled while they ran: their results are dropped."""
    cancel_out: list[int] = field(default_factory=list)
    """Payload job ids whose inference the payload must interrupt (sent by the topology)."""
    results_discarded: int = 0
    job_ms: list[float] = field(default_factory=list)  # recent payload jobs, wall ms
    job_tiles: list[int] = field(default_factory=list)
    job_stats: tuple[float | None, float | None, float | None] = (None, None, None)
    """Latency p50 and p99 (ms) and throughput (tiles/s) over ``job_ms`` and
    ``job_tiles``, worked out when a result changes them (:func:`on_result`): a result
    comes once per capture, housekeeping asks twice a second."""
    provider: str = ""  # the payload's execution provider, from its heartbeats
    outbox: list[dict[str, Any]] = field(default_factory=list)
    """Data products to downlink (the topology takes them in the same cycle)."""


def initial(_cfg: Any) -> JobsState:
    return JobsState()


# --- submission --------------------------------------------------------------------------------
def _submit(st: JobsState, job: OperatorJob, t: Tick) -> Handled[JobsState]:
    if job.deadline_s and job.deadline_s <= t.mission_time_s:
        st.refused += 1
        raise FlightError(f"deadline {job.deadline_s:.0f} is already past (now "
                          f"{t.mission_time_s:.0f}); give a later one, or 0 for none")
    if len(st.queue) >= MAX_QUEUED:
        st.refused += 1
        raise FlightError(f"job queue full ({MAX_QUEUED} jobs waiting); cancel some "
                          "(jobs.cancel) or wait for them to run")
    held = sum(len(q.tensor) for q in st.queue)
    if job.tensor and held + len(job.tensor) > MAX_QUEUED_TENSOR_BYTES:
        st.refused += 1
        raise FlightError(f"queued tensors would hold {held + len(job.tensor)} B, more "
                          f"than {MAX_QUEUED_TENSOR_BYTES} B; wait for some to run")
    job.job_id = st.next_id
    st.next_id += 1
    job.submitted_s = t.mission_time_s
    st.queue.append(job)
    ahead = sum(1 for q in st.queue if _order(q) < _order(job))
    when = f", deadline {job.deadline_s:.0f}" if job.deadline_s else ""
    return Handled(st, f"job {job.job_id} queued ({job.source}, {job.n_tiles} tiles, "
                       f"priority {job.priority}{when}; {ahead} ahead)",
                   [("jobs.queued", {"job_id": job.job_id, "source": job.source,
                                     "n_tiles": job.n_tiles, "priority": job.priority})])


def cmd_capture(st: JobsState, args: dict[str, Any], t: Tick) -> Handled[JobsState]:
    return _submit(st, OperatorJob(priority=int(args["priority"]),
                                   deadline_s=float(args["deadline_s"]), source="capture",
                                   n_tiles=int(args["n_tiles"]), tiles=bool(args["tiles"])), t)


def cmd_tensor(st: JobsState, args: dict[str, Any], t: Tick) -> Handled[JobsState]:
    try:
        tensor = job_tensor.check(str(args["tensor"]), str(args["shape"]), str(args["dtype"]))
    except job_tensor.TensorRejected:
        st.refused += 1
        raise
    return _submit(st, OperatorJob(priority=int(args["priority"]),
                                   deadline_s=float(args["deadline_s"]), source="tensor",
                                   n_tiles=tensor.n_tiles, tiles=bool(args["tiles"]),
                                   tensor=zlib.compress(tensor.raw, 6),
                                   tensor_shape=list(tensor.shape),
                                   tensor_dtype=tensor.dtype), t)


def cmd_cancel(st: JobsState, args: dict[str, Any], t: Tick) -> Handled[JobsState]:
    job_id = int(args["job_id"])
    for job in st.queue:
        if job.job_id == job_id:
            st.queue.remove(job)
            _end(st, job, CANCELLED, "cancelled by the ground while queued", t)
            return Handled(st, f"job {job_id} cancelled (was queued)",
                           [_event(job, CANCELLED, "cancelled by the ground while queued")])
    run = st.running
    if run is not None and run.job_id == job_id:
        st.running = None  # its result, when it comes, is discarded (counted)
        st.discard = [*st.discard[-(MAX_QUEUED - 1):], run.payload_job_id]
        st.cancel_out.append(run.payload_job_id)  # the payload interrupts its inference
        reason = "cancelled by the ground while running (its inference is interrupted)"
        _end(st, run, CANCELLED, reason, t)
        return Handled(st, f"job {job_id} cancelled (was running)",
                       [_event(run, CANCELLED, reason)])
    queued = ", ".join(str(j.job_id) for j in st.queue[:LIST_MAX]) or "none"
    running = str(st.running.job_id) if st.running else "none"
    raise FlightError(f"no job {job_id} to cancel (queued: {queued}; running: {running}); "
                      "a job that has ended cannot be cancelled")


def cmd_list(st: JobsState, args: dict[str, Any], t: Tick) -> Handled[JobsState]:
    parts = []
    if st.running is not None:
        parts.append(f"running: job {st.running.job_id}")
    ordered = sorted(st.queue, key=_order)
    parts += [f"job {j.job_id} p{j.priority} {j.source} {j.n_tiles} tiles"
              + (f" by {j.deadline_s:.0f}" if j.deadline_s else "")
              for j in ordered[:LIST_MAX]]
    if len(ordered) > LIST_MAX:
        parts.append(f"and {len(ordered) - LIST_MAX} more")
    return Handled(st, "; ".join(parts) if parts else "no operator jobs queued or running")


def _order(job: OperatorJob) -> tuple[int, float, int]:
    """Queue order: highest priority, then earliest deadline (none last), then oldest."""
    return (-job.priority, job.deadline_s if job.deadline_s else math.inf, job.job_id)


# --- running -------------------------------------------------------------------------------
def expire_deadlines(st: JobsState, t: Tick) -> Events:
    """Queued jobs whose deadline has passed fail, each with its report."""
    events: Events = []
    for job in [j for j in st.queue if j.deadline_s and j.deadline_s <= t.mission_time_s]:
        st.queue.remove(job)
        reason = (f"deadline missed: still queued at its deadline "
                  f"({t.mission_time_s - job.deadline_s:.0f} s ago)")
        _end(st, job, FAILED, reason, t)
        events.append(_event(job, FAILED, reason))
    return events


def take_next(st: JobsState) -> OperatorJob | None:
    """The next job to run, off the queue (None while one runs or none waits); the
    caller sends it to the payload and calls :func:`started`."""
    if st.running is not None or not st.queue:
        return None
    job = min(st.queue, key=_order)
    st.queue.remove(job)
    return job


def job_fields(job: OperatorJob) -> dict[str, Any]:
    """The payload job's extra fields (:class:`flightsw.messages.JobBody`) for ``job``."""
    return {"priority": job.priority + 1, "source": job.source, "tensor": job.tensor,
            "tensor_shape": list(job.tensor_shape), "tensor_dtype": job.tensor_dtype,
            "detail": True, "tiles": job.tiles, "critical": job.priority >= URGENT_PRIORITY}


def started(st: JobsState, job: OperatorJob, payload_job_id: int, incarnation: int,
            t: Tick) -> Events:
    job.payload_job_id = payload_job_id
    job.incarnation = incarnation
    job.started_s = t.mission_time_s
    st.running = job
    return [("jobs.started", {"job_id": job.job_id, "payload_job_id": payload_job_id,
                              "waited_s": round(t.mission_time_s - job.submitted_s, 1)})]


def sample(st: JobsState, payload_temp_c: float, load_power_w: float,
           throttle_frac: float, compute_power_w: float = math.nan) -> None:
    """One 1 Hz reading while a job runs, for its audit record."""
    if st.running is not None:
        st.running.audit.add(payload_temp_c, load_power_w, throttle_frac, compute_power_w)


def on_result(st: JobsState, res: ResultBody, t: Tick) -> Events:
    """A payload result: the running operator job's end, and the health statistics."""
    if res.ok:
        st.job_ms.append(res.job_ms or res.infer_ms)
        st.job_tiles.append(res.n_tiles)
        del st.job_ms[:-LATENCY_WINDOW], st.job_tiles[:-LATENCY_WINDOW]
        st.job_stats = _job_stats(st.job_ms, st.job_tiles)
    run = st.running
    if res.job_id in st.discard:
        st.discard.remove(res.job_id)
        st.results_discarded += 1
        return []
    if run is None or res.job_id != run.payload_job_id:
        return []
    st.running = None
    if not res.ok:
        reason = f"payload error: {res.error or '?'}"
        _end(st, run, FAILED, reason, t, res)
        return [_event(run, FAILED, reason)]
    try:
        job_products.build(run, DONE, "", t.mission_time_s, res)
    except (TypeError, ValueError) as exc:
        reason = f"payload result malformed: {exc}"
        _end(st, run, FAILED, reason, t)
        return [_event(run, FAILED, reason)]
    if run.deadline_s and t.mission_time_s > run.deadline_s:
        reason = (f"deadline missed: finished {t.mission_time_s - run.deadline_s:.0f} s "
                  "late (its products are sent all the same)")
        _end(st, run, FAILED, reason, t, res)
        return [_event(run, FAILED, reason)]
    _end(st, run, DONE, "", t, res)
    return [_event(run, DONE, f"{res.n_tiles} tiles, {len(res.selected)} selected")]


def reconcile(st: JobsState, in_flight: set[int], payload_running: bool, incarnation: int,
              cause: str, t: Tick) -> Events:
    """The running job's payload job is no longer in flight and gave no result: it went
    down with its payload (``cause``: the restart's), or was given up in lockstep."""
    run = st.running
    if run is None or run.payload_job_id in in_flight:
        return []
    st.running = None
    if not payload_running or incarnation != run.incarnation:
        reason = f"payload went down while it ran: {cause or 'payload stopped'}"
    else:
        reason = "the payload gave no result in time"
    _end(st, run, FAILED, reason, t)
    return [_event(run, FAILED, reason)]


def note_provider(st: JobsState, provider: str) -> None:
    if provider:
        st.provider = provider


def downlink_priority(product: dict[str, Any]) -> Priority:
    """The recorder class of a job's product: an urgent job's result (its end, per-tile
    classification and audit: a few kB) goes with the events, sent first and evicted
    last; tiles, and every other job's products, go as data products."""
    if product.get("product") == "job" and int(product.get("priority", 0)) >= URGENT_PRIORITY:
        return Priority.EVENT
    return Priority.PRODUCT


def take_cancels(st: JobsState) -> list[int]:
    """Payload job ids to cancel in the payload (each once)."""
    out, st.cancel_out = st.cancel_out, []
    return out


def take_outbox(st: JobsState) -> list[dict[str, Any]]:
    out, st.outbox = st.outbox, []
    return out


def _end(st: JobsState, job: OperatorJob, status: str, reason: str, t: Tick,
         res: ResultBody | None = None) -> None:
    if status == DONE:
        st.done += 1
    elif status == FAILED:
        st.failed += 1
    else:
        st.cancelled += 1
    products = job_products.build(job, status, reason, t.mission_time_s, res)
    head = products[0]
    st.tiles_sent += int(head.get("tiles_sent", 0))
    st.tile_bytes_sent += int(head.get("tile_bytes_sent", 0))
    st.all_tile_bytes += int(head.get("all_tile_bytes", 0))
    st.outbox += products


def _event(job: OperatorJob, status: str, detail: str) -> tuple[str, dict[str, Any]]:
    return (f"jobs.{status}", {"job_id": job.job_id, "detail": detail})


# --- telemetry -----------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1); None for no values."""
    return _ranked(sorted(values), q)


def _ranked(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _job_stats(job_ms: list[float], job_tiles: list[int]
               ) -> tuple[float | None, float | None, float | None]:
    ordered = sorted(job_ms)
    p50, p99 = _ranked(ordered, 0.5), _ranked(ordered, 0.99)
    busy_s = sum(job_ms) / 1e3
    return (None if p50 is None else round(p50, 2), None if p99 is None else round(p99, 2),
            round(sum(job_tiles) / busy_s, 1) if busy_s > 0 else None)


def telemetry(st: JobsState) -> dict[str, Any]:
    p50, p99, tiles_per_s = st.job_stats
    saved = 1.0 - st.tile_bytes_sent / st.all_tile_bytes if st.all_tile_bytes else None
    return {
        "jobs.queue_depth": len(st.queue),
        "jobs.running": st.running.job_id if st.running else None,
        "jobs.done": st.done,
        "jobs.failed": st.failed,
        "jobs.cancelled": st.cancelled,
        "jobs.refused": st.refused,
        "jobs.results_discarded": st.results_discarded,
        "jobs.latency_p50_ms": p50,
        "jobs.latency_p99_ms": p99,
        "jobs.throughput_tiles_per_s": tiles_per_s,
        "jobs.provider": st.provider,
        "jobs.downlink_saved_pct": None if saved is None else round(saved * 100, 1),
    }


DECLARATIONS = Declarations(
    component="jobs",
    commands=(
        Command("jobs.capture", "Queue a job: capture tiles here (or where the spacecraft "
                "is when it starts) and classify them with the active model.",
                args=(Arg("n_tiles", ArgType.INT, "tiles to capture", min=1, max=256),
                      Arg("priority", ArgType.INT, "higher runs first", min=0,
                          max=MAX_PRIORITY),
                      Arg("deadline_s", ArgType.FLOAT, "mission time (UTC) by which it "
                          "must be done; 0: none", units="s", min=0),
                      Arg("tiles", ArgType.BOOL, "downlink the selected tiles too"))),
        Command("jobs.tensor", "Queue a job: classify a tensor sent up with the command.",
                args=(Arg("tensor", ArgType.STR, "base64 of zlib of the raw tensor",
                          max_len=job_tensor.MAX_TENSOR_TEXT),
                      Arg("shape", ArgType.STR, "n,4,32,32 (n <= "
                          f"{job_tensor.MAX_TENSOR_TILES})", max_len=40),
                      Arg("dtype", ArgType.ENUM, "element type",
                          choices=tuple(job_tensor.DTYPE_BYTES)),
                      Arg("priority", ArgType.INT, "higher runs first", min=0,
                          max=MAX_PRIORITY),
                      Arg("deadline_s", ArgType.FLOAT, "mission time (UTC) by which it "
                          "must be done; 0: none", units="s", min=0),
                      Arg("tiles", ArgType.BOOL, "downlink the selected tiles too"))),
        Command("jobs.cancel", "Cancel a queued or running operator job.",
                args=(Arg("job_id", ArgType.INT, "the job's number", min=1),)),
        Command("jobs.list", "List the operator jobs queued and running."),
    ),
    telemetry=(
        Telemetry("jobs.queue_depth", ArgType.INT, "Operator jobs waiting"),
        Telemetry("jobs.running", ArgType.INT, "Operator job running (none: idle)"),
        Telemetry("jobs.done", ArgType.INT, "Operator jobs done"),
        Telemetry("jobs.failed", ArgType.INT, "Operator jobs failed (each with a reason)"),
        Telemetry("jobs.cancelled", ArgType.INT, "Operator jobs cancelled"),
        Telemetry("jobs.refused", ArgType.INT, "Job submissions refused (queue full, bad "
                  "tensor, deadline past)"),
        Telemetry("jobs.results_discarded", ArgType.INT,
                  "Results of jobs cancelled while they ran, dropped on arrival"),
        Telemetry("jobs.latency_p50_ms", ArgType.FLOAT, "Payload job time (inference; "
                  "with capture and packing for operator jobs), median of the last "
                  f"{LATENCY_WINDOW} jobs", units="ms"),
        Telemetry("jobs.latency_p99_ms", ArgType.FLOAT, "Payload job time, 99th "
                  f"percentile of the last {LATENCY_WINDOW} jobs", units="ms"),
        Telemetry("jobs.throughput_tiles_per_s", ArgType.FLOAT,
                  "Tiles per second of payload job time (recent jobs)", units="1/s"),
        Telemetry("jobs.provider", ArgType.STR, "The payload's execution provider"),
        Telemetry("jobs.downlink_saved_pct", ArgType.FLOAT, "Tile downlink volume saved "
                  "by sending only the selected tiles", units="%"),
    ),
    events=(
        Event("jobs.queued", Severity.ACTIVITY_LO,
              "Job {job_id} queued: {source}, {n_tiles} tiles, priority {priority}"),
        Event("jobs.started", Severity.ACTIVITY_LO,
              "Job {job_id} started as payload job {payload_job_id} after {waited_s} s"),
        Event("jobs.done", Severity.ACTIVITY_HI, "Job {job_id} done: {detail}"),
        Event("jobs.failed", Severity.WARNING_LO, "Job {job_id} failed: {detail}"),
        Event("jobs.cancelled", Severity.ACTIVITY_HI, "Job {job_id} cancelled: {detail}"),
    ),
)

COMPONENT: Component[JobsState] = Component(
    name="jobs", declare=fixed(DECLARATIONS), initial=initial, telemetry=telemetry,
    handlers={"jobs.capture": cmd_capture, "jobs.tensor": cmd_tensor,
              "jobs.cancel": cmd_cancel, "jobs.list": cmd_list})
