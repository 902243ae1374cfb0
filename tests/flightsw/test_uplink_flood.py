"""The uplink under hostile input, in process and bounded in time (< 30 s in CI):

- fuzzing the authentication and the link decoder: every frame is either taken or
  refused with a counted reason, nothing raises out of a cycle;
- a flood of valid, authenticated commands: at most
  :data:`~flightsw.executive.MAX_UPLINK_FRAMES_PER_CYCLE` are taken per fast cycle (the
  rest wait in the transport, which pushes the sender back), memory stays bounded, and
  housekeeping goes down every second of the flood. Measured before (issue 10): 100k
  no-ops per second stalled housekeeping for 55 s. Counted in cycles, never wall time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flightsw import uplink_auth
from flightsw.executive import MAX_UPLINK_FRAMES_PER_CYCLE
from flightsw.harness import FreeRunHarness, Harness
from flightsw.wire import Kind, Sequencer

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

_H: dict[str, Harness] = {}


def _harness() -> Harness:
    """One warm executive for the module: fuzzing hits a running spacecraft."""
    if "h" not in _H:
        h = Harness()
        h.run(3)
        _H["h"] = h
    return _H["h"]


def _refusals(h: Harness) -> int:
    """Every counted refusal of an uplink frame, whatever stage refused it."""
    st = h.core.state
    return (sum(st.auth.rejected.values()) + st.link.frames_rejected
            + st.commands.rejected)


def _step(h: Harness) -> None:
    faults = h.core.state.counters.cycle_faults
    h.run(1)
    assert h.core.state.counters.cycle_faults == faults, h.core.state.counters.last_fault


@SETTINGS
@given(frame=st.binary(max_size=200))
def test_unsealed_bytes_are_each_refused_as_unauthenticated(frame: bytes) -> None:
    h = _harness()
    before = dict(h.core.state.auth.rejected)
    h.uplink_raw(frame, seal=False)
    _step(h)
    after = h.core.state.auth.rejected
    assert after["unauthenticated"] == before.get("unauthenticated", 0) + 1


@SETTINGS
@given(frame=st.binary(min_size=1, max_size=200), flip=st.integers(0, 10_000))
def test_authentic_garbage_and_altered_frames_are_each_refused_once(frame: bytes,
                                                                    flip: int) -> None:
    h = _harness()
    before = _refusals(h)
    h.uplink_raw(frame)  # sealed: passes the tag, fails the decoder
    sealed = bytearray(h.seal(frame))
    sealed[flip % len(sealed)] ^= 0x40  # one altered bit anywhere: never accepted
    h.uplink_raw(bytes(sealed), seal=False)
    _step(h)
    assert _refusals(h) == before + 2


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=12), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)


@SETTINGS
@given(name=values | st.sampled_from(["exec.noop", "mode.set", "auth.key_rotate",
                                      "exec.hk_period_set", "limits.wp_delete"]),
       args=st.dictionaries(st.sampled_from(["mode", "period_s", "key_id", "under",
                                             "wrapped", "wp_id", "x"]), values, max_size=3),
       time_s=st.floats(-1e10, 1e10) | st.none())
def test_every_authentic_command_gets_exactly_one_verdict(name: Any, args: dict[str, Any],
                                                          time_s: float | None) -> None:
    h = _harness()
    seq = h.core.state.auth.windows.get("ground", [-1, 0])[0] + 1
    stamp = h.mission_time_s if time_s is None else time_s
    stale = abs(stamp - h.mission_time_s) > uplink_auth.MAX_FRAME_AGE_S
    stale_before = h.core.state.auth.rejected.get("stale", 0)
    h.uplink_raw(Sequencer("ground", start=seq).pack(Kind.COMMAND, stamp,
                                                     {"name": name, "args": args}))
    _step(h)
    stages = [v.stage for v in h.verification(seq)]
    if stale:
        assert stages == [] and h.core.state.auth.rejected["stale"] == stale_before + 1
    else:
        assert stages[0] == "received" and stages[-1] in ("completed", "failed")
        assert stages.count("completed") + stages.count("failed") == 1


def test_a_flood_of_valid_commands_is_taken_at_a_bounded_rate_with_housekeeping_on_time(
        ) -> None:
    h = FreeRunHarness()
    h.run(2)
    hk_before = len(h.telemetry())
    fast_before = h.core.groups.groups[0].runs
    n = 5_000
    for _ in range(n):
        h.command("exec.noop")
    h.run(1)  # ten fast cycles
    st = h.core.state
    cycles = h.core.groups.groups[0].runs - fast_before
    assert 0 < st.commands.accepted <= cycles * MAX_UPLINK_FRAMES_PER_CYCLE
    assert len(h.core._uplink) == 0  # nothing piles up inside the executive
    h.run(9)
    # every second of the flood: one housekeeping packet, ten fast cycles, on time
    assert len(h.telemetry()) - hk_before == 10
    assert h.core.groups.groups[0].runs - fast_before in (100, 101)
    assert h.core.groups.slips == 0
    h.run(2)
    assert st.commands.accepted == n  # all of them, in the end, each once
    # bounded books, whatever the flood
    assert len(st.auth.outcomes) <= uplink_auth.MAX_OUTCOMES
    assert len(st.auth.windows) == 1 and len(st.auth.rejected) <= uplink_auth.MAX_REASONS
    assert st.link.recorder.bytes_used <= h.cfg.recorder_bytes
