"""The payload's logic, with no sockets: envelopes in, envelopes out.

:class:`PayloadCore` holds the job queue, the throttle, the counters and the busy meter.
The process shell (:mod:`payload.process`) only moves bytes: it decodes what arrives,
calls :meth:`PayloadCore.handle`, sends what comes back, and calls
:meth:`PayloadCore.run_next_job` when :meth:`PayloadCore.wait_s` says a job may start.
Tests drive the same object with a :class:`flightsw.clock.SimClock` and a fake model.

Times: ``now_s`` arguments are *monotonic* seconds (scheduling, busy fraction); the
``time_s`` stamped on envelopes and ``current_job_started_s`` are *mission* time from
the clock. Inference time is measured with ``clock.monotonic_s()`` around the work.

Counting rules, so the supervisor can tell the failure modes apart:

- ``rejected_frames``: anything the payload could not accept: undecodable bytes, an
  unexpected kind, or a body that fails its schema (a bad job is also answered with
  ``ok=False`` and the reason);
- ``jobs_failed``: well-formed jobs that failed while running (model error) or were
  refused because the queue was full;
- ``jobs_done``: jobs answered with ``ok=True``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flightsw.clock import Clock
from flightsw.errors import WireError
from flightsw.messages import FaultBody, HeartbeatBody
from flightsw.wire import Envelope, Kind, Sequencer
from payload.errors import MessageRejected, ModelError, PayloadError
from payload.integrity import CheckedModel
from payload.messages import (
    JobSpec,
    PayloadConfig,
    job_id_of,
    parse_config,
    parse_job,
    parse_ping,
)
from payload.model_weights import flip_input_bits
from payload.pacing import BusyMeter, DutyCycle
from payload.products import run_detailed
from payload.screening import Classifier, failed_result_body, screen
from payload.scrubbing import ScrubOutcome, WeightScrubber

log = logging.getLogger(__name__)

SOURCE = "payload"
MAX_QUEUE_DEPTH = 64
"""Jobs beyond this are refused (``ok=False``, "queue full") rather than piling up."""


class PayloadModel(Classifier, Protocol):
    """A classifier that can also say which model and hardware it is."""

    @property
    def sha256(self) -> str: ...

    @property
    def provider(self) -> str: ...


@dataclass(frozen=True)
class JobOutcome:
    """What one job's computation produced: its result body, or the exception."""

    spec: JobSpec
    body: dict[str, Any] | Exception
    start_s: float  # monotonic
    end_s: float


@dataclass
class Counters:
    jobs_done: int = 0
    jobs_failed: int = 0
    tiles_done: int = 0
    rejected_frames: int = 0


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
        self.current_job: JobSpec | None = None
        self.current_job_started_s: float | None = None
        self._job_start_mono_s = 0.0
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
                log.info("config: throttle_frac=%.2f pace=%s", self.config.throttle_frac,
                         self.config.pace)
                return []
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
        import numpy as np

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
        (The process runs :meth:`work` on a worker thread between :meth:`start_job` and
        :meth:`finish_job` instead, so it can answer pings during the job.)"""
        spec = self.start_job(now_s)
        if spec is None:
            return []
        return self.finish_job(self.work(spec))

    def start_job(self, now_s: float) -> JobSpec | None:
        """Take the next job off the queue if pacing allows (``None``: not now)."""
        if self.current_job is not None or self.wait_s(now_s) != 0.0:
            return None
        spec = self.queue.popleft()
        self.current_job = spec
        self.current_job_started_s = self.clock.mission_time_s()
        self._job_start_mono_s = self.clock.monotonic_s()
        return spec

    def work(self, spec: JobSpec) -> JobOutcome:
        """The job's computation. Touches no state of the core: safe on another thread."""
        start_s = self.clock.monotonic_s()
        fault, self.input_fault = self.input_fault, None
        critical = self.run_twice or spec.critical
        checked = CheckedModel(self.model, sample_seed=spec.job_id, run_twice=critical,
                               sampled=self.sampled_rerun, input_fault=_input_fault(fault))
        try:
            body: dict[str, Any] | Exception = (
                run_detailed(spec, checked, self.clock.monotonic_s) if spec.detail
                else screen(spec, checked, self.clock.monotonic_s).to_body())
            if isinstance(body, dict):
                body.update(checked.verdict.to_body())
        except Exception as exc:  # a bug in one job must not take the queue down with it
            if not isinstance(exc, (PayloadError, ValueError)):
                log.exception("job %d crashed", spec.job_id)
            body = exc
        return JobOutcome(spec, body, start_s, self.clock.monotonic_s())

    def finish_job(self, outcome: JobOutcome) -> list[Envelope]:
        """Account for a job :meth:`work` has done; returns its result."""
        spec = outcome.spec
        if isinstance(outcome.body, Exception):
            body = self._job_failed(spec, outcome.body)
        else:
            body = outcome.body
            verdict = body.get("integrity", "verified")
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
            self.counters.jobs_done += 1
            self.counters.tiles_done += spec.n_tiles
        self.current_job = None
        self.current_job_started_s = None
        busy_s = outcome.end_s - outcome.start_s
        self.meter.add_busy(busy_s)
        self.duty.job_finished(outcome.end_s, busy_s)
        return [self._result(body)]

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
        body = HeartbeatBody(
            n=n, state=state, jobs_done=self.counters.jobs_done,
            jobs_failed=self.counters.jobs_failed, tiles_done=self.counters.tiles_done,
            busy_frac=round(self.meter.read_and_reset(now_s), 4),
            throttle_frac=self.config.throttle_frac, pace=self.config.pace,
            queue_depth=len(self.queue), model=self.model.model_id,
            model_sha256=self.model.sha256, provider=self.model.provider,
            rss_mb=round(self._rss_mb(), 1), pid=self.pid, incarnation=self.incarnation,
            rejected_frames=self.counters.rejected_frames,
            current_job=self.current_job.job_id if self.current_job else None,
            current_job_started_s=self.current_job_started_s,
            current_job_busy_s=(round(now_s - self._job_start_mono_s, 3)
                                if self.current_job is not None else None),
            provider_fallback=str(getattr(self.model, "fallback_reason", "") or ""),
            weight_scrubs=self.scrubber.scrubs, weight_repairs=self.scrubber.repaired,
            integrity_suspect=self.verdicts.get("suspect", 0),
            integrity_failed=self.verdicts.get("failed", 0),
        ).to_body()
        return self._seq.make(Kind.PAYLOAD_HEARTBEAT, self.clock.mission_time_s(), body)

    def _result(self, body: dict[str, Any]) -> Envelope:
        return self._seq.make(Kind.PAYLOAD_RESULT, self.clock.mission_time_s(), body)


def _input_fault(fault: FaultBody | None) -> Callable[[Any], Any] | None:
    """An upset of the input buffer during the first run of the next job."""
    if fault is None:
        return None
    import numpy as np

    rng = np.random.default_rng(fault.seed)
    return lambda batch: flip_input_bits(batch, fault.bits, rng)
