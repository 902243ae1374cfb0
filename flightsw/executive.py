"""The flight executive: one process that keeps the spacecraft alive and the payload busy.

It owns the components (modes, thermal throttle, power, payload supervision, command
dispatch, the space link and its recorder) and runs them in three rate groups on the
clock it is given:

- ``fast`` (10 Hz): uplinked commands, payload messages, fresh sensor samples;
- ``slow`` (1 Hz): mode rules, throttle, payload supervision, housekeeping, downlink;
- ``capture`` (the profile's capture period): payload work and its data product.

With a :class:`~flightsw.clock.SimClock` it follows the plant's ticks in lockstep (each
TICK is answered with ACTUATORS after the cycles up to that time ran); with a
:class:`~flightsw.clock.RealClock` it runs free and talks to the plant (or a board) by
samples. Every error inside a cycle becomes an event; nothing inside the loop may stop
the executive except a STOP or a signal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from flightsw import modes, power, throttle
from flightsw.catalog import build_dictionary
from flightsw.clock import Clock, RealClock, SimClock
from flightsw.commanding import CommandDispatcher, VerificationRecord
from flightsw.config import FlightConfig
from flightsw.errors import FlightError, WireError
from flightsw.events import EventLog, EventRecord
from flightsw.hal import Actuators, Sensors
from flightsw.link import SpaceLink
from flightsw.payload_manager import PayloadManager
from flightsw.rategroups import RateGroup, RateGroups
from flightsw.recorder import Recorder
from flightsw.wire import Envelope, Kind, Sequencer, try_decode

log = logging.getLogger("flightsw.executive")

FAST_PERIOD_S = 0.1
SLOW_PERIOD_S = 1.0
LOCKSTEP_TICK_TIMEOUT_MS = 120_000  # the plant went away if it says nothing this long


@dataclass
class ExecutiveOptions:
    plant_endpoint: str
    link_endpoint: str
    lockstep: bool
    profile: str = "default"
    run_dir: Path | None = None
    model_path: str | None = None
    stats_out: Path | None = None


class Executive:
    def __init__(self, cfg: FlightConfig, opts: ExecutiveOptions,
                 ctx: zmq.Context[Any] | None = None) -> None:
        self.cfg = cfg
        self.opts = opts
        self.clock: Clock = SimClock() if opts.lockstep else RealClock()
        self.ctx = ctx or zmq.Context.instance()
        self.dictionary = build_dictionary(cfg)
        self.hk_period_s = cfg.hk_period_s
        self._hk_due_s = 0.0
        self._boot_s = self.clock.monotonic_s()
        self._stopping = ""
        self._plant_seq = Sequencer("flight")
        self.sensors = Sensors()
        self._have_sensors = False  # autonomy waits for the first sample after boot
        self._frames_rejected_plant = 0

        self.plant_sock = self.ctx.socket(zmq.PAIR)
        self.plant_sock.setsockopt(zmq.LINGER, 0)
        self.plant_sock.connect(opts.plant_endpoint)
        link_sock = self.ctx.socket(zmq.PAIR)
        link_sock.setsockopt(zmq.LINGER, 0)
        link_sock.setsockopt(zmq.SNDHWM, 10_000)
        link_sock.bind(opts.link_endpoint)
        self.link = SpaceLink(link_sock, Recorder(cfg.recorder_capacity), self.emit,
                              self.dictionary.hash, self.dictionary.version)
        self.events = EventLog(self.dictionary, self._on_event)
        self.dispatcher = CommandDispatcher(self.dictionary, self._on_verification, self.emit)
        self.mode = modes.boot(cfg, 0.0)
        self.throttle = throttle.ThrottleState()
        self.payload = PayloadManager(cfg, self.clock, self.emit, lockstep=opts.lockstep,
                                      ctx=self.ctx, model_path=opts.model_path,
                                      run_dir=opts.run_dir)
        self.payload.set_enabled(cfg.payload_enabled)
        self._register_handlers()
        self.groups = RateGroups(on_slip=self._on_slip)
        self.groups.add("fast", FAST_PERIOD_S, self._fast)
        self.groups.add("slow", SLOW_PERIOD_S, self._slow)
        self.groups.add("capture", cfg.capture_period_s, self._capture)

    # --- events and reports --------------------------------------------------------------
    def emit(self, name: str, args: Mapping[str, Any], time_s: float | None = None) -> None:
        self.events.emit(name, args, self.clock.mission_time_s())

    def _on_event(self, rec: EventRecord) -> None:
        log.info("EVT %s %s: %s", rec.severity, rec.name, rec.text)
        self.link.downlink(Kind.EVENT, rec.to_body(), rec.time_s)

    def _on_verification(self, rec: VerificationRecord) -> None:
        log.info("VER #%d %s %s %s", rec.cmd_seq, rec.name, rec.stage, rec.reason)
        self.link.downlink(Kind.VERIFICATION, rec.to_body(), self.clock.mission_time_s())

    def _on_slip(self, group: RateGroup, late_s: float, now_s: float) -> None:
        self.emit("exec.cycle_slip", {"group": group.name, "late_s": round(late_s, 3)})

    # --- command handlers ----------------------------------------------------------------
    def _register_handlers(self) -> None:
        d = self.dispatcher
        d.register("exec.noop", lambda args, now: None)
        d.register("exec.hk_period_set", self._cmd_hk_period)
        d.register("exec.events_unthrottle", self._cmd_unthrottle)
        d.register("mode.set", self._cmd_mode_set)
        d.register("payload.throttle_cap", self._cmd_throttle_cap)
        d.register("payload.restart", self._cmd_payload_restart)
        d.register("payload.enable", self._cmd_payload_enable)
        missing = d.missing_handlers()
        if missing:
            raise FlightError("declared commands without handlers", commands=missing)

    def _cmd_hk_period(self, args: dict[str, Any], now: float) -> str:
        self.hk_period_s = float(args["period_s"])
        return f"housekeeping every {self.hk_period_s:g} s"

    def _cmd_unthrottle(self, args: dict[str, Any], now: float) -> None:
        self.events.reset_throttle()

    def _cmd_mode_set(self, args: dict[str, Any], now: float) -> str:
        target = args["mode"]
        try:
            self.mode, events = modes.request(self.mode, target, self._mode_inputs(),
                                              self.cfg, now)
        except FlightError as exc:
            self.emit("mode.refused", {"target": target, "reason": exc.reason})
            raise
        self._emit_all(events)
        return f"mode {self.mode.mode}"

    def _cmd_throttle_cap(self, args: dict[str, Any], now: float) -> str:
        self.payload.operator_cap_frac = float(args["level_pct"]) / 100.0
        return f"payload capped at {args['level_pct']:g} %"

    def _cmd_payload_restart(self, args: dict[str, Any], now: float) -> None:
        self.payload.restart(now, "ground command")

    def _cmd_payload_enable(self, args: dict[str, Any], now: float) -> str:
        enabled = bool(args["enabled"])  # the dictionary has checked it is a bool
        self.payload.set_enabled(enabled)
        return "payload enabled" if enabled else "payload disabled"

    # --- cycles --------------------------------------------------------------------------
    def _fast(self, now: float) -> None:
        if not self.opts.lockstep:
            self._poll_plant()
        for env in self.link.receive(self.clock.mission_time_s()):
            self.dispatcher.dispatch(env, now)
        self.payload.service(now)

    def _slow(self, now: float) -> None:
        s = self.sensors
        if self._have_sensors:
            # before the first sample every reading is NaN: acting on that would send a
            # healthy spacecraft to SAFE at every boot
            self.mode, events = modes.auto_step(self.mode, self._mode_inputs(), self.cfg, now)
            self._emit_all(events)
            warning = power.battery_warning(s, self.cfg)
            if warning is not None:
                self.emit(*warning)
        spec = modes.MODES[self.mode.mode]
        self.payload.powered = spec.payload_on
        cap = min(spec.throttle_cap_frac, self.payload.operator_cap_frac)
        if self._have_sensors:
            self.throttle, events = throttle.step(self.throttle, s.payload_temp_c, cap,
                                                  SLOW_PERIOD_S, self.cfg)
            self._emit_all(events)
        level = self.throttle.level_frac if spec.payload_on and self._have_sensors else 0.0
        self.payload.supervise(now)
        self.payload.set_throttle(level, now)
        if not self.opts.lockstep:
            self.payload.keep_fed(now, _finite(s.lat_deg), _finite(s.lon_deg))
        self.link.set_contact(s.in_contact, s.contact_station, self.clock.mission_time_s())
        if now + 1e-9 >= self._hk_due_s:
            self._hk_due_s = now + self.hk_period_s
            self.link.downlink(Kind.TELEMETRY, {"points": self.housekeeping(now)},
                               self.clock.mission_time_s())
        self.link.new_cycle()
        self.link.flush()
        if not self.opts.lockstep:
            self._send_actuators()

    def _capture(self, now: float) -> None:
        s = self.sensors
        if self.opts.lockstep:
            self.payload.capture(now, _finite(s.lat_deg), _finite(s.lon_deg))
        self.downlink_products()

    def downlink_products(self) -> None:
        """Turn the job results gathered since the last capture into one data product."""
        window = self.payload.take_window()
        if window.jobs or window.failed:
            self.link.downlink(Kind.RESULT, {
                "jobs": window.jobs, "failed": window.failed, "tiles": window.tiles,
                "cloudy": window.cloudy, "clear": window.clear, "selected": window.selected,
                "correct": window.correct,
                "infer_ms_mean": round(window.infer_ms / window.jobs, 3) if window.jobs else 0.0,
                "job_ids": window.job_ids,
            }, self.clock.mission_time_s())

    def _emit_all(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for name, args in events:
            self.emit(name, args)

    def _mode_inputs(self) -> modes.ModeInputs:
        return modes.ModeInputs(self.sensors.battery_soc_frac, self.sensors.payload_temp_c,
                                payload_healthy=self.payload.state.enabled)

    def housekeeping(self, now: float) -> dict[str, Any]:
        points: dict[str, Any] = {
            "exec.uptime_s": round(now - self._boot_s, 1),
            "exec.cmds_accepted": self.dispatcher.accepted,
            "exec.cmds_rejected": self.dispatcher.rejected,
            "exec.cmds_failed": self.dispatcher.failed,
            "exec.frames_rejected": self.frames_rejected,
            "exec.cycle_slips": self.groups.slips,
            "exec.events_suppressed": self.events.suppressed,
            "mode.current": self.mode.mode,
            "mode.changes": self.mode.changes,
            "throttle.level_pct": round(self.throttle.level_frac * 100, 1),
            "throttle.zone": self.throttle.zone,
        }
        points.update(power.telemetry(self.sensors))
        points.update(power.thermal_telemetry(self.sensors))
        points.update(self.payload.telemetry())
        points.update(self.link.telemetry())
        points["link.next_aos_in_s"] = (None if math.isnan(self.sensors.next_contact_in_s)
                                        else round(self.sensors.next_contact_in_s))
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in points.items()}

    # --- plant bus -----------------------------------------------------------------------
    def actuators(self) -> Actuators:
        spec = modes.MODES[self.mode.mode]
        return Actuators(
            payload_on=spec.payload_on and self.payload.state.enabled,
            payload_activity_frac=self.payload.activity_frac if spec.payload_on else 0.0,
            heaters_on={},
            radio_tx_on=True,
            report_mode=self.mode.mode,
            report_throttle_frac=self.throttle.level_frac if spec.payload_on else 0.0,
            report_jobs_done=self.payload.jobs_done,
            report_tiles_done=self.payload.tiles_done,
            report_payload_restarts=self.payload.state.restarts,
        )

    def _send_actuators(self) -> None:
        frame = self._plant_seq.pack(Kind.ACTUATORS, self.clock.mission_time_s(),
                                     {"actuators": self.actuators().to_dict()})
        try:
            self.plant_sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            pass  # plant not connected; the next cycle sends a fresher sample

    def _take_sensors(self, body: Mapping[str, Any]) -> None:
        try:
            self.sensors = Sensors.from_dict(body.get("sensors", {}))
            self._have_sensors = True
        except WireError as exc:
            self._reject_plant(str(exc))

    def _reject_plant(self, reason: str) -> None:
        self._frames_rejected_plant += 1
        self.emit("exec.frame_rejected", {"stream": "plant", "reason": reason})

    @property
    def frames_rejected(self) -> int:
        """Undecodable or unexpected frames on every stream (link, payload, plant)."""
        return (self.link.frames_rejected + self.payload.frames_rejected
                + self._frames_rejected_plant)

    def _poll_plant(self) -> None:
        while True:
            try:
                frame = self.plant_sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            env = try_decode(frame)
            if not isinstance(env, Envelope):
                self._reject_plant(str(env))
                continue
            if env.kind in (Kind.SENSORS, Kind.TICK):
                self._take_sensors(env.body)
                if isinstance(self.clock, RealClock):
                    self.clock.sync_mission_time(env.time_s)  # the plant's GNSS time
            elif env.kind is Kind.STOP:
                self._stopping = str(env.body.get("reason", "plant stopped"))

    # --- main loops ----------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        self._stopping = reason

    def run(self) -> int:
        self.emit("exec.boot", {"profile": self.opts.profile, "mode": self.mode.mode,
                                "clock": "sim (lockstep)" if self.opts.lockstep else "real",
                                "dictionary_hash": self.dictionary.hash})
        try:
            if self.opts.lockstep:
                self._run_lockstep()
            else:
                self._run_free()
        finally:
            self._shutdown()
        return 0

    def _run_lockstep(self) -> None:
        assert isinstance(self.clock, SimClock)
        clock = self.clock
        first = True
        parent = os.getppid()
        while not self._stopping:
            if not self.plant_sock.poll(LOCKSTEP_TICK_TIMEOUT_MS, zmq.POLLIN):
                self._stopping = "plant silent"
                break
            if os.getppid() != parent:
                self._stopping = "parent died"
                break
            env = try_decode(self.plant_sock.recv())
            if not isinstance(env, Envelope):
                self._reject_plant(str(env))
                continue
            if env.kind is Kind.STOP:
                self._stopping = str(env.body.get("reason", "plant stopped"))
                break
            if env.kind is not Kind.TICK:
                self._reject_plant(f"expected tick, got {env.kind.value}")
                continue
            elapsed = env.body.get("elapsed_s")
            if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool):
                self._reject_plant("tick without elapsed_s")
                continue
            if first:
                clock.epoch_s = env.time_s - float(elapsed)
                first = False
            self._take_sensors(env.body)
            if float(elapsed) >= clock.monotonic_s():
                self.groups.run_until(float(elapsed), clock.advance_to)
            self.plant_sock.send(self._plant_seq.pack(
                Kind.ACTUATORS, clock.mission_time_s(),
                {"actuators": self.actuators().to_dict()}))

    def _run_free(self) -> None:
        assert isinstance(self.clock, RealClock)
        start = self.clock.monotonic_s()
        for g in self.groups.groups:
            g.next_s = start
        self._boot_s = start
        self._hk_due_s = start
        parent = os.getppid()
        poller = zmq.Poller()
        poller.register(self.plant_sock, zmq.POLLIN)
        polled_payload: zmq.Socket[Any] | None = None
        while not self._stopping:
            now = self.clock.monotonic_s()
            self.groups.run_due(now)
            if os.getppid() != parent:
                self._stopping = "parent died"
                break
            wait_ms = max(0.0, (self.groups.next_deadline_s() - self.clock.monotonic_s()) * 1000)
            # payload results are handled as they arrive, so the payload is never starved
            # of work between 10 Hz cycles; everything else waits for its rate group
            payload_sock = self.payload.socket
            if payload_sock is not polled_payload:  # a new payload incarnation
                if polled_payload is not None:
                    poller.unregister(polled_payload)  # bookkeeping only; safe once closed
                if payload_sock is not None:
                    poller.register(payload_sock, zmq.POLLIN)
                polled_payload = payload_sock
            ready = dict(poller.poll(int(min(wait_ms, 100))))
            if payload_sock is not None and payload_sock in ready:
                self.payload.service(self.clock.monotonic_s())

    def _shutdown(self) -> None:
        now = self.clock.monotonic_s()
        self.emit("exec.shutdown", {"reason": self._stopping or "exit"})
        if self.opts.lockstep:
            self.payload.collect(now)
        self.downlink_products()
        self.payload.shutdown(now)
        self.link.flush()
        if self.opts.stats_out is not None:
            self.write_stats(self.opts.stats_out)
        self.plant_sock.close(linger=0)

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode.mode,
            "mode_changes": self.mode.changes,
            "jobs_done": self.payload.jobs_done,
            "jobs_failed": self.payload.jobs_failed,
            "tiles_done": self.payload.tiles_done,
            "payload_restarts": self.payload.state.restarts,
            "records_made": self.link.recorder.stored_total,
            "frames_sent": self.link.frames_sent,
            "recorder_left": len(self.link.recorder),
            "recorder_evicted": self.link.recorder.evicted_total,
            "cmds_accepted": self.dispatcher.accepted,
            "cmds_rejected": self.dispatcher.rejected,
            "frames_rejected": self.frames_rejected,
            "events_emitted": self.events.emitted,
            "events_suppressed": self.events.suppressed,
            "cycle_slips": self.groups.slips,
            "fast_cycles": self.groups.groups[0].runs,
        }

    def write_stats(self, path: Path) -> None:
        from flightsw.stackinfo import atomic_write_text

        atomic_write_text(Path(path), json.dumps(self.stats(), indent=2))


def _finite(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def install_signal_handlers(executive: Executive) -> None:
    """SIGTERM/SIGINT end the loop cleanly (payload stopped, stats written), no traceback."""

    def handler(signum: int, _frame: Any) -> None:
        executive.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
