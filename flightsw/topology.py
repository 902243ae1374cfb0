"""The executive's topology: which components run in which rate group, in what order,
and where their outputs go. No I/O: the shell (:mod:`flightsw.executive`) hands frames
and samples in and carries frames and process actions out.

::

    fast (10 Hz)      uplink -> command dispatch -> component handlers
                      time-tagged commands that are due -> the same dispatch
                      housekeeping (every hk period) -> link recorder
                      link budget refill (the shell then sends what is ready)
    slow (1 Hz)       HAL sample -> modes -> power (load plan) -> heaters -> throttle
                      -> payload supervision
                      -> link contact (AOS/LOS, HELLO)
    capture (profile) payload capture (lockstep) -> data product -> link recorder

The whole state is one record, :class:`ExecState`, made of the components' states;
fields marked ``PERSIST`` are what :meth:`Topology.snapshot` returns for saving across a
reset. Every cycle and every entry point is guarded: an exception becomes the event
``exec.cycle_fault`` and the counter ``exec.cycle_faults``; the executive keeps running.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

from flightsw import (
    catalog,
    commanding,
    component,
    cycle_health,
    hal,
    heat_forecast,
    heaters,
    jobs,
    limits,
    link,
    model_files,
    model_store,
    modes,
    payload_supervision,
    planner,
    power,
    schedule,
    sensor_health,
    sequences,
    supervisor,
    throttle,
    uplink_auth,
)
from flightsw.catalog import build_dictionary
from flightsw.clock import Clock
from flightsw.component import PERSIST, Events, Handled, Tick, persisted
from flightsw.config import FlightConfig
from flightsw.errors import WireError
from flightsw.events import EventLog, EventLogState, EventRecord
from flightsw.hal import Actuators, Sensors
from flightsw.messages import CommandBody, ResultBody, TelemetryBody
from flightsw.payload_supervision import PayloadOut, PayloadState, SuperviseInputs
from flightsw.rategroups import RateGroup, RateGroups
from flightsw.recorder import Priority
from flightsw.records import Record
from flightsw.wire import Envelope, Kind, try_decode

_HELD_KINDS = (Kind.PAYLOAD_HEARTBEAT, Kind.PAYLOAD_RESULT)
UNEXPLAINED_RESET = "unexplained reset"

FAST_PERIOD_S = 0.1
SLOW_PERIOD_S = 1.0


@dataclass
class Housekeeping:
    period_s: float = field(default=1.0, metadata=PERSIST)
    due_s: float = 0.0  # monotonic
    mode: str = ""  # the mode whose period is set ("": none yet, set at the next cycle)


@dataclass
class ExecCounters:
    cycle_faults: int = field(default=0, metadata=PERSIST)
    boots: int = field(default=0, metadata=PERSIST)
    unexplained_resets_s: list[float] = field(default_factory=list, metadata=PERSIST)
    """Mission times of recent unexplained resets (the crash-loop window)."""
    sensor_rejects: int = 0
    plant_frames_rejected: int = 0
    boot_monotonic_s: float = 0.0
    last_fault: str = ""


@dataclass
class ExecState:
    """The executive's whole state: one field per component (named as the component in
    :func:`flightsw.catalog.components`), plus the executive's own books."""

    mode: modes.ModeState
    throttle: throttle.ThrottleState
    planner: planner.PlannerState
    power: power.PowerState
    heaters: heaters.HeaterState
    sensor_health: sensor_health.SensorHealthState
    limits: limits.LimitsState
    sequences: sequences.SequenceState
    payload: PayloadState
    jobs: jobs.JobsState
    link: link.LinkState
    model_store: model_store.ModelStoreState
    commands: commanding.CommandCounters
    auth: uplink_auth.AuthState
    schedule: schedule.ScheduleState
    cycles: cycle_health.CycleHealthState
    events: EventLogState
    housekeeping: Housekeeping
    counters: ExecCounters
    have_sensors: bool = False  # autonomy waits for the first sample after boot


class Topology:
    """Components wired to rate groups. Drive it with :meth:`run_until` (lockstep) or
    :meth:`run_due` (free running); feed it with the ``take_*``/``on_*`` methods."""

    def __init__(self, cfg: FlightConfig, clock: Clock, *, lockstep: bool,
                 profile: str = "default") -> None:
        self.cfg = cfg
        self.clock = clock
        self.lockstep = lockstep
        self.profile = profile
        self.components = catalog.components(cfg)
        self.dictionary = build_dictionary(cfg)
        self._point_owner = {t.name: c.name for c in self.components
                             for d in c.declare(cfg) for t in d.telemetry}
        """Which component reports each telemetry point (from the declarations), so the
        limit checker can build only the points it watches."""
        self._watched: tuple[tuple[str, ...], tuple[Any, ...] | None] = ((), None)
        self.state = ExecState(
            **{c.name: c.initial(cfg) for c in self.components},
            events=EventLogState(),
            housekeeping=Housekeeping(period_s=cfg.hk_period_s),
            counters=ExecCounters(boot_monotonic_s=clock.monotonic_s()),
        )
        self.state.mode = replace(self.state.mode, since_mission_time_s=clock.mission_time_s())
        self.state.link.dictionary_hash = self.dictionary.hash
        self.state.link.dictionary_version = self.dictionary.version
        self.events = EventLog(self.dictionary, self._downlink_event, self.state.events)
        self.routes = self._routes()
        missing = commanding.missing_handlers(self.dictionary, self.routes)
        if missing:
            raise RuntimeError(f"declared commands without handlers: {missing}")
        self.groups = RateGroups(on_slip=self._on_slip, on_overrun=self._on_overrun)
        self.groups.add("fast", FAST_PERIOD_S, self._fast_turn).skip = self._fast_idle_test
        self.groups.add("slow", SLOW_PERIOD_S, lambda now: self._guard("slow", self._slow))
        self.groups.add("capture", cfg.capture_period_s,
                        lambda now: self._guard("capture", self._capture))
        self.state.cycles.groups = self.groups.groups
        self.timer: Callable[[], float] | None = None
        """Wall seconds, to time each cycle's work (overruns); the shell sets it."""
        self.shell_quiet: Callable[[], bool] | None = None
        """Lockstep: the shell has nothing for a fast cycle (the uplink was found empty
        this tick, no file operation waits); with :meth:`fast_has_nothing_to_do` it
        lets a cycle be counted without being run. The shell sets it."""
        self.before_cycle: Callable[[str], None] | None = None
        self.after_cycle: Callable[[str], None] | None = None
        self._uplink: list[bytes] = []
        self._held: list[Envelope] = []
        """Lockstep: payload messages read but not yet applied. A heartbeat is applied at
        its ping's deadline and a result at the next capture, however early they came,
        so wall-clock timing never shows in what the executive does or reports."""
        self.payload_out = PayloadOut()
        self.position = (0.0, 0.0)
        self.dirty = False
        """Something that must not be lost changed (a command ran, the mode moved): the
        shell saves the state record at the end of this cycle, not at its next cadence."""

    # --- wiring ---------------------------------------------------------------------------
    def _routes(self) -> dict[str, commanding.Route]:
        def noop(st: Any, args: dict[str, Any], t: Tick) -> Handled[Any]:
            return Handled(st)

        def hk_period(st: Housekeeping, args: dict[str, Any], t: Tick) -> Handled[Housekeeping]:
            st.period_s = float(args["period_s"])
            st.due_s = min(st.due_s, t.monotonic_s + st.period_s)
            return Handled(st, f"housekeeping every {st.period_s:g} s")

        def unthrottle(st: EventLogState, args: dict[str, Any],
                       t: Tick) -> Handled[EventLogState]:
            self.events.reset_throttle()
            return Handled(st, "event throttles reset")

        routes = {
            "exec.noop": commanding.Route("counters", noop),
            "exec.hk_period_set": commanding.Route("housekeeping", hk_period),
            "exec.events_unthrottle": commanding.Route("events", unthrottle),
        }
        for c in self.components:
            for name, handler in c.handlers.items():
                routes[name] = commanding.Route(c.name, handler)
        return routes

    def tick(self) -> Tick:
        return Tick(self.clock.mission_time_s(), self.clock.monotonic_s())

    # --- events and records ------------------------------------------------------------------
    def emit(self, name: str, args: dict[str, Any]) -> None:
        self.events.emit(name, args, self.clock.mission_time_s())

    def emit_all(self, events: Events) -> None:
        for name, args in events:
            self.emit(name, args)

    def _downlink_event(self, rec: EventRecord) -> None:
        for name, args in link.record(self.state.link, Kind.EVENT, rec.to_body(), rec.time_s):
            if name != rec.name:  # an event that cannot be encoded is not re-raised forever
                self.events.emit(name, args, rec.time_s)

    def downlink(self, kind: Kind, body: Record | dict[str, Any],
                 priority: Priority | None = None) -> None:
        data = body.to_body() if isinstance(body, Record) else body
        self.emit_all(link.record(self.state.link, kind, data, self.clock.mission_time_s(),
                                  priority))

    def _on_slip(self, group: RateGroup, late_s: float, monotonic_s: float) -> None:
        self.emit("exec.cycle_slip", {"group": group.name, "late_s": round(late_s, 3)})

    def _on_overrun(self, group: RateGroup, took_s: float) -> None:
        if self.lockstep:
            return  # counted; an event would make the downlink depend on the wall clock
        self.emit("exec.cycle_overrun", {"group": group.name, "took_ms": round(took_s * 1e3),
                                         "period_ms": round(group.period_s * 1e3)})

    def _guard(self, where: str, fn: Callable[[], None]) -> None:
        if self.before_cycle is not None:
            self.before_cycle(where)
        timer = self.timer
        started_s = timer() if timer is not None else 0.0
        try:
            fn()
        except Exception as exc:
            self.fault(where, exc)
        if timer is not None:
            self.groups.note_duration(where, timer() - started_s)
        if self.after_cycle is not None:
            self.after_cycle(where)

    def fault(self, where: str, exc: BaseException) -> None:
        """Faults are telemetry: count it, say it, keep running."""
        c = self.state.counters
        c.cycle_faults += 1
        frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
        at = f" at {frame[0].name}:{frame[0].lineno}" if frame else ""
        c.last_fault = f"{type(exc).__name__}: {exc}"[:200] + at
        try:
            self.emit("exec.cycle_fault", {"where": where, "error": c.last_fault})
        except Exception:  # the fault path itself must never raise
            pass

    # --- inputs -------------------------------------------------------------------------------
    def take_sample(self, sample: Sensors) -> None:
        """A sensor sample from the HAL; impossible readings become "missing"."""
        try:
            clean, rejected = hal.screen(sample)
            if rejected:
                self.state.counters.sensor_rejects += len(rejected)
                self.emit("exec.sensor_rejected",
                          {"fields": hal.describe_rejected(sample, rejected)})
            self.state.sensor_health, clean, events = sensor_health.check(
                self.state.sensor_health, clean, rejected, self.tick(), self.cfg)
            self.emit_all(events)
            self.state.power.sensors = clean
            self.state.have_sensors = True
            lat, lon = clean.lat_deg, clean.lon_deg
            self.position = (0.0 if math.isnan(lat) else lat, 0.0 if math.isnan(lon) else lon)
        except Exception as exc:
            self.fault("sensor sample", exc)

    def reject_plant_frame(self, reason: str) -> None:
        self.state.counters.plant_frames_rejected += 1
        self.emit("exec.frame_rejected", {"stream": "plant", "reason": reason})

    def on_uplink(self, frames: list[bytes]) -> None:
        """Uplinked frames wait for the next fast cycle (commands run in cycle order)."""
        self._uplink.extend(frames)

    def on_payload(self, frames: list[bytes]) -> None:
        st = self.state
        for frame in frames:
            try:
                env = try_decode(frame)
                if not isinstance(env, Envelope):
                    st.payload.frames_rejected += 1
                    self.emit("exec.frame_rejected", {"stream": "payload", "reason": str(env)})
                    continue
                st.payload.unresponsive = False
                if self.lockstep and env.kind in _HELD_KINDS:
                    self._held.append(env)
                else:
                    self._apply_payload(env)
            except Exception as exc:
                self.fault("payload message", exc)

    def _apply_payload(self, env: Envelope) -> None:
        st = self.state
        st.payload, out, events = payload_supervision.receive(
            st.payload, env, self._supervise_inputs(), self.tick(), self.cfg)
        self._payload_out(out)
        self.emit_all(events)
        self._jobs_hear(env)

    def _apply_held(self, kind: Kind) -> None:
        keep: list[Envelope] = []
        for env in self._held:
            if env.kind is kind:
                try:
                    self._apply_payload(env)
                except Exception as exc:
                    self.fault("payload message", exc)
            else:
                keep.append(env)
        self._held = keep

    def apply_held(self) -> None:
        """Apply every held payload message now (shutdown: nothing is left unread)."""
        self._apply_held(Kind.PAYLOAD_HEARTBEAT)
        self._apply_held(Kind.PAYLOAD_RESULT)

    def _held_answers(self) -> tuple[set[int], set[int], bool]:
        """Ping numbers answered, job ids answered, and whether a ready heartbeat came."""
        pings: set[int] = set()
        jobs: set[int] = set()
        ready = False
        for env in self._held:
            if env.kind is Kind.PAYLOAD_HEARTBEAT:
                n = env.body.get("n")
                if isinstance(n, int):
                    pings.add(n)
                ready = ready or env.body.get("state") in ("ready", "idle", "busy")
            elif env.kind is Kind.PAYLOAD_RESULT:
                job_id = env.body.get("job_id")
                if isinstance(job_id, int):
                    jobs.add(job_id)
        return pings, jobs, ready

    def payload_exited(self, code: int) -> None:
        self.state.payload.exited = code

    def payload_spawn_failed(self, reason: str) -> None:
        self.state.payload.exited = -1
        self.emit("payload.died", {"incarnation": self.state.payload.sup.incarnation,
                                   "cause": f"spawn failed: {reason}", "restart_in_s": 0})

    def payload_rss(self, rss_mb: float | None) -> None:
        """The child's resident memory, as the OS reports it (the shell reads it)."""
        self.state.payload.rss_mb = rss_mb

    def payload_forged(self, reason: str) -> None:
        """A frame on the payload channel failed authentication: not from our child."""
        self.state.payload.frames_forged += 1
        self.emit("payload.forged_frame", {"reason": reason})

    def payload_unresponsive(self, grace_s: float) -> None:
        self.state.payload.unresponsive = True
        self.emit("payload.unresponsive", {"grace_s": grace_s})

    def take_payload_out(self) -> PayloadOut:
        out = self.payload_out
        if out.messages or out.actions:  # most cycles have nothing: no new object then
            self.payload_out = PayloadOut()
        return out

    def _payload_out(self, out: PayloadOut) -> None:
        self.payload_out.messages += out.messages
        self.payload_out.actions += out.actions
        if "spawn" in out.actions:
            self.payload_out.spawn_model = out.spawn_model
        if out.safe_reason:
            self.dirty = True
            if self.state.mode.mode != "SAFE":
                st = self.state
                st.mode, events = modes.force(st.mode, "SAFE", out.safe_reason,
                                              self.clock.mission_time_s())
                self.emit_all(events)

    # --- what the lockstep shell must wait for -------------------------------------------------
    def payload_answer_due(self, group: str) -> bool:
        """Lockstep: the next ``group`` cycle needs an answer from the payload first, so
        runs stay deterministic (results land in the same window every time)."""
        p = self.state.payload
        if not p.sup.running or p.unresponsive or group == "fast":
            return False
        pings, jobs, ready = self._held_answers()
        if not p.sup.ready:
            return group == "slow" and not ready
        if group == "capture":
            return bool(set(p.in_flight) - jobs)
        return payload_supervision.heartbeat_overdue(p) and p.ping_n not in pings

    # --- cycles ----------------------------------------------------------------------------------
    def _fast_turn(self, _now: float) -> None:
        idle = self._fast_idle_test()
        if idle is not None and idle():
            return  # counted as run (it would have done nothing): only the budget refilled
        self._guard("fast", self._fast)

    def _fast_idle_test(self) -> Callable[[], bool] | None:
        """The rate groups' batch of idle fast cycles (:attr:`RateGroup.skip`): the
        same test as :meth:`fast_has_nothing_to_do`, split in what no instant can change
        (checked once) and what time alone changes (checked at each instant)."""
        if not (self.shell_quiet is not None and self.shell_quiet() and self._fast_inputs_idle()):
            return None
        return self._fast_idle_now

    def _fast_idle_now(self) -> bool:
        st = self.state
        if not self._fast_time_idle(st):
            return False
        link.new_cycle(st.link, link.FRAMES_PER_SECOND // 10)  # all an idle cycle does
        return True

    def fast_has_nothing_to_do(self) -> bool:
        """Lockstep: a fast cycle now would change nothing but the link's budget. A
        tick runs ten fast cycles back to back with one plant sample; after its first
        one has taken the uplink, run the jobs' bookkeeping and sent what was ready, the
        other nine find nothing new in their inputs (nothing is received between them),
        so only time can give them work: a housekeeping packet or a stored command
        coming due, a downlink copy's wait for an acknowledgement ending. Skipping
        them is about a fifth of the executive's work; a lockstep run archives exactly
        the same records. Free running always runs the cycle."""
        return self._fast_inputs_idle() and self._fast_time_idle(self.state)

    def _fast_inputs_idle(self) -> bool:
        """Nothing came in or waits to go out that a fast cycle would act on now."""
        st = self.state
        return (self.lockstep and not self._uplink
                and not self.payload_out.messages and not self.payload_out.actions
                and st.housekeeping.mode == st.mode.mode
                and not st.jobs.cancel_out and not st.jobs.outbox)

    def _fast_time_idle(self, st: ExecState) -> bool:
        """Nothing comes due at this instant: housekeeping, a stored command, a
        downlink copy whose wait for an acknowledgement ends."""
        now_s = self.clock.mission_time_s()
        return (self.clock.monotonic_s() + 1e-9 < st.housekeeping.due_s
                and not (st.schedule.entries and st.schedule.entries[0].at_s <= now_s)
                and link.nothing_to_send(st.link, now_s))

    def _fast(self) -> None:
        st = self.state
        t = self.tick()
        if self._uplink:
            frames, self._uplink = self._uplink, []
            self._dispatch(frames, t)
        self._run_scheduled(t)
        hk = st.housekeeping
        if hk.mode != st.mode.mode:  # the mode's entry action: its telemetry rate, now
            hk.mode, hk.period_s = st.mode.mode, modes.hk_period_s(st.mode.mode, self.cfg)
            hk.due_s = t.monotonic_s
        if t.monotonic_s + 1e-9 >= hk.due_s:
            hk.due_s = round(hk.due_s + hk.period_s, 9)
            if hk.due_s <= t.monotonic_s:  # after a stall: no burst of stale packets
                hk.due_s = t.monotonic_s + hk.period_s
            self.downlink(Kind.TELEMETRY, TelemetryBody(self.housekeeping()))
        if not self.lockstep:  # free running: a death is noticed within a fast cycle
            st.payload, out, events = payload_supervision.watch(
                st.payload, self._supervise_inputs(), t, self.cfg)
            self._payload_out(out)
            self.emit_all(events)
        self._jobs_run(t, start=False)
        link.note_evictions(st.link)
        link.new_cycle(st.link, link.FRAMES_PER_SECOND // 10)

    def take_uplink(self, mission_time_s: float) -> None:
        """Outside the rate groups (the shell's shutdown drain): act on the uplink now,
        acknowledgements and commands alike, so nothing that came up is ignored."""
        frames, self._uplink = self._uplink, []
        if frames:
            t = Tick(mission_time_s, self.clock.monotonic_s())
            self._guard("uplink", lambda: self._dispatch(frames, t))

    def _run_scheduled(self, t: Tick) -> None:
        st = self.state
        if not st.schedule.entries or st.schedule.entries[0].at_s > t.mission_time_s:
            return
        record = self._states()
        reports, events = commanding.run_scheduled(st.commands, self.routes, record, t)
        self._set_states(record)
        self.emit_all(events)
        for report in reports:
            self.downlink(Kind.VERIFICATION, report)
        self.dirty = True

    def _dispatch(self, frames: list[bytes], t: Tick) -> None:
        st = self.state
        frames, reports, events = uplink_auth.admit(st.auth, frames, t)
        st.link.uplink_seq_top = uplink_auth.window_top(st.auth)
        self.emit_all(events)
        for report in reports:  # "received", or a duplicate's outcome again
            self.downlink(Kind.VERIFICATION, report)
        commands, events = link.receive(st.link, frames, t)
        self.emit_all(events)
        self._run_commands(commands, t)

    def _run_commands(self, commands: list[tuple[Envelope, CommandBody | WireError]],
                      t: Tick) -> None:
        st = self.state
        record = self._states()
        for env, body in commands:
            reports, events = commanding.dispatch(st.commands, self.dictionary, self.routes,
                                                  record, env, body, t)
            self._set_states(record)
            self.emit_all(events)
            for report in reports:
                self.downlink(Kind.VERIFICATION, report)
            if env.source == uplink_auth.GROUND_SOURCE and reports:
                uplink_auth.remember(st.auth, env.source, env.seq, reports[0].name, reports)
            self.dirty = True

    def _slow(self) -> None:
        st = self.state
        t = self.tick()
        if self.lockstep and (not st.payload.sup.ready
                              or payload_supervision.at_ping_deadline(st.payload)):
            self._apply_held(Kind.PAYLOAD_HEARTBEAT)
        st.sensor_health, sensors, events = sensor_health.fresh(
            st.sensor_health, st.power.sensors, t, self.cfg)
        self.emit_all(events)
        if st.have_sensors:
            # before the first sample every reading is NaN: acting on that would send a
            # healthy spacecraft to SAFE at every boot
            st.mode, _spec, events = modes.step(st.mode, self._mode_inputs(sensors), t,
                                                 self.cfg)
            if events:
                self.dirty = True
            self.emit_all(events)
            st.power, load_plan, events = power.step(
                st.power, sensors, t, self.cfg, mode=st.mode.mode,
                mode_level=modes.shed_level(modes.MODES[st.mode.mode]))
            self.emit_all(events)
            st.heaters, events = heaters.step(
                st.heaters, heaters.inputs_from(sensors, load_plan, self.cfg), t, self.cfg)
            self.emit_all(events)
            self._check_limits(t)
            self._run_sequence(t)
            st.planner, _plan_cap, events = planner.step(st.planner, sensors,
                                                         st.throttle.level_frac, t, self.cfg)
            self.emit_all(events)
        spec = modes.MODES[st.mode.mode]
        cap = min(spec.throttle_cap_frac, st.payload.operator_cap_frac, st.planner.cap_frac)
        if st.have_sensors:
            st.throttle, events = throttle.step(
                st.throttle, sensors.payload_temp_c, cap, SLOW_PERIOD_S, self.cfg,
                avionics_temp_c=sensors.avionics_temp_c, battery_temp_c=sensors.battery_temp_c,
                precool_c=st.planner.precool.active_c,
                **heat_forecast.shifts(st.planner.heat))
            self.emit_all(events)
        st.payload, out, events = payload_supervision.supervise(
            st.payload, self._supervise_inputs(), t, self.cfg)
        self._payload_out(out)
        self.emit_all(events)
        model_files.watch_trial(self)  # a new model failing its first jobs: roll back
        st.link.uplink_seq_top = uplink_auth.window_top(st.auth)  # said in HELLO
        jobs.sample(st.jobs, sensors.payload_temp_c, sensors.load_power_w,
                    st.throttle.level_frac, sensors.compute_power_w)
        self._jobs_run(t, start=not self.lockstep)
        self.emit_all(link.set_contact(st.link, sensors.in_contact, sensors.contact_station, t))
        self.emit_all(link.eviction_report(st.link))

    def _check_limits(self, t: Tick) -> None:
        """The limit checker over this second's housekeeping: a safer mode it demands is
        forced now (before the throttle and the payload see the mode), and a stored
        sequence it names is started (:meth:`_run_sequence` runs it a step a second)."""
        st = self.state
        st.limits, out, events = limits.step(st.limits, self._watched_points(), st.mode.mode, t)
        self.emit_all(events)
        if out.mode_target is not None:
            st.mode, events = modes.force(st.mode, out.mode_target, out.mode_reason,
                                          t.mission_time_s)
            self.emit_all(events)
            self.dirty = True
        for name, by in out.sequences:
            st.sequences, events = sequences.start(st.sequences, name, by)
            self.emit_all(events)

    def _run_sequence(self, t: Tick) -> None:
        """The running stored sequence's next step, through the normal dispatch."""
        if not self.state.sequences.running:
            return
        record = self._states()
        reports, events = sequences.run_step(self.state.commands, self.dictionary,
                                             self.routes, record, t)
        self._set_states(record)
        self.emit_all(events)
        for report in reports:
            self.downlink(Kind.VERIFICATION, report)
        self.dirty = True

    def _capture(self) -> None:
        st = self.state
        if self.lockstep:
            self._apply_held(Kind.PAYLOAD_RESULT)
            if payload_supervision.results_due(st.payload) and not st.payload.unresponsive:
                self.emit_all(payload_supervision.expire_in_flight(
                    st.payload, "no result before the next capture"))
            self._jobs_run(self.tick(), start=True)
            st.payload, out, events = payload_supervision.capture(
                st.payload, self._supervise_inputs(), self.tick(), self.cfg)
            self._payload_out(out)
            self.emit_all(events)
        self.downlink_product()

    def _jobs_hear(self, env: Envelope) -> None:
        """A payload message, for the operator jobs: a result may end the running job."""
        st = self.state
        try:
            if env.kind is Kind.PAYLOAD_RESULT:
                self.emit_all(jobs.on_result(st.jobs, ResultBody.from_body(env.body),
                                             self.tick()))
            elif env.kind is Kind.PAYLOAD_HEARTBEAT:
                jobs.note_provider(st.jobs, str(env.body.get("provider") or ""))
        except WireError:
            return  # already counted and reported by payload supervision
        self._jobs_downlink()

    def _jobs_run(self, t: Tick, *, start: bool) -> None:
        """Operator jobs: end one that went down with its payload; start the next."""
        st = self.state
        p = st.payload
        self.emit_all(jobs.reconcile(st.jobs, set(p.in_flight), p.sup.running,
                                     p.sup.incarnation, p.sup.last_cause, t))
        for job_id in jobs.take_cancels(st.jobs):
            self._payload_out(payload_supervision.cancel(p, job_id, "cancelled by the ground"))
        if start:
            self.emit_all(jobs.expire_deadlines(st.jobs, t))
            inp = self._supervise_inputs()
            job = (jobs.take_next(st.jobs) if payload_supervision.ready(p) and inp.powered
                   and p.throttle_frac > 0 else None)
            if job is not None:
                out = PayloadOut()
                job_id = payload_supervision.send_operator_job(
                    p, out, job.n_tiles, inp.lat_deg, inp.lon_deg, jobs.job_fields(job))
                self._payload_out(out)
                self.emit_all(jobs.started(st.jobs, job, job_id, p.sup.incarnation, t))
                self.dirty = True
        self._jobs_downlink()

    def _jobs_downlink(self) -> None:
        for body in jobs.take_outbox(self.state.jobs):
            self.downlink(Kind.RESULT, body, jobs.downlink_priority(body))
            self.dirty = True

    def downlink_product(self) -> None:
        self.state.payload, product = payload_supervision.take_product(self.state.payload)
        if product is not None:
            self.downlink(Kind.RESULT, product)

    def _supervise_inputs(self) -> SuperviseInputs:
        st = self.state
        spec = modes.MODES[st.mode.mode]
        powered = spec.payload_on and st.power.load_plan.payload_allowed
        level = st.throttle.level_frac if powered and st.have_sensors else 0.0
        return SuperviseInputs(powered=powered, throttle_frac=level,
                               lockstep=self.lockstep, lat_deg=self.position[0],
                               lon_deg=self.position[1])

    def _mode_inputs(self, s: Sensors) -> modes.ModeInputs:
        return modes.mode_inputs(s, payload_healthy=self.state.payload.sup.enabled)

    def _states(self) -> dict[str, Any]:
        return {f.name: getattr(self.state, f.name) for f in fields(self.state)}

    def _set_states(self, record: dict[str, Any]) -> None:
        for name, value in record.items():
            setattr(self.state, name, value)

    # --- driving -----------------------------------------------------------------------------
    def run_until(self, monotonic_s: float, set_time: Callable[[float], None]) -> None:
        """Lockstep: every cycle due up to ``monotonic_s``, in time order."""
        self.groups.run_until(monotonic_s, set_time)

    def run_due(self, monotonic_s: float) -> None:
        """Free running: what is due now; slips counted, never replayed."""
        self.groups.run_due(monotonic_s)

    def start_at(self, monotonic_s: float) -> None:
        for g in self.groups.groups:
            g.next_s = monotonic_s
        self.state.counters.boot_monotonic_s = monotonic_s
        self.state.housekeeping.due_s = monotonic_s

    # --- outputs -----------------------------------------------------------------------------
    def actuators(self) -> Actuators:
        st = self.state
        spec = modes.MODES[st.mode.mode]
        p = st.payload
        powered = spec.payload_on and st.power.load_plan.payload_allowed
        return Actuators(
            payload_on=powered and p.sup.enabled,
            payload_activity_frac=p.activity_frac if powered else 0.0,
            heaters_on=heaters.commands(st.heaters, self.clock.monotonic_s()),
            radio_tx_on=True,
            report_mode=st.mode.mode,
            report_throttle_frac=st.throttle.level_frac if spec.payload_on else 0.0,
            report_jobs_done=p.jobs_done,
            report_tiles_done=p.tiles_done,
            report_payload_restarts=p.sup.restarts,
        )

    def _watched_points(self) -> dict[str, Any]:
        """The housekeeping the limit checker reads: the points of the components that
        report a watched point, built the same way as the whole sample (which costs ~0.1
        ms, half of the 1 Hz cycle's work). A watched point no component declares (the
        executive's own, ``link.next_aos_in_s``) takes the whole sample."""
        names = tuple(wp.point for wp in self.state.limits.watchpoints if wp.enabled)
        if names != self._watched[0]:
            owners = {self._point_owner.get(n) for n in names}
            self._watched = (names, None if None in owners else
                             tuple(c for c in self.components if c.name in owners))
        return self.housekeeping(self._watched[1])

    def housekeeping(self, only: Iterable[Any] | None = None) -> dict[str, Any]:
        """The housekeeping sample; ``only``: just these components' points (and the
        executive's own, which cost little)."""
        st = self.state
        t = self.tick()
        s = st.power.sensors
        points: dict[str, Any] = {
            "exec.uptime_s": round(t.monotonic_s - st.counters.boot_monotonic_s, 1),
            "exec.frames_rejected": self.frames_rejected,
            "exec.cycle_slips": self.groups.slips,
            "exec.cycle_faults": st.counters.cycle_faults,
            "exec.boots": st.counters.boots,
            "exec.sensor_rejects": st.counters.sensor_rejects,
            "exec.events_suppressed": st.events.suppressed,
            "exec.events_throttled": st.events.throttled_now,
        }
        for c in self.components if only is None else only:
            points.update(c.telemetry(getattr(st, c.name)))
        nxt = s.next_contact_in_s
        points["link.next_aos_in_s"] = None if not math.isfinite(nxt) else round(nxt)
        if not _all_finite(points.values()):  # found in C; then only the culprits change
            for k in [k for k, v in points.items()
                      if isinstance(v, float) and not math.isfinite(v)]:
                points[k] = None
        return points

    @property
    def frames_rejected(self) -> int:
        """Undecodable or unexpected frames on every stream (link, payload, plant)."""
        st = self.state
        return (st.link.frames_rejected + st.payload.frames_rejected
                + st.counters.plant_frames_rejected + sum(st.auth.rejected.values()))

    def restore(self, record: dict[str, Any], *, unexplained_reset: bool) -> Events:
        """Put a saved record back at boot. What cannot survive a reset is reset: the
        payload child is gone (its jobs in flight are requeued once, as for any payload
        death) and monotonic deadlines mean nothing across boots. After an unexplained
        reset (the last run did not stop in order) the spacecraft enters SAFE and waits
        for the ground."""
        st = self.state
        for f in fields(st):
            saved = record.get(f.name)
            if isinstance(saved, dict):
                setattr(st, f.name, component.restore(getattr(st, f.name), saved))
        p = st.payload
        p.sup = replace(p.sup, running=False, ready=False, misses=0, healthy_cycles=0,
                        restart_at_monotonic_s=(self.clock.monotonic_s() if p.sup.enabled
                                                else None),
                        backoff_s=0.0, spawned_monotonic_s=0.0, running_model="",
                        last_cause="executive reset")
        events = payload_supervision.lose_in_flight(p, "executive reset")
        st.mode = replace(st.mode, inputs=None)
        st.housekeeping.due_s = self.clock.monotonic_s()
        now = self.clock.mission_time_s()
        if unexplained_reset:
            # the downlink numbering needs no jump: the shell continues it exactly from
            # the recorder store, which is committed before any number leaves
            c = st.counters
            c.unexplained_resets_s = [t for t in c.unexplained_resets_s
                                      if now - t < self.cfg.crash_loop_window_s] + [now]
            if len(c.unexplained_resets_s) >= self.cfg.crash_loop_resets:
                # a crash loop: the minimal safe configuration, payload off, until the
                # ground says otherwise: the payload ladder's top rung, cleared by the
                # same command (payload.clear_faults)
                resets = len(c.unexplained_resets_s)
                p.sup = replace(p.sup, enabled=False, restart_at_monotonic_s=None,
                                level=supervisor.LADDER[-1].level,
                                lockout_reason=f"locked out by an executive crash loop "
                                               f"({resets} unexplained resets)")
                events.append(("exec.crash_loop", {
                    "resets": resets, "window_s": round(self.cfg.crash_loop_window_s)}))
            if st.mode.mode != "SAFE":
                st.mode, forced = modes.force(st.mode, "SAFE", UNEXPLAINED_RESET, now)
                events += forced
        self.dirty = True
        return events

    def count_boot(self) -> int:
        """One more boot (after any restore): its number goes into every HELLO."""
        c = self.state.counters
        c.boots += 1
        lk = self.state.link
        lk.boot_id = c.boots
        lk.boot_mission_time_s = self.clock.mission_time_s()
        lk.first_seq = lk.next_seq
        lk.seq_continued = lk.next_seq > 0  # restored numbering, else it starts at 0
        self.dirty = True
        return c.boots

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """What must survive a reset: each component's ``PERSIST`` fields, by component."""
        return {f.name: persisted(getattr(self.state, f.name)) for f in fields(self.state)}

    def stats(self) -> dict[str, Any]:
        st = self.state
        return {
            "mode": st.mode.mode,
            "mode_changes": st.mode.changes,
            "jobs_done": st.payload.jobs_done,
            "jobs_failed": st.payload.jobs_failed,
            "jobs_requeued": st.payload.jobs_requeued,
            "tiles_done": st.payload.tiles_done,
            "payload_restarts": st.payload.sup.restarts,
            "records_made": st.link.recorder.stored_total,
            "frames_sent": st.link.frames_sent,
            "recorder_left": len(st.link.recorder),
            "recorder_evicted": st.link.recorder.evicted_total,
            "cmds_accepted": st.commands.accepted,
            "cmds_rejected": st.commands.rejected,
            "frames_rejected": self.frames_rejected,
            "events_emitted": st.events.emitted,
            "events_suppressed": st.events.suppressed,
            "cycle_slips": self.groups.slips,
            "cycle_overruns": self.groups.overruns,
            "cycle_faults": st.counters.cycle_faults,
            "fast_cycles": self.groups.groups[0].runs,
        }


def _all_finite(values: Iterable[Any]) -> bool:
    """No float among ``values`` is infinite or NaN. Housekeeping asks twice a simulated
    second over 130+ points; summing the floats (picked out in C) answers it without a
    Python step per point: the sum of finite floats is finite unless it overflows, and
    any infinity or NaN makes it infinite, NaN or an error."""
    try:
        return math.isfinite(math.fsum(filter(float.__instancecheck__, values)))
    except (ValueError, OverflowError):  # inf + -inf; finite values too big to add
        return False


__all__ = ["ExecState", "Topology"]
