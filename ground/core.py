"""The ground's functional core: station + mission control + ops API on one ground clock.

No sockets and no clock reads: the process shell (:mod:`ground.process`) hands in the
bytes it received and the wall time it read (:class:`WallTime`), and gets back the
bytes to send. Everything that depends on time - contact gating, held-frame expiry,
HELLO repeats, command release, command stage times, the ground-clock receive stamps
(``rx_s``) - runs on the *ground clock*:

- ``real`` (``python -m ground --clock real``, the default): wall time, for boards and
  free-running stacks;
- ``sim`` (``--clock sim``, for lockstep): spacecraft time, from the plant's WORLD
  messages (the envelope's ``time_s``) and from the flight's own downlink stamps, which
  come from the same plant ticks: the ground's clock is the newest of the two, so it
  never reads earlier than a record it already holds, and never goes back. A downlink
  stamp may lead the WORLD time by at most :data:`MAX_LINK_LEAD_S` (a broken or hostile
  stamp cannot fling the clock into the future); played-back records, stamped in the
  past, do not move it. The receive stamp ``rx_s`` of a record is the link's own
  spacecraft time at receipt (the newest plausible downlink stamp, and never before the
  latest AOS) - a function of the downlink stream and the contact edges, not of how the
  WORLD and link sockets happened to interleave. The same inputs give the same
  archive; wall time then only
  fills ``rx_wall_s`` (for people) and the process's own drain timeouts after a plant
  STOP (when spacecraft time has stopped, only the wall can tell "quiet").

Whatever the clock, the ground's *mission now* (what ``aisat ground tlm`` measures ages
against) is the spacecraft time of the latest WORLD message, or wall UTC without a plant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from flightsw.dictionary import Dictionary
from flightsw.errors import safe_repr
from flightsw.wire import Envelope, Kind, packed_time_s, try_decode
from ground.archive import Archive
from ground.arrival_order import frames_first, interleave
from ground.link_physics import LinkPhysics, PhysicalLink
from ground.mission_control import MissionControl
from ground.ops_service import OpsService
from ground.station import ALWAYS, Station, Visibility
from ground.uplink_keys import UplinkKeys

log = logging.getLogger("ground")

CLOCKS = ("real", "sim")
EDGE_GRACE_S = {"real": 0.5, "sim": 2.0}
"""Default grace around AOS/LOS edges, in ground-clock seconds. WORLD and the downlink
travel on different sockets, so at an edge their order at the ground is a race; on sim
time the grace covers two plant steps (the plant steps 1 s at a time)."""

MAX_SPREAD_S = 60.0
"""On the sim clock a turn's downlink is spread over at most this much spacecraft time
(the time since the last turn; after a long quiet spell it was not all sent then)."""
NOTE_EVERY_S = 1.0
HEAD_BYTES = 1024
MAX_LINK_LEAD_S = 3600.0
"""How far ahead of the newest WORLD time a downlink stamp may move the sim clock. The
ground's WORLD stream can lag its downlink by over a minute of spacecraft time while it
archives a burst at lockstep speed (measured), so this only stops absurd stamps."""


@dataclass(frozen=True)
class WallTime:
    """The wall clock as the shell read it once for this call."""

    mono_s: float
    utc_s: float


class GroundCore:
    def __init__(self, dictionary: Dictionary, archive: Archive, *, clock: str = "real",
                 edge_grace_s: float | None = None, always_in_contact: bool = False,
                 extra_status: Callable[[], dict[str, Any]] | None = None,
                 link_physics: LinkPhysics | None = None, uplink: UplinkKeys | None = None,
                 ops_token: str | None = None) -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {safe_repr(clock)}")
        self.clock = clock
        grace = EDGE_GRACE_S[clock] if edge_grace_s is None else edge_grace_s
        self.station = Station(edge_grace_s=grace)
        if link_physics is not None and not link_physics.ideal:
            self.station.model = PhysicalLink(link_physics)
        self.mission = MissionControl(dictionary, archive, uplink)
        self.archive = archive
        self._extra_status = extra_status or dict
        self.ops = OpsService(self.mission, self.station, self._status, token=ops_token)
        self.world_time_s: float | None = None  # spacecraft time of the latest WORLD
        self.link_time_s: float | None = None  # newest plausible downlink stamp (sim)
        self.aos_time_s: float | None = None  # ground-clock time of the latest AOS
        self.world_rejected = 0
        self.world_backwards = 0  # WORLD messages older than one already seen
        self.stop_reason = ""
        self._stopped_wall_s: float | None = None  # wall monotonic of the plant's STOP
        self._noted_now_s = -math.inf
        self._last_downlink_s = -math.inf  # ground-clock time of the last downlink offer
        if always_in_contact:
            self._on_edge(self.station.observe(ALWAYS, self.now(WallTime(0.0, 0.0))[0]))

    # --- time -----------------------------------------------------------------------
    def now(self, wall: WallTime) -> tuple[float, float]:
        """(monotonic, mission) seconds on the ground clock."""
        if self.clock == "sim":
            t = self._spacecraft_time_s()
            if self._stopped_wall_s is not None:
                # spacecraft time stopped with the plant, but the executive still drains
                # its recorder: the link (latency, acknowledgements) runs on the wall
                t += max(0.0, wall.mono_s - self._stopped_wall_s)
            return t, t
        return wall.mono_s, wall.utc_s

    def _spacecraft_time_s(self) -> float:
        t = self.world_time_s if self.world_time_s is not None else 0.0
        if self.link_time_s is not None and self.link_time_s > t:
            t = self.link_time_s
        return t

    def mission_now_s(self, wall: WallTime) -> float:
        """The ground's latest spacecraft time (wall UTC if no plant ever spoke)."""
        if self.clock == "sim":
            return self._spacecraft_time_s()
        if self.world_time_s is None:
            return self.now(wall)[1]
        return self.world_time_s

    # --- inputs ---------------------------------------------------------------------
    def on_world(self, frame: bytes, wall: WallTime) -> str | None:
        """One frame from the plant's WORLD publisher; returns ``aos``/``los``/``stop``."""
        env = try_decode(frame)
        if not isinstance(env, Envelope):
            self.world_rejected += 1
            return None
        if env.kind is Kind.STOP:
            if not self.stop_reason:
                self.stop_reason = f"plant STOP: {safe_repr(env.body.get('reason', ''), 200)}"
                self._stopped_wall_s = wall.mono_s
            return "stop"
        if env.kind is not Kind.WORLD:
            return None
        try:
            vis = Visibility.from_world(env.body)
        except ValueError as exc:
            self.world_rejected += 1
            log.warning("WORLD message rejected: %s", exc)
            return None
        if self.world_time_s is not None and env.time_s < self.world_time_s:
            self.world_backwards += 1  # a restarted plant: keep the clock from going back
        else:
            self.world_time_s = env.time_s
        edge = self.station.observe(vis, self.now(wall)[0])
        if edge == "aos":
            self.aos_time_s = env.time_s
        self._on_edge(edge)  # every edge counts, even if a burst holds AOS and LOS
        return edge

    def take_turn(self, frames: Sequence[bytes], worlds: Sequence[bytes],
                  wall: Callable[[], WallTime], send: Callable[[bytes], bool]) -> None:
        """A turn's downlink frames and WORLDs, in the order they happened (see
        :meth:`arrival_steps`), the uplink pumped after each WORLD but the last (the
        caller pumps once it has answered its ops requests). ``wall`` reads the wall
        clock (the frames take one reading, each WORLD its own). A plant STOP among
        the WORLDs sets :attr:`stop_reason`."""
        wall_now = wall()
        steps = self.arrival_steps(frames, worlds)
        for k, (sent, world) in enumerate(steps):
            self.on_downlink(sent, wall_now)
            if world is None:
                break  # the last step: the frames sent after the turn's last WORLD
            self.on_world(world, wall())
            if steps[k + 1][1] is not None:  # another WORLD follows: this one's uplink
                self.pump_uplink(send, wall())

    @property
    def stopped_wall_s(self) -> float | None:
        """Wall monotonic time the plant's STOP arrived (None: it has not)."""
        return self._stopped_wall_s

    def arrival_steps(self, frames: Sequence[bytes],
                      worlds: Sequence[bytes]) -> list[tuple[list[bytes], bytes | None]]:
        """One turn's inputs as ``(frames, then this WORLD)`` steps in the order they
        happened, the last with no WORLD (see :mod:`ground.arrival_order`): take each
        step's frames, then its WORLD, then pump the uplink, as a turn per WORLD would.
        On the real clock, as drained (frames first)."""
        if self.clock != "sim" or not worlds:
            return frames_first(frames, worlds)
        world_times = [frame_time_s(w) for w in worlds]
        newest_s = max((t for t in world_times if t is not None), default=None)
        if newest_s is None:
            return frames_first(frames, worlds)
        bound = newest_s + MAX_LINK_LEAD_S  # as for the clock: absurd stamps do not count
        stamps = [t if t is not None and t <= bound else None
                  for t in map(frame_time_s, frames)]
        return interleave(frames, stamps, worlds, world_times, self.world_time_s)

    def _on_edge(self, edge: str | None) -> None:
        if edge == "aos":
            log.info("AOS %s", self.station.visibility.station)
            self.mission.on_aos()
        elif edge == "los":
            log.info("LOS")

    def on_downlink(self, frames: Sequence[bytes], wall: WallTime) -> int:
        """Frames from the link (possibly none: call every turn); returns those delivered.

        On the sim clock a turn's frames left the spacecraft over the spacecraft time
        between this clock and the newest stamp among them (the ground is not in
        lockstep: one turn can drain ten simulated seconds of downlink). They are offered
        to the station spread over that span, as they were sent: offered all at once, a
        rate-limited link model saw a burst of ten seconds of radio time and dropped
        what exceeded its transmit queue (1,540 frames of a 2-orbit sim, each then sent
        again)."""
        mono, _ = self.now(wall)
        if not frames and self._link_idle():
            self._last_downlink_s = mono  # what the station would do with nothing
            return 0
        sent_from_s, now_s = self._sent_span(frames, mono)
        delivered = self.station.downlink(frames, now_s, sent_from_s)
        for frame in delivered:
            if self.clock == "sim":
                self._follow_link(frame)
            self.mission.on_frame(frame, self.receive_time_s(wall), wall.utc_s)
        return len(delivered)

    def _link_idle(self) -> bool:
        """Nothing held at an edge and nothing in the air: a turn with nothing to offer
        changes nothing (out of contact, most of an orbit, the ground is called a
        thousand times an orbit for that)."""
        return not self.station.held and not self.station.model.in_air()

    def _sent_span(self, frames: Sequence[bytes], mono: float) -> tuple[float | None, float]:
        """(sent from, now) for the station: on the sim clock the spacecraft time since
        the last turn, up to the newest stamp among the frames if that is later."""
        start, self._last_downlink_s = self._last_downlink_s, mono
        if self.clock != "sim" or len(frames) < 2 or self.world_time_s is None:
            return None, mono
        bound = self.world_time_s + MAX_LINK_LEAD_S
        newest = max((t for t in map(frame_time_s, frames) if t is not None and t <= bound),
                     default=mono)
        end = max(mono, newest)
        self._last_downlink_s = end
        return min(max(start, end - MAX_SPREAD_S), end), end

    def receive_time_s(self, wall: WallTime) -> float:
        """The ground-clock stamp for a record received now (see the module docstring)."""
        if self.clock != "sim" or self.link_time_s is None:
            return self.now(wall)[1]
        if self.aos_time_s is not None and self.aos_time_s > self.link_time_s:
            return self.aos_time_s
        return self.link_time_s

    def _follow_link(self, frame: bytes) -> None:
        """Sim clock: a record stamped at t means spacecraft time has reached t."""
        if self.world_time_s is None:
            return  # no WORLD yet: nothing to bound a stamp by
        t = frame_time_s(frame)
        if (t is not None and t <= self.world_time_s + MAX_LINK_LEAD_S
                and (self.link_time_s is None or t > self.link_time_s)):
            self.link_time_s = t

    def on_flight_connected(self) -> None:
        self.mission.on_flight_connected()

    def on_ops(self, data: bytes, wall: WallTime) -> bytes:
        mono, utc = self.now(wall)
        return self.ops.handle_bytes(data, utc, mono)

    def pump_uplink(self, send: Callable[[bytes], bool], wall: WallTime) -> int:
        """Hand HELLO and queued commands that the station lets through to ``send``."""
        if not self.station.uplink_open and self._link_idle():
            return 0  # nothing may go up, nothing is on its way
        if self.clock == "sim" and self.world_time_s is None and self.link_time_s is None:
            # no spacecraft time yet (a relay keeps the uplink open from the start): a
            # frame would be stamped 0.0, the epoch, which the flight would count stale
            return 0
        mono, utc = self.now(wall)

        def through_station(frame: bytes) -> bool:
            ok = True
            for out in self.station.uplink([frame], mono):
                ok = send(out) and ok  # refused at once: the command stays queued
            return ok

        sent = self.mission.pump_uplink(through_station, self.station.uplink_open, utc,
                                        self.mission_now_s(wall),
                                        self._link_reached_s())
        for out in self.station.uplink([], mono):  # delayed by the link, due now
            self._send_arrived(send, out)
        return sent

    def _link_reached_s(self) -> float | None:
        """Sim clock: the newest stamp the downlink has delivered (-inf before any), for
        what waits on the flight's answer; None on the real clock (the wall serves)."""
        if self.clock != "sim":
            return None
        return -math.inf if self.link_time_s is None else self.link_time_s

    def _send_arrived(self, send: Callable[[bytes], bool], frame: bytes) -> bool:
        if send(frame):
            return True
        self.station.counters.uplink_refused += 1
        return False

    def end_turn(self, wall: WallTime) -> None:
        """Note the mission time in the archive (written with the next flush)."""
        now = self.mission_now_s(wall)
        if not math.isfinite(now):
            return
        # every change on sim time (it moves once per WORLD); on wall time at most every
        # NOTE_EVERY_S, unless rows are being written anyway
        if (self.world_time_s is not None or self.archive.pending_rows
                or abs(now - self._noted_now_s) >= NOTE_EVERY_S):
            if now != self._noted_now_s:
                self.archive.set_mission_now(now)
                self._noted_now_s = now

    def finish(self) -> None:
        """End of the session: count what the station still holds as dropped."""
        held = self.station.drop_held()
        if held:
            log.info("%d downlink frames held at an edge when the ground stopped: "
                     "counted as dropped out of contact", held)

    def _status(self) -> dict[str, Any]:
        return {"clock": self.clock, "mission_now_s": self.world_time_s,
                "world_rejected": self.world_rejected,
                "world_backwards": self.world_backwards, **self._extra_status()}


def frame_time_s(frame: bytes) -> float | None:
    """The ``time_s`` of an envelope without decoding its body; None if unreadable.

    Reads only the first five (scalar) items of ``[version, kind, source, seq, time_s,
    body]``, with tight limits, so it costs little and trusts nothing. The ground asks
    this of every frame and WORLD two or three times: the header as the codec writes it
    is read in place (:func:`flightsw.wire.packed_time_s`), anything else by a bounded unpacker.
    """
    try:
        t = packed_time_s(frame)
        if t is not None:
            return t if math.isfinite(t) else None
        head = bytes(frame[:HEAD_BYTES])  # the header items fit well within this
        unpacker = msgpack.Unpacker(max_buffer_size=HEAD_BYTES, max_str_len=256,
                                    max_bin_len=256, max_array_len=8, max_map_len=8,
                                    max_ext_len=0)
        unpacker.feed(head)
        if unpacker.read_array_header() != 6:
            return None
        for _ in range(4):
            unpacker.skip()
        t = unpacker.unpack()
    except Exception:  # anything malformed: no stamp (mission control counts the frame)
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        return None
    return float(t)


