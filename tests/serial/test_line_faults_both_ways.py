"""Damage on the way out: a :class:`~hil.line_faults.FaultyPort` with ``write_faults``
damages what it sends, and a port that takes only part of the damaged bytes gets the
rest of the input offered again (none skipped, none sent twice)."""

from __future__ import annotations

from hil.line_faults import FaultyPort, LineFaults


class Trickle:
    """A port that takes at most ``per_write`` bytes at a time."""

    def __init__(self, per_write: int) -> None:
        self.per_write = per_write
        self.wire = bytearray()

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int = 1) -> bytes:
        return b""

    def write(self, data: bytes) -> int:
        taken = bytes(data[: self.per_write])
        self.wire += taken
        return len(taken)

    def close(self) -> None:
        pass


def _is_subsequence(small: bytes, big: bytes) -> bool:
    it = iter(big)
    return all(b in it for b in small)


def test_dropped_bytes_on_a_slow_port_leave_an_ordered_subsequence() -> None:
    data = bytes(range(1, 256)) * 4
    inner = Trickle(per_write=7)
    faults = LineFaults(drop=0.3, seed=4)
    port = FaultyPort(inner, LineFaults(), faults)
    rest = data
    while rest:
        n = port.write(rest)
        assert n is not None and 0 < n <= len(rest)
        rest = rest[n:]
    assert faults.dropped > 0
    assert len(inner.wire) == len(data) - faults.dropped
    assert _is_subsequence(bytes(inner.wire), data)


def test_flips_and_breaks_keep_the_length_and_without_faults_nothing_changes() -> None:
    data = b"\x55" * 2000
    inner = Trickle(per_write=10_000)
    faults = LineFaults(flip=0.01, brk=0.001, break_bytes=5, seed=2)
    assert FaultyPort(inner, LineFaults(), faults).write(data) == len(data)
    assert len(inner.wire) == len(data) and bytes(inner.wire) != data
    assert faults.flipped > 0 and faults.breaks > 0
    clean = Trickle(per_write=10_000)
    assert FaultyPort(clean, LineFaults()).write(data) == len(data)
    assert bytes(clean.wire) == data
