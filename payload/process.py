"""The payload process: a thin ZeroMQ shell around :class:`payload.core.PayloadCore`.

One thread, one PAIR socket connected to the executive. The loop polls the socket with
a short timeout (never longer than the time until the next job may start, so pacing is
accurate), answers everything that arrived, then runs at most one job, and repeats. So a
ping waits at most one job (milliseconds) for its heartbeat.

It ends, with exit code 0, on a ``STOP`` envelope, on SIGTERM/SIGINT, or when its parent
dies (the parent pid changes: the payload is reparented), so no orphan outlives the
executive. That check runs between jobs; ``python -m payload`` also asks the kernel for
a SIGTERM at the parent's death (:func:`flightsw.lifeline.die_with_parent`), which
arrives even while it imports (and ends it then) or runs a job (it stops after the job).
Exit codes otherwise: 3 the model could not be loaded, 4 the socket failed.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import zmq

from flightsw.clock import RealClock
from flightsw.errors import WireError
from flightsw.wire import Envelope, encode, try_decode
from payload.core import PayloadCore
from payload.errors import ModelError
from payload.mission_clock import ParentSyncedClock
from payload.model import load_model

log = logging.getLogger("payload")

EXIT_OK = 0
EXIT_MODEL = 3
EXIT_SOCKET = 4
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


class _Shutdown:
    """Set by the signal handler; checked by the loop (no exception from a handler)."""

    def __init__(self) -> None:
        self.signal_name = ""

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        return 0.0


def run(options: ProcessOptions) -> int:
    """Load the model, connect, serve until told to stop; returns the exit code."""
    shutdown = _Shutdown()
    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    parent_pid = options.parent_pid if options.parent_pid is not None else os.getppid()
    if os.getppid() != parent_pid:
        log.warning("parent %d is gone before we started, exiting", parent_pid)
        return EXIT_OK
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
    core = PayloadCore(model, clock, incarnation=options.incarnation, pid=os.getpid(),
                       rss_mb=rss_mb)

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    try:
        sock.setsockopt(zmq.LINGER, LINGER_MS)
        sock.connect(options.endpoint)
        return _serve(sock, core, clock, shutdown, parent_pid)
    except zmq.ZMQError as exc:
        log.error("socket failed on %s: %s", options.endpoint, exc)
        return EXIT_SOCKET
    finally:
        sock.close(linger=LINGER_MS)
        ctx.term()


def _serve(sock: zmq.Socket[bytes], core: PayloadCore, clock: ParentSyncedClock,
           shutdown: _Shutdown, parent_pid: int) -> int:
    _send(sock, [core.ready_heartbeat(clock.monotonic_s())])
    next_parent_check_s = clock.monotonic_s() + PARENT_CHECK_S
    while True:
        now_s = clock.monotonic_s()
        wait = core.wait_s(now_s)
        timeout_s = POLL_MAX_S if wait is None else min(wait, POLL_MAX_S)
        if sock.poll(int(timeout_s * 1000), zmq.POLLIN):
            _drain(sock, core, clock)
        if core.stop_requested:
            log.info("stop requested%s", f": {core.stop_reason}" if core.stop_reason else "")
            return EXIT_OK
        if shutdown.signal_name:
            log.info("%s received, exiting", shutdown.signal_name)
            return EXIT_OK
        now_s = clock.monotonic_s()
        if core.wait_s(now_s) == 0.0:
            _send(sock, core.run_next_job(now_s))
        if now_s >= next_parent_check_s:
            next_parent_check_s = now_s + PARENT_CHECK_S
            if os.getppid() != parent_pid:
                log.warning("parent %d is gone, exiting", parent_pid)
                return EXIT_OK


def _drain(sock: zmq.Socket[bytes], core: PayloadCore, clock: ParentSyncedClock) -> None:
    """Handle everything waiting on the socket (bounded, so a flood cannot starve jobs)."""
    for _ in range(MAX_RECV_PER_TURN):
        try:
            frame = sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        env = try_decode(frame)
        if isinstance(env, WireError):
            core.reject_frame(env)
            continue
        clock.observe(env.time_s)
        _send(sock, core.handle(env, clock.monotonic_s()))


def _send(sock: zmq.Socket[bytes], envelopes: list[Envelope]) -> None:
    for env in envelopes:
        try:
            sock.send(encode(env), zmq.NOBLOCK)
        except zmq.Again:
            # The executive is not reading (gone or stuck): dropping beats blocking, since
            # a blocked payload could no longer notice that its parent died.
            log.warning("dropped %s: executive not reading", env.kind.value)
        except WireError as exc:
            log.error("could not encode %s: %s", env.kind.value, exc)
