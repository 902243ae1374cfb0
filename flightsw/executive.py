"""The flight executive's shell: clocks, transports and the payload process around the
pure :class:`~flightsw.topology.Topology`.

With a :class:`~flightsw.clock.SimClock` it follows the plant's ticks in lockstep (each
TICK is answered with ACTUATORS after the cycles up to that time ran); with a
:class:`~flightsw.clock.RealClock` it runs free and talks to the plant (or a board) by
samples. The three streams are :class:`~flightsw.transport.Transport` values, so the
same shell runs over ZeroMQ in the sim stack and over in-memory pipes in the
in-process harness (:mod:`flightsw.harness`).

Waiting is bounded everywhere. In lockstep the payload is a real process doing real
inference, so the executive waits for its answers at sim deadlines (that is what makes a
run repeatable), but never longer than a wall-clock grace; past it the payload counts as
silent on sim time, and the supervisor's cycle-counted policy takes over.
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flightsw import channel_auth, cycle_health, keyring, uplink_auth
from flightsw import link as link_component
from flightsw.board.hybrid import BoardSensing
from flightsw.board.hybrid import from_option as board_from_option
from flightsw.board.threads import set_payload_threads
from flightsw.clock import Clock, RealClock, SimClock
from flightsw.config import FlightConfig
from flightsw.errors import FlightError, WireError
from flightsw.hal import Sensors
from flightsw.messages import ActuatorsBody, HelloBody, SensorsBody, StopBody, TickBody
from flightsw.model_files import ModelFiles, carry_out, store_dir
from flightsw.model_files import quiet as files_quiet
from flightsw.payload_host import PayloadHost, ProcessPayloadHost
from flightsw.recorder import Changes, Held
from flightsw.recorder_store import RECORDER_FILE, RecorderStore
from flightsw.serial_transport import SerialTransport
from flightsw.serial_transport import parse_endpoint as parse_serial_endpoint
from flightsw.state_store import StateStore
from flightsw.topology import Topology
from flightsw.transport import MemoryTransport, Transport, Waiter, ZmqTransport
from flightsw.unix_transport import EndpointError, plant_bus
from flightsw.watchdog import NoWatchdog, Watchdog, consume_notify_env, from_option
from flightsw.wire import Envelope, Kind, Sequencer, encode, try_decode

log = logging.getLogger("flightsw.executive")

PLANT_SILENT_S = 120.0  # lockstep: the plant went away if it says nothing this long
STOP_POLL_S = 0.2  # the longest any wait goes without looking at a stop request
PAYLOAD_READY_GRACE_S = 30.0  # model loading, wall time
PAYLOAD_ANSWER_GRACE_S = 2.0  # a heartbeat or a capture's result, wall time
STATE_FILE = "flight_state.bin"
STATE_SAVE_PERIOD_S = 1.0  # wall seconds between saves; a command or mode change saves now
DRAIN_MAX_S = 3.0
"""Shutdown: at most this long (wall) sending what the ground has not acknowledged and
taking its acknowledgements; what is still held stays in the recorder store."""
DRAIN_PROBE_S = 0.5  # shutdown drain: a copy unacknowledged this long (wall) goes again
REATTACH_AFTER_S = 3.0
"""Until the plant's first frame: after this long without one, connect to the plant afresh
and say HELLO again. A plant whose bound PAIR still holds our dead predecessor refuses a
peer that comes too early, without telling it; a new connection is taken."""
FIRST_SAMPLE_WAIT_S = 10.0  # free running: how long boot waits for the plant's time
MAX_UPLINK_FRAMES_PER_CYCLE = 64
"""Uplink frames taken per fast cycle; the rest wait in the transport (bounded by its
high-water mark, so a flooding sender is pushed back). The radio's 9.6 kbit/s carries
about 2 commands per cycle: this is 30 times that, and keeps a flood of valid commands
from stretching a cycle (measured before: 100k no-ops per second stalled housekeeping
for 55 s)."""
LINK_RCVHWM = 256  # uplink frames ZeroMQ may queue for the executive


@dataclass
class ExecutiveOptions:
    plant_endpoint: str
    link_endpoint: str
    lockstep: bool
    profile: str = "default"
    run_dir: Path | None = None
    model_path: str | None = None
    stats_out: Path | None = None
    watchdog: str = "none"
    """``auto|systemd|device:/path|none`` (:func:`flightsw.watchdog.from_option`)."""
    board: str = "none"
    """``auto|none|virtual:PATH``: the compute's temperature and power from a board
    (:func:`flightsw.board.hybrid.from_option`), the rest from the plant."""
    payload_threads: int | None = None
    """onnxruntime intra-op threads for the payload (:mod:`flightsw.board.threads`)."""
    key_dir: Path | None = None
    """The uplink key directory (:mod:`flightsw.keyring`); None: ``$AISAT_KEY_DIR``,
    else ``run_dir/keys``; with neither, no key: every uplink frame is refused."""


class Executive:
    def __init__(self, cfg: FlightConfig, *, clock: Clock, plant: Transport, link: Transport,
                 payload: PayloadHost, lockstep: bool, profile: str = "default",
                 stats_out: Path | None = None, parent_pid: int | None = None,
                 state_store: StateStore | None = None,
                 watchdog: Watchdog | None = None,
                 recorder_store: RecorderStore | None = None,
                 uplink_keys: dict[int, bytes] | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.plant = plant
        self.link = link
        self.payload = payload
        self.lockstep = lockstep
        self.profile = profile
        self.stats_out = stats_out
        self.parent_pid = parent_pid
        self.core = Topology(cfg, clock, lockstep=lockstep, profile=profile)
        uplink_auth.set_provisioned(self.core.state.auth, uplink_keys or {})
        self.core.before_cycle = self._before_cycle
        self.core.after_cycle = self._after_cycle
        if lockstep:
            self.core.shell_quiet = self._quiet_for_fast
        self._wall = RealClock()  # only for bounding waits on real processes
        self.core.timer = self._wall.monotonic_s  # each cycle's work, for overruns
        self.watchdog: Watchdog = watchdog or NoWatchdog()
        self.core.state.cycles.watchdog = self.watchdog.name
        self._plant_seq = Sequencer("flight")
        self._payload_seq = Sequencer("flight")
        self._stopping = ""
        self._first_tick = True
        self._last_tick_s: float | None = None  # elapsed_s of the last TICK answered
        self._announced = False
        self.state_store = state_store
        if recorder_store is None and state_store is not None:
            recorder_store = RecorderStore(state_store.path.with_name(RECORDER_FILE))
        self.recorder_store = recorder_store
        self._unsaved = Changes()  # recorder changes not yet committed to the store
        self._recorder_saved_wall_s = -math.inf
        self._saved_evicted: list[list[int]] = []
        self._saved_wall_s = -math.inf
        self._waiter = Waiter()
        self.board_sensing: BoardSensing | None = None
        """HIL: the compute's readings come from this board (:mod:`flightsw.board.hybrid`)."""
        self.plant_factory: Callable[[], Transport] | None = None
        """Makes a new plant transport (ZeroMQ); None: the plant cannot be reconnected."""
        self._unanswered_s = 0.0  # waited for the plant's first frame since (re)attaching
        self.model_files: ModelFiles | None = None
        """The model store's files (``RUN_DIR/models``); None: uploads are refused."""
        self._uplink_early = 0
        """Uplink frames taken since the last fast cycle began (at its start and, free
        running, in between): at most :data:`MAX_UPLINK_FRAMES_PER_CYCLE`."""
        self._uplink_idle_this_tick = False
        """Lockstep: this tick's fast cycles found the uplink empty; reset every TICK."""
        self._in_tick = False
        """Lockstep: a tick's cycles are running (their frames go to the outbox)."""
        self._outbox: list[tuple[Held, float | None, int, bytes]] = []
        """Lockstep: downlink frames the cycles counted as sent (each with its record's
        state before) that have not left yet: see :meth:`_flush_outbox`."""
        self.payload_grace_s = (PAYLOAD_ANSWER_GRACE_S, PAYLOAD_READY_GRACE_S)
        """Wall-clock bounds on lockstep waits (an answer, a child's start-up)."""

    @classmethod
    def over_zmq(cls, cfg: FlightConfig, opts: ExecutiveOptions) -> Executive:
        """The executive as a process: ZeroMQ transports (the sim stack), or the space
        link over a UART (``--link serial:/dev/ttyTHS1?baud=921600``, a board), and a real
        payload child."""
        clock: Clock = SimClock() if opts.lockstep else RealClock()
        try:
            plant = plant_bus(opts.plant_endpoint)
        except EndpointError as exc:
            raise FlightError(f"--plant: {exc}", got=opts.plant_endpoint) from exc
        serial = parse_serial_endpoint(opts.link_endpoint)  # raises: a clear refusal
        link: Transport = (ZmqTransport.pair(opts.link_endpoint, bind=True,
                                             rcvhwm=LINK_RCVHWM) if serial is None
                           else SerialTransport.open(serial.device, serial.baud))
        host = ProcessPayloadHost(model_path=opts.model_path, run_dir=opts.run_dir)
        if opts.payload_threads is not None:
            threads = set_payload_threads(host, opts.payload_threads)
            if not threads.ok:
                raise FlightError(f"--payload-threads: {threads.detail}",
                                  got=opts.payload_threads)
        store = (StateStore(Path(opts.run_dir) / STATE_FILE) if opts.run_dir is not None
                 else None)
        # the payload child must not inherit the service manager's socket
        watchdog = from_option(opts.watchdog, consume_notify_env(os.environ))
        key_dir = keyring.resolve_dir(opts.key_dir, opts.run_dir)
        try:
            keys = keyring.ensure(key_dir) if key_dir is not None else {}
        except keyring.KeyDirError as exc:
            raise FlightError(str(exc)) from exc
        if not keys:
            log.warning("no uplink key directory (--keys, $%s or --run-dir): every "
                        "uplink frame will be refused", keyring.ENV_VAR)
        executive = cls(cfg, clock=clock, plant=plant, link=link, payload=host,
                        lockstep=opts.lockstep, profile=opts.profile,
                        stats_out=opts.stats_out, parent_pid=os.getppid(),
                        state_store=store, watchdog=watchdog, uplink_keys=keys)
        executive.plant_factory = lambda: plant_bus(opts.plant_endpoint)
        if opts.run_dir is not None:
            executive.model_files = ModelFiles(store_dir(opts.run_dir), lockstep=opts.lockstep,
                                               while_waiting=executive.watchdog_turn)
        executive.board_sensing = board_from_option(opts.board)  # raises: a clear refusal
        return executive

    # --- stopping -----------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop at the next chance; the first reason given is the one reported."""
        if not self._stopping:
            self._stopping = reason

    @property
    def stopping(self) -> str:
        if not self._stopping and self.parent_pid is not None and os.getppid() != self.parent_pid:
            self._stopping = "parent died"
        return self._stopping

    # --- the seam between cycles ---------------------------------------------------------------
    def _before_cycle(self, group: str) -> None:
        if group == "fast":
            # a new cycle, a new budget: what arrived since the last one, up to the cap.
            # Lockstep runs a tick's ten fast cycles back to back in about a millisecond
            # of wall time: once a look found the uplink empty, the rest of the tick's
            # cycles do not look again (a look cost ~6 us and a tenth of the executive's
            # CPU; what arrives meanwhile is taken at the next tick's first cycle, as if
            # it had come a millisecond later). While frames keep coming, every cycle
            # takes its budget, as before.
            if self._uplink_idle_this_tick:
                return
            frames = self.link.receive(MAX_UPLINK_FRAMES_PER_CYCLE)
            self._uplink_early = len(frames)
            if frames:
                self.core.on_uplink(frames)
            elif self.lockstep:
                self._uplink_idle_this_tick = True
        elif self.lockstep:
            self._settle_payload(group)

    def _quiet_for_fast(self) -> bool:
        """Lockstep: this tick's first fast cycle found the uplink empty, no state waits
        to be saved and no model file operation waits (see
        :meth:`Topology.fast_has_nothing_to_do`)."""
        return (self._uplink_idle_this_tick
                and not (self.core.dirty and self.state_store is not None)
                and files_quiet(self.core.state.model_store, self.model_files))

    def _after_cycle(self, group: str) -> None:
        carry_out(self.core, self.model_files, self._wall.monotonic_s())
        self._carry_out_payload(poll_exit=group == "slow" or not self.lockstep)
        self._send_downlink()
        if self.state_store is not None and (
                self.core.dirty
                or (group == "slow"
                    and self._wall.monotonic_s() - self._saved_wall_s >= STATE_SAVE_PERIOD_S)):
            self.save_state()

    def _send_downlink(self, mission_time_s: float | None = None) -> int:
        """Persist the recorder's changes, then send what is ready; returns frames sent.
        The store is committed first so that no number leaves before it is saved.
        Lockstep, within a tick: the frames are counted as sent now and leave later
        (:meth:`_flush_outbox`)."""
        st = self.core.state.link
        now = self.clock.mission_time_s() if mission_time_s is None else mission_time_s
        if self._in_tick:
            frames = link_component.ready_frames(st, now)
            self._outbox += [(h, h.sent_s, h.sends, f)
                             for h, f in zip(st.recorder.selected(), frames, strict=True)]
            link_component.sent(st, len(frames), now)
            return len(frames)
        if self._outbox:  # what an interrupted tick counted goes first
            self._flush_outbox()
        self._persist_recorder()
        frames = link_component.ready_frames(st, now)
        n = 0
        for frame in frames:
            if not self.link.send(frame):
                break  # no ground connected, or it is slow: the record stays onboard
            n += 1
        link_component.sent(st, n, now)
        return n

    def _flush_outbox(self) -> None:
        """Lockstep, after a tick's answer went to the plant: commit the recorder, then
        send the frames the tick's cycles counted as sent. A tick's work no longer waits
        for the disk and the link before the plant gets its answer (they were about a
        fifth of the executive's time on the plant's critical path); the ground gets the
        same frames a fraction of a millisecond later. The commit still comes first, so
        no number leaves before it is saved; frames the link refuses (no ground yet, a
        full queue) are taken back as never sent, as when a cycle's own send is
        refused. (Flushing every ~20 ticks instead measured no faster: the commit's cost
        follows the bytes, and a send's is mostly waiting for the CPU.)"""
        out, self._outbox = self._outbox, []
        self._persist_recorder()
        for i, (_held, _sent_s, _sends, frame) in enumerate(out):
            if not self.link.send(frame):
                refused = out[i:]
                st = self.core.state.link
                st.recorder.unsend([(h, s, n) for h, s, n, _f in refused])
                st.frames_sent -= len(refused)
                break

    def _persist_recorder(self, *, now: bool = False) -> None:
        """Commit the recorder's changes. New records are committed at once (before they
        can leave); releases alone wait for the next commit, or a second of wall time
        (lost with a crash, they only cost a retransmission the ground drops)."""
        store = self.recorder_store
        st = self.core.state.link
        if store is None:
            st.recorder.take_changes()  # nothing keeps them: do not let them pile up
            return
        link_component.note_evictions(st)  # evicted this cycle: in the same commit
        if not st.recorder.pending_changes() and not self._unsaved:
            return
        fresh = st.recorder.take_changes()
        changes = Changes(self._unsaved.added + fresh.added,
                          self._unsaved.removed + fresh.removed)
        if (not changes.added and not now
                and self._wall.monotonic_s() - self._recorder_saved_wall_s < 1.0):
            self._unsaved = changes
            return
        evicted = (st.evicted_unreported if st.evicted_unreported != self._saved_evicted
                   else None)
        try:
            store.apply(changes, st.next_seq, evicted)
        except Exception as exc:  # disk full, I/O error: say so, retry next cycle
            self._unsaved = changes
            self.core.fault("recorder store", exc)
            return
        self._unsaved = Changes()
        self._recorder_saved_wall_s = self._wall.monotonic_s()
        if evicted is not None:
            self._saved_evicted = [list(r) for r in evicted]

    def _carry_out_payload(self, *, poll_exit: bool = True) -> None:
        """Carry out the core's process actions and send its messages to the child,
        sealed with this incarnation's key; ``poll_exit``: also look whether the child
        has exited and how big it is (lockstep asks once per 1 Hz cycle, so runs stay
        deterministic; free running asks every cycle, so a death is seen at once)."""
        out = self.core.take_payload_out()
        for action in out.actions:
            if action == "kill":
                self.payload.kill()
            elif action == "spawn":
                error = self.payload.spawn(self.core.state.payload.sup.incarnation,
                                           out.spawn_model)
                if error is not None:
                    self.core.payload_spawn_failed(error)
                self._payload_seq = Sequencer("flight")
        transport = self.payload.transport
        for kind, body in out.messages:
            if transport is None:
                break  # no child: supervision notices
            try:
                frame = encode(self._payload_seq.make(kind, self.clock.mission_time_s(),
                                                      body.to_body()))
            except WireError as exc:
                self.core.fault("payload message", exc)
                continue
            # refused: the child is stuck; supervision will notice
            transport.send(channel_auth.seal(self.payload.key, channel_auth.TO_PAYLOAD, frame))
        if not poll_exit:
            return
        status = self.payload.exit_status()
        if status is not None and self.core.state.payload.sup.running:
            self.core.payload_exited(status)
        self.core.payload_rss(self.payload.rss_mb())

    def _pump_payload(self, timeout_s: float) -> None:
        transport = self.payload.transport
        if transport is None:
            return
        if transport.wait(timeout_s):
            self._receive_payload(transport)

    def _receive_payload(self, transport: Transport) -> None:
        """Take what the child sent: authentic frames to the core, forged ones reported."""
        frames: list[bytes] = []
        for sealed in transport.receive():
            frame = channel_auth.unseal(self.payload.key, channel_auth.TO_EXECUTIVE, sealed)
            if isinstance(frame, str):
                self.core.payload_forged(frame)
            else:
                frames.append(frame)
        if frames:
            self.core.on_payload(frames)
        self._carry_out_payload()

    def _settle_payload(self, group: str, *, stopping_too: bool = False) -> None:
        """Lockstep: wait (bounded, in wall time) for the answers ``group`` needs. A stop
        request cuts the wait short, except at shutdown (``stopping_too``), where the
        last capture's results are still worth their bounded wait."""
        self._carry_out_payload()
        self._pump_payload(0.0)  # whatever has arrived, needed or not
        if not self.core.payload_answer_due(group):
            return
        ready = self.core.state.payload.sup.ready
        grace = self.payload_grace_s[0] if ready else self.payload_grace_s[1]
        deadline = self._wall.monotonic_s() + grace
        while self.core.payload_answer_due(group) and (stopping_too or not self.stopping):
            if self.payload.exit_status() is not None:
                return  # it died: the next supervision cycle sees the exit
            remaining = deadline - self._wall.monotonic_s()
            if remaining <= 0:
                self.core.payload_unresponsive(grace)
                return
            self._pump_payload(min(remaining, STOP_POLL_S))
            self.watchdog_turn()

    # --- main loops ----------------------------------------------------------------------------
    def announce_boot(self) -> None:
        """Take back what the last run saved (if anything), then say we are up and what
        the restore found. The restore comes first so that the boot event already
        carries the continued downlink numbering. Called once mission time is known (the
        first tick in lockstep, the first sample free running): idempotent."""
        if self._announced:
            return
        self._announced = True
        core = self.core
        notes = self._restore() if self.state_store is not None else []
        notes += self._load_recorder()
        core.count_boot()
        core.emit("exec.boot", {"profile": self.profile, "mode": core.state.mode.mode,
                                "clock": "sim (lockstep)" if self.lockstep else "real",
                                "dictionary_hash": core.dictionary.hash})
        core.emit_all(notes)
        self.watchdog.ready()
        self.watchdog_turn()

    # --- the watchdog ----------------------------------------------------------------------
    def watchdog_turn(self) -> None:
        """Kick the watchdog when a kick interval (wall time) has passed and the rate
        groups were on time in it (:func:`flightsw.cycle_health.decide`); report the
        watchdog's I/O problems. Called from every loop and bounded wait, so a live loop
        keeps kicking even while lockstep sim time stands still."""
        wd = self.watchdog
        core = self.core
        if math.isfinite(wd.interval_s):
            core.state.cycles, verdict, events = cycle_health.decide(
                core.state.cycles, self._wall.monotonic_s(), wd.interval_s,
                real_time=not self.lockstep)
            if verdict is not None and verdict.kick:
                wd.kick()
            core.emit_all(events)
        problems = wd.take_problems()
        if problems:
            core.state.cycles, events = cycle_health.problems(core.state.cycles, problems)
            core.emit_all(events)

    def _restore(self) -> list[tuple[str, dict[str, Any]]]:
        assert self.state_store is not None
        core = self.core
        try:
            loaded = self.state_store.load()
        except Exception as exc:  # never a crash loop over a state file
            return [("exec.state_problem", {"problem": f"cannot load: {exc}"})]
        notes: list[tuple[str, dict[str, Any]]] = [
            ("exec.state_problem", {"problem": problem}) for problem in loaded.problems]
        if loaded.record is None:
            if loaded.problems:
                notes.append(("exec.state_problem",
                              {"problem": "no good copy: booting on defaults"}))
            return notes
        try:
            restored = core.restore(loaded.record, unexplained_reset=not loaded.orderly)
        except Exception as exc:
            core.fault("state restore", exc)
            return notes
        notes.append(("exec.state_restored", {
            "source": "last good copy" if loaded.source == "previous" else "state",
            "ending": "stopped in order" if loaded.orderly else "ended without stopping",
            "next_seq": core.state.link.next_seq}))
        if not loaded.orderly:
            notes.append(("exec.reset_unexplained", {}))
        return notes + restored

    def _load_recorder(self) -> list[tuple[str, dict[str, Any]]]:
        """Take back the records the last run held and continue its numbering exactly
        (the store's ``next_seq`` covers every number that ever left)."""
        store = self.recorder_store
        if store is None:
            return []
        try:
            saved = store.load()
        except Exception as exc:  # never a crash loop over the recorder
            return [("exec.state_problem", {"problem": f"recorder store: {exc}"})]
        notes: list[tuple[str, dict[str, Any]]] = [
            ("exec.state_problem", {"problem": problem}) for problem in saved.problems]
        link = self.core.state.link
        taken = link.recorder.load(saved.records)
        link.evicted_unreported = saved.evicted_unreported
        self._saved_evicted = [list(r) for r in saved.evicted_unreported]
        top = max((seq for seq, _, _ in saved.records), default=-1) + 1
        link.next_seq = max(link.next_seq, top, saved.next_seq or 0)
        if taken:
            notes.append(("link.backlog_restored", {"records": taken,
                                                     "bytes": link.recorder.bytes_used,
                                                     "next_seq": link.next_seq}))
        return notes

    def save_state(self, *, orderly: bool = False) -> None:
        """Write the state record now (atomic; a failure is an event, never a crash).
        The recorder's new records are committed first: the record's downlink number
        must never run ahead of the records the store holds (a restart would skip the
        numbers between, and the ground would wait for them for ever)."""
        if self.state_store is None:
            return
        self._persist_recorder()
        try:
            self.state_store.save(self.core.snapshot(), orderly=orderly,
                                  mission_time_s=self.clock.mission_time_s())
        except Exception as exc:
            self.core.fault("state save", exc)
        self.core.dirty = False
        self._saved_wall_s = self._wall.monotonic_s()

    def run(self) -> int:
        orderly = False
        try:
            self.say_hello_to_plant()
            if not self.lockstep:
                self.await_time_source()
                self.announce_boot()
            if self.lockstep:
                self.run_lockstep()
            else:
                self.run_free()
            orderly = True
        finally:
            self.shutdown(orderly=orderly)  # a crash leaves a device watchdog armed
        return 0

    def say_hello_to_plant(self) -> None:
        """Tell the plant a (new) executive is on the bus, so that a plant waiting for
        the answer to a TICK sends that TICK again: after a reset the old incarnation's
        pending TICK died with it (see :mod:`hil.plantd`)."""
        body = HelloBody(dictionary_hash=self.core.dictionary.hash,
                         dictionary_version=self.core.dictionary.version).to_body()
        self.plant.send(self._plant_seq.pack(Kind.HELLO, self.clock.mission_time_s(), body))

    def _still_unattached(self, waited_s: float) -> None:
        """Waiting for the plant's first frame: every :data:`REATTACH_AFTER_S`, connect
        afresh (when we can) and say HELLO again."""
        self._unanswered_s += waited_s
        if self._unanswered_s < REATTACH_AFTER_S:
            return
        self._unanswered_s = 0.0
        if self.plant_factory is not None:
            log.warning("no word from the plant in %.0f s: connecting afresh",
                        REATTACH_AFTER_S)
            self.plant.close()
            self.plant = self.plant_factory()
        self.say_hello_to_plant()

    def run_lockstep(self, max_ticks: int | None = None) -> None:
        """Follow the plant's ticks; ``max_ticks`` bounds a harness run."""
        clock = self.clock
        assert isinstance(clock, SimClock)
        silent_s = 0.0
        ticks = 0
        while not self.stopping and (max_ticks is None or ticks < max_ticks):
            self.watchdog_turn()
            if not self.plant.wait(STOP_POLL_S):
                if self._first_tick:
                    self._still_unattached(STOP_POLL_S)
                silent_s += STOP_POLL_S
                if silent_s >= PLANT_SILENT_S:
                    self._stopping = "plant silent"
                if not isinstance(self.plant, MemoryTransport):
                    continue
                return  # in memory: nothing more will come
            silent_s = 0.0
            for frame in self.plant.receive(max_frames=1):
                ticks += 1
                self._on_plant_frame_lockstep(frame, clock)

    def _plant_envelope(self, frame: bytes, expected: tuple[Kind, ...]) -> Envelope | None:
        """Decode one plant-bus frame: a STOP ends the run, anything but ``expected`` is
        rejected (counted, an event); returns the envelope to act on, or ``None``."""
        env = try_decode(frame)
        if not isinstance(env, Envelope):
            self.core.reject_plant_frame(str(env))
            return None
        if env.kind is Kind.STOP:
            try:
                reason = StopBody.from_body(env.body).reason
            except WireError:
                reason = ""  # a garbled reason still stops us: the plant said STOP
            self.request_stop(reason or "plant stopped")
            return None
        if env.kind not in expected:
            self.core.reject_plant_frame(f"unexpected kind {env.kind.value} "
                                         f"(expected {'/'.join(k.value for k in expected)})")
            return None
        return env

    def _on_plant_frame_lockstep(self, frame: bytes, clock: SimClock) -> None:
        env = self._plant_envelope(frame, (Kind.TICK,))
        if env is None:
            return
        try:
            tick = TickBody.from_body(env.body)
        except WireError as exc:
            self.core.reject_plant_frame(str(exc))
            return
        if not self._first_tick and tick.elapsed_s == self._last_tick_s:
            return  # the plant sent it again on our HELLO: it is answered already
        if self._first_tick:
            clock.epoch_s = env.time_s - tick.elapsed_s
            if tick.elapsed_s > clock.monotonic_s():
                clock.advance_to(tick.elapsed_s)  # a restart mid-scenario: no replay
            self.core.start_at(clock.monotonic_s())
            self._first_tick = False
            self.announce_boot()  # now mission time is the scenario's, not 1970
        self.core.take_sample(self._sensed(tick.sensors))
        self._uplink_idle_this_tick = False
        if tick.elapsed_s >= clock.monotonic_s():
            self._in_tick = True
            try:
                self.core.run_until(tick.elapsed_s, clock.advance_to)
            finally:
                self._in_tick = False
        self._last_tick_s = tick.elapsed_s
        self._send_actuators()
        self._flush_outbox()

    def await_time_source(self, timeout_s: float = FIRST_SAMPLE_WAIT_S) -> bool:
        """Free running: wait (bounded) for the plant's first sample, whose time sets
        mission time, so that nothing - the boot event included - is stamped with the
        host's wall clock. Gives up (and says so, via the boot event's time) after
        ``timeout_s``: a board without a time source still flies."""
        deadline = self._wall.monotonic_s() + timeout_s
        while not self.stopping and self._wall.monotonic_s() < deadline:
            self.watchdog_turn()
            if self.plant.wait(STOP_POLL_S):
                self._poll_plant_free()
                if self.core.state.have_sensors:
                    return True
            elif isinstance(self.plant, MemoryTransport):
                return False  # in memory: nothing will arrive while we wait
            else:
                self._still_unattached(STOP_POLL_S)
        return False

    def run_free(self) -> None:
        self.core.start_at(self.clock.monotonic_s())
        while not self.stopping:
            self.turn_free(wait=True)

    def turn_free(self, *, wait: bool) -> None:
        """One turn of the free-running loop: run what is due, then wait (at most until
        the next deadline, and never long) for the plant or the payload."""
        clock = self.clock
        slow_runs = self.core.groups.groups[1].runs
        self.core.run_due(clock.monotonic_s())
        self.watchdog_turn()
        if self.core.groups.groups[1].runs != slow_runs:
            self._send_actuators()
        if wait:
            wait_s = max(0.0, self.core.groups.next_deadline_s() - clock.monotonic_s())
            # payload results are handled as they arrive, so the payload is never starved
            # of work between 10 Hz cycles, and so is the uplink (within its per-cycle
            # budget); everything else waits for its rate group
            uplink = self.link if self._uplink_early < MAX_UPLINK_FRAMES_PER_CYCLE else None
            self._waiter.wait([self.plant, self.payload.transport, uplink],
                              min(wait_s, 0.1))
        self._take_uplink_now()
        self._poll_plant_free()
        transport = self.payload.transport
        if transport is not None:
            self._receive_payload(transport)

    def _take_uplink_now(self) -> None:
        """Free running: a command that arrives between fast cycles runs now and its
        reports leave now, instead of waiting up to a cycle (100 ms) for the next one:
        the operator's round trip is the link's, not the loop's."""
        budget = MAX_UPLINK_FRAMES_PER_CYCLE - self._uplink_early
        if budget <= 0:
            return
        frames = self.link.receive(budget)
        if not frames:
            return
        self._uplink_early += len(frames)
        self.core.on_uplink(frames)
        self.core.take_uplink(self.clock.mission_time_s())
        self._send_downlink()

    def _poll_plant_free(self) -> None:
        for frame in self.plant.receive():
            env = self._plant_envelope(frame, (Kind.SENSORS, Kind.TICK))
            if env is None:
                if self._stopping:
                    return
                continue
            try:
                sample = SensorsBody.from_body(env.body).sensors
            except WireError as exc:
                self.core.reject_plant_frame(str(exc))
                continue
            self.core.take_sample(self._sensed(sample))
            if isinstance(self.clock, RealClock):
                self.clock.sync_mission_time(env.time_s)  # the plant's GNSS time

    def _sensed(self, sample: Sensors) -> Sensors:
        """The plant's sample, with the compute's readings from the board in HIL."""
        return sample if self.board_sensing is None else self.board_sensing.merge(sample)

    def _send_actuators(self) -> None:
        body = ActuatorsBody(self.core.actuators()).to_body()
        self.plant.send(self._plant_seq.pack(Kind.ACTUATORS, self.clock.mission_time_s(), body))

    def shutdown(self, *, orderly: bool = True) -> None:
        """Stop in order: payload stopped, state saved, stats written; ``orderly`` is
        False when the loop ended by an exception (the device watchdog stays armed)."""
        if orderly:
            self.watchdog.stopping()
        core = self.core
        self._flush_outbox()
        core.emit("exec.shutdown", {"reason": self._stopping or "exit"})
        if self.lockstep and core.state.payload.in_flight:
            self._settle_payload("capture", stopping_too=True)
        core.apply_held()
        core.downlink_product()
        self.save_state(orderly=True)
        stop = self._payload_seq.pack(Kind.STOP, self.clock.mission_time_s(),
                                      StopBody("executive shutdown").to_body())
        self.payload.stop(stop)
        if self.model_files is not None:
            self.model_files.close()
        self.drain_downlink()
        if self.stats_out is not None:
            from flightsw.stackinfo import atomic_write_text

            atomic_write_text(Path(self.stats_out), json.dumps(core.stats(), indent=2))
        self.watchdog.close(orderly)
        self.plant.close()
        if self.recorder_store is not None:
            self.recorder_store.close()

    def drain_downlink(self, max_s: float = DRAIN_MAX_S) -> None:
        """Shutdown: send what the ground has not acknowledged and take its
        acknowledgements, for at most ``max_s`` wall seconds (mission time is taken to
        run on with the wall, so retransmission timers still work after a plant STOP).
        Whatever is still held is reported (``link.backlog_kept``) and stays in the
        recorder store for the next boot: nothing is dropped at shutdown."""
        core = self.core
        st = core.state.link
        start = self._wall.monotonic_s()
        base = self.clock.mission_time_s()
        while True:
            elapsed = self._wall.monotonic_s() - start
            link_component.new_cycle(st, link_component.FRAMES_PER_SECOND // 10)
            # no later traffic will show a lost tail: what has had a wall round trip
            # without its acknowledgement goes again
            st.recorder.probe(base + elapsed, DRAIN_PROBE_S)
            self._send_downlink(base + elapsed)
            if not len(st.recorder) or not link_component.link_up(st) or elapsed >= max_s:
                break
            if not self.link.wait(0.05):
                if isinstance(self.link, MemoryTransport):
                    break  # in memory: nothing arrives while we wait (a UART's may)
                continue
            core.on_uplink(self.link.receive())
            core.take_uplink(base + elapsed)
        if len(st.recorder):
            core.emit("link.backlog_kept", {"records": len(st.recorder),
                                            "bytes": st.recorder.bytes_used})
        self._persist_recorder(now=True)

    def stats(self) -> dict[str, Any]:
        return self.core.stats()


def install_signal_handlers(executive: Executive) -> None:
    """SIGTERM/SIGINT/SIGHUP end the loop cleanly (payload stopped, stats written)."""

    def handler(signum: int, _frame: Any) -> None:
        executive.request_stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)
