"""The wire codec: round trips, and a clear WireError for every kind of bad frame."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightsw.errors import WireError, WireVersionError
from flightsw.wire import (
    MAX_FRAME_BYTES,
    WIRE_VERSION,
    Envelope,
    Kind,
    Sequencer,
    decode,
    encode,
    nesting_depth,
    try_decode,
)


def _raw(*fields: object) -> bytes:
    return msgpack.packb(list(fields), use_bin_type=True)


def test_round_trip_every_kind() -> None:
    for i, kind in enumerate(Kind):
        env = Envelope(kind, "flight", i, 1_700_000_000.25, {"a": 1, "b": [1.5, "x"],
                                                             "c": {"d": None, "e": b"\x00"}})
        assert decode(encode(env)) == env


def test_integer_time_is_accepted_as_float() -> None:
    env = decode(_raw(WIRE_VERSION, "tlm", "ground", 3, 12, {}))
    assert env.time_s == 12.0 and isinstance(env.time_s, float)


@pytest.mark.parametrize("frame, reason", [
    (b"", "empty frame"),
    (b"\xc1", "not a msgpack envelope"),  # 0xc1 is never used by msgpack
    (b"\x93\x01\x02", "not a msgpack envelope"),  # truncated array
    (_raw(1, "tlm", "f", 0, 0.0), "6-element array"),
    (msgpack.packb({"kind": "tlm"}), "6-element array"),
    (_raw("1", "tlm", "f", 0, 0.0, {}), "version is not an integer"),
    (_raw(WIRE_VERSION, "nope", "f", 0, 0.0, {}), "unknown kind"),
    (_raw(WIRE_VERSION, 7, "f", 0, 0.0, {}), "unknown kind"),
    (_raw(WIRE_VERSION, "tlm", "", 0, 0.0, {}), "source"),
    (_raw(WIRE_VERSION, "tlm", "x" * 33, 0, 0.0, {}), "source"),
    (_raw(WIRE_VERSION, "tlm", "f", -1, 0.0, {}), "seq"),
    (_raw(WIRE_VERSION, "tlm", "f", True, 0.0, {}), "seq"),
    (_raw(WIRE_VERSION, "tlm", "f", 1.5, 0.0, {}), "seq"),
    (_raw(WIRE_VERSION, "tlm", "f", 0, math.nan, {}), "time_s"),
    (_raw(WIRE_VERSION, "tlm", "f", 0, "noon", {}), "time_s"),
    (_raw(WIRE_VERSION, "tlm", "f", 0, 0.0, [1, 2]), "body must be a map"),
    (_raw(WIRE_VERSION, "tlm", "f", 0, 0.0, {}) + b"\x00", "trailing bytes"),
])
def test_malformed_frames_are_refused_with_a_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(WireError) as info:
        decode(frame)
    assert reason in str(info.value)
    assert isinstance(try_decode(frame), WireError)


def test_non_string_map_keys_are_refused() -> None:
    frame = msgpack.packb([WIRE_VERSION, "tlm", "f", 0, 0.0, {1: 2}], use_bin_type=True,
                          strict_types=False)
    assert isinstance(try_decode(frame), WireError)


def test_wrong_version_is_its_own_error() -> None:
    with pytest.raises(WireVersionError) as info:
        decode(_raw(WIRE_VERSION + 1, "tlm", "f", 0, 0.0, {}))
    assert info.value.details == {"got": WIRE_VERSION + 1, "expected": WIRE_VERSION}


def test_oversized_frame_is_refused_before_parsing() -> None:
    with pytest.raises(WireError, match="frame too large"):
        decode(b"\x00" * (MAX_FRAME_BYTES + 1))
    with pytest.raises(WireError, match="frame too large"):
        decode(_raw(WIRE_VERSION, "tlm", "f", 0, 0.0, {"x": "y" * 100}), max_bytes=50)


def test_hostile_length_prefix_does_not_allocate() -> None:
    # an array header claiming 2**32-1 elements in a 5-byte frame
    with pytest.raises(WireError):
        decode(b"\xdd\xff\xff\xff\xff")
    # a bin header claiming 4 GiB
    with pytest.raises(WireError):
        decode(b"\xc6\xff\xff\xff\xff")


def test_deep_nesting_is_refused() -> None:
    body = b"\x91" * 5000 + b"\x00"
    frame = b"\x96\x01\xa3tlm\xa1f\x00\xcb" + b"\x00" * 8 + b"\x81\xa1x" + body
    assert isinstance(try_decode(frame), WireError)


def test_encode_refuses_invalid_envelopes() -> None:
    with pytest.raises(WireError):
        encode(Envelope(Kind.TELEMETRY, "", 0, 0.0, {}))
    with pytest.raises(WireError):
        encode(Envelope(Kind.TELEMETRY, "f", 0, 0.0, {"x": object()}))
    with pytest.raises(WireError):
        encode(Envelope(Kind.TELEMETRY, "f", 0, 0.0, {"x": "y" * (MAX_FRAME_BYTES + 1)}))


def test_sequencer_counts_up() -> None:
    seq = Sequencer("ground", start=5)
    assert [decode(seq.pack(Kind.COMMAND, 0.0, {})).seq for _ in range(3)] == [5, 6, 7]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise_anything_but_wire_error(data: bytes) -> None:
    result = try_decode(data)
    assert isinstance(result, (Envelope, WireError))


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20) | st.binary(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(list(Kind)), source=st.text(min_size=1, max_size=32),
       seq=st.integers(0, 2**63 - 1), time_s=st.floats(allow_nan=False, allow_infinity=False),
       body=st.dictionaries(st.text(max_size=10), _values, max_size=6))
def test_random_envelopes_round_trip(kind: Kind, source: str, seq: int, time_s: float,
                                     body: dict[str, object]) -> None:
    env = Envelope(kind, source, seq, time_s, body)
    assert decode(encode(env)) == env


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_frames_decode_or_fail_cleanly(data: st.DataObject) -> None:
    frame = bytearray(encode(Envelope(Kind.COMMAND, "ground", 1, 5.0,
                                      {"name": "mode.set", "args": {"mode": "SAFE"}})))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    assert isinstance(try_decode(bytes(frame[:cut])), (Envelope, WireError))


def test_deeply_nested_body_is_refused_not_a_recursion_crash() -> None:
    """Found by fuzzing: a ~1 KB frame nesting a list 1,010 deep decoded, and the first
    repr() of it on an error path raised RecursionError inside the executive."""
    import msgpack

    from flightsw.dictionary import Dictionary
    from flightsw.errors import CommandRejected, FlightError

    deep: list[object] = []
    for _ in range(1010):
        deep = [deep]
    frame = msgpack.packb([1, "cmd", "ground", 0, 0.0, {"name": deep}])
    got = try_decode(frame)
    assert isinstance(got, WireError)
    assert "nested too deep" in str(got)
    # and the error paths that describe untrusted values survive one anyway
    assert "[[[" in str(FlightError("bad", got=deep))
    with pytest.raises(CommandRejected):
        Dictionary("0").validate_command(deep, {})


def test_body_at_the_depth_limit_still_decodes() -> None:
    from flightsw.wire import MAX_DEPTH

    value: object = 1
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    env = decode(encode(Envelope(Kind.EVENT, "flight", 0, 1.0, {"v": value})))
    assert env.body["v"] == value


def _depth_by_recursion(obj: object) -> int:
    if isinstance(obj, dict):
        return 1 + max((_depth_by_recursion(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max((_depth_by_recursion(v) for v in obj), default=0)
    return 0


_nested = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3),
              st.binary(max_size=3)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=2), inner, max_size=4)),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_nested)
def test_nesting_depth_counts_as_a_recursive_walk(obj: object) -> None:
    """The walk passes over containers of scalars without a Python step per value; it
    must still find every nested container (flat or mixed, lists or maps)."""
    assert nesting_depth(obj) == _depth_by_recursion(obj)


def test_nesting_depth_sees_containers_of_subclassed_types() -> None:
    """A caller's dict/list subclasses and int subclasses are walked as isinstance says."""
    from collections import OrderedDict
    from enum import IntEnum

    class Flag(IntEnum):
        ON = 1

    assert nesting_depth({"a": Flag.ON, "b": 1.0}) == 1
    assert nesting_depth([1, OrderedDict(x=[2, {"y": 3}])]) == 4
    assert nesting_depth({"p": {f"k{i}": float(i) for i in range(200)}}) == 2
    assert nesting_depth({"p": {**{f"k{i}": i for i in range(200)}, "deep": [[[]]]}}) == 5


def test_depth_limit_holds_with_few_or_many_containers() -> None:
    """The decoder walks a frame for its depth only when it has more containers than
    the limit: one level past the limit (exactly that many containers) is refused, and
    many shallow containers are walked and accepted."""
    from flightsw.wire import MAX_DEPTH

    value: object = 1
    for _ in range(MAX_DEPTH):
        value = [value]
    frame = msgpack.packb([1, "evt", "flight", 0, 1.0, {"v": value}])
    got = try_decode(frame)
    assert isinstance(got, WireError) and "nested too deep" in str(got)
    wide = {"v": [{"a": [i]} for i in range(200)]}
    assert decode(encode(Envelope(Kind.EVENT, "flight", 0, 1.0, wide))).body == wide
