"""The ground's pure core on the sim clock: same inputs, same archive, whatever the wall."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from flightsw.uplink_auth import peel
from flightsw.wire import Envelope, Kind, Sequencer, decode
from ground.__main__ import config_from_args, parse_args
from ground.archive import WALL_COLUMN, Archive
from ground.core import GroundCore, WallTime, frame_time_s
from ground.errors import GroundError
from ground.ops_service import pack, unpack

from .conftest import DICTIONARY

T0 = 1.8e9


class Uplinked(list[Envelope]):
    """What the ground sent up, decoded: ``send`` is the sender to hand the core."""

    def send(self, frame: bytes) -> bool:
        self.append(decode(peel(frame)))
        return True

    def hello_times(self) -> list[float]:
        return [e.time_s for e in self if e.kind is Kind.HELLO]


def world_frame(seq: Sequencer, t: float, in_contact: bool) -> bytes:
    return seq.pack(Kind.WORLD, t, {"time_utc_s": t, "in_contact": in_contact,
                                    "station": "weilheim" if in_contact else "",
                                    "elevation_deg": 20.0 if in_contact else -5.0})


def script() -> Iterator[tuple[str, Any]]:
    """A pass: out of contact, AOS, HELLOs, telemetry, a command and its verification,
    garbage, an out-of-range record, LOS with a frame in the edge race."""
    plant, fl = Sequencer("plant"), Sequencer("flight")
    yield "ops", {"op": "cmd", "name": "exec.hk_period_set", "args": {"period_s": 2.0}}
    for k in range(14):
        t = T0 + k
        in_contact = 3 <= k <= 8
        yield "world", world_frame(plant, t, in_contact)
        if k == 2:  # made in the last second before AOS: held, then delivered at AOS
            yield "down", [fl.pack(Kind.TELEMETRY, t, {"points": {"exec.uptime_s": 2.0}})]
        if k == 4:
            yield "down", [fl.pack(Kind.HELLO, t, {"dictionary_hash": DICTIONARY.hash,
                                                   "dictionary_version": DICTIONARY.version})]
        if in_contact:
            yield "down", [fl.pack(Kind.TELEMETRY, t, {"points": {
                "power.battery_soc_pct": 50.0 + k, "mode.current": "NOMINAL"}})]
        if k == 5:
            yield "down", [
                fl.pack(Kind.VERIFICATION, t, {"cmd_seq": 0, "name": "exec.hk_period_set",
                                               "stage": "accepted", "reason": ""}),
                b"\xc1garbage",
                fl.pack(Kind.VERIFICATION, t, {"cmd_seq": 2**64 - 1, "name": "x",
                                               "stage": "completed", "reason": ""}),
                fl.pack(Kind.EVENT, t, {"name": "mode.changed", "severity": "ACTIVITY_HI",
                                        "text": "to NOMINAL", "args": {"to": "NOMINAL"}}),
                fl.pack(Kind.VERIFICATION, t, {"cmd_seq": 0, "name": "exec.hk_period_set",
                                               "stage": "completed", "reason": "ok"})]
        if k == 9:  # just after LOS: inside the edge grace
            yield "down", [fl.pack(Kind.TELEMETRY, t - 1, {"points": {"exec.uptime_s": 8.0}})]
        if k == 13:  # long after LOS: dropped, counted
            yield "down", [fl.pack(Kind.TELEMETRY, t, {"points": {"exec.uptime_s": 13.0}})]
        yield "pump", None


def run_once(path: Path, wall_offset_s: float) -> tuple[GroundCore, list[Envelope]]:
    """Drive the core through the script; wall time runs at its own pace from an offset."""
    core = GroundCore(DICTIONARY, Archive(path), clock="sim")
    uplinked: list[Envelope] = []
    wall_s = wall_offset_s

    def wall() -> WallTime:
        nonlocal wall_s
        wall_s += 0.37  # wall time passes at a pace unrelated to the spacecraft's
        return WallTime(wall_s, T0 + wall_s)

    def send(frame: bytes) -> bool:
        uplinked.append(decode(peel(frame)))
        return True

    for kind, item in script():
        if kind == "world":
            core.on_world(item, wall())
        elif kind == "down":
            core.on_downlink(item, wall())
        elif kind == "ops":
            assert unpack(core.on_ops(pack(item), wall()))["ok"]
        else:
            core.on_downlink([], wall())
            core.pump_uplink(send, wall())
        core.end_turn(wall())
        core.archive.flush()
    core.finish()
    core.archive.close()
    return core, uplinked


def archive_content(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                    if r[1] != WALL_COLUMN]
            out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} "
                                      "ORDER BY rowid").fetchall()
        return out
    finally:
        conn.close()


def test_two_sim_clock_runs_archive_the_same_whatever_the_wall(tmp_path: Path) -> None:
    first, up1 = run_once(tmp_path / "one.sqlite", wall_offset_s=0.0)
    second, up2 = run_once(tmp_path / "two.sqlite", wall_offset_s=5_000.0)
    one, two = archive_content(tmp_path / "one.sqlite"), archive_content(tmp_path / "two.sqlite")
    assert one == two
    assert [(e.kind, e.seq, e.time_s, dict(e.body)) for e in up1] == [
        (e.kind, e.seq, e.time_s, dict(e.body)) for e in up2]
    # and the runs did something worth comparing
    assert len(one["telemetry"]) >= 8 and len(one["link_errors"]) == 1
    assert len(one["quarantine"]) == 1  # decoded, but its cmd_seq is out of range
    assert [e.kind for e in up1 if e.kind is not Kind.ACK] == [Kind.HELLO, Kind.COMMAND]
    assert any(e.kind is Kind.ACK for e in up1)  # what arrived is acknowledged
    [cmd] = one["commands"]
    assert cmd[3] == "completed"
    # every ground-clock time is spacecraft time from WORLD, never the wall
    conn = sqlite3.connect(tmp_path / "one.sqlite")
    rx = [r[0] for r in conn.execute("SELECT rx_s FROM telemetry")]
    wall = [r[0] for r in conn.execute(f"SELECT {WALL_COLUMN} FROM telemetry")]
    mission_now = conn.execute("SELECT value FROM meta WHERE key = 'mission_now_s'").fetchone()
    conn.close()
    assert all(T0 + 3 <= t <= T0 + 9 for t in rx)
    assert all(w is not None and w > T0 + 1 for w in wall)
    assert float(mission_now[0]) == T0 + 13
    assert first.station.counters.downlink_dropped_los == 1
    assert second.station.counters.downlink_edge == 2  # one held at AOS, one after LOS


def test_on_the_sim_clock_wall_time_alone_repeats_no_hello_and_expires_nothing(
        tmp_path: Path) -> None:
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim")
    plant, fl = Sequencer("plant"), Sequencer("flight")
    sent: list[Envelope] = []

    def send(frame: bytes) -> bool:
        sent.append(decode(peel(frame)))
        return True

    core.on_world(world_frame(plant, T0, False), WallTime(0.0, T0))
    core.on_downlink([fl.pack(Kind.TELEMETRY, T0, {"points": {"exec.uptime_s": 1.0}})],
                     WallTime(0.0, T0))
    core.on_world(world_frame(plant, T0 + 1, True), WallTime(1.0, T0 + 1))
    for wall_s in (10.0, 100.0, 1000.0):  # an hour of wall time, no spacecraft time
        core.on_downlink([], WallTime(wall_s, T0 + wall_s))
        core.pump_uplink(send, WallTime(wall_s, T0 + wall_s))
    hellos = [e for e in sent if e.kind is Kind.HELLO]
    assert len(hellos) == 1  # once: the spacecraft's clock stood
    assert hellos[0].time_s == T0 + 1
    assert [e.kind for e in sent if e.kind is not Kind.HELLO] == [Kind.ACK]  # the packet
    assert core.station.counters.downlink_delivered == 1  # held frame went through at AOS
    for k in range(2, 8):
        core.on_world(world_frame(plant, T0 + k, True), WallTime(1000.0, T0))
        core.on_downlink([fl.pack(Kind.TELEMETRY, T0 + k, {"points": {"k": k}})],
                         WallTime(1000.0, T0))
        core.pump_uplink(send, WallTime(1000.0, T0))
    # repeated after 5 sim seconds (of the link's: no answer among its records)
    assert [e.time_s for e in sent if e.kind is Kind.HELLO] == [T0 + 1, T0 + 6]


def test_a_world_from_the_past_does_not_turn_the_clock_back(tmp_path: Path) -> None:
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim")
    plant = Sequencer("plant")
    core.on_world(world_frame(plant, T0 + 10, False), WallTime(0.0, 0.0))
    core.on_world(world_frame(plant, T0, False), WallTime(0.0, 0.0))
    assert core.now(WallTime(99.0, 99.0)) == (T0 + 10, T0 + 10)
    assert core.world_backwards == 1


def test_ground_takes_a_clock_flag(tmp_path: Path) -> None:
    base = ["--link", "tcp://127.0.0.1:1", "--ops", "tcp://127.0.0.1:2",
            "--archive", str(tmp_path / "a.sqlite")]
    cfg, _ = config_from_args(parse_args([*base, "--world", "tcp://127.0.0.1:3",
                                          "--clock", "sim"]))
    assert cfg.clock == "sim" and cfg.edge_grace_s is None
    cfg, _ = config_from_args(parse_args(base))
    assert cfg.clock == "real"
    with pytest.raises(GroundError, match="needs a plant"):
        config_from_args(parse_args([*base, "--clock", "sim"]))
    with pytest.raises(SystemExit):
        parse_args([*base, "--clock", "wall"])


@pytest.mark.parametrize("ops, local", [
    ("tcp://127.0.0.1:5604", True), ("tcp://localhost:5604", True),
    ("tcp://[::1]:5604", True), ("ipc:///tmp/ground.ops", True),
    ("tcp://*:5604", False), ("tcp://0.0.0.0:5604", False), ("tcp://10.0.0.5:5604", False),
])
def test_the_ops_port_stays_on_loopback_unless_asked(tmp_path: Path, ops: str,
                                                     local: bool) -> None:
    argv = ["--link", "tcp://127.0.0.1:1", "--ops", ops, "--archive", str(tmp_path / "a")]
    if local:
        assert config_from_args(parse_args(argv))[0].ops == ops
    else:
        with pytest.raises(GroundError, match="must be loopback"):
            config_from_args(parse_args(argv))
        assert config_from_args(parse_args([*argv, "--allow-remote-ops"]))[0].ops == ops


def test_a_damaged_command_row_does_not_stop_the_ground(tmp_path: Path) -> None:
    from ground.mission_control import MissionControl

    first = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    for _ in range(3):
        first.submit("exec.noop", {}, now_s=T0)
    first.archive.close()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    conn.execute("UPDATE commands SET args_json = '{broken' WHERE cmd_seq = 1")
    conn.execute("UPDATE commands SET stage = 'warp' WHERE cmd_seq = 2")
    conn.commit()
    conn.close()
    second = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    assert [r.cmd_seq for r in second.commands.queued()] == [0]
    assert second.archive.stats()["unreadable_commands"] == [1]
    assert second.submit("exec.noop", {}, now_s=T0).cmd_seq == 3  # numbering goes on


def test_sim_clock_follows_the_downlink_within_bounds(tmp_path: Path) -> None:
    """A record stamped t means spacecraft time has reached t (WORLD may lag on its own
    socket), but played-back records and absurd stamps do not move the clock."""
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim")
    plant, fl = Sequencer("plant"), Sequencer("flight")
    wall = WallTime(0.0, 0.0)

    def tlm(t: float) -> bytes:
        return fl.pack(Kind.TELEMETRY, t, {"points": {"exec.uptime_s": t - T0}})

    core.on_world(world_frame(plant, T0, True), wall)
    core.on_downlink([tlm(T0 - 500), tlm(T0 + 3)], wall)  # playback, then a fresh record
    assert core.now(wall) == (T0 + 3, T0 + 3)
    core.on_downlink([tlm(T0 + 100_000), tlm(T0 - 100)], wall)  # absurd lead, old record
    assert core.now(wall)[1] == T0 + 3
    core.on_world(world_frame(plant, T0 + 2, True), wall)  # a lagging WORLD
    assert core.now(wall)[1] == T0 + 3
    core.on_world(world_frame(plant, T0 + 5, True), wall)
    assert core.now(wall)[1] == T0 + 5
    core.archive.flush()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    rx = [r[0] - T0 for r in conn.execute("SELECT rx_s FROM telemetry ORDER BY id")]
    conn.close()
    assert rx == [0, 3, 3, 3]  # a record is never received before it was made (fresh)


@pytest.mark.parametrize("frame, expected", [
    (Sequencer("f").pack(Kind.TELEMETRY, T0, {"points": {"x": [1] * 5000}}), T0),
    (b"", None), (b"\x96\x01", None), (b"\x96" + b"\x91" * 5000, None),
    (b"\x96\x01\xa3tlm\xa1f\x00\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x80", None),  # NaN
    (b"\x96\x01\xa3tlm\xa1f\x00\xc3\x80", None),  # True is not a time
    (b"\x95\x01\xa3tlm\xa1f\x00\x01", None),
])
def test_frame_time_reads_only_the_header(frame: bytes, expected: float | None) -> None:
    from ground.core import frame_time_s
    assert frame_time_s(frame) == expected


def test_sim_receive_stamp_is_the_links_time_never_before_the_latest_aos(
        tmp_path: Path) -> None:
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim")
    plant, fl = Sequencer("plant"), Sequencer("flight")
    wall = WallTime(0.0, 0.0)
    core.on_world(world_frame(plant, T0, True), wall)
    core.on_downlink([fl.pack(Kind.TELEMETRY, T0, {"points": {"a": 1}})], wall)
    for k in range(1, 100):  # a long LOS; WORLD runs ahead meanwhile
        core.on_world(world_frame(plant, T0 + k, False), wall)
    core.on_world(world_frame(plant, T0 + 100, True), wall)  # AOS
    for k in range(101, 110):
        core.on_world(world_frame(plant, T0 + k, True), wall)  # WORLD ahead of the link
    core.on_downlink([fl.pack(Kind.EVENT, T0 + 50, {"name": "x", "args": {}}),  # playback
                      fl.pack(Kind.TELEMETRY, T0 + 101, {"points": {"a": 2}})], wall)
    core.archive.flush()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    assert [r[0] - T0 for r in conn.execute("SELECT rx_s FROM events")] == [100]
    assert [r[0] - T0 for r in conn.execute("SELECT rx_s FROM telemetry")] == [0, 101]
    conn.close()


def test_after_a_plant_stop_the_link_runs_on_the_wall_but_mission_time_stands(
        tmp_path: Path) -> None:
    """The executive drains its recorder after the STOP: frames delayed by the link must
    still arrive, and acknowledgements still go up; the spacecraft's time has stopped."""
    from ground.link_physics import ChannelSpec, LinkPhysics

    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim",
                      link_physics=LinkPhysics(down=ChannelSpec(latency_s=0.5)))
    plant, fl = Sequencer("plant"), Sequencer("flight")
    core.on_world(world_frame(plant, T0, True), WallTime(100.0, 0.0))
    core.on_world(plant.pack(Kind.STOP, T0, {"reason": "done"}), WallTime(100.0, 0.0))
    frame = fl.pack(Kind.EVENT, T0, {"name": "exec.shutdown", "args": {}})
    assert core.on_downlink([frame], WallTime(100.0, 0.0)) == 0  # on its way
    assert core.on_downlink([], WallTime(100.6, 0.0)) == 1  # the wall moved the link on
    assert core.mission_now_s(WallTime(100.6, 0.0)) == T0


@pytest.mark.parametrize("header", [
    [1, "tlm", "flight", 0, T0 + 0.5],
    [1, "tlm", "flight", 200, T0],  # seq in one byte
    [1, "evt", "flight", 70_000, T0 - 3.25],  # four bytes
    [1, "world", "plant", (1 << 63) - 1, T0],  # eight bytes
    [1, "tlm", "flight", 5, 1_800_000_000],  # an integer time
    [1, "tlm", "f" * 40, 5, T0],  # a source longer than a fixstr
    [300, "tlm", "flight", 5, T0],  # a version beyond a fixint
    [1, "tlm", "flight", -1, T0],  # a negative seq (mission control refuses the frame)
    [1, "tlm", "flight", 5, float("nan")],
    [1, "tlm", "flight", 5, float("inf")],
    [1, "tlm", "flight", 5, "soon"],
    [1, "tlm", "flight", 5],  # too short an envelope
])
def test_frame_time_reads_the_header_however_it_is_packed(header: list[Any]) -> None:
    frame = msgpack.packb([*header, {"points": {}}] if len(header) == 5 else header)
    t = header[4] if len(header) == 5 else None
    want = (float(t) if isinstance(t, (int, float)) and math.isfinite(t) else None)
    assert frame_time_s(frame) == want
    for cut in range(len(frame)):  # cut short anywhere: a stamp only if it is all there
        got = frame_time_s(frame[:cut])
        assert got is None or got == want


def test_on_the_sim_clock_a_hello_waits_for_the_link_not_for_world_time(
        tmp_path: Path) -> None:
    """The WORLD feed can run seconds ahead of the downlink: a HELLO the flight has not
    answered yet is said again once the link is HELLO_RETRY_S past it, not the clock
    (a lockstep run archived a second HELLO when its link lagged, another did not)."""
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim")
    plant, fl = Sequencer("plant"), Sequencer("flight")
    up = Uplinked()
    send, hellos = up.send, up.hello_times
    wall = WallTime(0.0, 0.0)
    for k in range(12):  # AOS, then eleven seconds of WORLD with the link behind
        core.take_turn([], [world_frame(plant, T0 + k, True)], lambda: wall, send)
        core.pump_uplink(send, wall)
    assert hellos() == [T0]  # on WORLD time it was said again at T0 + 5
    for k in range(1, 7):  # the link catches up: housekeeping, no answer to the HELLO
        core.on_downlink([fl.pack(Kind.TELEMETRY, T0 + k, {"points": {"k": k}})], wall)
        core.pump_uplink(send, wall)
    assert hellos() == [T0, T0 + 11]  # the link is five seconds past it: again
    core.archive.close()


def test_on_the_wall_clock_a_hello_is_said_again_after_five_seconds(
        tmp_path: Path) -> None:
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="real",
                      always_in_contact=True)
    up = Uplinked()
    for wall_s in (0.0, 1.0, 4.9, 5.1, 6.0):
        core.pump_uplink(up.send, WallTime(wall_s, T0 + wall_s))
    assert up.hello_times() == [T0, T0 + 5.1]
    core.archive.close()


def test_on_the_sim_clock_nothing_goes_up_before_spacecraft_time_is_known(
        tmp_path: Path) -> None:
    """An open uplink before the first WORLD or downlink frame (a relay, or no world
    feed) once sent a HELLO stamped 0.0 - the epoch - which the archive kept as an
    uplink at 1970; it now waits for the spacecraft's time."""
    core = GroundCore(DICTIONARY, Archive(tmp_path / "a.sqlite"), clock="sim",
                      always_in_contact=True)
    up = Uplinked()
    wall = WallTime(5.0, 5.0)
    assert core.station.uplink_open
    assert core.pump_uplink(up.send, wall) == 0 and up == []
    core.on_world(world_frame(Sequencer("plant"), T0, True), wall)
    core.pump_uplink(up.send, wall)
    assert up.hello_times() == [T0]
    core.archive.close()
    hellos = sqlite3.connect(tmp_path / "a.sqlite").execute(
        "SELECT time_s FROM hellos WHERE direction = 'up'").fetchall()
    assert hellos == [(T0,)]
