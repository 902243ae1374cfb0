"""The payload process: a thin ZeroMQ shell around :class:`payload.core.PayloadCore`.

Two threads, one PAIR socket connected to the executive. The socket thread polls the
socket (and the inference thread's wake-up pipe) with a short timeout (never longer
than the time until the next job may start, so pacing is accurate), answers everything
that arrived, finishes the jobs the inference thread is done with, prepares the next
ones and hands them over (up to :data:`payload.core.PIPELINE_DEPTH` when nothing paces
it), and repeats; the inference thread only runs onnxruntime (:mod:`payload.job_run`).
A ping is answered at once even during a job, with the job's progress in the
heartbeat; a cancel interrupts the running inference; a new intra-op thread count
rebuilds the session once the inference thread is idle; every frame is authenticated
with the key the executive wrote to our stdin.

It ends, with exit code 0, on a ``STOP`` envelope, on SIGTERM/SIGINT, or when its parent
dies (the parent pid changes: the payload is reparented), so no orphan outlives the
executive. That check runs between jobs; ``python -m payload`` also asks the kernel for
a SIGTERM at the parent's death (:func:`flightsw.lifeline.die_with_parent`), which
arrives even while it imports (and ends it then) or runs a job (it stops after the job).
Exit codes otherwise (:class:`flightsw.supervisor.PayloadExit`): 3 the model could not
be loaded, 4 the socket failed, 5 no channel key.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import zmq

from flightsw import channel_auth
from flightsw.clock import RealClock
from flightsw.errors import WireError
from flightsw.supervisor import PayloadExit
from flightsw.transport import Transport, ZmqTransport
from flightsw.unix_transport import EndpointError, UnixBusClient, is_unix_endpoint
from flightsw.wire import Envelope, encode, try_decode
from payload.core import PayloadCore
from payload.errors import ModelError
from payload.job_run import JobInput, JobOutcome
from payload.mission_clock import ParentSyncedClock
from payload.model import load_model
from payload.resident_memory import ResidentMemory
from payload.thread_cpu import INFERENCE_THREAD, name_this_thread

log = logging.getLogger("payload")

EXIT_OK = PayloadExit.OK
EXIT_MODEL = PayloadExit.MODEL
EXIT_SOCKET = PayloadExit.SOCKET
EXIT_AUTH = PayloadExit.AUTH
POLL_MAX_S = 0.05
"""Longest the loop sleeps in poll: bounds the reaction to SIGTERM and parent death."""
PARENT_CHECK_S = 0.5
MAX_RECV_PER_TURN = 256
LINGER_MS = 1000


@dataclass(frozen=True)
class ProcessOptions:
    endpoint: str
    model_path: Path | None = None
    incarnation: int = 0
    intra_op_threads: int = 1
    parent_pid: int | None = None
    """The process whose death ends ours; None: whoever is our parent at start."""
    key: bytes = b""
    """The channel key (:mod:`flightsw.channel_auth`), read from stdin at spawn."""


class _Shutdown:
    """Set by the signal handler; checked by the loop (no exception from a handler)."""

    def __init__(self) -> None:
        self.signal_name = ""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name


def run(options: ProcessOptions) -> int:
    """Load the model, connect, serve until told to stop; returns the exit code."""
    shutdown = _Shutdown()
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    parent_pid = options.parent_pid if options.parent_pid is not None else os.getppid()
    if os.getppid() != parent_pid:
        log.warning("parent %d is gone before we started, exiting", parent_pid)
        return EXIT_OK
    if len(options.key) != channel_auth.KEY_BYTES:
        log.error("no channel key: refusing to speak for the payload unauthenticated")
        return EXIT_AUTH
    clock = ParentSyncedClock(RealClock())

    t0 = clock.monotonic_s()
    try:
        model = load_model(options.model_path, intra_op_threads=options.intra_op_threads)
    except ModelError as exc:
        log.error("cannot load model: %s", exc)
        return EXIT_MODEL
    log.info("model %s sha256 %s on %s loaded in %.3f s%s", model.model_id,
             model.sha256[:12], model.provider, clock.monotonic_s() - t0,
             f" (fallback: {model.fallback_reason})" if model.fallback_reason else "")
    model_path = model.path
    core = PayloadCore(model, clock, incarnation=options.incarnation, pid=os.getpid(),
                       rss_mb=ResidentMemory().mb,
                       reload=lambda threads: load_model(model_path, intra_op_threads=threads))

    if is_unix_endpoint(options.endpoint):
        try:
            bus = UnixBusClient(options.endpoint)
        except EndpointError as exc:
            log.error("bad endpoint: %s", exc)
            return EXIT_SOCKET
        if not bus.connected:
            log.error("cannot connect to %s: %s", options.endpoint,
                      bus.last_error or "nobody listening")
            bus.close()
            return EXIT_SOCKET
        try:
            return _serve(bus, core, clock, shutdown, parent_pid, options.key)
        finally:
            bus.close()  # what was sent is in the executive's queue already
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    try:
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.connect(options.endpoint)
        return _serve(ZmqTransport(sock), core, clock, shutdown, parent_pid, options.key)
    except zmq.ZMQError as exc:
        log.error("socket failed on %s: %s", options.endpoint, exc)
        return EXIT_SOCKET
    finally:
        sock.close(linger=LINGER_MS)
        ctx.term()


class _Worker:
    """The one thread that runs inference (stage 2 of :mod:`payload.job_run`), so the
    socket thread answers pings (with the job's progress) while a job runs, prepares the
    next job and finishes the last one meanwhile; a stuck inference shows as a job that
    never ends rather than as silence. onnxruntime and numpy release the GIL while they
    work. It wakes the socket thread through a pipe the poller watches."""

    def __init__(self, core: PayloadCore) -> None:
        self.core = core
        self.todo: queue.SimpleQueue[JobInput] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[JobOutcome] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        threading.Thread(target=self._run, name="inference", daemon=True).start()

    def submit(self, job: JobInput) -> None:
        self.todo.put(job)

    def _run(self) -> None:
        name_this_thread(INFERENCE_THREAD)  # so benchmarks can read its CPU time
        while True:
            outcome = self.core.infer(self.todo.get())
            self.done.put(outcome)
            try:
                os.write(self.wake_w, b"x")
            except OSError:
                return

    def finished(self) -> list[JobOutcome]:
        try:
            os.read(self.wake_r, 4096)
        except BlockingIOError:
            pass
        out: list[JobOutcome] = []
        while True:
            try:
                out.append(self.done.get_nowait())
            except queue.Empty:
                return out


def _serve(channel: ZmqTransport | UnixBusClient, core: PayloadCore,
           clock: ParentSyncedClock, shutdown: _Shutdown, parent_pid: int, key: bytes) -> int:
    # what the poller watches for the channel: its ZeroMQ socket, or its descriptor
    sock: Any = channel.sock if isinstance(channel, ZmqTransport) else channel.descriptor
    link = _Link(channel, key)
    link.send([core.ready_heartbeat(clock.monotonic_s())])
    worker = _Worker(core)
    poller = zmq.Poller()
    poller.register(sock, zmq.POLLIN)
    poller.register(worker.wake_r, zmq.POLLIN)
    next_parent_check_s = clock.monotonic_s() + PARENT_CHECK_S
    while True:
        now_s = clock.monotonic_s()
        wait = None if core.staged else core.wait_s(now_s)
        timeout_s = POLL_MAX_S if wait is None else min(wait, POLL_MAX_S)
        ready = dict(poller.poll(int(timeout_s * 1000)))
        if sock in ready:
            link.drain(core, clock)
            if not channel.connected and isinstance(channel, UnixBusClient):
                log.warning("the executive closed the channel, exiting")
                return EXIT_OK
        # the inference thread writes the pipe after each outcome it queues, so without
        # the pipe ready there is nothing (or nothing yet: its byte follows) to collect
        finished = worker.finished() if worker.wake_r in ready else []
        if finished and not (core.stop_requested or shutdown.signal_name):
            # jobs that arrived with these outcomes go to the inference thread before
            # their results are built (start_job holds back when paced, at the
            # pipeline's depth or when maintenance waits), not after, or it idles
            _hand_over(core, worker, clock.monotonic_s())
        results = [env for outcome in finished for env in core.finish_job(outcome)]
        now_s = clock.monotonic_s()
        if not (core.stop_requested or shutdown.signal_name):
            try:
                core.maintain(now_s)  # scrub, new session: only with the worker idle
            except ModelError as exc:
                log.error("%s", exc)
                link.send(results)
                return EXIT_MODEL
            # hand over the next jobs before the results go out: the worker infers
            # (onnxruntime releases the GIL) while this thread encodes and sends
            _hand_over(core, worker, now_s)
        link.send(results)
        if core.stop_requested:
            log.info("stop requested%s", f": {core.stop_reason}" if core.stop_reason else "")
            return EXIT_OK
        if shutdown.signal_name:
            log.info("%s received, exiting", shutdown.signal_name)
            return EXIT_OK
        if now_s >= next_parent_check_s:
            next_parent_check_s = now_s + PARENT_CHECK_S
            if os.getppid() != parent_pid:
                log.warning("parent %d is gone, exiting", parent_pid)
                return EXIT_OK


def _hand_over(core: PayloadCore, worker: _Worker, now_s: float) -> None:
    """Every job the core lets start now goes to the inference thread."""
    while (job := core.start_job(now_s)) is not None:
        worker.submit(job)


class _Link:
    """The socket, with every frame sealed and checked (:mod:`flightsw.channel_auth`)."""

    def __init__(self, channel: Transport, key: bytes) -> None:
        self.channel = channel
        self.key = key

    def drain(self, core: PayloadCore, clock: ParentSyncedClock) -> None:
        """Handle everything waiting (bounded, so a flood cannot starve the jobs)."""
        for sealed in self.channel.receive(MAX_RECV_PER_TURN):
            frame = channel_auth.unseal(self.key, channel_auth.TO_PAYLOAD, sealed)
            if isinstance(frame, str):
                core.reject_frame(WireError(f"unauthenticated frame: {frame}"))
                continue
            env = try_decode(frame)
            if isinstance(env, WireError):
                core.reject_frame(env)
                continue
            clock.observe(env.time_s)
            self.send(core.handle(env, clock.monotonic_s()))

    def send(self, envelopes: list[Envelope]) -> None:
        for env in envelopes:
            try:
                frame = channel_auth.seal(self.key, channel_auth.TO_EXECUTIVE, encode(env))
            except WireError as exc:
                log.error("could not encode %s: %s", env.kind.value, exc)
                continue
            if not self.channel.send(frame):
                # The executive is not reading (gone or stuck): dropping beats blocking,
                # since a blocked payload could no longer notice that its parent died.
                log.warning("dropped %s: executive not reading", env.kind.value)
