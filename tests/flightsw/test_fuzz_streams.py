"""Bounded fuzzing of every stream the executive decodes: space link uplink, plant bus
and payload IPC. The invariant: nothing raises out of a cycle (``exec.cycle_faults``
stays 0), every tick is still answered, and every bad frame is counted.

Runs in process through the harness, so a few hundred examples take seconds. Crashes
found by fuzzing are kept as named tests in ``test_harness.py`` and ``test_wire.py``.
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightsw.harness import EPOCH_S, Harness
from flightsw.wire import Kind, Sequencer

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.binary(max_size=20))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                      max_leaves=20)
bodies = st.dictionaries(st.sampled_from(
    ["name", "args", "elapsed_s", "dt_s", "sensors", "job_id", "ok", "n", "state",
     "n_tiles", "selected", "busy_frac", "reason", "dictionary_hash", "x"]) | st.text(max_size=5),
    values, max_size=6)


def _deep_frame(kind: str, depth: int) -> bytes:
    """An envelope whose body nests a list ``depth`` deep, written byte by byte (msgpack
    itself refuses to pack past 511 levels; a hostile sender need not)."""
    head = b"".join(msgpack.packb(v) for v in (1, kind, "fuzz", 0, EPOCH_S))
    return b"\x96" + head + b"\x81" + msgpack.packb("name") + b"\x91" * depth + b"\x00"


def _raw(kind: str, body: Any, seq: Any = 0, time_s: Any = EPOCH_S) -> bytes:
    return bytes(msgpack.packb([1, kind, "fuzz", seq, time_s, body], use_bin_type=True))


_H: dict[str, Harness] = {}


def _harness() -> Harness:
    """One warm executive per test module: fuzzing hits a running spacecraft."""
    if "h" not in _H:
        h = Harness()
        h.run(6)
        _H["h"] = h
    return _H["h"]


def _still_healthy(h: Harness) -> None:
    answered = len(h.actuators)
    h.run(1)
    assert len(h.actuators) == answered + 1
    assert h.core.state.counters.cycle_faults == 0, h.core.state.counters.last_fault


@SETTINGS
@given(frame=st.binary(max_size=300))
def test_uplink_random_bytes(frame: bytes) -> None:
    h = _harness()
    h.uplink_raw(frame)
    _still_healthy(h)


@SETTINGS
@given(kind=st.sampled_from([k.value for k in Kind]), body=bodies,
       seq=st.integers(min_value=-5, max_value=2**64 - 1) | st.floats(), depth=st.integers(0, 40))
def test_uplink_structured_garbage(kind: str, body: dict[str, Any], seq: Any,
                                   depth: int) -> None:
    h = _harness()
    h.uplink_raw(_raw(kind, body, seq))
    if depth > 20:
        h.uplink_raw(_deep_frame(kind, depth * 30))
    _still_healthy(h)


@SETTINGS
@given(name=st.sampled_from(["mode.set", "payload.throttle_cap", "payload.enable",
                             "exec.hk_period_set", "exec.noop", "nope"]),
       args=st.dictionaries(st.sampled_from(["mode", "level_pct", "enabled", "period_s", "z"]),
                            values, max_size=3))
def test_commands_with_random_arguments_always_get_a_verdict(name: str,
                                                             args: dict[str, Any]) -> None:
    h = _harness()
    seq = 10**9 + len(h.downlink)
    h.uplink_raw(Sequencer("ground", start=seq).pack(Kind.COMMAND, EPOCH_S,
                                                     {"name": name, "args": args}))
    _still_healthy(h)
    stages = [v.stage for v in h.verification(seq)]
    assert stages in (["received", "failed"], ["received", "accepted", "started", "completed"],
                      ["received", "accepted", "started", "failed"])
    h.uplink_raw(Sequencer("ground").pack(Kind.COMMAND, EPOCH_S,
                                          {"name": "payload.enable", "args": {"enabled": True}}))


@SETTINGS
@given(frame=st.binary(max_size=300), body=bodies,
       kind=st.sampled_from(["tick", "sens", "stop", "act", "pl.hb"]))
def test_plant_bus_garbage(frame: bytes, body: dict[str, Any], kind: str) -> None:
    h = _harness()
    h.send_plant(frame)
    h.send_plant(_raw(kind, body))
    h.executive._stopping = ""  # a STOP (garbled or not) stops; fly on for the next one
    _still_healthy(h)


@SETTINGS
@given(sensors=st.dictionaries(st.sampled_from(
    ["battery_soc_frac", "payload_temp_c", "next_contact_in_s", "in_contact", "lat_deg",
     "contact_station", "sun_fraction"]), values, max_size=4))
def test_plant_sensor_values(sensors: dict[str, Any]) -> None:
    h = _harness()
    h.send_plant(_raw("tick", {"elapsed_s": h.elapsed_s, "sensors": sensors}))
    h.elapsed_s += 1
    _still_healthy(h)


@SETTINGS
@given(frame=st.binary(max_size=200), body=bodies,
       kind=st.sampled_from(["pl.hb", "pl.result", "pl.job", "tlm", "stop"]))
def test_payload_ipc_garbage(frame: bytes, body: dict[str, Any], kind: str) -> None:
    h = _harness()
    h.core.on_payload([frame, _raw(kind, body), _raw("pl.result", {"job_id": body.get("n")})])
    _still_healthy(h)
