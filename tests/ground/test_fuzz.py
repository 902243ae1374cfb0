"""Hostile input for the ground's decoders: downlink frames and ops requests.

Bounded property tests (a few seconds each) plus every crash they found, kept as a
named regression test. The properties: nothing raises, every frame lands in exactly
one bucket (archived or counted as an error), a bad record never costs its neighbour,
and every ops request gets an ops reply.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightsw.wire import Envelope, Kind, encode
from ground.archive import Archive
from ground.archive_reader import ArchiveReader
from ground.mission_control import MissionControl
from ground.ops_service import MAX_REQUEST_BYTES, OpsService, pack, unpack
from ground.station import Station

from .conftest import DICTIONARY

T0 = 1.8e9
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
        ["points", "cmd_seq", "stage", "name", "args", "severity", "text", "reason",
         "dictionary_hash", "op"])), inner, max_size=4)), max_leaves=24)
FIELDS = ["points", "cmd_seq", "stage", "name", "args", "severity", "text", "reason",
          "dictionary_hash", "dictionary_version"]
bodies = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), values,
                         max_size=6)
kinds = st.sampled_from([k.value for k in Kind])


def raw_envelope(kind: str, seq: Any, time_s: Any, body: Any, version: Any = 1) -> bytes:
    """An envelope packed without the encoder's checks (what a broken flight could send)."""
    data: bytes = msgpack.packb([version, kind, "flight", seq, time_s, body], use_bin_type=True)
    return data


def deep(levels: int, leaf: bytes = b"\x00") -> bytes:
    """msgpack for ``[[[...leaf...]]]`` nested ``levels`` deep, without building it."""
    return b"\x91" * levels + leaf


class Ground:
    """Mission control over a real archive, plus a known-good neighbour frame."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="aisat-fuzz-")
        self.path = Path(self.dir) / "a.sqlite"
        self.mc = MissionControl(DICTIONARY, Archive(self.path))
        self.marker = 0
        self.seq = 10**6

    def good(self) -> bytes:
        self.marker += 1
        self.seq += 1
        return encode(Envelope(Kind.TELEMETRY, "flight", self.seq, T0,
                               {"points": {"exec.uptime_s": float(self.marker)}}))

    def check_survives(self, frame: bytes) -> None:
        """The frame is taken without raising, counted once, and its neighbours kept."""
        mc = self.mc
        before = (mc.frames_received, sum(mc.records.values()), mc.decode_errors,
                  mc.duplicates_dropped)
        mc.on_frame(self.good(), T0)
        mc.on_frame(frame, T0, T0)
        mc.on_frame(self.good(), T0)
        frames, records, errors, dups = (mc.frames_received, sum(mc.records.values()),
                                         mc.decode_errors, mc.duplicates_dropped)
        assert frames - before[0] == 3
        # one bucket each: archived, rejected, or a number already received (dropped)
        assert (records - before[1]) + (errors - before[2]) + (dups - before[3]) == 3
        mc.archive.flush()
        # values were made storable on the way in: the database refused no row
        assert not [r for r in mc.archive.stats()["quarantine_reasons"] if "refused" in r]
        with ArchiveReader(self.path) as r:
            latest = r.latest("exec.uptime_s")
        assert latest is not None and latest.value == float(self.marker)


@pytest.fixture(scope="module")
def ground() -> Ground:
    return Ground()


# --- downlink -----------------------------------------------------------------------
@FUZZ
@given(frame=st.binary(max_size=300))
def test_random_bytes_never_raise(ground: Ground, frame: bytes) -> None:
    ground.check_survives(frame)


@FUZZ
@given(kind=kinds, seq=st.one_of(st.integers(-(2**63), 2**64 - 1), values),
       time_s=st.one_of(st.floats(allow_nan=True, allow_infinity=True), values),
       body=st.one_of(bodies, values))
def test_envelopes_with_hostile_fields_never_raise(ground: Ground, kind: str, seq: Any,
                                                   time_s: Any, body: Any) -> None:
    ground.check_survives(raw_envelope(kind, seq, time_s, body))


@FUZZ
@given(kind=st.sampled_from(["tlm", "evt", "ver", "result", "hello"]), body=bodies,
       seq=st.integers(0, 2**63 - 1))
def test_downlink_kinds_with_hostile_bodies_never_raise(ground: Ground, kind: str,
                                                        body: dict[str, Any], seq: int) -> None:
    ground.check_survives(raw_envelope(kind, seq, T0, body))


VALID = [
    encode(Envelope(Kind.TELEMETRY, "flight", 5, T0, {"points": {"a.b": 1.5, "c": "x"}})),
    encode(Envelope(Kind.EVENT, "flight", 6, T0, {"name": "exec.boot", "severity": "ACTIVITY_HI",
                                                  "text": "up", "args": {"n": 1}})),
    encode(Envelope(Kind.VERIFICATION, "flight", 7, T0, {"cmd_seq": 3, "name": "exec.noop",
                                                         "stage": "completed", "reason": ""})),
    encode(Envelope(Kind.HELLO, "flight", 8, T0, {"dictionary_hash": "abc",
                                                  "dictionary_version": "1"})),
]


@FUZZ
@given(base=st.sampled_from(VALID), data=st.data())
def test_mutated_valid_frames_never_raise(ground: Ground, base: bytes, data: st.DataObject
                                          ) -> None:
    frame = bytearray(base)
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(len(frame) - 1, 0)))
        if op == "flip" and frame:
            frame[at] = data.draw(st.integers(0, 255))
        elif op == "insert":
            frame[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and frame:
            del frame[at]
        elif op == "truncate":
            del frame[at:]
    ground.check_survives(bytes(frame))


# --- downlink regressions (named crashes and near-misses) ---------------------------
@pytest.mark.parametrize("frame", [
    pytest.param(raw_envelope("ver", 1, T0, {"cmd_seq": 2**64 - 1, "stage": "completed"}),
                 id="cmd_seq-2**64-1-overflowed-sqlite-and-lost-the-whole-batch"),
    pytest.param(raw_envelope("ver", 1, T0, {"cmd_seq": 2**63, "stage": "accepted"}),
                 id="cmd_seq-2**63"),
    pytest.param(raw_envelope("ver", 1, T0, {"cmd_seq": -1, "stage": "accepted"}),
                 id="cmd_seq-negative"),
    pytest.param(raw_envelope("ver", 1, T0, {"cmd_seq": "7", "stage": "accepted"}),
                 id="cmd_seq-text"),
    pytest.param(raw_envelope("ver", 1, T0, {"cmd_seq": 1, "stage": ["completed"]}),
                 id="stage-unhashable-list"),
    pytest.param(raw_envelope("evt", 1, T0, {"name": "x", "args": {b"k": 1}}),
                 id="event-args-bytes-key"),
    pytest.param(raw_envelope("evt", 1, T0, {"name": b"\xff" * 10, "text": 2**64 - 1}),
                 id="event-name-bytes"),
    pytest.param(raw_envelope("tlm", 1, T0, {"points": {b"\xffbin": 2**64 - 1}}),
                 id="telemetry-bytes-name-huge-int"),
    pytest.param(raw_envelope("tlm", 1, T0, {"points": {"p": math.nan, "q": math.inf,
                                                        "r": -math.inf}}), id="nan-inf"),
    pytest.param(raw_envelope("result", 1, T0, {"x": {b"a": b"b"}}), id="result-bytes"),
    pytest.param(raw_envelope("tlm", 1, T0, {"points": {}}, version=2**64 - 1),
                 id="version-huge"),
    pytest.param(raw_envelope("tlm", 2**64 - 1, T0, {"points": {}}), id="seq-2**64-1"),
    pytest.param(raw_envelope("tlm", 1, math.nan, {"points": {}}), id="time-nan"),
    pytest.param(b"\x96\x01\xa3tlm\xa6flight\x01\xcb" + msgpack.packb(T0)[1:]
                 + b"\x81\xa6points" + deep(1000), id="body-1000-deep"),
    pytest.param(deep(1000), id="frame-1000-deep"),
    pytest.param(deep(100_000), id="frame-100000-deep"),
    pytest.param(b"\xdd\xff\xff\xff\xff", id="array-claims-4G-elements"),
])
def test_named_hostile_frames(ground: Ground, frame: bytes) -> None:
    ground.check_survives(frame)


def test_one_bad_verification_costs_only_itself(tmp_path: Path) -> None:
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    rec = mc.submit("exec.noop", {}, now_s=T0)
    mc.commands.mark_sent(rec, T0)
    frames = [
        raw_envelope("ver", 1, T0, {"cmd_seq": rec.cmd_seq, "stage": "accepted",
                                    "name": "exec.noop", "reason": ""}),
        raw_envelope("ver", 2, T0, {"cmd_seq": 2**64 - 1, "stage": "completed"}),
        raw_envelope("ver", 3, T0, {"cmd_seq": rec.cmd_seq, "stage": "completed",
                                    "name": "exec.noop", "reason": "done"}),
    ]
    for frame in frames:
        mc.on_frame(frame, T0)
    mc.archive.flush()
    assert rec.stage.value == "completed"
    assert mc.decode_error_reasons == {"bad ver body: cmd_seq out of range [0, 2**63)": 1}
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert [v["stage"] for v in r.verifications(rec.cmd_seq)] == ["accepted", "completed"]
        assert r.counts()["link_errors"] == 0
        [bad] = r.quarantine()
        assert (bad["kind"], bad["seq"]) == ("ver", 2)
        assert bad["reason"] == "bad ver body: cmd_seq out of range [0, 2**63)"


def test_a_row_sqlite_refuses_is_quarantined_alone(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "a.sqlite")
    archive.add_verification(1, T0, T0, 5, "a", "accepted", "")
    archive.add_verification(2, T0, T0, 2**64, "b", "accepted", "")  # bypasses the checks
    archive.add_verification(3, T0, T0, 6, "c", "accepted", "")
    assert archive.flush() == 2  # the two good rows (the bad one went to quarantine)
    assert archive.quarantined == {"verifications row refused: OverflowError": 1}
    archive.close()
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert [v["cmd_seq"] for v in r.verifications(5) + r.verifications(6)] == [5, 6]
        [bad] = r.quarantine()
        assert (bad["kind"], bad["seq"]) == ("ver", 2)


def test_station_world_with_hostile_contact_flag() -> None:
    from ground.station import Visibility
    nested: Any = []
    for _ in range(2000):
        nested = [nested]
    with pytest.raises(ValueError, match="in_contact must be a bool"):
        Visibility.from_world({"in_contact": nested})
    assert Station().downlink([b"x"], 0.0) == []


# --- ops requests -------------------------------------------------------------------
@pytest.fixture(scope="module")
def ops() -> OpsService:
    g = Ground()
    return OpsService(g.mc, Station())


def check_reply(ops: OpsService, data: bytes) -> dict[str, Any]:
    reply = unpack(ops.handle_bytes(data, T0, 0.0))
    assert isinstance(reply, dict) and isinstance(reply.get("ok"), bool)
    assert ops.internal_errors == 0
    return reply


@FUZZ
@given(data=st.binary(max_size=300))
def test_ops_random_bytes_get_a_reply(ops: OpsService, data: bytes) -> None:
    check_reply(ops, data)


OP_NAMES = ["cmd", "cmd_status", "cancel", "status", "stats", "dictionary", "ping"]


@FUZZ
@given(op=st.one_of(st.sampled_from(OP_NAMES), values),
       fields=st.dictionaries(st.sampled_from(["name", "args", "cmd_seq", "x"]),
                              st.one_of(values, st.sampled_from(
                                  ["exec.noop", "exec.hk_period_set", "mode.set"])),
                              max_size=4),
       wrap=st.booleans())
def test_ops_hostile_requests_get_a_reply(ops: OpsService, op: Any, fields: dict[str, Any],
                                          wrap: bool) -> None:
    req: Any = {"op": op, **fields}
    check_reply(ops, msgpack.packb([req] if wrap else req, use_bin_type=True))


@FUZZ
@given(args=st.dictionaries(st.one_of(st.text(max_size=10), st.just("period_s"),
                                      st.just("mode")), values, max_size=3),
       name=st.sampled_from(["exec.hk_period_set", "mode.set", "exec.noop"]))
def test_ops_command_arguments_of_any_type_are_refused_or_queued(
        ops: OpsService, args: dict[str, Any], name: str) -> None:
    reply = check_reply(ops, pack({"op": "cmd", "name": name, "args": args}))
    if not reply["ok"]:
        assert reply["error"]


@pytest.mark.parametrize("data, error", [
    pytest.param(b"\x81\xa2op" + deep(1000, b"\xa4ping"), "nested deeper",
                 id="op-1000-deep-crashed-repr"),
    pytest.param(b"\x82\xa2op\xa3cmd\xa4args" + deep(500), "nested deeper",
                 id="args-500-deep"),
    pytest.param(deep(60_000), "not msgpack", id="request-60000-deep"),
    pytest.param(b"\x00" * (MAX_REQUEST_BYTES + 1), "too large", id="oversized"),
    pytest.param(msgpack.packb({"op": "cancel", "cmd_seq": 2**64 - 1}), "integer >= 0",
                 id="cancel-2**64-1"),
    pytest.param(msgpack.packb({"op": "cancel", "cmd_seq": True}), "integer >= 0",
                 id="cancel-True-is-not-1"),
    pytest.param(msgpack.packb({"op": "cmd_status", "cmd_seq": -5}), "unknown command",
                 id="status-negative"),
    pytest.param(msgpack.packb({"op": "cmd", "name": "exec.hk_period_set",
                                "args": {"period_s": math.nan}}), "", id="cmd-nan"),
    pytest.param(msgpack.packb({"op": "cmd", "name": "exec.hk_period_set",
                                "args": {"period_s": 2**64 - 1}}), "", id="cmd-huge"),
    pytest.param(msgpack.packb({"op": "cmd", "name": ["exec.noop"] * 1000}), "unknown command",
                 id="cmd-name-list"),
    pytest.param(msgpack.packb({"op": "ping"}) + b"\x00", "more than one", id="trailing"),
    pytest.param(msgpack.packb([1, 2]), "must be a map", id="not-a-map"),
])
def test_named_hostile_ops_requests(ops: OpsService, data: bytes, error: str) -> None:
    reply = check_reply(ops, data)
    assert not reply["ok"]
    assert error in str(reply.get("error", "")) + str(reply.get("detail", ""))
    assert len(pack(reply)) < 64 * 1024


@FUZZ
@given(frame=st.one_of(st.binary(max_size=200), st.builds(
    raw_envelope, kinds, st.integers(0, 2**63 - 1),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), values), values)))
def test_frame_time_never_raises(frame: bytes) -> None:
    from ground.core import frame_time_s
    t = frame_time_s(frame)
    assert t is None or math.isfinite(t)
