"""Commanding end to end, in process: the real ground core (mission control, ops API,
station with link physics) and the real executive (harness), on the sim clock.

What each test shows: a command lost on the uplink goes again under its number and runs
exactly once; a held command waits whatever passes come; a hazardous command needs a
confirmation; a key rotation switches both ends; the verification arrives in the fast
cycle that ran the command; the ops API refuses to stop the ground without the token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flightsw import keyring
from flightsw.harness import EPOCH_S
from flightsw.wire import Kind, Sequencer, decode
from ground.command_log import MAX_SENDS, Stage
from ground.link_physics import ChannelSpec, LinkPhysics
from ground.uplink_keys import UplinkKeys
from tests.test_link_lossless import LinkBench, _cfg

TOKEN = "t" * 64


def _bench(tmp_path: Path, physics: LinkPhysics | None = None) -> LinkBench:
    bench = LinkBench(tmp_path, physics or LinkPhysics(seed=1), _cfg(recorder_bytes=8 << 20))
    bench.core.ops.token = TOKEN
    return bench


def _op(bench: LinkBench, **request: Any) -> dict[str, Any]:
    return bench.core.ops.handle({"token": TOKEN, **request}, 0.0, 0.0)


def _stage(bench: LinkBench, cmd_seq: int) -> str:
    rec = bench.core.mission.commands.get(cmd_seq)
    assert rec is not None
    return rec.stage.value


def test_commands_lost_on_the_uplink_go_again_and_run_exactly_once(tmp_path: Path) -> None:
    lossy_up = ChannelSpec(latency_s=0.02, rate_bps=9600, loss=0.35)  # 20 commands
    bench = _bench(tmp_path, LinkPhysics(up=lossy_up, seed=11))
    bench.fly(5, in_contact=True)
    seqs = [_op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"] for _ in range(20)]
    bench.fly(60, in_contact=True)
    records = [bench.core.mission.commands.get(s) for s in seqs]
    assert all(r is not None and r.stage.value == "completed" for r in records), [
        (r.cmd_seq, r.stage.value, r.sends) for r in records if r is not None]
    assert bench.h.core.state.commands.accepted == 20  # exactly once each, onboard
    assert bench.core.mission.retries > 0  # some went up more than once
    assert max(r.sends for r in records if r is not None) <= MAX_SENDS
    assert bench.link.counters()["up"]["lost"] > 0
    # every stage a command passes through is in its record, in order
    times = records[0].stage_times_s if records[0] is not None else {}
    assert list(times) == ["queued", "sent", "received", "accepted", "started", "completed"]


def test_a_retry_of_a_command_that_did_arrive_is_a_counted_duplicate(tmp_path: Path) -> None:
    """The original arrived but the ground heard nothing in time (its reports were slow):
    the copy is not run again, and the flight sends its verification again."""
    bench = _bench(tmp_path)
    bench.fly(5, in_contact=True)
    seq = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    rec = bench.core.mission.commands.get(seq)
    assert rec is not None
    bench.fly(2, in_contact=True)  # up at the end of the first second, run in the next
    assert bench.h.core.state.commands.accepted == 1
    rec.stage = Stage.SENT  # as if no report had come: the ground retries
    rec.last_sent_s = -1e9
    bench.fly(3, in_contact=True)
    assert rec.sends == 2 and rec.stage.value == "completed"
    assert bench.h.core.state.commands.accepted == 1
    assert bench.h.core.state.auth.rejected.get("duplicate") == 1


def test_held_commands_wait_released_go_cancelled_never_run(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    bench.fly(5, in_contact=False)
    a, b, c = (_op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"] for _ in range(3))
    assert _op(bench, op="hold", cmd_seq=b)["command"]["stage"] == "held"
    assert _op(bench, op="cancel", cmd_seq=c)["ok"]
    queue = _op(bench, op="queue")
    assert [r["cmd_seq"] for r in queue["queued"]] == [a]
    assert [r["cmd_seq"] for r in queue["held"]] == [b]
    bench.fly(10, in_contact=True)
    assert (_stage(bench, a), _stage(bench, b), _stage(bench, c)) == (
        "completed", "held", "failed")
    refused = _op(bench, op="release", cmd_seq=a)
    assert not refused["ok"] and "already finished" in refused["error"]
    assert _op(bench, op="release", cmd_seq=b)["command"]["stage"] == "queued"
    bench.fly(5, in_contact=True)
    assert _stage(bench, b) == "completed"
    assert bench.h.core.state.commands.accepted == 2  # the cancelled one never went up


def test_a_hazardous_command_needs_confirmation(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    bench.fly(5, in_contact=True)
    assert bench.core.mission.dictionary.commands["mode.set"].hazardous
    refused = _op(bench, op="cmd", name="mode.set", args={"mode": "SAFE"})
    assert not refused["ok"] and "hazardous" in refused["error"]
    assert "--confirm" in refused["error"]
    assert bench.core.mission.commands.next_seq == 0  # nothing queued
    not_true = _op(bench, op="cmd", name="mode.set", args={"mode": "SAFE"}, confirm="yes")
    assert not not_true["ok"]
    done = _op(bench, op="cmd", name="mode.set", args={"mode": "SAFE"}, confirm=True)
    bench.fly(3, in_contact=True)
    assert _stage(bench, done["cmd_seq"]) == "completed"
    assert bench.h.core.state.mode.mode == "SAFE"


def test_key_rotation_switches_ground_and_flight(tmp_path: Path) -> None:
    bench = _bench(tmp_path)
    key_dir = tmp_path / "keys"
    key_dir.mkdir(mode=0o700)
    keyring.write_key(key_dir, 1, bench.h.key)
    bench.core.mission.uplink = UplinkKeys.from_dir(key_dir)
    bench.fly(5, in_contact=True)
    rotation = _op(bench, op="rotate_key")
    assert rotation["key_id"] == 2 and "wrapped" in rotation["command"]["args"]
    assert (key_dir / "uplink-2.pending").stat().st_mode & 0o777 == 0o600
    assert bench.core.mission.uplink.current_id == 1  # not before the flight confirms
    bench.fly(3, in_contact=True)
    assert _stage(bench, rotation["cmd_seq"]) == "completed"
    assert bench.core.mission.uplink.current_id == 2
    assert bench.h.core.state.auth.current_id == 2
    assert sorted(keyring.load(key_dir)) == [1, 2]
    seq = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    bench.fly(2, in_contact=True)
    assert _stage(bench, seq) == "completed"
    assert bench.h.core.state.commands.accepted == 2 and bench.h.core.state.auth.rejected == {}
    # the key in clear never went into the archive: only its wrapped form
    assert keyring.load(key_dir)[2].hex() not in str(rotation)


def test_the_verification_leaves_in_the_tick_that_ran_the_command(
        tmp_path: Path) -> None:
    """Both reports are made in the fast cycle that ran the command and leave with that
    tick's frames (lockstep sends a tick's frames once the plant has its answer), not a
    second or a cycle later."""
    bench = _bench(tmp_path)
    bench.fly(5, in_contact=True)
    sent_in: list[tuple[float, bytes]] = []
    transport = bench.h.executive.link
    plain_send = transport.send

    def send(frame: bytes) -> bool:
        sent_in.append((bench.h.elapsed_s, frame))  # the plant tick being answered
        return plain_send(frame)

    transport.send = send  # type: ignore[method-assign]
    seq = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    bench.fly(2, in_contact=True)
    reports: dict[str, tuple[float, float]] = {}
    for tick, frame in sent_in:
        env = decode(frame)
        if env.kind is Kind.VERIFICATION and env.body["cmd_seq"] == seq:
            reports.setdefault(env.body["stage"], (tick, env.time_s))
    received_tick, received_s = reports["received"]
    completed_tick, completed_s = reports["completed"]
    assert completed_tick == received_tick and completed_s == received_s  # one cycle
    tick_s = EPOCH_S + completed_tick
    assert tick_s - 1 < completed_s <= tick_s  # made in the tick it left with


def test_a_ground_whose_numbering_is_behind_numbers_on_above_the_flight(
        tmp_path: Path) -> None:
    """A ground on a new archive would number from 0 while the flight's window has taken
    up to #500: every command would be refused as a replay. The flight's HELLO says its
    highest; the ground numbers on above it, and fails what it had queued below it."""
    bench = _bench(tmp_path)
    bench.h.core.state.auth.windows["ground"] = [500, 1]  # as restored from its record
    bench.fly(3, in_contact=False)
    early = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    assert early == 0
    bench.fly(3, in_contact=True)  # AOS: HELLO, with the flight's highest number
    rec = bench.core.mission.commands.get(early)
    assert rec is not None and rec.stage.value == "failed"
    assert "up to #500" in rec.reason and "submit it again" in rec.reason
    later = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    assert later == 501
    bench.fly(2, in_contact=True)
    assert _stage(bench, later) == "completed"
    assert bench.h.core.state.auth.rejected == {}  # nothing went up to be refused


def test_a_command_never_answered_says_so_after_its_last_send(tmp_path: Path) -> None:
    bench = _bench(tmp_path, LinkPhysics(up=ChannelSpec(loss=1.0), seed=2))
    bench.fly(3, in_contact=True)
    bench.core.mission.hash_state = "match"  # the flight's HELLO came; the uplink is dead
    seq = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    bench.fly(60, in_contact=True)
    rec = bench.core.mission.commands.get(seq)
    assert rec is not None and rec.stage.value == "sent" and rec.sends == MAX_SENDS
    assert "no report from the spacecraft after 8 sends" in rec.reason


def test_a_ground_that_missed_the_rotation_report_switches_on_housekeeping(
        tmp_path: Path) -> None:
    """The flight completed auth.key_rotate but its report went to an earlier ground
    process: the key id in housekeeping tells this one to switch before the old key's
    grace runs out."""
    bench = _bench(tmp_path)
    bench.fly(3, in_contact=True)
    args = bench.core.mission.uplink.begin_rotation()  # pending at this ground
    # sent by the ground process that then died (its own numbering: #10)
    bench.h.uplink_raw(Sequencer("ground", start=10).pack(
        Kind.COMMAND, bench.h.mission_time_s, {"name": "auth.key_rotate", "args": args}))
    bench.fly(3, in_contact=True)
    assert bench.h.core.state.auth.current_id == 2
    assert bench.core.mission.uplink.current_id == 2  # from auth.key_id in housekeeping
    seq = _op(bench, op="cmd", name="exec.noop", args={})["cmd_seq"]
    bench.fly(2, in_contact=True)
    assert _stage(bench, seq) == "completed"
    assert bench.h.core.state.commands.accepted == 2 and bench.h.core.state.auth.rejected == {}
