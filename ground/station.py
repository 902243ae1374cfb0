"""The ground-station emulator: which frames get through the space link, and when.

This is the pure core of the station (no sockets, no clock): the ground process feeds
it the plant's WORLD truth and the frames it receives, with the time, and it answers
with the frames that reach the other side. The rule today is the simple visibility
rule: frames pass both ways only while the spacecraft is in contact per the latest
WORLD message.

- Downlink frames that arrive out of contact are dropped and *counted*, never silently.
  Because WORLD and the downlink travel on different sockets, their order at the ground
  can differ by a few milliseconds from the order in which they were made; a frame that
  arrives within ``edge_grace_s`` (monotonic seconds) of an AOS or LOS edge is therefore
  held or let through instead of being dropped for a race the spacecraft did not cause.
- Uplink is gated by :attr:`Station.uplink_open`; mission control keeps commands queued
  until it opens (commands are never dropped for being out of contact).

Latency, loss, corruption, duplication, reordering and data rates are the job of a
:class:`LinkModel`, a step function the station calls each cycle for each direction:
:class:`IdealLink` (everything through, at once) or
:class:`ground.link_physics.PhysicalLink` (a profile's ``[link]`` table). A model with
an always-on relay carries frames out of contact too (the uplink is then always open).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Protocol

from flightsw.errors import safe_repr


class Direction(str, Enum):
    DOWN = "down"  # flight -> ground
    UP = "up"  # ground -> flight


class LinkModel(Protocol):
    """Link physics between the antennas, as a step function over time.

    ``offered`` are the frames that entered the link at ``now_s`` (possibly none); the
    return value are the frames that leave it at ``now_s``. A model with latency keeps
    frames and releases them on a later call; the station calls it every cycle.
    """

    def step(self, direction: str, offered: Sequence[bytes], now_s: float, *,
             via_relay: bool = False) -> list[bytes]:
        ...

    @property
    def has_relay(self) -> bool:
        """An always-on relay link exists besides the ground stations."""
        ...

    def in_air(self) -> int:
        """Frames on their way (offered, not yet delivered)."""
        ...

    def drop_in_air(self) -> int:
        """End of a session: count what is still on its way as lost; returns how many."""
        ...


class IdealLink:
    """No latency, no loss, no rate limit: what the simple visibility rule needs."""

    has_relay = False

    def step(self, direction: str, offered: Sequence[bytes], now_s: float, *,
             via_relay: bool = False) -> list[bytes]:
        return list(offered)

    def in_air(self) -> int:
        return 0

    def drop_in_air(self) -> int:
        return 0


@dataclass(frozen=True)
class Visibility:
    """What the plant says about the spacecraft's view of a ground station."""

    in_contact: bool
    station: str = ""
    elevation_deg: float = math.nan
    next_pass: Mapping[str, Any] | None = None
    time_utc_s: float | None = None

    @classmethod
    def from_world(cls, body: Mapping[str, Any]) -> Visibility:
        """Read a WORLD body; a missing or malformed contact flag raises ValueError."""
        in_contact = body.get("in_contact")
        if not isinstance(in_contact, bool):
            raise ValueError(f"WORLD in_contact must be a bool, got {safe_repr(in_contact)}")
        station = body.get("station")
        elevation: Any = body.get("elevation_deg")
        next_pass = body.get("next_pass")
        time_utc: Any = body.get("time_utc_s")
        return cls(
            in_contact=in_contact,
            station=station if isinstance(station, str) else "",
            elevation_deg=float(elevation) if _is_number(elevation) else math.nan,
            next_pass=_plain_pass(next_pass),
            time_utc_s=float(time_utc) if _is_number(time_utc) else None,
        )


UNKNOWN = Visibility(in_contact=False, station="")
"""Before the first WORLD message the spacecraft is treated as out of contact."""

ALWAYS = Visibility(in_contact=True, station="always")
"""For benches without a plant (a board on a serial link): the link is always up."""


@dataclass
class StationCounters:
    """Frame accounting; every frame that enters the station lands in one bucket."""

    downlink_offered: int = 0
    downlink_delivered: int = 0
    downlink_dropped_los: int = 0  # arrived out of contact: dropped, counted
    downlink_edge: int = 0  # arrived within the grace of an AOS/LOS edge: delivered
    downlink_relayed: int = 0  # offered out of contact, carried by the relay link
    uplink_delivered: int = 0
    uplink_refused: int = 0  # arrived while no executive was there to take it: lost
    world_updates: int = 0
    aos: int = 0
    los: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Station:
    """The station's state and its visibility rule (see the module docstring)."""

    model: LinkModel = field(default_factory=IdealLink)
    edge_grace_s: float = 0.5
    visibility: Visibility = UNKNOWN
    counters: StationCounters = field(default_factory=StationCounters)
    _held: list[tuple[float, bytes]] = field(default_factory=list)
    _los_at_s: float = -math.inf
    _world_at_s: float | None = None

    @property
    def in_contact(self) -> bool:
        return self.visibility.in_contact

    @property
    def uplink_open(self) -> bool:
        return self.visibility.in_contact or self.model.has_relay

    @property
    def held(self) -> int:
        """Downlink frames waiting out the edge grace (delivered at AOS or dropped)."""
        return len(self._held)

    def world_age_s(self, now_s: float) -> float | None:
        return None if self._world_at_s is None else now_s - self._world_at_s

    def observe(self, vis: Visibility, now_s: float) -> str | None:
        """Take the latest visibility; return ``"aos"``, ``"los"`` or None (no edge)."""
        was = self.visibility.in_contact
        self.visibility = vis
        self._world_at_s = now_s
        self.counters.world_updates += 1
        if vis.in_contact and not was:
            self.counters.aos += 1
            return "aos"
        if was and not vis.in_contact:
            self.counters.los += 1
            self._los_at_s = now_s
            return "los"
        return None

    def downlink(self, frames: Sequence[bytes], now_s: float,
                 sent_from_s: float | None = None) -> list[bytes]:
        """Frames that reach mission control now; call every cycle (even with none).
        ``sent_from_s``: the frames left the spacecraft one after another since then
        (a lagging sim-clock ground drains many seconds of downlink at once): the link
        model takes them spread over ``[sent_from_s, now_s]`` instead of as one burst;
        contact is judged at ``now_s`` as always."""
        self.counters.downlink_offered += len(frames)
        self._expire_held(now_s)
        passing: list[bytes] = []
        relay = not self.visibility.in_contact and self.model.has_relay
        if relay:
            self.counters.downlink_relayed += len(frames)
            passing.extend(frames)
        elif self.visibility.in_contact:
            if self._held:
                self.counters.downlink_edge += len(self._held)
                passing.extend(f for _, f in self._held)
                self._held.clear()
            passing.extend(frames)
        elif now_s - self._los_at_s <= self.edge_grace_s:
            self.counters.downlink_edge += len(frames)
            passing.extend(frames)
        else:
            self._held.extend((now_s, f) for f in frames)
        delivered: list[bytes] = []
        if sent_from_s is not None and sent_from_s < now_s and len(passing) > 1:
            n = len(passing)
            for i, frame in enumerate(passing[:-1]):
                t = sent_from_s + (now_s - sent_from_s) * (i + 1) / n
                delivered += self.model.step(Direction.DOWN, [frame], t, via_relay=relay)
            passing = passing[-1:]
        delivered += self.model.step(Direction.DOWN, passing, now_s, via_relay=relay)
        self.counters.downlink_delivered += len(delivered)
        return delivered

    def uplink(self, frames: Sequence[bytes], now_s: float) -> list[bytes]:
        """Frames that reach the spacecraft now (offered now, or earlier and delayed by
        the link); call every turn, with no frames if there are none. Callers check
        :attr:`uplink_open` before offering."""
        relay = not self.visibility.in_contact and self.model.has_relay
        delivered = self.model.step(Direction.UP, frames if self.uplink_open else (), now_s,
                                    via_relay=relay)
        self.counters.uplink_delivered += len(delivered)
        return delivered

    def drop_held(self) -> int:
        """At the end of a session: frames still waiting out the grace, or still on
        their way through the link, are dropped and counted, never left uncounted."""
        n = len(self._held)
        self.counters.downlink_dropped_los += n
        self._held.clear()
        return n + self.model.drop_in_air()

    def _expire_held(self, now_s: float) -> None:
        keep = [(t, f) for t, f in self._held if now_s - t <= self.edge_grace_s]
        self.counters.downlink_dropped_los += len(self._held) - len(keep)
        self._held = keep

    def snapshot(self, now_s: float) -> dict[str, Any]:
        """Link state for the ops API's status reply (plain types only)."""
        vis = self.visibility
        return {
            "in_contact": vis.in_contact,
            "station": vis.station,
            "elevation_deg": None if math.isnan(vis.elevation_deg) else vis.elevation_deg,
            "next_pass": dict(vis.next_pass) if vis.next_pass else None,
            "spacecraft_time_utc_s": vis.time_utc_s,
            "world_age_s": self.world_age_s(now_s),
            "downlink_held": self.held,
            "in_air": self.model.in_air(),
            "link_physics": getattr(self.model, "counters", dict)(),
            **self.counters.as_dict(),
        }


def _plain_pass(value: Any) -> dict[str, Any] | None:
    """The next-pass map with only flat, plain values (it is shown, never computed on)."""
    if not isinstance(value, Mapping):
        return None
    return {str(k)[:40]: v for k, v in list(value.items())[:16]
            if v is None or isinstance(v, (str, int, float, bool))}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
