"""Faults on a serial line, seeded: dropped bytes, flipped bits, a line held in break.

What a UART link suffers on a bench or in a harness - EMI flipping bits, an overrun
dropping bytes, a connector that bounces (the receiver reads a break: a run of zero
bytes with framing errors) - applied to the bytes between two
:class:`flightsw.serial_transport.SerialTransport` ends, so a test can show that the
framer recovers and the link layer above loses nothing. :class:`LineFaults` is a pure
function of its seed and the bytes it is given; :class:`FaultyPort` wraps a port and
damages what it reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from flightsw.serial_transport import SerialPort


@dataclass
class LineFaults:
    """Per-byte probabilities of each fault; a break replaces ``break_bytes`` bytes
    (the ones the receiver would have read while the line was held) with zeros."""

    drop: float = 0.0
    flip: float = 0.0
    brk: float = 0.0
    break_bytes: int = 20
    seed: int = 0
    dropped: int = 0
    flipped: int = 0
    breaks: int = 0
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("drop", "flip", "brk"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
        if self.break_bytes < 1:
            raise ValueError(f"break_bytes must be at least 1, got {self.break_bytes}")
        self._rng = random.Random(self.seed)

    def apply(self, data: bytes) -> bytes:
        if not (self.drop or self.flip or self.brk):
            return data
        rng = self._rng
        out = bytearray()
        held = 0
        for b in data:
            if held:
                held -= 1
                out.append(0)
                continue
            if self.brk and rng.random() < self.brk:
                self.breaks += 1
                held = self.break_bytes - 1
                out.append(0)
                continue
            if self.drop and rng.random() < self.drop:
                self.dropped += 1
                continue
            if self.flip and rng.random() < self.flip:
                self.flipped += 1
                b ^= 1 << rng.randrange(8)
            out.append(b)
        return bytes(out)

    def counters(self) -> dict[str, int]:
        return {"dropped": self.dropped, "flipped": self.flipped, "breaks": self.breaks}


class FaultyPort:
    """A port whose received bytes pass through :class:`LineFaults` first."""

    def __init__(self, port: SerialPort, faults: LineFaults) -> None:
        self.inner = port
        self.faults = faults
        fileno = getattr(port, "fileno", None)
        if fileno is not None:  # select() on it when the inner port has a descriptor
            self.fileno = fileno

    @property
    def in_waiting(self) -> int:
        return self.inner.in_waiting

    def read(self, size: int = 1) -> bytes:
        return self.faults.apply(self.inner.read(size))

    def write(self, data: bytes) -> int | None:
        return self.inner.write(data)

    def close(self) -> None:
        self.inner.close()


__all__ = ["FaultyPort", "LineFaults"]
