"""The pure framer: COBS + CRC-16/CCITT-FALSE, resynchronisation, bounded, counted."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightsw.framing import (
    Deframer,
    DeframerState,
    crc16_ccitt_false,
    deframe,
    encode_frame,
    encode_frames,
    goodput_bytes_per_s,
    max_encoded_bytes,
    overhead_bytes,
)

payloads = st.lists(st.binary(min_size=0, max_size=600), min_size=1, max_size=12)


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_encoded_frame_has_no_zero_but_its_delimiter() -> None:
    wire = encode_frame(b"\x00a\x00\x00b" * 100)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    assert len(wire) - 1 <= max_encoded_bytes(500)


@given(payloads)
def test_round_trip_in_any_chunking(frames: list[bytes]) -> None:
    wire = encode_frames(frames)
    rng = random.Random(len(wire))
    d = Deframer()
    got: list[bytes] = []
    i = 0
    while i < len(wire):
        n = rng.randint(1, 40)
        got += d.feed(wire[i:i + n])
        i += n
    # an empty payload still has its CRC: it is a frame, not idle
    assert got == frames
    assert d.counters.discards == 0 and d.state.pending == b""
    assert d.counters.wire_bytes == len(wire)


@settings(max_examples=200)
@given(st.binary(max_size=300), payloads)
def test_garbage_before_a_batch_never_costs_a_later_frame(garbage: bytes,
                                                          frames: list[bytes]) -> None:
    """Noise, a cut cable mid-frame, a sender that is not ours: the batch's leading
    delimiter puts the receiver back in step, so every frame after it arrives."""
    d = Deframer()
    got = d.feed(garbage) + d.feed(encode_frames(frames))
    assert got[-len(frames):] == frames


def test_cut_cable_mid_frame_loses_only_that_frame() -> None:
    a, b, c = b"first frame", b"second frame, cut", b"third frame"
    wire_b = encode_frame(b)
    d = Deframer()
    got = d.feed(encode_frames([a]) + wire_b[:7])  # the cable is pulled here
    got += d.feed(encode_frames([c]))  # plugged back in: a new batch
    assert got == [a, c]
    assert d.counters.discarded["crc"] + d.counters.discarded["cobs"] == 1


def test_flipped_bit_is_caught_and_the_next_frame_survives() -> None:
    wire = bytearray(encode_frames([b"hello world" * 3, b"next"]))
    wire[5] ^= 0x10
    d = Deframer()
    assert d.feed(bytes(wire)) == [b"next"]
    assert d.counters.discards == 1


def test_line_held_in_break_reads_as_idle_and_costs_nothing() -> None:
    d = Deframer()
    got = d.feed(encode_frames([b"a"]) + b"\x00" * 500 + encode_frames([b"b"]))
    assert got == [b"a", b"b"]
    assert d.counters.discards == 0 and d.counters.empty > 500


def test_break_inside_a_frame_costs_that_frame_only() -> None:
    wire = bytearray(encode_frames([b"x" * 50, b"after"]))
    wire[10:20] = b"\x00" * 10  # a 10-byte break in the middle of the first frame
    d = Deframer()
    assert d.feed(bytes(wire)) == [b"after"]
    assert d.counters.discards == 2  # the frame's two halves, each bad on its own


def test_short_and_bad_cobs_are_reasons() -> None:
    r = deframe(DeframerState(), b"\x02\x01\x00\x05ab\x00")
    assert [d.reason for d in r.discards] == ["short", "cobs"]
    assert sum(d.wire_bytes for d in r.discards) == 7


def test_noise_without_a_zero_is_bounded_and_counted() -> None:
    limit = 64
    d = Deframer(max_frame_bytes=limit)
    for _ in range(100):
        d.feed(b"\x55" * 50)  # never a delimiter
        assert len(d.state.pending) <= max_encoded_bytes(limit)
    got = d.feed(b"\x55\x00" + encode_frames([b"ok"]))
    assert got == [b"ok"]
    assert d.counters.discarded["oversize"] >= 1
    total_in = d.counters.wire_bytes
    accounted = (d.counters.discarded_bytes + d.counters.empty
                 + len(encode_frame(b"ok")))
    assert accounted == total_in  # every received byte is in a frame, idle or a discard


def test_oversize_frame_in_one_read() -> None:
    r = deframe(DeframerState(max_frame_bytes=8), encode_frames([b"y" * 20, b"ok"]))
    assert r.frames == [b"ok"]
    assert [d.reason for d in r.discards] == ["oversize"]


def test_bad_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Deframer(max_frame_bytes=0)


def test_goodput_and_overhead_figures() -> None:
    # 256-byte frames: COBS adds 2 (one per 254 bytes + 1), the CRC 2, the delimiter 1,
    # the batch start 1
    assert overhead_bytes(256) == 6.0
    assert overhead_bytes(256, frames_per_batch=10) == pytest.approx(5.1)
    assert goodput_bytes_per_s(115200, 256) == pytest.approx(11520 * 256 / 262)
    assert goodput_bytes_per_s(921600, 256) == pytest.approx(8 * goodput_bytes_per_s(115200,
                                                                                      256))


@given(st.binary(max_size=2000))
def test_overhead_is_a_true_bound(payload: bytes) -> None:
    assert len(encode_frames([payload])) - len(payload) <= overhead_bytes(len(payload))


@given(payloads, st.data())
def test_a_flipped_bit_never_gets_through(frames: list[bytes], data: st.DataObject) -> None:
    """CRC-16 catches every single-bit error (and COBS damage): a frame with one flipped
    bit is discarded and counted (or, its delimiter flipped, waits for the next one),
    and the other frames arrive."""
    wire = bytearray(encode_frames(frames))
    at = data.draw(st.integers(0, len(wire) - 1))
    wire[at] ^= 1 << data.draw(st.integers(0, 7))
    d = Deframer()
    got = d.feed(bytes(wire))
    assert all(f in frames for f in got)
    assert len(got) >= len(frames) - 2  # a flipped delimiter can join two frames
    if len(got) < len(frames):  # the loss is never silent: discarded, or still pending
        assert d.counters.discards or d.state.pending
