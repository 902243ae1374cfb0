"""Link physics between the antennas: latency, data rate, loss, bit corruption,
duplication and reordering, per direction, plus an optional always-on relay link.

Why a model at all: the store-and-forward recorder and the ground's acknowledgements
only prove anything against a link that misbehaves the way radios do. The model is a
pure function of (frames offered, time) and a seeded random generator, so a lockstep
run on sim time is repeatable, and the same spec drives the in-process tests and the
sim stack (a profile's ``[link]`` table).

One :class:`Channel` is one direction of one link:

- **rate**: frames are serialised one after another at ``rate_bps``; what would wait
  longer than ``queue_s`` to start is dropped at the transmitter (counted: ``overflow``);
- **latency**: each frame arrives ``latency_s`` after its last bit left;
- **loss**, **corrupt** (1-3 random bit flips), **duplicate** (a second copy just
  behind the first) and **reorder** (held back by up to ``reorder_delay_s``, so later
  frames overtake it): independent probabilities per frame;
- **frame check**: like a radio's link layer, the transmitter appends a CRC-32 and the
  receiver drops a frame whose check fails (counted: ``fcs_rejected``), so corruption
  reaches the protocol as loss. ``fcs = false`` lets corrupted frames through (to test
  what the ground does with them).

Every frame offered lands in exactly one bucket of :class:`ChannelCounters`.
"""

from __future__ import annotations

import heapq
import math
import random
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

PROBABILITIES = ("loss", "corrupt", "duplicate", "reorder")


@dataclass(frozen=True)
class ChannelSpec:
    """One direction of a link. Zeros everywhere is an ideal link."""

    latency_s: float = 0.0
    rate_bps: float = 0.0  # 0: no rate limit
    loss: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay_s: float = 0.5
    queue_s: float = 5.0  # transmit time that may wait at the transmitter
    fcs: bool = True  # the receiver checks a CRC-32 and drops what fails it

    def __post_init__(self) -> None:
        if not isinstance(self.fcs, bool):
            raise ValueError(f"fcs must be true or false, got {self.fcs!r}")
        for f in fields(self):
            if f.name == "fcs":
                continue
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ValueError(f"{f.name} must be a finite number >= 0, got {value!r}")
        for name in PROBABILITIES:
            if getattr(self, name) > 1:
                raise ValueError(f"{name} is a probability: must be within [0, 1]")
        if self.latency_s > 600:
            raise ValueError("latency_s must be at most 600 s")

    @property
    def ideal(self) -> bool:
        return self == ChannelSpec()


@dataclass(frozen=True)
class LinkPhysics:
    """A spacecraft's links: the ground stations' (``down``/``up``, only in contact) and
    an optional always-on ``relay`` (both directions, its own rate and latency)."""

    down: ChannelSpec = field(default_factory=ChannelSpec)
    up: ChannelSpec = field(default_factory=ChannelSpec)
    relay: ChannelSpec | None = None
    seed: int = 0

    @property
    def ideal(self) -> bool:
        return self.down.ideal and self.up.ideal and self.relay is None


def parse_link(table: Mapping[str, Any], where: str = "link") -> LinkPhysics:
    """A profile's ``[link]`` table, strictly: unknown keys and bad values raise
    ValueError naming the key (``link.down.loss``)."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(table) - {"down", "up", "relay", "seed"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"{where}.seed must be an integer")
    relay = table.get("relay")
    return LinkPhysics(down=_channel(table.get("down", {}), f"{where}.down"),
                       up=_channel(table.get("up", {}), f"{where}.up"),
                       relay=None if relay is None else _channel(relay, f"{where}.relay"),
                       seed=seed)


def _channel(table: Any, where: str) -> ChannelSpec:
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    known = {f.name for f in fields(ChannelSpec)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(sorted(known))}")
    try:
        return ChannelSpec(**{k: v for k, v in table.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from exc


@dataclass
class ChannelCounters:
    offered: int = 0
    delivered: int = 0  # copies handed on (duplicates included)
    lost: int = 0
    overflow: int = 0  # dropped at the transmitter: the rate could not keep up
    corrupted: int = 0
    duplicated: int = 0
    reordered: int = 0
    fcs_rejected: int = 0  # corrupted, caught by the frame check: dropped
    bytes_delivered: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Channel:
    """One direction of one link (see the module docstring). Pure: time comes in."""

    def __init__(self, spec: ChannelSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.counters = ChannelCounters()
        self._busy_until_s = -math.inf
        self._in_air: list[tuple[float, int, bytes]] = []
        self._n = 0

    @property
    def in_air(self) -> int:
        return len(self._in_air)

    def offer(self, frames: Sequence[bytes], now_s: float) -> None:
        spec, rng, c = self.spec, self.rng, self.counters
        for frame in frames:
            c.offered += 1
            start = max(now_s, self._busy_until_s)
            if spec.rate_bps > 0:
                if start - now_s > spec.queue_s:
                    c.overflow += 1
                    continue
                self._busy_until_s = start + len(frame) * 8 / spec.rate_bps
            else:
                self._busy_until_s = start
            if spec.loss and rng.random() < spec.loss:
                c.lost += 1
                continue
            arrive = self._busy_until_s + spec.latency_s
            if spec.fcs:
                frame = frame + zlib.crc32(frame).to_bytes(4, "big")
            if spec.corrupt and rng.random() < spec.corrupt:
                frame = _flip_bits(frame, rng)
                c.corrupted += 1
            if spec.reorder and rng.random() < spec.reorder:
                arrive += rng.uniform(0.0, spec.reorder_delay_s)
                c.reordered += 1
            self._push(arrive, frame)
            if spec.duplicate and rng.random() < spec.duplicate:
                c.duplicated += 1
                self._push(arrive + 1e-6, frame)

    def deliver(self, now_s: float) -> list[bytes]:
        """Frames whose arrival time has come, in arrival order."""
        out: list[bytes] = []
        while self._in_air and self._in_air[0][0] <= now_s:
            _, _, frame = heapq.heappop(self._in_air)
            if self.spec.fcs:
                body, check = frame[:-4], frame[-4:]
                if zlib.crc32(body).to_bytes(4, "big") != check:
                    self.counters.fcs_rejected += 1
                    continue
                frame = body
            out.append(frame)
        self.counters.delivered += len(out)
        self.counters.bytes_delivered += sum(len(f) for f in out)
        return out

    def drop_in_air(self) -> int:
        """End of a session: frames still on their way are lost (and counted)."""
        n = len(self._in_air)
        self.counters.lost += n
        self._in_air.clear()
        return n

    def _push(self, arrive_s: float, frame: bytes) -> None:
        self._n += 1
        heapq.heappush(self._in_air, (arrive_s, self._n, frame))


def _flip_bits(frame: bytes, rng: random.Random) -> bytes:
    if not frame:
        return frame
    data = bytearray(frame)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(data) * 8)
        data[i // 8] ^= 1 << (i % 8)
    return bytes(data)


class PhysicalLink:
    """The station's :class:`~ground.station.LinkModel` over :class:`Channel` s: one per
    direction for the ground stations, and one per direction for the relay. Every
    channel draws from its own generator seeded from the spec's seed, so one direction's
    traffic does not change the other's luck."""

    def __init__(self, physics: LinkPhysics) -> None:
        self.physics = physics
        seed = physics.seed
        self.down = Channel(physics.down, random.Random(f"{seed}/down"))
        self.up = Channel(physics.up, random.Random(f"{seed}/up"))
        relay = physics.relay
        self.relay_down = (Channel(relay, random.Random(f"{seed}/relay-down"))
                           if relay is not None else None)
        self.relay_up = (Channel(relay, random.Random(f"{seed}/relay-up"))
                         if relay is not None else None)

    @property
    def has_relay(self) -> bool:
        return self.physics.relay is not None

    def channels(self) -> dict[str, Channel]:
        out = {"down": self.down, "up": self.up}
        if self.relay_down is not None and self.relay_up is not None:
            out.update({"relay_down": self.relay_down, "relay_up": self.relay_up})
        return out

    def step(self, direction: str, offered: Sequence[bytes], now_s: float, *,
             via_relay: bool = False) -> list[bytes]:
        """Offer ``offered`` now (on the relay if ``via_relay``) and return every frame
        of that direction, on either path, that arrives by ``now_s``."""
        station, relay = ((self.down, self.relay_down) if direction == "down"
                          else (self.up, self.relay_up))
        path = relay if via_relay and relay is not None else station
        path.offer(offered, now_s)
        out = station.deliver(now_s)
        if relay is not None:
            out += relay.deliver(now_s)
        return out

    def in_air(self) -> int:
        return sum(c.in_air for c in self.channels().values())

    def drop_in_air(self) -> int:
        return sum(c.drop_in_air() for c in self.channels().values())

    def counters(self) -> dict[str, dict[str, int]]:
        return {name: c.counters.as_dict() for name, c in self.channels().items()}
