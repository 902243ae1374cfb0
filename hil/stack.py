"""The local sim stack: plant, executive (+ payload child) and ground as processes.

``aisat up`` runs it free on wall time with a live status line until Ctrl-C;
``aisat sim`` runs it in lockstep on sim time, as fast as the machine goes, and ends
with a mission summary. Either way every child is started in its own session (so a
Ctrl-C reaches only this launcher) and stopped in order - executive first, so it can
stop its payload; then the plant; then the ground once it has archived what arrived.
Each child also gets this launcher's pid in ``$AISAT_PARENT_PID`` and dies with it
(:mod:`flightsw.lifeline`), so even a SIGKILLed launcher leaves no orphan. A new run
moves the previous run's archive to ``RUN_DIR/runs/<UTC stamp>/`` instead of deleting it.

The launcher plays systemd for the executive (:mod:`hil.service_manager` with the
policy of :mod:`hil.service_policy`): a dead or hung executive is restarted, as a board's
unit file would, and too many restarts stop the stack with a clear message.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq

from flightsw import keyring
from flightsw.board.hybrid import from_option as board_from_option
from flightsw.catalog import build_dictionary
from flightsw.clock import RealClock
from flightsw.config import FlightConfig
from flightsw.errors import FlightError
from flightsw.lifeline import child_env
from flightsw.recorder_store import RECORDER_FILE
from flightsw.stackinfo import StackInfo, atomic_write_text
from flightsw.unix_transport import SCHEME as UNIX_SCHEME
from flightsw.unix_transport import socket_address
from flightsw.wire import Envelope, Kind, try_decode
from ground import ops_token
from ground.console.alarms import ALARMS_FILE
from hil import board_heat
from hil.private_files import make_private
from hil.serial_stack import check_link, start_serial_bridge
from hil.service_manager import ServiceManager, notify_argv
from hil.service_policy import FLIGHTSW, ServicePolicy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ORDERLY_STOP_S = 8.0
"""How long a child has to stop in order after SIGTERM before it is killed: the
executive's orderly stop is the longest (the payload's STOP grace, then up to
``DRAIN_MAX_S`` of draining the downlink, then its state written)."""


AWAIT_GROUND_S = 60.0
"""Lockstep: how long the plant waits for the ground to join the world feed before it
starts anyway (the ground starts in about a second; a loaded CI host is slower)."""


def _local_endpoint(name: str, scheme: str = "ipc") -> str:
    """A stream only this machine's processes use (the plant bus, the world feed, the
    space link, the ground's ops socket): a Unix socket in the abstract namespace (no
    file to leave behind, no path length to mind; reachable by local processes, as a
    loopback TCP port is). Named, not numbered: a loopback port chosen here and bound by
    a child later could be taken in between by any process (the start then failed, or
    the ground connected to a stranger); a name with our pid and a random part cannot.
    The plant bus is crossed twice every simulated second in lockstep: over loopback TCP
    a round trip cost ~250 us and ~37 us of CPU on the loaded 2-core host, over
    ZeroMQ's ``ipc://`` ~55 us and ~27 us, and over a plain seqpacket socket
    (``unix://``, no ZeroMQ I/O threads: :mod:`flightsw.unix_transport`) ~12 us idle
    and ~50 us against ~110 us with both cores busy."""
    return f"{scheme}://@aisat-{name}-{os.getpid()}-{secrets.token_hex(6)}"


@dataclass
class StackOptions:
    profile: str = "cubesat-jetson"
    lockstep: bool = False
    duration_s: float | None = None  # None: until stopped (free) / one orbit (lockstep)
    orbits: float | None = None
    speed: float | None = None
    run_dir: Path = Path(".")
    report: Path | None = None
    model: str | None = None
    log_level: str = "WARNING"
    service_policy: ServicePolicy = FLIGHTSW
    """How the launcher keeps the executive running (tests shorten it)."""
    flight_overrides: Mapping[str, Any] = field(default_factory=dict)
    """Flight config values over the profile's (checked as strictly as the profile's)."""
    link: str = "zmq"
    """``zmq``: the executive binds the ground's link socket; ``serial``: the executive's
    link is a UART (a pty pair, the virtual board's cable) to :mod:`hil.serial_bridge`,
    which binds it instead (:mod:`hil.serial_stack`)."""
    board: str = "none"
    """The executive's ``--board``: ``virtual:PATH`` takes the compute's temperature and
    power from a virtual board's tree (:mod:`flightsw.board.hybrid`)."""
    flight_python: str | None = None
    """The interpreter the executive (and so its payload) runs under; None: this one. An
    emulated board's (``hil/aarch64/run_tests.sh --scenario``) puts the flight code on
    aarch64 while the plant, bridge and ground run here."""
    link_faults: str = ""
    """With ``link="serial"``: line faults on the UART, ``drop=P,flip=P,brk=P,seed=N``."""


@dataclass
class Stack:
    """Started child processes and where they listen."""

    opts: StackOptions
    info: StackInfo
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    clock: RealClock = field(default_factory=RealClock)
    notes: list[str] = field(default_factory=list)
    """What the start did that the operator should hear about (e.g. where the last
    run's archive went); the CLI prints them."""
    service: ServiceManager | None = None
    """The executive's supervisor (the launcher's systemd role)."""

    # --- start ---------------------------------------------------------------------------
    @classmethod
    def start(cls, opts: StackOptions) -> Stack:
        from hil.plant import Plant, load_profile

        profile = load_profile(opts.profile)  # fail fast, with the profile error, here
        try:
            check_link(opts.link, opts.link_faults)
        except ValueError as exc:
            raise StackError(str(exc)) from None
        board_from_option(opts.board)  # FlightError: a clear refusal before any spawn
        if opts.flight_python is not None and not os.access(opts.flight_python, os.X_OK):
            raise StackError(f"--flight-python {opts.flight_python!r} is not an executable "
                             f"interpreter")
        if opts.model:
            check_model_path(opts.model)  # before anything is spawned or moved
        cfg = FlightConfig.from_mapping({**profile.flight, **opts.flight_overrides})
        run_dir = Path(opts.run_dir).resolve()
        make_private(run_dir)  # owner-only: the archive, recorder store, keys, logs
        _refuse_if_running(run_dir)
        if opts.orbits is not None:
            opts.duration_s = opts.orbits * Plant(profile).orbit_period_s
        notes = rotate_previous_run(run_dir)  # the last run's archive is kept, not deleted
        dictionary = build_dictionary(cfg)
        dict_path = run_dir / "dictionary.json"
        atomic_write_text(dict_path, json.dumps(dictionary.to_json(), indent=2))
        config_path = run_dir / "flight_config.json"
        atomic_write_text(config_path, json.dumps(cfg.to_dict(), indent=2))
        archive = run_dir / ARCHIVE_FILE
        key_dir = keyring.resolve_dir(None, run_dir)  # $AISAT_KEY_DIR, else RUN_DIR/keys
        assert key_dir is not None
        try:
            keyring.ensure(key_dir)  # before any process: both find the same keys
        except keyring.KeyDirError as exc:
            raise StackError(str(exc)) from exc
        info = StackInfo(run_dir=str(run_dir), plant_bus=_local_endpoint("plant", "unix"),
                         world=_local_endpoint("world"),
                         link=_local_endpoint("link"), ops=_local_endpoint("ops"),
                         archive=str(archive),
                         dictionary=str(dict_path), profile=profile.name,
                         mode="lockstep" if opts.lockstep else "realtime")
        stack = cls(opts, info, notes=notes)
        py = sys.executable
        try:
            plant_argv = [py, "-m", "hil.plantd", "--profile", opts.profile,
                          "--bus", info.plant_bus, "--world", info.world,
                          "--summary-out", str(run_dir / "plant_summary.json"),
                          "--log-level", opts.log_level]
            if opts.lockstep:  # the ground must see the scenario from its first WORLD
                plant_argv += ["--lockstep", "--await-ground-s", repr(AWAIT_GROUND_S)]
            if opts.duration_s is not None:
                plant_argv += ["--duration-s", repr(opts.duration_s)]
            if opts.speed is not None:
                plant_argv += ["--speed", repr(opts.speed)]
            if opts.report is not None:
                plant_argv += ["--report", str(Path(opts.report).resolve())]
            stack._spawn("plant", plant_argv)
            board_heat.start_for_stack(stack, opts.board)  # a virtual board warms with the load
            exec_link = info.link
            if opts.link == "serial":  # the UART and its bridge first: the link's binder
                exec_link = start_serial_bridge(stack, opts.link_faults)
            exec_argv = [opts.flight_python or py, "-m", "flightsw", "--plant", info.plant_bus,
                         "--link", exec_link,
                         "--clock", "sim" if opts.lockstep else "real",
                         "--config", str(config_path), "--profile", profile.name,
                         "--run-dir", str(run_dir), "--keys", str(key_dir),
                         "--stats-out", str(run_dir / "exec_stats.json"),
                         "--log-level", opts.log_level]
            if opts.board != "none":
                exec_argv += ["--board", opts.board]
            if opts.model:
                exec_argv += ["--model", str(Path(opts.model).expanduser().resolve())]
            exec_argv += ["--watchdog", "systemd"]  # the launcher is its systemd
            (run_dir / "exec_stats.json").unlink(missing_ok=True)
            (run_dir / "plant_summary.json").unlink(missing_ok=True)

            def spawn_executive(env: dict[str, str]) -> subprocess.Popen[bytes]:
                return stack._spawn("flightsw", notify_argv(exec_argv), env)

            stack.service = ServiceManager(opts.service_policy, run_dir, spawn_executive,
                                           log_path=run_dir / "launcher.log")
            # the ground starts alongside the executive (a ZeroMQ connect waits for its
            # binder): in lockstep the plant starts the scenario only once the ground
            # has joined the world feed, so its start-up is on every run's clock
            stack._spawn("ground", [*ground_argv(info, lockstep=opts.lockstep),
                                    "--profile", profile.source,  # its [link] physics
                                    "--keys", str(key_dir)])
            stack.service.start()
            stack._wait_listening(info.link, "flightsw" if opts.link != "serial" else "bridge")
        except BaseException:
            stack.stop()
            raise
        return stack

    def _wait_listening(self, endpoint: str, name: str, timeout_s: float = 30.0) -> None:
        """Until something accepts connections on ``endpoint`` (ZeroMQ's ``ipc://`` is
        a Unix stream socket; ``tcp://`` a loopback port)."""
        deadline = self.clock.monotonic_s() + timeout_s
        while self.clock.monotonic_s() < deadline:
            failed = self.failed_process()
            if failed:
                raise StackError(failed)
            try:
                with _connect(endpoint):
                    return
            except OSError:
                self.clock.sleep_s(0.05)
        raise StackError(f"{name} did not open {endpoint} within {timeout_s:.0f} s")

    def _spawn(self, name: str, argv: list[str],
               env_extra: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = Path(self.info.run_dir) / f"{name}.log"
        env = child_env()
        env.update(env_extra or {})
        with open(log_path, "ab") as log:
            # own session: a Ctrl-C reaches only us; the lifeline env: a SIGKILLed us still
            # takes them down (see flightsw.lifeline)
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True, env=env)
        self.procs[name] = proc
        self.info.pids[name] = proc.pid
        self.info.write()
        return proc

    # --- run -----------------------------------------------------------------------------
    def failed_process(self) -> str | None:
        """Why the stack cannot go on, or None. The executive's deaths are its service
        manager's business (a restart), until the start limit makes it give up."""
        if self.service is not None and self.service.gave_up:
            return f"{self.service.gave_up} (see {self.info.run_dir}/launcher.log)"
        for name, proc in self.procs.items():
            if name == "flightsw" and self.service is not None:
                continue
            code = proc.poll()
            if code is not None and code != 0:
                return f"{name} exited with code {code} (see {self.info.run_dir}/{name}.log)"
        return None

    def take_service_notes(self) -> list[str]:
        """What the executive's service manager did since the last call (restarts)."""
        return self.service.take_notes() if self.service is not None else []

    def wait_lockstep(self, timeout_s: float | None = None,
                      on_world: Callable[[Mapping[str, Any]], None] | None = None,
                      on_note: Callable[[str], None] | None = None) -> None:
        """Wait for the plant to finish the scenario (and the executive to stop);
        ``on_note`` hears of every restart of the executive as it happens."""
        deadline = None if timeout_s is None else self.clock.monotonic_s() + timeout_s
        watcher = WorldWatcher(self.info.world, conflate=True) if on_world else None
        try:
            while self.procs["plant"].poll() is None:
                # sample, do not follow: the plant publishes hundreds of worlds a second
                # and a launcher spinning on them takes CPU from the lockstep itself
                self.clock.sleep_s(0.1)
                if on_note is not None:
                    for note in self.take_service_notes():
                        on_note(note)
                if watcher is not None and on_world is not None:
                    world = watcher.latest(0)
                    if world is not None:
                        on_world(world)
                failed = self.failed_process()
                if failed:
                    raise StackError(failed)
                if deadline is not None and self.clock.monotonic_s() > deadline:
                    raise StackError(f"scenario did not finish within {timeout_s:.0f} s")
        finally:
            if watcher is not None:
                watcher.close()
        self._wait_exit("flightsw", 30.0)

    def _wait_exit(self, name: str, timeout_s: float) -> int | None:
        proc = self.procs.get(name)
        if proc is None:
            return None
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def wait_ground_drained(self, timeout_s: float = 30.0) -> None:
        """The ground archives what is still arriving after the plant's STOP and then
        exits by itself; wait for that instead of asking it (it may be gone already)."""
        self._wait_exit("ground", timeout_s)

    # --- stop ----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every child in order; TERM first, KILL if it does not go. Idempotent."""
        if self.service is not None:
            self.service.stop_supervising()  # a stopping executive is not restarted
        for name in ("flightsw", "plant", "ground", "bridge", "board_heat"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            if name == "ground":
                ops_request(self.info.ops, {"op": "stop", "token": ops_token.read(
                    self.info.run_dir)}, timeout_ms=1000)
                try:
                    proc.wait(timeout=3.0)
                    continue
                except subprocess.TimeoutExpired:
                    pass
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=ORDERLY_STOP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5.0)
        (Path(self.info.run_dir) / "stack.json").unlink(missing_ok=True)

    def read_json(self, name: str) -> dict[str, Any]:
        path = Path(self.info.run_dir) / name
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}


def ground_argv(info: StackInfo, lockstep: bool) -> list[str]:
    """The ground process's command line for this stack. In lockstep the ground waits on
    sim time like every other process; otherwise on wall time."""
    return [sys.executable, "-m", "ground", "--run-dir", info.run_dir, "--link", info.link,
            "--world", info.world, "--ops", info.ops, "--archive", info.archive,
            "--clock", "sim" if lockstep else "real"]


def _connect(endpoint: str) -> socket.socket:
    """A plain connection to a ZeroMQ ``ipc://`` or ``tcp://`` endpoint (raises OSError)."""
    if endpoint.startswith("ipc://"):  # named as the Unix bus names its sockets
        address = socket_address(UNIX_SCHEME + endpoint.removeprefix("ipc://"))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(0.2)
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=0.2)


class StackError(Exception):
    """The stack could not start or a process in it failed."""


class WorldWatcher:
    """Subscribes to the plant's WORLD publication (truth, for the status line)."""

    def __init__(self, endpoint: str, conflate: bool = False) -> None:
        """``conflate``: keep only the newest message (an observer that samples the
        world should not decode the hundreds per second a fast lockstep run publishes)."""
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        if conflate:
            self.sock.setsockopt(zmq.CONFLATE, 1)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(endpoint)
        self.stopped = False

    def latest(self, timeout_ms: int) -> dict[str, Any] | None:
        world: dict[str, Any] | None = None
        if not self.sock.poll(timeout_ms, zmq.POLLIN):
            return None
        while self.sock.poll(0, zmq.POLLIN):
            env = try_decode(self.sock.recv())
            if isinstance(env, Envelope):
                if env.kind is Kind.WORLD:
                    world = dict(env.body)
                elif env.kind is Kind.STOP:
                    self.stopped = True
        return world

    def close(self) -> None:
        self.sock.close(linger=0)


def ops_request(endpoint: str, request: Mapping[str, Any],
                timeout_ms: int = 2000) -> dict[str, Any] | None:
    """One request to the ground's ops API; ``None`` if it does not answer in time."""
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(msgpack.packb(dict(request), use_bin_type=True))
        if not sock.poll(timeout_ms, zmq.POLLIN):
            return None
        reply = msgpack.unpackb(sock.recv(), raw=False)
        return reply if isinstance(reply, dict) else None
    except (zmq.ZMQError, ValueError):
        return None
    finally:
        sock.close(linger=0)


# --- presentation ----------------------------------------------------------------------------
STATUS_DROP_ORDER = ("utc", "light", "jobs", "payload", "link", "batt")
"""Which parts of the status line go first when the terminal is too narrow."""


def status_fields(world: Mapping[str, Any], jobs_rate_per_s: float | None = None
                  ) -> dict[str, str]:
    """The status line's parts, by name, in display order."""
    utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(world.get("time_utc_s", 0.0))))
    temps = world.get("temps_c") or {}
    payload_c = _num(temps.get("payload"))
    soc = _num(world.get("battery_soc_frac")) * 100
    sun = _num(world.get("sun_fraction"))
    light = "sun" if sun >= 0.99 else "eclipse" if sun <= 0.01 else "penumbra"
    if world.get("in_contact"):
        link = f"AOS {world.get('station', '?')} el {_num(world.get('elevation_deg')):.0f}°"
    else:
        nxt = world.get("next_pass")
        if isinstance(nxt, Mapping) and "aos_utc_s" in nxt:
            wait_s = float(nxt["aos_utc_s"]) - float(world.get("time_utc_s", 0.0))
            link = f"LOS, next {nxt.get('station', '?')} in {_hms(wait_s)}"
        else:
            link = "LOS"
    rate = f" ({jobs_rate_per_s:.1f}/s)" if jobs_rate_per_s is not None else ""
    return {
        "time": f"T+{_hms(float(world.get('elapsed_s', 0.0)))}",
        "utc": f"{utc}Z",
        "mode": f"{world.get('mode') or '?':<7}",
        "light": f"{light:<8}",
        "batt": f"batt {soc:5.1f}%",
        "payload": f"payload {payload_c:5.1f}°C thr "
                   f"{_num(world.get('throttle_frac')) * 100:3.0f}%",
        "jobs": f"jobs {int(world.get('jobs_done') or 0)}{rate}",
        "link": link,
    }


def status_line(world: Mapping[str, Any], jobs_rate_per_s: float | None = None,
                width: int | None = None) -> str:
    """One compact line: sim time, mode, battery, payload temperature, inferences, link.

    With ``width``, parts are left out in :data:`STATUS_DROP_ORDER` until the line fits
    in ``width - 1`` columns; if even the essentials do not, the line is cut with "…".
    """
    fields = status_fields(world, jobs_rate_per_s)
    line = _join_status(fields)
    if width is None:
        return line
    room = max(1, width - 1)
    for name in STATUS_DROP_ORDER:
        if len(line) <= room:
            break
        fields.pop(name, None)
        line = _join_status(fields)
    if len(line) > room:
        line = line[: room - 1] + "…" if room > 1 else line[:room]
    return line


def _join_status(fields: Mapping[str, str]) -> str:
    head = fields["time"] + (f" {fields['utc']}" if "utc" in fields else "")
    rest = [v for k, v in fields.items() if k not in ("time", "utc")]
    return " | ".join([head, *rest])


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _hms(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def mission_summary(plant: Mapping[str, Any], flight: Mapping[str, Any],
                    ground: Mapping[str, Any], wall_s: float) -> dict[str, Any]:
    sim_s = float(plant.get("sim_time_s", 0.0))
    violations = list(plant.get("violations", []))
    return {
        "profile": plant.get("profile", ""),
        "orbits_flown": plant.get("orbits_flown"),
        "sim_time_s": sim_s,
        "wall_time_s": round(wall_s, 2),
        "speedup": round(sim_s / wall_s, 1) if wall_s > 0 else None,
        "energy_in_wh": plant.get("energy_in_wh"),
        "energy_out_wh": plant.get("energy_out_wh"),
        "min_battery_soc_pct": plant.get("min_battery_soc_pct"),
        "max_temps_c": plant.get("max_temps_c", {}),
        "mode_changes": flight.get("mode_changes", plant.get("mode_changes")),
        "jobs_done": flight.get("jobs_done", plant.get("jobs_done")),
        "tiles_done": flight.get("tiles_done", plant.get("tiles_done")),
        "payload_mean_activity_pct": plant.get("payload_mean_activity_pct"),
        "records_downlinked": flight.get("frames_sent"),
        "records_archived": ground.get("records_archived"),
        "records_onboard_at_end": flight.get("recorder_left"),
        "records_evicted": flight.get("recorder_evicted"),
        "ground": dict(ground),
        "payload_restarts": flight.get("payload_restarts", plant.get("payload_restarts")),
        "violations": violations,
        "stop_reason": plant.get("stop_reason"),
    }


def format_summary(s: Mapping[str, Any]) -> str:
    temps = ", ".join(f"{k} {float(v):.1f} C" for k, v in (s.get("max_temps_c") or {}).items())
    violations = s.get("violations") or []
    archived = s.get("records_archived", "?")
    lines = [
        f"Mission summary: {s.get('profile')}",
        f"  orbits flown        {float(s.get('orbits_flown') or 0):.2f} "
        f"({_hms(float(s.get('sim_time_s') or 0))} sim) in {s.get('wall_time_s')} s wall "
        f"= {s.get('speedup')}x real time",
        f"  energy              in {float(s.get('energy_in_wh') or 0):.1f} Wh, "
        f"out {float(s.get('energy_out_wh') or 0):.1f} Wh",
        f"  battery minimum     {float(s.get('min_battery_soc_pct') or 0):.1f} %",
        f"  max temperatures    {temps}",
        f"  mode changes        {s.get('mode_changes')}",
        f"  inference jobs      {s.get('jobs_done')} ({s.get('tiles_done')} tiles; payload duty "
        f"cycle {s.get('payload_mean_activity_pct')} % on average)",
        f"  records downlinked  {s.get('records_downlinked')} (archived at ground: {archived}; "
        f"still onboard: {s.get('records_onboard_at_end')}; evicted: {s.get('records_evicted')})",
        f"  payload restarts    {s.get('payload_restarts')}",
        f"  executive restarts  {s.get('executive_restarts', 0)}",
        f"  limit violations    {len(violations) if violations else 'none'}",
    ]
    lines += [f"    - {v}" for v in violations[:20]]
    return "\n".join(lines)


def archived_records(archive: Path) -> int | None:
    """Downlinked records the ground archived: telemetry packets, events, verification
    reports, data products and HELLOs, each counted once by its downlink sequence number."""
    import sqlite3

    if not Path(archive).exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
        try:
            total = 0
            for table, where in (("telemetry", ""), ("events", ""), ("verifications", ""),
                                 ("products", ""), ("hellos", " WHERE direction = 'down'")):
                row = conn.execute(f"SELECT COUNT(DISTINCT seq) FROM {table}{where}").fetchone()
                total += int(row[0])
            return total
        finally:
            conn.close()
    except sqlite3.Error:
        return None


ARCHIVE_FILE = "archive.sqlite"
RUNS_DIR = "runs"
KEEP_RUNS = 10
"""Previous runs kept under ``RUN_DIR/runs/``; the oldest beyond this are removed."""
RUN_FILES = (ARCHIVE_FILE, f"{ARCHIVE_FILE}-wal", f"{ARCHIVE_FILE}-shm", "dictionary.json",
             "flight_config.json", "plant_summary.json", "exec_stats.json", "plant.log",
             "flightsw.log", "payload.log", "ground.log", "flight_state.bin",
             "flight_state.bin.prev", "launcher.log", "bridge.log", "bridge_stats.json",
             "board_heat.log", ALARMS_FILE,
             RECORDER_FILE, f"{RECORDER_FILE}-wal",
             f"{RECORDER_FILE}-shm")
"""What belongs to one run and moves with its archive (the archive's -wal and -shm must
stay beside it, under the same name, or SQLite loses the un-checkpointed tail). The
onboard recorder's store goes too: a new run is a new mission, and one that inherited
the last run's unacknowledged records grew its backlog run after run (measured: 33,593
records held and 124,865 frames sent by the fifth 2-orbit sim in one directory)."""
_STAMP_RE = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")


def rotate_previous_run(run_dir: Path, keep: int = KEEP_RUNS) -> list[str]:
    """Move the previous run's archive (with its -wal/-shm, dictionary, summaries and
    logs) to ``run_dir/runs/<UTC stamp>/`` and keep at most ``keep`` such runs.

    The stamp is the UTC time the old archive was last written (its run's end), so this
    reads no clock. The current run's archive stays at ``run_dir/archive.sqlite``, where
    the ground CLI looks for a stopped run. Returns what it did, for the operator; the
    caller must have made sure no stack is running in ``run_dir``.
    """
    archive_files = [run_dir / name for name in RUN_FILES[:3] if (run_dir / name).exists()]
    if not archive_files:
        return []
    ended_s = max(path.stat().st_mtime for path in archive_files)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(ended_s))
    runs = run_dir / RUNS_DIR
    dest = runs / stamp
    n = 1
    while dest.exists():
        n += 1
        dest = runs / f"{stamp}-{n}"
    dest.mkdir(parents=True)
    for name in RUN_FILES:
        src = run_dir / name
        if src.exists():
            os.replace(src, dest / name)
    notes = [f"the previous run's archive is now {dest / ARCHIVE_FILE}"]
    kept = sorted(p for p in runs.iterdir() if p.is_dir() and _STAMP_RE.match(p.name))
    for old in kept[: max(0, len(kept) - keep)]:
        shutil.rmtree(old, ignore_errors=True)
        notes.append(f"removed the oldest saved run {old} (keeping the last {keep})")
    return notes


def check_model_path(path: str | Path) -> Path:
    """The model the payload will load: an existing, readable file with its card beside
    it. Checked by the launcher before it spawns anything, so a typo is one clear line
    at start and not a payload crash loop minutes later."""
    from payload.model import card_path_for

    model = Path(path).expanduser()
    if not model.exists():
        raise StackError(f"model {str(path)!r} does not exist")
    if not model.is_file():
        raise StackError(f"model {str(path)!r} is not a file")
    try:
        with open(model, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise StackError(f"model {str(path)!r} cannot be read: {exc.strerror or exc}") from exc
    card = card_path_for(model)
    if not card.is_file():
        raise StackError(f"model {str(path)!r} has no model card {card.name!r} beside it")
    return model


def _refuse_if_running(run_dir: Path) -> None:
    """Two stacks in one run directory would overwrite each other's addresses and archive."""
    try:
        existing = StackInfo.read(run_dir)
    except FlightError:
        return  # none there, or unreadable: nothing to protect
    alive = {name: pid for name, pid in existing.pids.items() if pid_alive(pid)}
    if alive:
        pids = ", ".join(f"{name} {pid}" for name, pid in sorted(alive.items()))
        raise StackError(f"a stack is already running in {run_dir} ({pids}); stop it "
                         f"(Ctrl-C in its terminal) or choose another --run-dir")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
