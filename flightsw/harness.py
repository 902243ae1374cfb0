"""The in-process harness: the whole executive, a fake plant and a fake payload, wired
with in-memory transports and driven tick by tick (F Prime's component tester, httpx's
MockTransport).

::

    h = Harness()                       # lockstep, sim clock, payload answers at once
    h.run(10)                           # ten plant ticks (ten simulated seconds)
    seq = h.command("mode.set", mode="SAFE")
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.latest("mode.current") == "SAFE"

Everything the executive sends down is decoded into :attr:`Harness.downlink`; the fake
payload (:class:`FakePayload`) can crash, hang or fail jobs on demand. No sockets,
processes or wall-clock waits: a test of a whole minute of flight runs in milliseconds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flightsw import channel_auth, uplink_auth
from flightsw.clock import SimClock
from flightsw.config import FlightConfig
from flightsw.executive import Executive
from flightsw.hal import Actuators, Sensors
from flightsw.messages import (
    MAX_ACK_RANGES,
    AckBody,
    ActuatorsBody,
    CancelBody,
    ConfigBody,
    EventBody,
    HeartbeatBody,
    JobBody,
    PingBody,
    ResultBody,
    VerificationBody,
)
from flightsw.state_store import StateStore
from flightsw.transport import MemoryTransport, Transport, memory_pair
from flightsw.wire import Envelope, Kind, Sequencer, decode, try_decode

EPOCH_S = 1_790_000_000.0  # 2026-09-21
UPLINK_KEY = bytes(range(32))  # the harness's provisioned uplink key (id 1)


def nominal_sensors(**overrides: Any) -> Sensors:
    """A healthy spacecraft in sunlight, in contact with a station."""
    base = Sensors(battery_soc_frac=0.9, battery_voltage_v=15.8, battery_current_a=1.0,
                   battery_temp_c=20.0, array_power_w=60.0, load_power_w=20.0,
                   payload_temp_c=40.0, avionics_temp_c=25.0, radiator_temp_c=0.0,
                   sun_fraction=1.0, in_contact=True, contact_station="Weilheim",
                   next_contact_in_s=0.0, next_eclipse_in_s=1200.0, lat_deg=48.0,
                   lon_deg=11.0)
    return replace(base, **overrides)


class _ReactiveEnd(MemoryTransport):
    """The executive's end of the payload pipe: the fake payload answers as soon as a
    frame is sent, as a fast child would between two executive cycles."""

    def __init__(self, respond: Callable[[], None]) -> None:
        super().__init__()
        self._respond = respond

    def send(self, frame: bytes) -> bool:
        ok = super().send(frame)
        self._respond()
        return ok


@dataclass
class FakePayload:
    """One incarnation of a payload child, speaking the payload IPC."""

    incarnation: int
    end: MemoryTransport
    key: bytes = b""
    model: str = "fake-model"
    model_sha256: str = "f" * 64
    hung: bool = False  # answers nothing (SIGSTOP)
    fail_jobs: bool = False  # answers every job with ok=False
    swallow_jobs: bool = False  # answers pings, never jobs (a stuck inference)
    job_busy_s: float = 0.0  # a swallowed job reports having run this long (wall s)
    jobs_seen: list[JobBody] = field(default_factory=list)
    cancels: list[int] = field(default_factory=list)  # job ids the executive cancelled
    config: ConfigBody = field(default_factory=ConfigBody)
    stopped: bool = False
    _seq: Sequencer = field(default_factory=lambda: Sequencer("payload"))

    def start(self) -> None:
        self._send(Kind.PAYLOAD_HEARTBEAT, HeartbeatBody(0, "ready", model=self.model,
                                                         model_sha256=self.model_sha256,
                                                         provider="CPUExecutionProvider",
                                                         incarnation=self.incarnation))

    def pump(self) -> None:
        if self.hung:
            return
        for sealed in self.end.receive():
            frame = channel_auth.unseal(self.key, channel_auth.TO_PAYLOAD, sealed)
            assert isinstance(frame, bytes), frame  # the executive always seals
            env = decode(frame)
            if env.kind is Kind.PAYLOAD_PING:
                n = PingBody.from_body(env.body).n
                stuck = self.swallow_jobs and self.jobs_seen
                self._send(Kind.PAYLOAD_HEARTBEAT,
                           HeartbeatBody(n, "busy" if stuck else "idle",
                                         jobs_done=len(self.jobs_seen),
                                         busy_frac=self.config.throttle_frac,
                                         model=self.model, model_sha256=self.model_sha256,
                                         rss_mb=50.0, incarnation=self.incarnation,
                                         current_job=(self.jobs_seen[0].job_id if stuck
                                                      else None),
                                         current_job_busy_s=(self.job_busy_s if stuck
                                                             else None),
                                         intra_op_threads=self.config.intra_op_threads or 1))
            elif env.kind is Kind.PAYLOAD_CONFIG:
                self.config = ConfigBody.from_body(env.body)
            elif env.kind is Kind.PAYLOAD_JOB:
                job = JobBody.from_body(env.body)
                self.jobs_seen.append(job)
                if self.swallow_jobs:
                    continue
                if self.fail_jobs:
                    body = ResultBody(job.job_id, ok=False, error="model error (injected)")
                else:
                    half = job.n_tiles // 2
                    body = ResultBody(job.job_id, ok=True, n_tiles=job.n_tiles,
                                      n_cloudy=half, n_clear=job.n_tiles - half,
                                      selected=list(range(job.n_tiles - half)),
                                      n_correct=job.n_tiles, infer_ms=1.5, model=self.model)
                    if job.detail:
                        _detail(body, job, self.model_sha256)
                self._send(Kind.PAYLOAD_RESULT, body)
            elif env.kind is Kind.PAYLOAD_CANCEL:  # as the real one: interrupted, answered
                job_id = CancelBody.from_body(env.body).job_id
                self.cancels.append(job_id)
                self._send(Kind.PAYLOAD_RESULT, ResultBody(job_id, error="cancelled",
                                                           cancelled=True))
            elif env.kind is Kind.STOP:
                self.stopped = True

    def _send(self, kind: Kind, body: Any) -> None:
        frame = self._seq.pack(kind, EPOCH_S, body.to_body())
        self.end.send(channel_auth.seal(self.key, channel_auth.TO_EXECUTIVE, frame))


def _detail(body: ResultBody, job: JobBody, model_sha256: str) -> None:
    """An operator job's detail, as the real payload gives it (:mod:`payload.products`):
    the first ``n - n/2`` tiles clear (selected), the rest cloudy; one of the camera's
    labels disagrees with the model, so accuracy is (n-1)/n."""
    n, clear = body.n_tiles, body.n_tiles - body.n_tiles // 2
    body.cloudy = [i >= clear for i in range(n)]
    body.probs = [0.9 if c else 0.1 for c in body.cloudy]
    if job.source == "capture":
        body.truth = [not c if i == 0 else c for i, c in enumerate(body.cloudy)]
        body.n_correct = n - 1 if n else 0
    tile = zlib.compress(bytes(range(256)) * 16)  # one tile: 4 x 32 x 32 bytes
    body.tiles_z = [tile] * clear if job.tiles else []
    body.all_tiles_z_bytes = len(tile) * n if job.tiles else 0
    body.input_sha256, body.model_sha256, body.job_ms = "1" * 64, model_sha256, 2.5


class FakePayloadHost:
    """Plays :class:`~flightsw.payload_host.PayloadHost` with :class:`FakePayload`s."""

    def __init__(self) -> None:
        self.current: FakePayload | None = None
        self.incarnations: list[FakePayload] = []
        self._transport: MemoryTransport | None = None
        self._exit: int | None = None
        self.kills = 0
        self.spawn_error: str | None = None
        self.hang_next = False
        self.next_options: dict[str, Any] = {}  # FakePayload flags for the next spawn
        self.rss: float | None = 50.0  # what the OS would say the child's memory is
        self.spawned_models: list[str] = []  # the model hash asked for at each spawn
        self._key = b""

    @property
    def transport(self) -> Transport | None:
        return self._transport

    @property
    def key(self) -> bytes:
        return self._key

    def spawn(self, incarnation: int, model_sha256: str = "") -> str | None:
        if self.spawn_error is not None:
            return self.spawn_error
        self.spawned_models.append(model_sha256)
        self._key = channel_auth.new_key()
        child_end = MemoryTransport()
        payload = FakePayload(incarnation, child_end, key=self._key, hung=self.hang_next,
                              **self.next_options)
        self.hang_next = False
        self.next_options = {}
        exec_end = _ReactiveEnd(payload.pump)
        exec_end.peer, child_end.peer = child_end, exec_end
        self._transport = exec_end
        self._exit = None
        self.current = payload
        self.incarnations.append(payload)
        payload.start()
        return None

    def exit_status(self) -> int | None:
        return self._exit

    def rss_mb(self) -> float | None:
        return self.rss if self.current is not None and self._exit is None else None

    def kill(self) -> None:
        if self.current is not None:
            self.kills += 1
        self.current = None
        if self._transport is not None:
            self._transport.close()
        self._transport = None

    def stop(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.send(channel_auth.seal(self._key, channel_auth.TO_PAYLOAD, frame))
        self.kill()

    # --- faults a test can inject ---------------------------------------------------------
    def crash(self, code: int = -9) -> None:
        """The child dies (by signal 9 unless told otherwise); its pipe goes dead."""
        self._exit = code
        if self._transport is not None:
            self._transport.close()

    def forge(self, frame: bytes) -> None:
        """Another process speaks on the payload channel (it has no key)."""
        if self.current is not None:
            self.current.end.send(frame)

    def hang(self) -> None:
        """The child stops answering (SIGSTOP) but does not exit."""
        if self.current is not None:
            self.current.hung = True


class Harness:
    """Drive the real executive shell and core without a single socket or process."""

    def __init__(self, cfg: FlightConfig | None = None, *, sensors: Sensors | None = None,
                 profile: str = "harness", state_path: Path | None = None,
                 auto_ack: bool = True) -> None:
        self.cfg = cfg or FlightConfig(capture_period_s=5.0, restart_backoff_s=2.0,
                                       heartbeat_timeout_s=2.0)
        self.sensors = sensors or nominal_sensors()
        self.key_id = 1
        self.key = UPLINK_KEY
        """The uplink key the harness's ground seals with (the flight holds it too)."""
        plant_exec, self.plant = memory_pair()
        link_exec, self.ground = memory_pair()
        self.payload = FakePayloadHost()
        self.clock = SimClock()
        self.executive = Executive(self.cfg, clock=self.clock, plant=plant_exec,
                                   link=link_exec, payload=self.payload, lockstep=True,
                                   profile=profile,
                                   state_store=StateStore(state_path) if state_path else None,
                                   uplink_keys={self.key_id: self.key})
        self.executive.payload_grace_s = (0.0, 0.0)  # nothing arrives while we wait here
        self.elapsed_s = 0.0
        self.downlink: list[Envelope] = []
        self.actuators: list[Actuators] = []
        self._plant_seq = Sequencer("plant")
        self._ground_seq = Sequencer("ground")
        self.auto_ack = auto_ack
        """Acknowledge every downlink record as it arrives, as a perfect ground would (a
        test of the link itself turns this off and puts its own ground behind)."""
        self._ack_seq = Sequencer("ground")
        self.link_sink: Callable[[list[bytes]], None] | None = None
        """If set, every downlink frame also goes here, raw (a test puts a link model
        and a ground behind the executive; it then answers on :attr:`ground`)."""

    @property
    def core(self) -> Any:
        return self.executive.core

    # --- driving ------------------------------------------------------------------------------
    def run(self, seconds: int = 1, **sensor_overrides: Any) -> None:
        """``seconds`` plant ticks of 1 s; keyword arguments change the sensor sample."""
        if sensor_overrides:
            self.sensors = replace(self.sensors, **sensor_overrides)
        for _ in range(seconds):
            self.tick_raw({"elapsed_s": self.elapsed_s, "dt_s": 1.0,
                           "sensors": self.sensors.to_body()})
            self.elapsed_s += 1.0

    def tick_raw(self, body: dict[str, Any], kind: Kind = Kind.TICK) -> None:
        """Send one plant frame with any body (a test may send garbage)."""
        self.send_plant(self._plant_seq.pack(kind, EPOCH_S + self.elapsed_s, body))

    def send_plant(self, frame: bytes) -> None:
        self.plant.send(frame)
        self.executive.run_lockstep()
        self._collect()

    def command(self, name: Any, **args: Any) -> int:
        """Uplink one command; returns its sequence number (to find its verification)."""
        return self.command_args(name, args)

    def command_args(self, name: Any, args: dict[str, Any]) -> int:
        """:meth:`command` for arguments a keyword cannot carry (one named ``name``)."""
        return self._uplink_command({"name": name, "args": args})

    def _uplink_command(self, body: dict[str, Any]) -> int:
        # the real ground numbers on from its archive; a harness built on a saved state
        # record numbers on from the flight's highest (its anti-replay window)
        top = uplink_auth.window_top(self.core.state.auth)
        if self._ground_seq.next_seq <= top:
            self._ground_seq = Sequencer("ground", start=top + 1)
        seq = self._ground_seq.next_seq
        self.uplink_raw(self._ground_seq.pack(Kind.COMMAND, self.mission_time_s, body))
        return seq

    def command_at(self, at_s: float, name: Any, **args: Any) -> int:
        """Uplink a time-tagged command (``at_s``: mission time, UTC s)."""
        return self._uplink_command({"name": name, "args": args, "at_s": at_s})

    def ack(self, seqs: list[int]) -> None:
        """Uplink an acknowledgement of these downlink numbers (for the current boot)."""
        ranges: list[list[int]] = []
        for seq in sorted(seqs):
            if ranges and seq == ranges[-1][1]:
                ranges[-1][1] = seq + 1
            else:
                ranges.append([seq, seq + 1])
        boot_id = self.executive.core.state.link.boot_id
        for i in range(0, len(ranges), MAX_ACK_RANGES):
            body = AckBody(boot_id, ranges[i:i + MAX_ACK_RANGES]).to_body()
            self.uplink_raw(self._ack_seq.pack(Kind.ACK, self.mission_time_s, body))

    @property
    def mission_time_s(self) -> float:
        """The ground's stamp for what it sends now (the plant's time)."""
        return EPOCH_S + self.elapsed_s

    def seal(self, frame: bytes) -> bytes:
        return uplink_auth.seal(self.key, self.key_id, frame)

    def uplink_raw(self, frame: bytes, *, seal: bool = True) -> None:
        """Uplink any bytes, sealed with the ground's key (as the real ground does)
        unless ``seal`` is False (a test of the authentication itself)."""
        self.ground.send(self.seal(frame) if seal else frame)

    def shutdown(self) -> None:
        self.executive.shutdown()
        self._collect()

    def _collect(self) -> None:
        raw = self.ground.receive(max_frames=1_000_000)
        if self.link_sink is not None:
            self.link_sink(raw)
        fresh = [decode(frame) for frame in raw]
        self.downlink += fresh
        if self.auto_ack and fresh:
            self.ack(sorted({e.seq for e in fresh}))
        for frame in self.plant.receive():
            env = try_decode(frame)
            if isinstance(env, Envelope) and env.kind is Kind.ACTUATORS:
                self.actuators.append(ActuatorsBody.from_body(env.body).actuators)

    # --- looking ------------------------------------------------------------------------------
    def events(self, name: str | None = None) -> list[EventBody]:
        out = [EventBody.from_body(e.body) for e in self.downlink if e.kind is Kind.EVENT]
        return [e for e in out if name is None or e.name == name]

    def event_times(self, name: str) -> list[float]:
        return [e.time_s for e in self.downlink
                if e.kind is Kind.EVENT and e.body.get("name") == name]

    def telemetry(self) -> list[dict[str, Any]]:
        return [dict(e.body["points"]) for e in self.downlink if e.kind is Kind.TELEMETRY]

    def latest(self, point: str) -> Any:
        packets = self.telemetry()
        assert packets, "no housekeeping was downlinked"
        return packets[-1][point]

    def verification(self, seq: int) -> list[VerificationBody]:
        return [VerificationBody.from_body(e.body) for e in self.downlink
                if e.kind is Kind.VERIFICATION and e.body.get("cmd_seq") == seq]

    def products(self) -> list[dict[str, Any]]:
        return [dict(e.body) for e in self.downlink if e.kind is Kind.RESULT]



class FreeRunHarness(Harness):
    """The free-running shell (real-time loop) on a sim clock advanced by the test:
    samples arrive as SENSORS, jobs are kept in flight, the child paces itself."""

    def __init__(self, cfg: FlightConfig | None = None, **kwargs: Any) -> None:
        super().__init__(cfg, **kwargs)
        self.executive.lockstep = False
        self.executive.core.lockstep = False
        self.clock.epoch_s = EPOCH_S
        self.executive.core.start_at(self.clock.monotonic_s())

    def run(self, seconds: int = 1, **sensor_overrides: Any) -> None:
        if sensor_overrides:
            self.sensors = replace(self.sensors, **sensor_overrides)
        for _ in range(seconds * 10):
            if round(self.clock.monotonic_s() * 10) % 10 == 0:
                self.plant.send(self._plant_seq.pack(
                    Kind.SENSORS, self.clock.mission_time_s(),
                    {"sensors": self.sensors.to_body()}))
            self.executive.turn_free(wait=False)
            self._collect()
            self.clock.advance_by(0.1)
        self.elapsed_s = self.clock.monotonic_s()
