"""The ground's functional core: station + mission control + ops API on one ground clock.

No sockets and no clock reads: the process shell (:mod:`ground.process`) hands in the
bytes it received and the wall time it read (:class:`WallTime`), and gets back the
bytes to send. Everything that depends on time - contact gating, held-frame expiry,
HELLO repeats, command release, command stage times, the ground-clock receive stamps
(``rx_s``) - runs on the *ground clock*:

- ``real`` (``python -m ground --clock real``, the default): wall time, for boards and
  free-running stacks;
- ``sim`` (``--clock sim``, for lockstep): the spacecraft time carried by the plant's
  WORLD messages (the envelope's ``time_s``). It moves only when a WORLD message
  arrives and never goes back, so the same inputs give the same archive; wall time then
  only fills ``rx_wall_s`` (for people) and the process's own drain timeouts after a
  plant STOP (when spacecraft time has stopped, only the wall can tell "quiet").

Whatever the clock, the ground's *mission now* (what ``aisat ground tlm`` measures ages
against) is the spacecraft time of the latest WORLD message, or wall UTC without a plant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flightsw.dictionary import Dictionary
from flightsw.errors import safe_repr
from flightsw.wire import Envelope, Kind, try_decode
from ground.archive import Archive
from ground.mission_control import MissionControl
from ground.ops_service import OpsService
from ground.station import ALWAYS, Station, Visibility

log = logging.getLogger("ground")

CLOCKS = ("real", "sim")
EDGE_GRACE_S = {"real": 0.5, "sim": 2.0}
"""Default grace around AOS/LOS edges, in ground-clock seconds. WORLD and the downlink
travel on different sockets, so at an edge their order at the ground is a race; on sim
time the grace covers two plant steps (the plant steps 1 s at a time)."""

NOTE_EVERY_S = 1.0


@dataclass(frozen=True)
class WallTime:
    """The wall clock as the shell read it once for this call."""

    mono_s: float
    utc_s: float


class GroundCore:
    def __init__(self, dictionary: Dictionary, archive: Archive, *, clock: str = "real",
                 edge_grace_s: float | None = None, always_in_contact: bool = False,
                 extra_status: Callable[[], dict[str, Any]] | None = None) -> None:
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, got {safe_repr(clock)}")
        self.clock = clock
        grace = EDGE_GRACE_S[clock] if edge_grace_s is None else edge_grace_s
        self.station = Station(edge_grace_s=grace)
        self.mission = MissionControl(dictionary, archive)
        self.archive = archive
        self._extra_status = extra_status or dict
        self.ops = OpsService(self.mission, self.station, self._status)
        self.world_time_s: float | None = None  # spacecraft time of the latest WORLD
        self.world_rejected = 0
        self.world_backwards = 0  # WORLD messages older than one already seen
        self.stop_reason = ""
        self._noted_now_s = -math.inf
        if always_in_contact:
            self._on_edge(self.station.observe(ALWAYS, self.now(WallTime(0.0, 0.0))[0]))

    # --- time -----------------------------------------------------------------------
    def now(self, wall: WallTime) -> tuple[float, float]:
        """(monotonic, mission) seconds on the ground clock."""
        if self.clock == "sim":
            t = self.world_time_s if self.world_time_s is not None else 0.0
            return t, t
        return wall.mono_s, wall.utc_s

    def mission_now_s(self, wall: WallTime) -> float:
        """The ground's latest spacecraft time (wall UTC if no plant ever spoke)."""
        if self.world_time_s is not None:
            return self.world_time_s
        return self.now(wall)[1]

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
        self._on_edge(edge)  # every edge counts, even if a burst holds AOS and LOS
        return edge

    def _on_edge(self, edge: str | None) -> None:
        if edge == "aos":
            log.info("AOS %s", self.station.visibility.station)
            self.mission.on_aos()
        elif edge == "los":
            log.info("LOS")

    def on_downlink(self, frames: Sequence[bytes], wall: WallTime) -> int:
        """Frames from the link (possibly none: call every turn); returns those delivered."""
        mono, utc = self.now(wall)
        delivered = self.station.downlink(frames, mono)
        for frame in delivered:
            self.mission.on_frame(frame, utc, wall.utc_s)
        return len(delivered)

    def on_flight_connected(self) -> None:
        self.mission.on_flight_connected()

    def on_ops(self, data: bytes, wall: WallTime) -> bytes:
        mono, utc = self.now(wall)
        return self.ops.handle_bytes(data, utc, mono)

    def pump_uplink(self, send: Callable[[bytes], bool], wall: WallTime) -> int:
        """Hand HELLO and queued commands that the station lets through to ``send``."""
        mono, utc = self.now(wall)

        def through_station(frame: bytes) -> bool:
            return all(send(out) for out in self.station.uplink([frame], mono))

        return self.mission.pump_uplink(through_station, self.station.uplink_open, utc)

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
