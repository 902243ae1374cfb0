"""Authenticated uplink: the attacks measured on main (issue 10) each fail now.

On main a captured ``payload.restart`` replayed three times ran three times; a year-old
frame, a lower sequence number and an unknown source ("mallory") were accepted; any
process could send an unsealed frame.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from flightsw import channel_auth, uplink_auth
from flightsw.harness import EPOCH_S, Harness
from flightsw.wire import Kind, Sequencer

YEAR_S = 365 * 86400.0


def _payload_restarts(h: Harness) -> int:
    return len(h.events("payload.stopped"))


def _frame(h: Harness, name: str, seq: int, *, source: str = "ground",
           time_s: float | None = None, **args: object) -> bytes:
    env = Sequencer(source, start=seq).pack(
        Kind.COMMAND, h.mission_time_s if time_s is None else time_s,
        {"name": name, "args": args})
    return h.seal(env)


def test_a_captured_frame_replayed_three_times_runs_once_and_its_outcome_is_resent() -> None:
    h = Harness()
    h.run(5)
    captured = _frame(h, "exec.noop", 0)
    h.ground.send(captured)
    h.run(1)
    accepted_before = h.core.state.commands.accepted
    for _ in range(3):  # an attacker (or a lossy uplink's retry) sends it again
        h.ground.send(captured)
        h.run(1)
    assert h.core.state.commands.accepted == accepted_before == 1
    assert h.core.state.auth.rejected["duplicate"] == 3
    stages = [v.stage for v in h.verification(0)]
    # the first run's reports, then the remembered outcome once per duplicate
    assert stages[:4] == ["received", "accepted", "started", "completed"]
    assert stages[4:] == ["accepted", "started", "completed"] * 3
    assert h.latest("auth.duplicates") == 3


def test_payload_restart_replayed_restarts_the_payload_once() -> None:
    h = Harness()
    h.run(5)
    restart = _frame(h, "payload.restart", 0)
    for _ in range(3):
        h.ground.send(restart)
        h.run(3)
    assert h.payload.kills == 1


def test_a_year_old_frame_is_refused_even_with_a_fresh_number() -> None:
    h = Harness()
    h.run(2)
    h.ground.send(_frame(h, "exec.noop", 500, time_s=EPOCH_S - YEAR_S))
    h.run(1)
    assert h.verification(500) == []
    assert h.core.state.auth.rejected == {"stale": 1}
    (event,) = h.events("auth.frame_rejected")
    assert "stale" in event.text


def test_a_lower_number_below_the_window_is_refused_inside_it_runs_once() -> None:
    h = Harness()
    h.run(2)
    h.ground.send(_frame(h, "exec.noop", 100))
    h.run(1)
    h.ground.send(_frame(h, "exec.noop", 100 - uplink_auth.WINDOW))  # too old
    h.ground.send(_frame(h, "exec.noop", 99))  # late, reordered: never seen, runs
    h.run(1)
    assert h.verification(100 - uplink_auth.WINDOW) == []
    assert h.verification(99)[-1].stage == "completed"
    assert h.core.state.auth.rejected == {"too_old": 1}


def test_unknown_source_mallory_is_refused() -> None:
    h = Harness()
    h.run(2)
    h.ground.send(_frame(h, "exec.noop", 0, source="mallory"))  # even under the key
    forged = Sequencer("mallory").pack(Kind.COMMAND, h.mission_time_s,
                                       {"name": "exec.noop", "args": {}})
    h.uplink_raw(forged, seal=False)  # and without it
    h.uplink_raw(uplink_auth.seal(channel_auth.new_key(), 1, forged), seal=False)
    h.run(1)
    assert h.core.state.commands.accepted == 0
    assert h.core.state.auth.rejected == {"unknown_source": 1, "unauthenticated": 1,
                                          "bad_tag": 1}
    assert h.latest("exec.frames_rejected") == 3


def test_a_flipped_bit_is_a_bad_tag_never_another_command() -> None:
    h = Harness()
    h.run(2)
    frame = bytearray(_frame(h, "mode.set", 0, mode="SAFE"))
    frame[-3] ^= 0x01
    h.ground.send(bytes(frame))
    h.run(1)
    assert h.core.state.auth.rejected == {"bad_tag": 1}
    assert h.core.state.mode.mode != "SAFE"


def test_the_window_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    h = Harness(state_path=path)
    h.run(2)
    captured = _frame(h, "exec.noop", 7)
    h.ground.send(captured)
    h.run(2)
    h.shutdown()
    again = Harness(state_path=path)
    again.elapsed_s = h.elapsed_s
    again.run(2)
    again.ground.send(captured)
    again.run(1)
    assert again.core.state.commands.accepted == 1  # restored count, not a second run
    assert again.core.state.auth.rejected.get("duplicate") == 1
    assert again.verification(7)[-1].stage == "completed"  # the outcome, sent again


def test_key_rotation_switches_keys_and_retires_the_old_one_after_its_grace() -> None:
    h = Harness()
    h.run(2)
    new_key = channel_auth.new_key()
    wrapped = uplink_auth.wrap_key(h.key, 2, new_key)
    seq = h.command("auth.key_rotate", key_id=2, under=1, wrapped=wrapped)
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.latest("auth.key_id") == 2
    old_key = h.key
    h.key, h.key_id = new_key, 2
    seq = h.command("exec.noop")
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    h.key, h.key_id = old_key, 1  # still inside the grace window
    seq = h.command("exec.noop")
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    h.key, h.key_id = new_key, 2
    h.run(int(uplink_auth.KEY_GRACE_S) + 2)
    late = Sequencer("ground", start=99).pack(Kind.COMMAND, h.mission_time_s,
                                               {"name": "exec.noop", "args": {}})
    h.uplink_raw(uplink_auth.seal(old_key, 1, late), seal=False)
    h.run(1)
    assert h.verification(99) == []
    assert h.core.state.auth.rejected == {"retired_key": 1}


def test_a_rotation_wrapped_under_another_key_is_refused() -> None:
    h = Harness()
    h.run(2)
    wrapped = uplink_auth.wrap_key(channel_auth.new_key(), 2, channel_auth.new_key())
    seq = h.command("auth.key_rotate", key_id=2, under=1, wrapped=wrapped)
    h.run(1)
    last = h.verification(seq)[-1]
    assert last.stage == "failed" and "does not check" in last.reason
    assert h.latest("auth.key_id") == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), max_size=80))
def test_the_window_takes_each_number_at_most_once(seqs: list[int]) -> None:
    top, bitmap = -1, 0
    taken: list[int] = []
    for seq in seqs:
        verdict = uplink_auth.window_verdict(top, bitmap, seq)
        if verdict == "new":
            top, bitmap = uplink_auth.window_mark(top, bitmap, seq)
            taken.append(seq)
        elif verdict == "too_old":
            assert seq <= top - uplink_auth.WINDOW
        else:
            assert seq in taken
    assert len(taken) == len(set(taken))
    assert bitmap < 1 << uplink_auth.WINDOW
