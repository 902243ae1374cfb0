"""The ground process: station emulator + mission control + ops API on one event loop.

The imperative shell around :mod:`ground.core` (station, mission control and ops API on
one ground clock, ``--clock real|sim``). It owns the sockets and reads the wall clock,
which it hands to the core each turn (see :mod:`ground.core` for what runs on which):

- ``link``: a ZeroMQ PAIR that *connects* to the executive's bound PAIR. ZeroMQ keeps
  reconnecting, so the ground may start before the executive and survives its restarts.
  ``ZMQ_IMMEDIATE`` makes a send fail while no executive is connected, so a command is
  only marked ``sent`` once a live peer took it (until then it stays queued).
  A socket monitor reports (re)connections: each starts a new downlink epoch and a HELLO.
- ``world``: a SUB on the plant's WORLD/STOP publisher (the visibility truth).
- ``ops``: a REP the CLI and scripts talk to.

Each loop turn: poll, take world updates and pass downlink frames through the station
into mission control (in the order they happened, see :mod:`ground.arrival_order`),
answer ops requests, send what the uplink allows, then commit the archive in one
transaction. On the sim clock the loop turns at most every :data:`SIM_TURN_S`. Exit is
orderly on the ``stop`` op, a plant STOP, SIGTERM or SIGINT: the archive is committed
and closed, no traceback. After a plant STOP the ground first archives what the
executive still sends while it shuts down.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from flightsw.clock import RealClock
from flightsw.dictionary import Dictionary
from flightsw.wire import WORLD_SIGN_IN
from ground import ops_token
from ground.archive import Archive
from ground.core import GroundCore, WallTime
from ground.link_physics import LinkPhysics
from ground.uplink_keys import UplinkKeys

log = logging.getLogger("ground")

POLL_MS = 20
IN_AIR_POLL_MS = 2
"""While the link physics holds frames in the air (latency, the uplink's 9.6 kbit/s), the
loop looks again this soon, so a frame is delivered when it arrives, not up to a poll
later (a command's round trip crosses the station twice each way)."""
SIM_TURN_S = 0.025
"""On the sim clock the loop turns at most this often (wall seconds). In lockstep the
plant publishes a WORLD every simulated second and the flight downlinks in between, a
few hundred of each per wall second: woken by each, the ground spent most of its CPU on
waking up, draining, committing and pumping (13,900 turns and 4.1 s CPU for a 2-orbit
suncatcher sim; ~3,500 turns at 10 ms, ~1,500 at 25 ms). A turn takes its WORLDs and
frames in the order they happened (:mod:`ground.arrival_order`), so it decides what a
turn per WORLD would; the ground only runs some simulated seconds (~12 at 25 ms) behind
the flight, as it does anyway whenever it archives a burst. The real clock keeps
waking for every message (the wall is what an operator's round trip is measured on),
and so does the sim clock after a plant STOP (time then runs on the wall)."""
SIM_TURN_MAX_SPAN_S = 15.0
"""A sim-clock turn also covers at most this much spacecraft time (at the rate the last
turn saw it pass): how far the ground lags is what the flight measures as its link's
round trip, and the flight sends a record again when it is unacknowledged for its
resend timeout (at least 30 s, :data:`flightsw.recorder.RESEND_MIN_S`). At today's
~470 simulated seconds a wall second, 25 ms is ~12 s; a faster sim gets shorter
turns (about one per 15 simulated seconds) instead of records sent twice."""
BUSY_LINK_FRAMES = 32
"""A turn that drained this many downlink frames or more is followed at once, paced or
not: the flight is playing back its recorder, and a paced ground let its receive queue
(:data:`LINK_RCVHWM`) fill, pushing the flight back until it sent bursts the link model
could not carry (291 frames over its transmit queue, each then re-requested and sent
again, in one 2-orbit run at 10 ms)."""
MAX_FRAMES_PER_TURN = 20_000  # keep ops answers prompt under a downlink flood
MAX_BYTES_PER_TURN = 32 << 20  # and memory bounded under a flood of 1 MiB frames
MAX_OPS_PER_TURN = 50  # and the downlink flowing under a flood of ops requests
# After a plant STOP the executive is shutting down and may still downlink its last
# records: keep archiving until it has disconnected (or the link has gone quiet), capped.
LINK_RCVHWM = 256
"""Downlink frames ZeroMQ may queue for us: with the wire's largest frame
(:data:`flightsw.wire.MAX_FRAME_BYTES`, 1 MiB, which the executive never exceeds: it
refuses to encode more) at most 256 MiB, and a few MB in practice (the issue measured
2.6 GB under a flood when nothing bounded it). A sender at the mark is pushed back: the
flight keeps the record in its recorder. (``ZMQ_MAXMSGSIZE`` would bound a broken
sender's frames too, but ZeroMQ then drops the connection and the PAIR does not take the
ground back: one bad frame would cut the link.)"""
STOP_QUIET_S = 0.2  # idle this long after the executive disconnected: done
STOP_IDLE_S = 6.0
"""Idle this long even with the executive still connected: done. It covers the
executive's shutdown (the payload's last answers, up to 2 s, then up to 3 s of draining
its recorder while we acknowledge); an executive that exits sooner disconnects, and
:data:`STOP_QUIET_S` ends the wait."""
STOP_MAX_S = 10.0
OPS_LINGER_MS = 500
"""How long the ops socket may keep trying to deliver its last answers once closed: the
answer to ``stop`` is sent just before the ground closes, and with no linger a loaded
host dropped it before it left (the operator's ``stop`` then said the ground does not
answer). Every other socket closes at once."""
META_FLUSH_S = 1.0  # wall seconds between commits of the mission clock alone


def monitor_event(parts: list[bytes]) -> int | None:
    """The event of a ZeroMQ socket-monitor message (libzmq's ``zmq_socket_monitor``
    format: a 16-bit event and a 32-bit value, then the endpoint); None if malformed.
    Read here rather than with ``zmq.utils.monitor``, which imports asyncio (a sixth of
    the ground's import time) for its async sockets."""
    if len(parts) != 2 or len(parts[0]) != 6:
        return None
    event: int = struct.unpack("=hi", parts[0])[0]
    return event


@dataclass(frozen=True)
class GroundConfig:
    link: str  # executive's PAIR endpoint (we connect)
    ops: str  # our REP endpoint (we bind)
    archive: Path
    world: str = ""  # plant PUB endpoint; empty: no plant, link always up
    edge_grace_s: float | None = None  # None: the clock's default (see ground.core)
    clock: str = "real"  # "real" (wall) or "sim" (spacecraft time from WORLD)
    link_physics: LinkPhysics | None = None  # None: an ideal link
    keys: Path | None = None  # uplink key directory; None: next to the archive
    token_path: Path | None = None  # where the ops token goes; None: next to the archive


class GroundProcess:
    def __init__(self, cfg: GroundConfig, dictionary: Dictionary,
                 clock: RealClock | None = None, ctx: zmq.Context[Any] | None = None) -> None:
        self.cfg = cfg
        self.clock = clock or RealClock()  # the wall: drain timeouts and rx_wall_s only
        self.ctx = ctx or zmq.Context.instance()
        key_dir = cfg.keys or Path(cfg.archive).parent / "keys"
        uplink = UplinkKeys.from_dir(key_dir)  # KeyDirError: the caller says why
        self.token_path = cfg.token_path or Path(cfg.archive).parent / ops_token.TOKEN_FILE
        token = ops_token.create(self.token_path)
        self.archive = Archive(cfg.archive)
        self.core = GroundCore(dictionary, self.archive, clock=cfg.clock,
                               edge_grace_s=cfg.edge_grace_s,
                               always_in_contact=not cfg.world,
                               extra_status=self._process_status,
                               link_physics=cfg.link_physics, uplink=uplink,
                               ops_token=token)
        self.station = self.core.station
        self.mission = self.core.mission
        self.ops = self.core.ops
        self.stop_reason = ""
        self.flight_connected = False
        self.flight_connects = 0
        self.turns = 0
        self._started_mono_s = self.clock.monotonic_s()
        self._stop_at_s: float | None = None  # when a plant STOP arrived (wall monotonic)
        self._meta_flushed_s = self._started_mono_s
        self._last_frame_s = self._started_mono_s
        self._turn_at_s = -math.inf  # wall monotonic of the last loop turn
        self._last_turn_frames = 0  # downlink frames the last turn drained
        self._turn_s = SIM_TURN_S  # the sim clock's turn (shorter in a fast sim)
        self._rate_from: tuple[float, float] | None = None  # (wall, WORLD time) seen last
        self._sockets: list[zmq.Socket[Any]] = []
        try:
            self._open_sockets()
        except zmq.ZMQError:
            self.close()
            raise
        if not cfg.world:
            log.info("no world endpoint: treating the spacecraft as always in contact")

    def wall(self) -> WallTime:
        return WallTime(self.clock.monotonic_s(), self.clock.mission_time_s())

    def _open_sockets(self) -> None:
        self.link = self._socket(zmq.PAIR)
        self.link.setsockopt(zmq.IMMEDIATE, 1)
        # bounded: a PAIR at its high-water mark pushes back (the executive's send is
        # refused and the record stays in its recorder) instead of growing without
        # limit under a flood; nothing is dropped inside ZeroMQ either way
        self.link.setsockopt(zmq.RCVHWM, LINK_RCVHWM)
        self.link.setsockopt(zmq.RECONNECT_IVL, 100)
        self.link.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self.monitor = self.link.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
        self._sockets.append(self.monitor)
        self.link.connect(self.cfg.link)
        self.world: zmq.Socket[Any] | None = None
        if self.cfg.world:
            self.world = self._socket(zmq.SUB)
            self.world.setsockopt(zmq.SUBSCRIBE, b"")
            self.world.setsockopt(zmq.SUBSCRIBE, WORLD_SIGN_IN)  # a lockstep plant waits
            self.world.setsockopt(zmq.RCVHWM, 0)
            self.world.connect(self.cfg.world)
        self.ops_sock = self._socket(zmq.REP)
        self.ops_sock.bind(self.cfg.ops)
        self.poller = zmq.Poller()
        for sock in (self.link, self.monitor, self.world, self.ops_sock):
            if sock is not None:
                self.poller.register(sock, zmq.POLLIN)

    def _socket(self, kind: int) -> zmq.Socket[Any]:
        sock = self.ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        self._sockets.append(sock)
        return sock

    # --- the loop -------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        if not self.stop_reason:
            self.stop_reason = reason

    def run(self) -> str:
        """Run until asked to stop; return why it stopped."""
        log.info("ground up: link %s, world %s, ops %s, archive %s, dictionary %s, "
                 "clock %s", self.cfg.link, self.cfg.world or "-", self.cfg.ops,
                 self.cfg.archive, self.mission.dictionary.hash, self.cfg.clock)
        while not self._should_exit():
            self._pace()
            self.turn(self._poll_ms())
        log.info("ground stopping: %s", self.stop_reason)
        return self.stop_reason

    def _spacecraft_time_moves(self) -> bool:
        """On the sim clock before a plant STOP, the ground's time moves only with what
        arrives: waking up sooner decides nothing sooner."""
        return self.cfg.clock == "sim" and self._stop_at_s is None and not self.stop_reason

    def _poll_ms(self) -> int:
        if self.station.model.in_air() and not self._spacecraft_time_moves():
            return IN_AIR_POLL_MS  # the wall moves them on: look again soon
        return POLL_MS  # (on spacecraft time the next arrival moves them on)

    def _pace(self) -> None:
        """On spacecraft time, turn at most every :data:`SIM_TURN_S` of wall time (less
        in a fast sim), unless the downlink is flowing (:data:`BUSY_LINK_FRAMES`)."""
        now_s = self.clock.monotonic_s()
        spacecraft_s = self.core.world_time_s
        if self._spacecraft_time_moves() and self._last_turn_frames < BUSY_LINK_FRAMES:
            wait_s = self._turn_at_s + self._sim_turn_s(now_s, spacecraft_s) - now_s
            if wait_s > 0:
                self.clock.sleep_s(wait_s)
                now_s += wait_s
        self._turn_at_s = now_s

    def _sim_turn_s(self, now_s: float, spacecraft_s: float | None) -> float:
        """:data:`SIM_TURN_S`, shorter where spacecraft time has been passing faster
        than :data:`SIM_TURN_MAX_SPAN_S` in that much wall time (measured from one
        advance of the WORLD time to the next)."""
        if spacecraft_s is not None:
            seen = self._rate_from
            if seen is not None and spacecraft_s > seen[1]:
                wall_per_spacecraft_s = (now_s - seen[0]) / (spacecraft_s - seen[1])
                self._turn_s = min(SIM_TURN_S, SIM_TURN_MAX_SPAN_S * wall_per_spacecraft_s)
            if seen is None or spacecraft_s > seen[1]:
                self._rate_from = (now_s, spacecraft_s)
        return self._turn_s

    def _should_exit(self) -> bool:
        if not self.stop_reason:
            return False
        if self._stop_at_s is None:
            return True
        now = self.clock.monotonic_s()
        idle_s = now - max(self._last_frame_s, self._stop_at_s)
        return (idle_s >= (STOP_IDLE_S if self.flight_connected else STOP_QUIET_S)
                or now - self._stop_at_s >= STOP_MAX_S)

    def turn(self, timeout_ms: int = 0) -> None:
        """One pass of the loop (also the seam the tests step the process with)."""
        ready = dict(self.poller.poll(timeout_ms))
        self.turns += 1
        if self.monitor in ready:
            self._take_monitor_events()
        # both sockets drained; the core puts frames and WORLDs in the order they happened
        frames = self._drain(self.link) if self.link in ready else []
        self._last_turn_frames = len(frames)
        worlds = self._drain(self.world) if self.world is not None and self.world in ready \
            else []
        wall = self.wall()
        if frames:
            self._last_frame_s = wall.mono_s
        # a turn may hold several WORLDs (see SIM_TURN_S): taken in the order they and
        # the frames happened, with the uplink's turn after each, as one turn per WORLD
        self.core.take_turn(frames, worlds, self.wall, self._send_up)
        if self.core.stop_reason and not self.stop_reason:  # the plant's STOP came
            self._stop_at_s = self.core.stopped_wall_s
            self.request_stop(self.core.stop_reason)
        if self.ops_sock in ready:
            self._answer_ops()
        self.core.pump_uplink(self._send_up, self.wall())
        self.core.end_turn(wall)
        # the mission clock alone is committed at most once a second (wall), so a reader
        # ages samples against a fresh "now" even out of contact, without a commit a turn
        meta_due = wall.mono_s - self._meta_flushed_s >= META_FLUSH_S
        try:
            if self.archive.flush(meta_only_too=meta_due) or meta_due:
                self._meta_flushed_s = wall.mono_s
        except Exception:  # sqlite3.Error, disk full: say so loudly, keep flying
            log.exception("archive commit failed")

    def _drain(self, sock: zmq.Socket[Any]) -> list[bytes]:
        frames: list[bytes] = []
        size = 0
        while len(frames) < MAX_FRAMES_PER_TURN and size < MAX_BYTES_PER_TURN:
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            frames.append(frame)
            size += len(frame)
        return frames

    @property
    def world_rejected(self) -> int:
        return self.core.world_rejected

    def _take_monitor_events(self) -> None:
        while True:
            try:
                event = monitor_event(self.monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            if event == zmq.EVENT_CONNECTED:
                self.flight_connected = True
                self.flight_connects += 1
                log.info("executive connected on %s", self.cfg.link)
                self.core.on_flight_connected()
            elif event == zmq.EVENT_DISCONNECTED:
                self.flight_connected = False
                log.info("executive disconnected; reconnecting")

    def _send_up(self, frame: bytes) -> bool:
        try:
            self.link.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return False  # no executive connected: keep it queued
        return True

    def _answer_ops(self) -> None:
        for _ in range(MAX_OPS_PER_TURN):  # a flood of requests must not starve the link
            try:
                parts = self.ops_sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            # a request is one frame; extra frames (a confused client) are ignored
            reply = self.core.on_ops(parts[0], self.wall())
            self.ops_sock.send(reply)
            if self.ops.stop_requested:
                self.request_stop("stop requested over ops")
                return

    def _process_status(self) -> dict[str, Any]:
        return {"flight_connected": self.flight_connected,
                "flight_connects": self.flight_connects,
                "world_rejected": self.world_rejected,
                "uptime_s": round(self.clock.monotonic_s() - self._started_mono_s, 3),
                "archive_path": str(self.cfg.archive), "turns": self.turns}

    def close(self) -> None:
        """Commit and close the archive, close the sockets. Safe to call twice."""
        if getattr(self, "_closed", False):
            return
        self._closed = True
        try:
            self.core.finish()
            log.info("downlink: %s", ", ".join(
                f"{k} {v}" for k, v in self.station.counters.as_dict().items()))
            for name, counts in self.station.snapshot(0.0)["link_physics"].items():
                log.info("link physics %s: %s", name,
                         ", ".join(f"{k} {v}" for k, v in counts.items()))
            self.archive.close()
        finally:
            ops_sock = getattr(self, "ops_sock", None)  # None: the start failed before it
            for sock in reversed(self._sockets):
                sock.close(linger=OPS_LINGER_MS if sock is ops_sock else 0)
