"""Bounded fuzzing of the payload's side of the payload IPC: whatever arrives, the core
answers or counts it and never raises, and a good job afterwards still runs."""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightsw.wire import Envelope, Kind, encode, try_decode
from tests.payload.fakes import MISSION_EPOCH_S, job, make_core, ping

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
bodies = st.dictionaries(st.sampled_from(["job_id", "n_tiles", "seed", "lat_deg", "lon_deg",
                                          "throttle_frac", "pace", "n", "reason", "x"]),
                         values, max_size=6)


def _feed(frame: bytes) -> None:
    core, _, _ = make_core()
    decoded = try_decode(frame)
    if isinstance(decoded, Envelope):
        core.handle(decoded, 0.0)
    else:
        core.reject_frame(decoded)
    # still a working payload afterwards
    core.handle(job(job_id=99, n_tiles=4), 0.0)
    answered = []
    for _ in range(core.counters.jobs_done + 70):  # the queue holds at most 64
        answered += [r.body["job_id"] for r in core.run_next_job(0.0)]
        if 99 in answered:
            break
    assert 99 in answered
    (hb,) = core.handle(ping(7), 0.0)
    assert hb.body["n"] == 7


@SETTINGS
@given(frame=st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    _feed(frame)


@SETTINGS
@given(kind=st.sampled_from([k.value for k in Kind]), body=bodies)
def test_structured_garbage(kind: str, body: dict[str, Any]) -> None:
    _feed(msgpack.packb([1, kind, "flight", 0, MISSION_EPOCH_S, body]))


@SETTINGS
@given(flips=st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=4))
def test_mutated_job_frames(flips: list[int]) -> None:
    data = bytearray(encode(job(job_id=3, n_tiles=8)))
    for bit in flips:
        data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    _feed(bytes(data))
