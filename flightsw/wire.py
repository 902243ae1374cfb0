"""The wire codec: one versioned msgpack envelope for every byte stream in aisat.

The same envelope crosses the space link (flight <-> ground), the payload IPC
(executive <-> payload child) and the plant bus (executive <-> simulated spacecraft).
This module does no I/O: it turns envelopes into bytes and untrusted bytes back into
envelopes, or into a :class:`WireError` that says exactly what was wrong.

On the wire an envelope is a msgpack array::

    [version, kind, source, seq, time_s, body]

- ``version``: :data:`WIRE_VERSION`; anything else is a :class:`WireVersionError`.
- ``kind``: one of :class:`Kind` (what the body means).
- ``source``: who sent it (``"flight"``, ``"ground"``, ``"plant"``, ``"payload"`` ...).
- ``seq``: the sender's sequence number for this stream, 0 <= seq < 2**63.
- ``time_s``: spacecraft time (UTC seconds since the Unix epoch, float) when it was made.
- ``body``: a map with string keys; its schema depends on ``kind``.

Decoding is bounded: the frame size and every msgpack container/string length are
capped before anything is allocated, so a hostile frame cannot exhaust memory.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import msgpack

from flightsw.errors import WireError, WireVersionError, safe_repr

WIRE_VERSION = 1
MAX_FRAME_BYTES = 1 << 20
"""Largest encoded envelope accepted by default (1 MiB)."""
MAX_SOURCE_CHARS = 32
MAX_DEPTH = 16
"""Deepest nesting of containers a body may have. Real bodies are 3-4 deep; a hostile
frame of ~1 KB can nest 1,000 deep, which then breaks ``repr()`` and any recursive
walk with ``RecursionError`` far from the decoder."""
_MAX_SEQ = (1 << 63) - 1

# Caps handed to msgpack so that a small hostile frame cannot claim a huge allocation.
_UNPACK_LIMITS = {
    "max_str_len": MAX_FRAME_BYTES,
    "max_bin_len": MAX_FRAME_BYTES,
    "max_array_len": 65_536,
    "max_map_len": 16_384,
    "max_ext_len": 0,
}


class Kind(str, Enum):
    """What an envelope's body means. Grouped by the stream that carries it."""

    # space link, flight -> ground
    TELEMETRY = "tlm"  # body: {"points": {name: value}}
    EVENT = "evt"  # body: {"name", "severity", "text", "args"}
    VERIFICATION = "ver"  # body: {"cmd_seq", "name", "stage", "reason"}
    RESULT = "result"  # body: a payload data product summary
    # space link, both ways
    HELLO = "hello"  # body: {"dictionary_hash", "dictionary_version"}
    # space link, ground -> flight
    COMMAND = "cmd"  # body: {"name", "args"}
    ACK = "ack"  # body: {"boot_id", "ranges"}: downlink numbers the ground holds
    # plant bus (hil <-> flightsw HAL)
    TICK = "tick"  # plant -> flight, lockstep: {"dt_s", "sensors"}; answered by ACTUATORS
    SENSORS = "sens"  # plant -> flight, free running: {"sensors"}
    ACTUATORS = "act"  # flight -> plant: {"actuators"}
    WORLD = "world"  # plant -> observers (ground station, launcher): truth for display/link
    STOP = "stop"  # anyone -> anyone: orderly end of a session; body: {"reason"}
    # payload IPC (executive <-> payload child)
    PAYLOAD_CONFIG = "pl.config"  # exec -> payload: {"throttle_frac", "pace", ...}
    PAYLOAD_JOB = "pl.job"  # exec -> payload: {"job_id", "n_tiles", "seed", ...}
    PAYLOAD_RESULT = "pl.result"  # payload -> exec: job outcome
    PAYLOAD_PING = "pl.ping"  # exec -> payload: {"n"}
    PAYLOAD_HEARTBEAT = "pl.hb"  # payload -> exec: {"n", "jobs_done", "busy_frac", ...}
    PAYLOAD_FAULT = "pl.fault"  # exec -> payload (test/HIL): {"target", "bits", "seed"}
    PAYLOAD_CANCEL = "pl.cancel"  # exec -> payload: {"job_id", "reason"}


_KINDS = {k.value: k for k in Kind}

WORLD_SIGN_IN = b"\xffsigned-in"
"""A subscription to the plant's WORLD feed that no message matches (every envelope
:func:`encode` packs starts with ``0x96``): the ground station subscribes to it as well
as to everything, so that a lockstep plant can see it has joined (ZeroMQ's XPUB passes
subscriptions up) and start the scenario only then. A subscriber that joins a PUB late
misses what went before; a short run once ended before the ground had joined, and the
ground, never told the plant had stopped, waited 30 s to be stopped."""


@dataclass(frozen=True)
class Envelope:
    """One message, whatever stream it travels on."""

    kind: Kind
    source: str
    seq: int
    time_s: float
    body: Mapping[str, Any] = field(default_factory=dict)


def encode(env: Envelope) -> bytes:
    """Encode an envelope. Raises :class:`WireError` if the envelope itself is invalid."""
    _check_header(env.kind, env.source, env.seq, env.time_s, env.body)
    try:
        data: bytes = msgpack.packb(
            [WIRE_VERSION, env.kind.value, env.source, env.seq, float(env.time_s), dict(env.body)],
            use_bin_type=True,
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise WireError("body is not encodable", kind=env.kind.value, error=str(exc)) from exc
    if len(data) > MAX_FRAME_BYTES:
        raise WireError("envelope too large", size=len(data), limit=MAX_FRAME_BYTES)
    return data


_UINT_BYTES = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8}
"""msgpack's unsigned integers: their tag and width (how the codec packs ``seq``)."""
_FLOAT64 = struct.Struct(">d")


def packed_time_s(frame: bytes) -> float | None:
    """``time_s`` of a header packed the way :func:`encode` packs it (a 6-array, a small
    integer version, short kind and source, an unsigned ``seq``, a float64 time), read
    in place without unpacking the body; None for any other shape (the caller then
    decodes it). The ground reads a frame's stamp two or three times before deciding
    where it goes. Kept beside :func:`encode`, which fixes that layout."""
    if len(frame) < 16 or frame[0] != 0x96 or frame[1] > 0x7F or frame[2] & 0xE0 != 0xA0:
        return None
    i = 3 + (frame[2] & 0x1F)  # past the kind
    if len(frame) < i + 12 or frame[i] & 0xE0 != 0xA0:
        return None
    i += 1 + (frame[i] & 0x1F)  # past the source
    if i >= len(frame):
        return None
    tag = frame[i]
    i += 1 if tag <= 0x7F else 1 + _UINT_BYTES.get(tag, len(frame))
    if i + 9 > len(frame) or frame[i] != 0xCB:
        return None
    t: float = _FLOAT64.unpack_from(frame, i + 1)[0]
    return t


def decode(data: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Envelope:
    """Decode untrusted bytes into an envelope, or raise :class:`WireError` saying why not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("frame is not bytes", type=type(data).__name__)
    size = len(data)
    if size == 0:
        raise WireError("empty frame")
    if size > max_bytes:
        raise WireError("frame too large", size=size, limit=max_bytes)
    containers = 0

    def counted(value: Any) -> Any:
        nonlocal containers
        containers += 1
        return value

    try:
        obj = msgpack.unpackb(
            bytes(data), raw=False, strict_map_key=True, use_list=True,
            object_hook=counted, list_hook=counted, **_UNPACK_LIMITS
        )
    except msgpack.ExtraData as exc:
        raise WireError("trailing bytes after envelope") from exc
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # FormatError, StackError, OutOfData and UnicodeDecodeError are all ValueErrors.
        raise WireError("not a msgpack envelope", error=type(exc).__name__) from exc
    # +1: the envelope array itself. No deeper than it has containers: a frame with few
    # (housekeeping has 3) needs no walk, which cost a quarter of its decode
    if containers > MAX_DEPTH + 1 and nesting_depth(obj) > MAX_DEPTH + 1:
        raise WireError("envelope nested too deep", limit=MAX_DEPTH)
    if not isinstance(obj, list) or len(obj) != 6:
        raise WireError("envelope must be a 6-element array", got=_describe(obj))
    version, kind, source, seq, time_s, body = obj
    if not _is_int(version):
        raise WireError("version is not an integer", got=_describe(version))
    if version != WIRE_VERSION:
        raise WireVersionError("unsupported wire version", got=version, expected=WIRE_VERSION)
    if not isinstance(kind, str) or kind not in _KINDS:
        raise WireError("unknown kind", got=_describe(kind), valid=sorted(_KINDS))
    if isinstance(time_s, int) and not isinstance(time_s, bool):
        time_s = float(time_s)
    _check_header(_KINDS[kind], source, seq, time_s, body)
    return Envelope(_KINDS[kind], source, seq, time_s, body)


def try_decode(data: bytes, *, max_bytes: int = MAX_FRAME_BYTES) -> Envelope | WireError:
    """Like :func:`decode`, but returns the error instead of raising (for adapters).

    Never raises: a decoder bug (anything but a :class:`WireError`) comes back as a
    ``WireError`` too, so no frame can take a loop down."""
    try:
        return decode(data, max_bytes=max_bytes)
    except WireError as exc:
        return exc
    except Exception as exc:  # defence in depth: the fuzz tests look for these
        return WireError("decoder failed", error=type(exc).__name__)


def nesting_depth(obj: Any, limit: int = 64) -> int:
    """Depth of nested lists/maps in ``obj`` (a scalar is 0), counted without recursion.

    Stops counting at ``limit`` (returns ``limit + 1``) so a hostile value costs at most
    one walk of what is already in memory. Only containers are visited (map keys are
    strings after decoding), which keeps it cheap on the wide, flat bodies of real
    traffic such as housekeeping."""
    if not isinstance(obj, (list, dict)):
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if depth > limit:
                return limit + 1
        children = value.values() if isinstance(value, dict) else value
        # the types of the children, gathered in C: a flat container (housekeeping's
        # point map, 100+ scalars) is passed over without a Python step per value
        if set(map(type, children)) <= _SCALARS:
            continue
        for child in children:
            if isinstance(child, _CONTAINERS):
                stack.append((child, depth + 1))
    return deepest


_CONTAINERS = (list, dict)
_SCALARS = frozenset((str, int, float, bool, bytes, type(None)))
"""What msgpack decodes a non-container to (ext types are refused by the limits)."""


def _check_header(kind: Any, source: Any, seq: Any, time_s: Any, body: Any) -> None:
    if not isinstance(kind, Kind):
        raise WireError("kind is not a Kind", got=_describe(kind))
    if not isinstance(source, str) or not source or len(source) > MAX_SOURCE_CHARS:
        raise WireError("source must be a non-empty string of at most 32 characters",
                        got=_describe(source))
    if not _is_int(seq) or not 0 <= seq <= _MAX_SEQ:
        raise WireError("seq must be an integer in [0, 2**63)", got=_describe(seq))
    if not isinstance(time_s, (float, int)) or isinstance(time_s, bool) or not math.isfinite(
        time_s
    ):
        raise WireError("time_s must be a finite number", got=_describe(time_s))
    if not isinstance(body, Mapping):
        raise WireError("body must be a map", got=_describe(body))
    # the key types gathered in C: a housekeeping body has 130+ keys, and a Python step
    # per key was a tenth of every encode and decode; a key of any other type (a str
    # subclass, or a bad one) takes the careful look
    if set(map(type, body)) <= _STR_ONLY:
        return
    for key in body:
        if not isinstance(key, str):
            raise WireError("body keys must be strings", got=_describe(key))


_STR_ONLY = frozenset((str,))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    return safe_repr(value)


class Sequencer:
    """Hands out the per-stream sequence numbers a sender stamps on its envelopes."""

    def __init__(self, source: str, start: int = 0) -> None:
        self.source = source
        self._next = start

    @property
    def next_seq(self) -> int:
        return self._next

    def make(self, kind: Kind, time_s: float, body: Mapping[str, Any]) -> Envelope:
        env = Envelope(kind, self.source, self._next, time_s, body)
        self._next += 1
        return env

    def pack(self, kind: Kind, time_s: float, body: Mapping[str, Any]) -> bytes:
        return encode(self.make(kind, time_s, body))
