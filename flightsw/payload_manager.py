"""The executive's side of the payload: spawn, ping, feed jobs, collect results.

The policy (when to restart) is :mod:`flightsw.supervisor`; this module is the shell that
carries it out with a real child process (``python -m payload``) and a ZeroMQ PAIR socket
per incarnation (a fresh socket for every child, so a dead child's stale messages can
never be mistaken for the new one's).

Two ways to run, chosen by the executive's clock:

- *lockstep* (sim clock): every ping and job is answered before the sim moves on, so a
  run is deterministic; the payload's activity is the fraction of a capture's tiles the
  throttle let it classify.
- *free running* (real clock): the payload is kept fed with work and paces itself to the
  throttle's duty cycle; its activity is the busy fraction it measures and reports.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from flightsw import supervisor
from flightsw.clock import Clock
from flightsw.config import FlightConfig
from flightsw.dictionary import Arg, ArgType, Command, Declarations, Event, Severity, Telemetry
from flightsw.sockets import has_input
from flightsw.wire import Envelope, Kind, Sequencer, try_decode

Emit = Callable[[str, Mapping[str, Any], float], Any]

LOCKSTEP_PING_TIMEOUT_MS = 2_000
LOCKSTEP_JOB_TIMEOUT_MS = 5_000  # the biggest capture takes ~0.1 s; 50x margin
LOCKSTEP_READY_TIMEOUT_MS = 30_000
LOCKSTEP_PING_LAG_CYCLES = 3
"""On sim time a heartbeat may come this many cycles late before the executive waits for
it: the payload answers between jobs, and waiting at once would put every capture's
inference on the sim's critical path. Counted in cycles, so runs stay deterministic."""
FREE_RUN_JOBS_IN_FLIGHT = 4  # enough queued work that the payload never waits for us


@dataclass
class ResultWindow:
    """Job results gathered since the last data product was made."""

    jobs: int = 0
    failed: int = 0
    tiles: int = 0
    cloudy: int = 0
    clear: int = 0
    selected: int = 0
    correct: int = 0
    infer_ms: float = 0.0
    job_ids: list[int] = field(default_factory=list)


class PayloadManager:
    def __init__(self, cfg: FlightConfig, clock: Clock, emit: Emit, *, lockstep: bool,
                 ctx: zmq.Context[Any], model_path: str | None = None,
                 python: str = sys.executable, run_dir: Path | None = None) -> None:
        self._cfg = cfg
        self._clock = clock
        self._emit = emit
        self.lockstep = lockstep
        self._ctx = ctx
        self._model_path = model_path
        self._python = python
        self._run_dir = run_dir
        self.state = supervisor.SupervisorState()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: zmq.Socket[Any] | None = None
        self._seq = Sequencer("flight")
        self._ping_n = 0
        self._hb_seen_for_ping = True
        self._next_job_id = 1
        self._in_flight: set[int] = set()
        self.throttle_frac = 0.0
        self.powered = True
        self.window = ResultWindow()
        self.last_hb: dict[str, Any] = {}
        self.activity_frac = 0.0
        self.jobs_done = 0
        self.jobs_failed = 0
        self.tiles_done = 0
        self.frames_rejected = 0
        self.operator_cap_frac = 1.0
        self._position = (0.0, 0.0)
        self._cycle = 0
        self._ping_cycle = 0

    # --- the 1 Hz supervision cycle -------------------------------------------------------
    def supervise(self, now_s: float) -> None:
        self._cycle += 1
        pending = False
        if self.lockstep and self.state.running and not self._hb_seen_for_ping:
            if self._cycle - self._ping_cycle < LOCKSTEP_PING_LAG_CYCLES:
                pending = True  # not late yet; look again next cycle
            else:
                # wait (in wall time) rather than count a miss, so that a slow machine
                # never looks like a hung payload on sim time
                timeout = (LOCKSTEP_PING_TIMEOUT_MS if self.state.ready
                           else LOCKSTEP_READY_TIMEOUT_MS)
                self._await(lambda: self._hb_seen_for_ping, timeout, now_s)
        exited = self._proc.poll() if self._proc is not None else None
        heartbeat_ok: bool | None = None if pending else self._hb_seen_for_ping
        self.state, actions, events = supervisor.on_cycle(
            self.state, now_s=now_s, exited=exited, heartbeat_ok=heartbeat_ok, cfg=self._cfg)
        for name, args in events:
            self._emit(name, args, now_s)
        for action in actions:
            if action == "kill":
                self._kill()
            elif action == "spawn":
                self._spawn(now_s)
        if self.state.running and self._sock is not None and not pending:
            self._ping(now_s)

    def restart(self, now_s: float, cause: str) -> None:
        self.state, actions, events = supervisor.request_restart(self.state, now_s, self._cfg,
                                                                 cause)
        for name, args in events:
            self._emit(name, args, now_s)
        if "kill" in actions:
            self._kill()

    def set_enabled(self, enabled: bool) -> None:
        self.state = supervisor.set_enabled(self.state, enabled)

    # --- throttle and jobs ------------------------------------------------------------------
    def set_throttle(self, level_frac: float, now_s: float) -> None:
        level = round(min(max(level_frac, 0.0), 1.0), 3)
        if level != self.throttle_frac and self.ready:
            self._send(Kind.PAYLOAD_CONFIG, {"throttle_frac": level, "pace": not self.lockstep},
                       now_s)
        self.throttle_frac = level

    @property
    def ready(self) -> bool:
        return self.state.running and self.state.ready and self._sock is not None

    def capture(self, now_s: float, lat_deg: float, lon_deg: float) -> None:
        """Lockstep: one capture per period, sized by the throttle.

        The previous capture's result is awaited first (it has normally arrived long
        before), so results land in the same capture window on every run.
        """
        self.collect(now_s)
        if not self.ready or not self.powered:
            self.activity_frac = 0.0
            return
        n_tiles = round(self.throttle_frac * self._cfg.tiles_per_capture)
        if n_tiles <= 0:
            self.activity_frac = 0.0
            return
        self._submit(n_tiles, now_s, lat_deg, lon_deg)
        self.activity_frac = n_tiles / max(self._cfg.tiles_per_capture, 1)

    def collect(self, now_s: float) -> None:
        """Lockstep: wait for every job in flight; a job with no answer in time fails."""
        if not self._in_flight:
            return
        self._await(lambda: not self._in_flight, LOCKSTEP_JOB_TIMEOUT_MS, now_s)
        for job_id in sorted(self._in_flight):
            self.jobs_failed += 1
            self.window.failed += 1
            self._emit("payload.job_failed", {"job_id": job_id, "reason": "no result in time"},
                       now_s)
        self._in_flight.clear()

    def keep_fed(self, now_s: float, lat_deg: float, lon_deg: float) -> None:
        """Free running: keep a small queue of work at the payload; it paces itself."""
        self._position = (lat_deg, lon_deg)
        self._refill(now_s)

    def _refill(self, now_s: float) -> None:
        if self.lockstep or not self.ready or not self.powered or self.throttle_frac <= 0:
            return
        lat_deg, lon_deg = self._position
        while len(self._in_flight) < FREE_RUN_JOBS_IN_FLIGHT:
            self._submit(self._cfg.tiles_per_capture, now_s, lat_deg, lon_deg)

    @property
    def socket(self) -> zmq.Socket[Any] | None:
        """The current incarnation's socket (for the executive's poller)."""
        return self._sock

    def _submit(self, n_tiles: int, now_s: float, lat_deg: float, lon_deg: float) -> int:
        job_id = self._next_job_id
        self._next_job_id += 1
        self._in_flight.add(job_id)
        self._send(Kind.PAYLOAD_JOB, {"job_id": job_id, "n_tiles": n_tiles,
                                      "seed": job_id * 7919 + self.state.incarnation,
                                      "lat_deg": lat_deg, "lon_deg": lon_deg}, now_s)
        return job_id

    def take_window(self) -> ResultWindow:
        window, self.window = self.window, ResultWindow()
        return window

    # --- I/O ------------------------------------------------------------------------------
    def service(self, now_s: float) -> None:
        """Drain whatever the payload has sent (non-blocking)."""
        if self._sock is None:
            return
        while has_input(self._sock):
            try:
                frame = self._sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            except zmq.ZMQError as exc:
                self._emit("exec.frame_rejected", {"stream": "payload", "reason": str(exc)},
                           now_s)
                break
            self._handle(frame, now_s)
        self._refill(now_s)

    def _handle(self, frame: bytes, now_s: float) -> None:
        env = try_decode(frame)
        if not isinstance(env, Envelope):
            self.frames_rejected += 1
            self._emit("exec.frame_rejected", {"stream": "payload", "reason": str(env)}, now_s)
            return
        body = env.body
        if env.kind is Kind.PAYLOAD_HEARTBEAT:
            self.last_hb = dict(body)
            if body.get("n") == self._ping_n or body.get("n") == 0:
                self._hb_seen_for_ping = True
            if not self.state.ready and body.get("state") in ("ready", "idle", "busy"):
                self.state = supervisor.on_ready(self.state)
                self._send(Kind.PAYLOAD_CONFIG, {"throttle_frac": self.throttle_frac,
                                                 "pace": not self.lockstep}, now_s)
                self._emit("payload.ready", {"incarnation": self.state.incarnation,
                                             "model": str(body.get("model", "?")),
                                             "provider": str(body.get("provider", "?"))},
                           now_s)
            if not self.lockstep:
                busy = body.get("busy_frac")
                if isinstance(busy, (int, float)) and not isinstance(busy, bool):
                    self.activity_frac = min(max(float(busy), 0.0), 1.0)
        elif env.kind is Kind.PAYLOAD_RESULT:
            self._on_result(body, now_s)
        else:
            self.frames_rejected += 1
            self._emit("exec.frame_rejected", {"stream": "payload",
                                               "reason": f"unexpected kind {env.kind.value}"},
                       now_s)

    def _on_result(self, body: Mapping[str, Any], now_s: float) -> None:
        job_id = body.get("job_id")
        if not isinstance(job_id, int) or job_id not in self._in_flight:
            self.frames_rejected += 1
            self._emit("exec.frame_rejected", {"stream": "payload",
                                               "reason": f"result for unknown job {job_id!r}"},
                       now_s)
            return
        self._in_flight.discard(job_id)
        w = self.window
        if not body.get("ok", False):
            self.jobs_failed += 1
            w.failed += 1
            self._emit("payload.job_failed", {"job_id": job_id,
                                              "reason": str(body.get("error", "?"))}, now_s)
            return
        self.jobs_done += 1
        n = _int(body.get("n_tiles"))
        self.tiles_done += n
        w.jobs += 1
        w.tiles += n
        w.cloudy += _int(body.get("n_cloudy"))
        w.clear += _int(body.get("n_clear"))
        selected = body.get("selected")
        w.selected += len(selected) if isinstance(selected, list) else 0
        w.correct += _int(body.get("n_correct"))
        infer = body.get("infer_ms")
        w.infer_ms += float(infer) if isinstance(infer, (int, float)) else 0.0
        if len(w.job_ids) < 64:
            w.job_ids.append(job_id)

    def _ping(self, now_s: float) -> None:
        self._ping_cycle = self._cycle
        self._ping_n += 1
        self._hb_seen_for_ping = False
        self._send(Kind.PAYLOAD_PING, {"n": self._ping_n}, now_s)

    def _await(self, done: Callable[[], bool], timeout_ms: int, now_s: float) -> None:
        """Lockstep only: block (in wall time) until ``done()`` or the timeout."""
        if self._sock is None:
            return
        remaining = timeout_ms
        while not done() and remaining > 0:
            if self._proc is not None and self._proc.poll() is not None:
                return
            step = min(remaining, 100)
            if self._sock.poll(step, zmq.POLLIN):
                self.service(now_s)
            remaining -= step

    def _send(self, kind: Kind, body: Mapping[str, Any], now_s: float) -> None:
        if self._sock is None:
            return
        try:
            self._sock.send(self._seq.pack(kind, self._clock.mission_time_s(), body), zmq.NOBLOCK)
        except zmq.Again:
            pass  # the child is not connected yet or is stuck; supervision will notice

    def _spawn(self, now_s: float) -> None:
        self._close_socket()
        sock = self._ctx.socket(zmq.PAIR)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 100)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        self._sock = sock
        self._in_flight.clear()
        self._hb_seen_for_ping = True
        argv = [self._python, "-m", "payload", "--endpoint", f"tcp://127.0.0.1:{port}",
                "--incarnation", str(self.state.incarnation), "--parent-pid", str(os.getpid())]
        if self._model_path:
            argv += ["--model", self._model_path]
        log = None
        if self._run_dir is not None:
            log = open(Path(self._run_dir) / "payload.log", "ab")
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=log or subprocess.DEVNULL,
                                          stderr=log or subprocess.DEVNULL,
                                          start_new_session=False)
        except OSError as exc:
            self._proc = None
            self._emit("payload.died", {"incarnation": self.state.incarnation,
                                        "cause": f"spawn failed: {exc}", "restart_in_s": 0},
                       now_s)
        finally:
            if log is not None:
                log.close()
        if self.lockstep:
            self._await(lambda: self.state.ready, LOCKSTEP_READY_TIMEOUT_MS, now_s)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._close_socket()
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5.0)

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def shutdown(self, now_s: float) -> None:
        if self._proc is not None and self._proc.poll() is None and self._sock is not None:
            self._send(Kind.STOP, {"reason": "executive shutdown"}, now_s)
            try:
                self._proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                pass
        self._kill()

    def telemetry(self) -> dict[str, Any]:
        hb = self.last_hb
        state = ("disabled" if not self.state.enabled else
                 "ready" if self.ready else "starting" if self.state.running else "down")
        return {
            "payload.state": state,
            "payload.jobs_done": self.jobs_done,
            "payload.jobs_failed": self.jobs_failed,
            "payload.tiles_done": self.tiles_done,
            "payload.activity_pct": round(self.activity_frac * 100, 1),
            "payload.restarts": self.state.restarts,
            "payload.incarnation": self.state.incarnation,
            "payload.model": str(hb.get("model", "")),
            "payload.rss_mb": float(hb.get("rss_mb", 0.0) or 0.0),
            "payload.operator_cap_pct": round(self.operator_cap_frac * 100, 1),
        }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


DECLARATIONS = Declarations(
    component="payload",
    commands=(
        Command("payload.throttle_cap", "Cap payload activity below what the thermal "
                "throttle and the mode allow.",
                args=(Arg("level_pct", ArgType.FLOAT, "most activity allowed", units="%",
                          min=0, max=100),)),
        Command("payload.restart", "Restart the payload process now."),
        Command("payload.enable", "Switch payload supervision (and power) on or off.",
                args=(Arg("enabled", ArgType.BOOL, "true to run the payload"),)),
    ),
    telemetry=(
        Telemetry("payload.state", ArgType.ENUM, "down / starting / ready / disabled"),
        Telemetry("payload.jobs_done", ArgType.INT, "Inference jobs completed since boot"),
        Telemetry("payload.jobs_failed", ArgType.INT, "Inference jobs failed since boot"),
        Telemetry("payload.tiles_done", ArgType.INT, "Image tiles classified since boot"),
        Telemetry("payload.activity_pct", ArgType.FLOAT, "Payload duty cycle (measured)",
                  units="%"),
        Telemetry("payload.restarts", ArgType.INT, "Payload process restarts since boot"),
        Telemetry("payload.incarnation", ArgType.INT, "Payload process generation"),
        Telemetry("payload.model", ArgType.STR, "Active model"),
        Telemetry("payload.rss_mb", ArgType.FLOAT, "Payload resident memory", units="MB"),
        Telemetry("payload.operator_cap_pct", ArgType.FLOAT, "Operator's activity cap",
                  units="%"),
    ),
    events=(
        Event("payload.started", Severity.ACTIVITY_HI,
              "Payload process #{incarnation} starting ({cause})"),
        Event("payload.ready", Severity.ACTIVITY_LO,
              "Payload #{incarnation} ready: model {model} on {provider}"),
        Event("payload.died", Severity.WARNING_HI,
              "Payload #{incarnation} down: {cause}; restart in {restart_in_s} s"),
        Event("payload.stopped", Severity.ACTIVITY_HI, "Payload stopped: {reason}"),
        Event("payload.heartbeat_late", Severity.WARNING_LO,
              "Payload heartbeat late ({misses} of {allowed} cycles)", throttle=10),
        Event("payload.job_failed", Severity.WARNING_LO, "Job {job_id} failed: {reason}",
              throttle=20),
    ),
)
