"""Frames on a byte stream (a UART): COBS with a zero delimiter, checked by CRC-16/CCITT-FALSE.

A serial line delivers bytes, not messages, and it delivers them damaged: bytes go
missing, bits flip, a cable is pulled in the middle of a frame, a line held in break
reads as a run of zero bytes (framing errors). This module turns frames into bytes and
bytes back into frames, and nothing else: no ports, no clocks (functional core; the
port lives in :mod:`flightsw.serial_transport`).

On the wire each frame is ``COBS(payload + CRC16_BE(payload))`` followed by one ``0x00``;
a batch of frames starts with an extra ``0x00``, so the first frame after a cut cable or
line noise is never glued to the garbage before it. COBS guarantees the encoded bytes
hold no zero, so a zero always ends a frame and the receiver is back in step at the
next zero whatever came before (resynchronisation costs at most the damaged frame).
Empty frames (two zeros in a row: the batch start, a line held in break) are idle, not
errors; they are counted separately.

The decoder is a pure function of ``(state, bytes in)`` returning the new state (the
unfinished frame carried over, bounded), the frames, and every discard with its reason
and size, so a test is a table and nothing is dropped without a count.

CRC-16/CCITT-FALSE is ``binascii.crc_hqx(data, 0xFFFF)`` (poly 0x1021, init 0xFFFF, no
reflection, no final xor; check value 0x29B1 for ``b"123456789"``).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field

from cobs import cobs

from flightsw.wire import MAX_FRAME_BYTES

DELIMITER = b"\x00"
CRC_BYTES = 2
CRC_INIT = 0xFFFF
LINE_BITS_PER_BYTE = 10
"""8N1: a start bit, eight data bits, a stop bit carry one byte on a UART."""

DISCARD_REASONS = ("crc", "cobs", "short", "oversize")
"""Why received bytes were thrown away: the checksum did not match; the bytes were not
valid COBS; too short to hold a checksum; longer than the largest frame allowed (noise
without a zero, or a sender that is not ours)."""


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (0x29B1 for ``b"123456789"``)."""
    return binascii.crc_hqx(data, CRC_INIT)


def max_encoded_bytes(payload_bytes: int) -> int:
    """The most bytes COBS can make of a payload this long plus its CRC (no delimiter)."""
    n = payload_bytes + CRC_BYTES
    return n + n // 254 + 1


def encode_frame(payload: bytes) -> bytes:
    """One frame's wire bytes, its trailing delimiter included (no leading one)."""
    body = payload + crc16_ccitt_false(payload).to_bytes(CRC_BYTES, "big")
    return cobs.encode(body) + DELIMITER


def encode_frames(payloads: Iterable[bytes]) -> bytes:
    """Wire bytes for a batch: one leading delimiter, then each frame and its delimiter."""
    return DELIMITER + b"".join(encode_frame(p) for p in payloads)


def overhead_bytes(payload_bytes: int, frames_per_batch: float = 1.0) -> float:
    """Framing bytes added to one payload of this size, at most: COBS code bytes (one per
    254 zero-free bytes, one per frame; zeros in the data cost nothing more), the CRC,
    its delimiter and its share of the batch's leading delimiter."""
    return (max_encoded_bytes(payload_bytes) - payload_bytes + len(DELIMITER)
            + 1.0 / max(frames_per_batch, 1.0))


def goodput_bytes_per_s(baud: int, payload_bytes: int, frames_per_batch: float = 1.0) -> float:
    """Payload bytes per second a UART at ``baud`` (8N1) carries in frames of this size
    (a floor: :func:`overhead_bytes` is COBS' worst case)."""
    line_bytes_per_s = baud / LINE_BITS_PER_BYTE
    return line_bytes_per_s * payload_bytes / (
        payload_bytes + overhead_bytes(payload_bytes, frames_per_batch))


@dataclass(frozen=True)
class Discard:
    """Received bytes thrown away, and why (one of :data:`DISCARD_REASONS`)."""

    reason: str
    wire_bytes: int


@dataclass(frozen=True)
class DeframerState:
    """What a decoder carries between reads: the bytes of an unfinished frame, and
    whether it is skipping the rest of one already discarded as oversize."""

    pending: bytes = b""
    skipping: bool = False
    max_frame_bytes: int = MAX_FRAME_BYTES

    @property
    def max_pending_bytes(self) -> int:
        return max_encoded_bytes(self.max_frame_bytes)


@dataclass(frozen=True)
class Deframed:
    state: DeframerState
    frames: list[bytes]
    discards: list[Discard]
    empty: int
    """Zero-length frames seen (idle delimiters, a line held in break): not errors."""


def deframe(state: DeframerState, data: bytes) -> Deframed:
    """Frames completed by ``data``, given what was left over from earlier reads.

    Never raises for bad input: every byte received either ends up in a frame, in the
    carried-over ``pending`` (never longer than ``max_pending_bytes``), or in a discard.
    """
    frames: list[bytes] = []
    discards: list[Discard] = []
    empty = 0
    chunks = data.split(DELIMITER)
    tail = chunks.pop()  # the bytes after the last delimiter (all of them if none)
    pending, skipping = state.pending, state.skipping
    limit = state.max_pending_bytes
    for chunk in chunks:
        if skipping:  # the end of an oversize frame: its bytes were counted already
            skipping = False
            if chunk:
                discards.append(Discard("oversize", len(chunk) + 1))
            pending = b""
            continue
        encoded = pending + chunk if pending else chunk
        pending = b""
        if not encoded:
            empty += 1
        elif len(encoded) > limit:
            discards.append(Discard("oversize", len(encoded) + 1))
        else:
            frame, why = _check(encoded)
            if why:
                discards.append(Discard(why, len(encoded) + 1))
            else:
                frames.append(frame)
    if skipping:
        if tail:
            discards.append(Discard("oversize", len(tail)))
        tail = b""
    else:
        tail = pending + tail if pending else tail
        if len(tail) > limit:
            discards.append(Discard("oversize", len(tail)))
            tail, skipping = b"", True
    return Deframed(DeframerState(tail, skipping, state.max_frame_bytes), frames, discards,
                    empty)


def _check(encoded: bytes) -> tuple[bytes, str]:
    """(payload, "") for a good frame, else (b"", the discard reason)."""
    try:
        body = cobs.decode(encoded)
    except cobs.DecodeError:
        return b"", "cobs"
    if len(body) < CRC_BYTES:
        return b"", "short"
    payload, crc = body[:-CRC_BYTES], body[-CRC_BYTES:]
    if crc16_ccitt_false(payload) != int.from_bytes(crc, "big"):
        return b"", "crc"
    return payload, ""


@dataclass
class LinkCounters:
    """What a receiver has seen, for telemetry and benches: nothing discarded uncounted."""

    frames: int = 0
    frame_bytes: int = 0
    wire_bytes: int = 0
    empty: int = 0
    discarded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DISCARD_REASONS, 0))
    discarded_bytes: int = 0

    def add(self, data_bytes: int, result: Deframed) -> None:
        self.wire_bytes += data_bytes
        self.frames += len(result.frames)
        self.frame_bytes += sum(len(f) for f in result.frames)
        self.empty += result.empty
        for d in result.discards:
            self.discarded[d.reason] += 1
            self.discarded_bytes += d.wire_bytes

    @property
    def discards(self) -> int:
        return sum(self.discarded.values())

    def as_dict(self) -> dict[str, object]:
        return {"frames": self.frames, "frame_bytes": self.frame_bytes,
                "wire_bytes": self.wire_bytes, "empty": self.empty,
                "discarded": dict(self.discarded), "discarded_bytes": self.discarded_bytes}


class Deframer:
    """:func:`deframe` with its state and counters kept (the shell's convenience)."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be at least 1, got {max_frame_bytes}")
        self.state = DeframerState(max_frame_bytes=max_frame_bytes)
        self.counters = LinkCounters()

    def feed(self, data: bytes) -> list[bytes]:
        result = deframe(self.state, data)
        self.state = result.state
        self.counters.add(len(data), result)
        return result.frames


__all__ = [
    "DISCARD_REASONS",
    "Deframed",
    "Deframer",
    "DeframerState",
    "Discard",
    "LinkCounters",
    "crc16_ccitt_false",
    "deframe",
    "encode_frame",
    "encode_frames",
    "goodput_bytes_per_s",
    "max_encoded_bytes",
    "overhead_bytes",
]
