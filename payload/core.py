"""The payload's logic, with no sockets: envelopes in, envelopes out.

:class:`PayloadCore` holds the job queue, the throttle, the counters and the busy meter.
The process shell (:mod:`payload.process`) only moves bytes: it decodes what arrives,
calls :meth:`PayloadCore.handle`, sends what comes back, and moves jobs through the
three stages of :mod:`payload.job_run`: :meth:`PayloadCore.start_job` (prepare, when
:meth:`PayloadCore.wait_s` and the pipeline allow), :meth:`PayloadCore.infer` (on the
inference thread) and :meth:`PayloadCore.finish_job`. Tests drive the same object
with a :class:`flightsw.clock.SimClock` and a fake model (:meth:`run_next_job` runs
the three stages in a row).

Times: ``now_s`` arguments are *monotonic* seconds (scheduling, busy fraction); the
``time_s`` stamped on envelopes and ``current_job_started_s`` are *mission* time from
the clock. Inference time is measured with ``clock.monotonic_s()`` around the work.

Counting rules, so the supervisor can tell the failure modes apart:

- ``rejected_frames``: anything the payload could not accept: undecodable bytes, an
  unexpected kind, or a body that fails its schema (a bad job is also answered with
  ``ok=False`` and the reason);
- ``jobs_failed``: well-formed jobs that failed while running (model error) or were
  refused because the queue was full;
- ``jobs_done``: jobs answered with ``ok=True``;
- ``jobs_cancelled``: jobs ended by a cancel (answered ``ok=False``, ``cancelled``).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from flightsw.clock import Clock
from flightsw.errors import WireError
from flightsw.messages import FaultBody, HeartbeatBody
from flightsw.wire import Envelope, Kind, Sequencer
from payload.errors import MessageRejected, ModelError, PayloadError
from payload.integrity import judge
from payload.job_run import Interrupt, JobInput, JobOutcome, run_inference
from payload.messages import (
    JobSpec,
    PayloadConfig,
    job_id_of,
    parse_cancel,
    parse_config,
    parse_job,
    parse_ping,
)
from payload.model_weights import flip_input_bits
from payload.pacing import BusyMeter, DutyCycle
from payload.products import detailed_body, job_input
from payload.screening import Classifier, failed_result_body, screening_result
from payload.scrubbing import ScrubOutcome, WeightScrubber
from payload.tile_bank import shared_bank

log = logging.getLogger(__name__)

SOURCE = "payload"
MAX_QUEUE_DEPTH = 64
"""Jobs beyond this are refused (``ok=False``, "queue full") rather than piling up."""
PIPELINE_DEPTH = 4
"""Jobs handed to the inference thread at once when nothing paces it: the one it runs
and the next ones, prepared, so it goes from one inference to the next without waiting
for the socket thread to be scheduled (:mod:`payload.job_run`). As many as the
executive keeps in flight (``FREE_RUN_JOBS_IN_FLIGHT``): measured with the benchmark's
4 in flight on a loaded 2-core host (load 8), the inference thread waited 350-860 us
per job for its next job at depth 2 and 160-285 us at depth 4 (the rest is the round
trip through the executive). A later operator job waits behind at most these (a few
ms)."""


class PayloadModel(Classifier, Protocol):
    """A classifier that can also say which model and hardware it is."""

    @property
    def sha256(self) -> str: ...

    @property
    def provider(self) -> str: ...


@dataclass
class Counters:
    jobs_done: int = 0
    jobs_failed: int = 0
    tiles_done: int = 0
    rejected_frames: int = 0
    jobs_cancelled: int = 0
    session_rebuilds: int = 0


class PayloadCore:
    """State and decisions of the payload process (see the module docstring)."""

    def __init__(
        self,
        model: PayloadModel,
        clock: Clock,
        *,
        incarnation: int = 0,
        pid: int = 0,
        rss_mb: Callable[[], float] = lambda: 0.0,
        max_queue_depth: int = MAX_QUEUE_DEPTH,
        reload: Callable[[int], PayloadModel] | None = None,
    ) -> None:
        self.model = model
        self.clock = clock
        self.incarnation = incarnation
        self.pid = pid
        self._rss_mb = rss_mb
        self.max_queue_depth = max_queue_depth
        self.queue: deque[JobSpec] = deque()
        self.duty = DutyCycle()
        self.meter = BusyMeter(window_start_s=clock.monotonic_s())
        self.counters = Counters()
        self.stop_requested = False
        self.stop_reason = ""
        self.staged: deque[JobInput] = deque()
        """Jobs handed to the inference thread and not yet finished, oldest first."""
        self.current_job_started_s: float | None = None
        self._job_start_mono_s = 0.0
        self.reload = reload
        """A new session of the same model with N intra-op threads (None: cannot)."""
        self.want_threads: int | None = None  # a session rebuild waiting for a quiet moment
        self._seq = Sequencer(SOURCE)
        self.scrubber = WeightScrubber(start_s=clock.monotonic_s())
        self.input_fault: FaultBody | None = None  # flips for the next job's input
        self.verdicts: dict[str, int] = {"verified": 0, "suspect": 0, "failed": 0}
        self.run_twice = False  # every job run twice and compared; else a job marked critical
        self.sampled_rerun = True  # the one-tile re-run on 1 job in 8 (payload.integrity)

    # ------------------------------------------------------------ inputs

    @property
    def config(self) -> PayloadConfig:
        return self.duty.config

    def ready_heartbeat(self, now_s: float) -> Envelope:
        """The first heartbeat, sent once the model is loaded: "I am up, and with what"."""
        return self._heartbeat(0, "ready", now_s)

    def handle(self, env: Envelope, now_s: float) -> list[Envelope]:
        """React to one decoded envelope; returns the envelopes to send back."""
        try:
            if env.kind is Kind.PAYLOAD_PING:
                return [self._heartbeat(parse_ping(env.body), self.state, now_s)]
            if env.kind is Kind.PAYLOAD_CONFIG:
                self.duty.config = parse_config(env.body)
                log.info("config: throttle_frac=%.2f pace=%s threads=%d",
                         self.config.throttle_frac, self.config.pace,
                         self.config.intra_op_threads)
                self._want_threads(self.config.intra_op_threads)
                return []
            if env.kind is Kind.PAYLOAD_CANCEL:
                job_id, reason = parse_cancel(env.body)
                return self.cancel(job_id, reason)
            if env.kind is Kind.PAYLOAD_JOB:
                return self._enqueue(env.body)
            if env.kind is Kind.PAYLOAD_FAULT:
                self._inject(env.body)
                return []
            if env.kind is Kind.STOP:
                self.stop_requested = True
                reason = env.body.get("reason", "")
                self.stop_reason = reason if isinstance(reason, str) else ""
                return []
            raise MessageRejected("unexpected kind for the payload", kind=env.kind.value)
        except MessageRejected as exc:
            self.counters.rejected_frames += 1
            log.warning("rejected %s from %s: %s", env.kind.value, env.source, exc)
            if env.kind is Kind.PAYLOAD_JOB:
                return [self._result(failed_result_body(job_id_of(env.body), str(exc),
                                                        self.model.model_id))]
            return []

    def _want_threads(self, threads: int) -> None:
        """A new intra-op thread count (0: unchanged): the session is rebuilt between
        jobs (:meth:`maintain`), since onnxruntime fixes the count at session creation."""
        have = getattr(self.model, "intra_op_threads", None)
        if threads <= 0 or (threads == have and self.want_threads is None):
            return
        if self.reload is None:
            log.warning("cannot change intra-op threads to %d: no session factory", threads)
            return
        self.want_threads = None if threads == have else threads

    def _inject(self, body: Any) -> None:
        """Fault injection (the executive allows it in test/HIL mode only)."""
        try:
            fault = FaultBody.from_body(body)
        except WireError as exc:
            raise MessageRejected(exc.reason, **exc.details) from exc
        if fault.bits < 1:
            raise MessageRejected("bits must be >= 1", bits=fault.bits)
        if fault.target == "input":
            self.input_fault = fault
            log.warning("fault injection: %d bits of the next job's input", fault.bits)
            return
        weights = getattr(self.model, "weights", None)
        if fault.target != "weights" or weights is None:
            raise MessageRejected("cannot inject there", target=fault.target)
        flips = weights.flip_bits(fault.bits, np.random.default_rng(fault.seed))
        log.warning("fault injection: flipped %s", ", ".join(
            f"{f.tensor}[{f.byte_offset}].{f.bit}" for f in flips))

    def scrub_if_due(self, now_s: float) -> ScrubOutcome | None:
        """Between jobs: re-hash the weights if a scrub is due, repair what differs.
        Raises :class:`ModelError` when the repair is impossible (corrupt store file)."""
        outcome = self.scrubber.run_if_due(self.model, now_s)
        if outcome is not None and outcome.error:
            raise ModelError("weights corrupted and the stored model cannot repair them",
                             error=outcome.error)
        return outcome

    def reject_frame(self, error: WireError) -> None:
        """Count bytes that did not decode (the shell calls this for ``try_decode`` errors)."""
        self.counters.rejected_frames += 1
        log.warning("rejected frame: %s", error)

    def _enqueue(self, body: Any) -> list[Envelope]:
        spec = parse_job(body)
        if len(self.queue) >= self.max_queue_depth:
            self.counters.jobs_failed += 1
            reason = f"queue full ({self.max_queue_depth} jobs)"
            return [self._result(failed_result_body(spec.job_id, reason, self.model.model_id,
                                                    spec.n_tiles))]
        if spec.priority > 0:  # an operator job: ahead of routine work, behind its peers
            ahead = sum(1 for queued in self.queue if queued.priority >= spec.priority)
            self.queue.insert(ahead, spec)
        else:
            self.queue.append(spec)
        return []

    # ------------------------------------------------------------ work

    def wait_s(self, now_s: float) -> float | None:
        """Seconds until the next job may start: 0 now, None if nothing can run."""
        if not self.queue:
            return None
        wait = self.duty.wait_s(now_s)
        return None if wait == float("inf") else wait

    def run_next_job(self, now_s: float) -> list[Envelope]:
        """Run the job at the head of the queue if pacing allows; returns its result.
        (The process runs stage 2 on its inference thread instead, :mod:`payload.job_run`.)"""
        job = self.start_job(now_s)
        return [] if job is None else self.finish_job(self.infer(job))

    @property
    def current_job(self) -> JobSpec | None:
        """The job the inference thread runs (the oldest handed to it)."""
        return self.staged[0].spec if self.staged else None

    def start_job(self, now_s: float) -> JobInput | None:
        """Take the next job off the queue if it may be handed to the inference thread
        now (``None``: not now). With one already there, only while nothing paces the
        payload (a rest between jobs needs the last job's end), up to
        :data:`PIPELINE_DEPTH`, and not while maintenance waits for a quiet moment."""
        if self.staged:
            paced = self.config.pace and self.config.throttle_frac < 1.0
            if (len(self.staged) >= PIPELINE_DEPTH or paced or not self.queue
                    or self.maintenance_due(now_s)):
                return None
        elif self.wait_s(now_s) != 0.0:
            return None
        spec = self.queue.popleft()
        if not self.staged:
            self.current_job_started_s = self.clock.mission_time_s()
            self._job_start_mono_s = self.clock.monotonic_s()
        job = self.prepare(spec)
        self.staged.append(job)
        return job

    def prepare(self, spec: JobSpec) -> JobInput:
        """Stage 1 (:mod:`payload.job_run`): the job's input and checks, on this thread."""
        t0 = self.clock.monotonic_s()
        fault, self.input_fault = self.input_fault, None
        make_options = getattr(self.model, "run_options", None)
        job = JobInput(spec, _NO_TILES, None, [], 0.0, t0,
                       Interrupt(make_options() if make_options is not None else None),
                       run_twice=self.run_twice or spec.critical, sampled=self.sampled_rerun)
        try:
            if spec.detail:
                job.tiles, job.truth = job_input(spec)
            else:
                job.shot = shared_bank().capture(spec.n_tiles, spec.seed, spec.lat_deg,
                                                 spec.lon_deg)
                job.tiles = job.shot.tiles
            if fault is not None:
                job.first_run_input = _input_fault(fault)(job.tiles)
        except Exception as exc:  # a bad tensor: the job fails with the reason
            job.error = exc
        job.capture_ms = (self.clock.monotonic_s() - t0) * 1e3
        return job

    def infer(self, job: JobInput) -> JobOutcome:
        """Stage 2: the job's inference runs. Touches no state of the core: the process
        calls it on the inference thread."""
        return run_inference(job, self.model, self.clock.monotonic_s)

    def cancel(self, job_id: int, reason: str) -> list[Envelope]:
        """Cancel a job: queued, it ends now; handed to the inference thread, its
        inference is interrupted and it ends when that thread lets go of it."""
        for spec in self.queue:
            if spec.job_id == job_id:
                self.queue.remove(spec)
                return [self._result(self._job_cancelled(spec, reason))]
        for job in self.staged:
            if job.spec.job_id == job_id:
                job.interrupt.cancel(reason)
                log.info("job %d: interrupting its inference (%s)", job_id, reason)
                return []
        log.info("cancel of job %d: not here (already answered?)", job_id)
        return []

    def finish_job(self, outcome: JobOutcome) -> list[Envelope]:
        """Stage 3: judge the runs, build the result, keep the books; returns the result."""
        job, spec = outcome.job, outcome.spec
        for i, staged in enumerate(self.staged):  # the oldest, as one thread runs them
            if staged is job:
                del self.staged[i]
                break
        if job.interrupt.cancelled:
            body = self._job_cancelled(spec, job.interrupt.reason)
        elif outcome.runs is None:
            exc = outcome.error or ModelError("no inference ran")
            if not isinstance(exc, (PayloadError, ValueError)):
                log.error("job %d crashed", spec.job_id, exc_info=exc)
            body = self._job_failed(spec, exc)
        else:
            try:
                body = self._job_body(job, outcome)
            except Exception as exc:  # a bug in one job must not take the queue down
                log.error("job %d crashed", spec.job_id, exc_info=exc)
                body = self._job_failed(spec, exc)
        if self.staged:  # the inference thread went on with the next one at once
            self.current_job_started_s = self.clock.mission_time_s()
            self._job_start_mono_s = outcome.end_s
        else:
            self.current_job_started_s = None
        busy_s = outcome.end_s - outcome.start_s
        self.meter.add_busy(busy_s)
        self.duty.job_finished(outcome.end_s, busy_s)
        return [self._result(body)]

    def _job_body(self, job: JobInput, outcome: JobOutcome) -> dict[str, Any]:
        assert outcome.runs is not None
        spec = job.spec
        prob, verdict = judge(outcome.runs)
        infer_ms = (outcome.end_s - outcome.start_s) * 1e3
        model = self.model
        if spec.detail:
            body = detailed_body(spec, job.tiles, job.truth, prob, model.threshold,
                                 model.model_id, model.sha256, capture_ms=job.capture_ms,
                                 infer_ms=infer_ms,
                                 started_s=outcome.start_s - job.capture_ms / 1e3,
                                 timer_s=self.clock.monotonic_s)
        else:
            assert job.shot is not None
            body = screening_result(spec, job.shot, prob, model.threshold, model.model_id,
                                    capture_ms=job.capture_ms, infer_ms=infer_ms).to_body()
        body.update(verdict.to_body())
        self.verdicts[verdict.verdict] = self.verdicts.get(verdict.verdict, 0) + 1
        self.counters.jobs_done += 1
        self.counters.tiles_done += spec.n_tiles
        return body

    def _job_cancelled(self, spec: JobSpec, reason: str) -> dict[str, Any]:
        self.counters.jobs_cancelled += 1
        log.info("job %d cancelled: %s", spec.job_id, reason)
        body = failed_result_body(spec.job_id, f"cancelled: {reason}", self.model.model_id,
                                  spec.n_tiles)
        body["cancelled"] = True
        return body

    # ------------------------------------------------------------ maintenance

    def maintenance_due(self, now_s: float) -> bool:
        """A scrub or a session rebuild waits for the inference thread to be idle."""
        return self.scrubber.due(now_s) or self.want_threads is not None

    def maintain(self, now_s: float) -> None:
        """With nothing handed to the inference thread: scrub the weights if due, and
        rebuild the session for a new intra-op thread count if one was asked for.
        Raises :class:`ModelError` when the weights cannot be repaired."""
        if self.staged:
            return
        self.scrub_if_due(now_s)
        want, self.want_threads = self.want_threads, None
        if want is None or self.reload is None:
            return
        try:
            model = self.reload(want)
        except ModelError as exc:  # the old session keeps serving
            log.error("cannot rebuild the session with %d intra-op threads: %s", want, exc)
            return
        was = getattr(self.model, "intra_op_threads", 0)
        self.model = model
        self.counters.session_rebuilds += 1
        log.info("session rebuilt: %s -> %d intra-op threads", was, want)

    def _job_failed(self, spec: JobSpec, exc: Exception) -> dict[str, Any]:
        self.counters.jobs_failed += 1
        log.error("job %d failed: %s", spec.job_id, exc)
        return failed_result_body(spec.job_id, f"{type(exc).__name__}: {exc}",
                                  self.model.model_id, spec.n_tiles)

    # ------------------------------------------------------------ outputs

    @property
    def state(self) -> str:
        """"busy" while there is work it is allowed to do, else "idle"."""
        if self.current_job is not None:
            return "busy"
        if self.queue and self.duty.earliest_start_s() != float("inf"):
            return "busy"
        return "idle"

    def _heartbeat(self, n: int, state: str, now_s: float) -> Envelope:
        model = self.model
        current = self.staged[0].spec.job_id if self.staged else None
        record = HeartbeatBody(
            n=n, state=state, jobs_done=self.counters.jobs_done,
            jobs_failed=self.counters.jobs_failed, tiles_done=self.counters.tiles_done,
            busy_frac=round(self.meter.read_and_reset(now_s), 4),
            throttle_frac=self.config.throttle_frac, pace=self.config.pace,
            queue_depth=len(self.queue), model=model.model_id,
            model_sha256=model.sha256, provider=model.provider,
            rss_mb=round(self._rss_mb(), 1), pid=self.pid, incarnation=self.incarnation,
            rejected_frames=self.counters.rejected_frames,
            current_job=current,
            current_job_started_s=self.current_job_started_s,
            current_job_busy_s=(round(now_s - self._job_start_mono_s, 3)
                                if current is not None else None),
            provider_fallback=str(getattr(model, "fallback_reason", "") or ""),
            weight_scrubs=self.scrubber.scrubs, weight_repairs=self.scrubber.repaired,
            integrity_suspect=self.verdicts.get("suspect", 0),
            integrity_failed=self.verdicts.get("failed", 0),
            intra_op_threads=int(getattr(model, "intra_op_threads", 0) or 0),
        )
        return self._seq.make(Kind.PAYLOAD_HEARTBEAT, self.clock.mission_time_s(),
                              flat_body(record))

    def _result(self, body: dict[str, Any]) -> Envelope:
        return self._seq.make(Kind.PAYLOAD_RESULT, self.clock.mission_time_s(), body)


def flat_body(record: HeartbeatBody) -> dict[str, Any]:
    """A record with no nested records as its wire map: its ``__dict__``, which is what
    :meth:`flightsw.records.Record.to_body` builds field by field (same keys, same
    order, same values). A heartbeat answers every ping (thousands in a lockstep sim);
    ``to_body``'s per-field ``getattr``/``isinstance`` was a third of building one. The
    record is a fresh object, dropped after this: nothing else sees the shared map."""
    return vars(record)


def _input_fault(fault: FaultBody) -> Callable[[Any], Any]:
    """An upset of the input buffer during the first run of the next job."""
    rng = np.random.default_rng(fault.seed)
    return lambda batch: flip_input_bits(batch, fault.bits, rng)


_NO_TILES = np.zeros((0, 4, 32, 32), dtype=np.float32)
