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
        return self.apply_mapped(data)[0]

    def apply_mapped(self, data: bytes) -> tuple[bytes, list[int]]:
        """The damaged bytes, and for each of them the index of the input byte it came
        from (a writer that takes only part of the output knows how much input it used)."""
        if not (self.drop or self.flip or self.brk):
            return data, list(range(len(data)))
        rng = self._rng
        out = bytearray()
        src: list[int] = []
        held = 0
        for i, b in enumerate(data):
            if held:
                held -= 1
                out.append(0)
                src.append(i)
                continue
            if self.brk and rng.random() < self.brk:
                self.breaks += 1
                held = self.break_bytes - 1
                out.append(0)
                src.append(i)
                continue
            if self.drop and rng.random() < self.drop:
                self.dropped += 1
                continue
            if self.flip and rng.random() < self.flip:
                self.flipped += 1
                b ^= 1 << rng.randrange(8)
            out.append(b)
            src.append(i)
        return bytes(out), src

    def save(self) -> tuple[object, int, int, int]:
        """The random state and counters, to take back a damage the line never carried."""
        return self._rng.getstate(), self.dropped, self.flipped, self.breaks

    def restore(self, saved: tuple[object, int, int, int]) -> None:
        state, self.dropped, self.flipped, self.breaks = saved
        self._rng.setstate(state)  # type: ignore[arg-type]

    def counters(self) -> dict[str, int]:
        return {"dropped": self.dropped, "flipped": self.flipped, "breaks": self.breaks}


class FaultyPort:
    """A port whose received bytes pass through :class:`LineFaults` first, and, with
    ``write_faults``, whose sent bytes are damaged on their way out too (so one end, the
    host's bridge, can damage both directions of a link whose other end it does not own).
    """

    def __init__(self, port: SerialPort, faults: LineFaults,
                 write_faults: LineFaults | None = None) -> None:
        self.inner = port
        self.faults = faults
        self.write_faults = write_faults
        fileno = getattr(port, "fileno", None)
        if fileno is not None:  # select() on it when the inner port has a descriptor
            self.fileno = fileno

    @property
    def in_waiting(self) -> int:
        return self.inner.in_waiting

    def read(self, size: int = 1) -> bytes:
        return self.faults.apply(self.inner.read(size))

    def write(self, data: bytes) -> int | None:
        if self.write_faults is None:
            return self.inner.write(data)
        faults = self.write_faults
        before = faults.save()
        out, src = faults.apply_mapped(bytes(data))
        n = (self.inner.write(out) or 0) if out else 0
        if n >= len(out):
            return len(data)
        # the port took part: input bytes whose output was written (or dropped) are used;
        # the rest come again, so the faults are counted (and drawn) for the used part only
        used = src[n]
        faults.restore(before)
        faults.apply_mapped(bytes(data[:used]))
        return used

    def close(self) -> None:
        self.inner.close()


def parse_faults(text: str) -> LineFaults:
    """``drop=1e-4,flip=1e-4,brk=1e-5,seed=3`` (any subset) as :class:`LineFaults`;
    a ValueError naming what is wrong otherwise."""
    kwargs: dict[str, float | int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("drop", "flip", "brk", "break_bytes", "seed"):
            raise ValueError(f"line fault {item!r}: expected drop=P, flip=P, brk=P, "
                             f"break_bytes=N or seed=N")
        try:
            kwargs[key] = int(value) if key in ("break_bytes", "seed") else float(value)
        except ValueError:
            raise ValueError(f"line fault {item!r}: {value!r} is not a number") from None
    return LineFaults(**kwargs)  # type: ignore[arg-type]


__all__ = ["FaultyPort", "LineFaults", "parse_faults"]
