"""A turn that drains many simulated seconds decides what a turn per WORLD would: its
frames and WORLDs are taken in the order lockstep made them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightsw.uplink_auth import peel
from flightsw.wire import Envelope, Kind, Sequencer, decode
from ground.archive import WALL_COLUMN, Archive
from ground.arrival_order import frames_first, interleave
from ground.core import GroundCore, WallTime

from .conftest import DICTIONARY
from .test_core import T0, world_frame


def test_frames_go_after_the_world_they_were_sent_after() -> None:
    # WORLD 10 then frames stamped 9.1 and 10 (sent during its tick), WORLD 11, a frame
    # stamped 10.1 (the next tick), and a played-back record after it (old stamp)
    steps = interleave(["a", "b", "c", "old"], [9.1, 10.0, 10.1, 3.0],
                       ["w10", "w11"], [10.0, 11.0], previous_world_s=9.0)
    assert steps == [([], "w10"), (["a", "b"], "w11"), (["c", "old"], None)]


def test_frames_of_the_tick_before_come_first_and_unstamped_frames_keep_their_place(
) -> None:
    steps = interleave(["late", "x", "now"], [8.2, None, 9.5], ["w9"], [9.0],
                       previous_world_s=8.0)
    assert steps == [([], "w9"), (["late", "x", "now"], None)]
    steps = interleave(["x", "prev"], [None, 9.0], ["w10"], [10.0], previous_world_s=9.0)
    assert steps == [(["x", "prev"], "w10"), ([], None)]


@pytest.mark.parametrize("world_times, previous", [
    ([10.0, 10.0], 9.0),  # not increasing
    ([11.0, 10.0], 9.0),  # backwards: a restarted plant
    ([10.0, None], 9.0),  # unreadable
    ([5.0], 9.0),  # before the WORLD of the turn before
])
def test_worlds_out_of_order_fall_back_to_frames_first(
        world_times: list[float | None], previous: float) -> None:
    worlds = [f"w{k}" for k in range(len(world_times))]
    steps = interleave(["a"], [12.0], worlds, world_times, previous_world_s=previous)
    assert steps == frames_first(["a"], worlds)
    assert steps[0] == (["a"], "w0") and steps[-1] == ([], None)


def test_every_input_comes_back_once_in_its_own_order() -> None:
    frames = [f"f{k}" for k in range(50)]
    stamps: list[float | None] = [None if k % 7 == 0 else 100 + (k * 37) % 20 for k in
                                  range(50)]
    worlds = [f"w{k}" for k in range(12)]
    steps = interleave(frames, stamps, worlds, [100.0 + 2 * k for k in range(12)], 99.0)
    assert [f for sent, _ in steps for f in sent] == frames
    assert [w for _, w in steps if w is not None] == worlds
    assert steps[-1][1] is None
    with pytest.raises(ValueError):
        interleave(frames, stamps[:-1], worlds, [1.0] * 12, None)


def lockstep() -> Iterator[tuple[str, bytes]]:
    """What a lockstep sim sends the ground, in the order it is made: WORLD t, then the
    records of the flight's tick t (stamped in (t - 1, t]), only in contact; a pass with
    a played-back record and an event."""
    plant, fl = Sequencer("plant"), Sequencer("flight")
    for k in range(30):
        t = T0 + k
        in_contact = 5 <= k <= 20
        yield "world", world_frame(plant, t, in_contact)
        if in_contact:
            if k == 5:
                yield "down", fl.pack(Kind.HELLO, t, {
                    "dictionary_hash": DICTIONARY.hash,
                    "dictionary_version": DICTIONARY.version, "boot_id": 1,
                    "boot_mission_time_s": T0 - 100, "first_seq": 0,
                    "seq_continued": False})
            yield "down", fl.pack(Kind.TELEMETRY, t - 0.9, {"points": {"k": k}})
            yield "down", fl.pack(Kind.TELEMETRY, t, {"points": {"k": k, "end": 1}})
            if k == 7:
                yield "down", fl.pack(Kind.EVENT, T0 - 50, {"name": "old", "args": {}})


def run(path: Path, turns: list[list[tuple[str, bytes]]]) -> tuple[GroundCore, list[Envelope]]:
    core = GroundCore(DICTIONARY, Archive(path), clock="sim")
    up: list[Envelope] = []
    wall_s = 0.0

    def wall() -> WallTime:
        nonlocal wall_s
        wall_s += 0.01
        return WallTime(wall_s, T0 + wall_s)

    def send(frame: bytes) -> bool:
        up.append(decode(peel(frame)))
        return True

    for turn in turns:
        core.take_turn([m for kind, m in turn if kind == "down"],
                       [m for kind, m in turn if kind == "world"], wall, send)
        core.pump_uplink(send, wall())
        core.end_turn(wall())
        core.archive.flush()
    core.finish()
    core.archive.close()
    return core, up


def archived(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        out = {}
        for table in ("telemetry", "events", "hellos", "meta"):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")
                    if r[1] not in (WALL_COLUMN, "id")]
            out[table] = conn.execute(f"SELECT {', '.join(cols)} FROM {table} "
                                      f"ORDER BY {', '.join(cols)}").fetchall()
        return out
    finally:
        conn.close()


@pytest.mark.parametrize("per_turn", [3, 7, 100])
def test_a_turn_of_many_worlds_decides_what_a_turn_per_message_does(
        tmp_path: Path, per_turn: int) -> None:
    messages = list(lockstep())
    one, up_one = run(tmp_path / "one.sqlite", [[m] for m in messages])
    batched, up_batched = run(tmp_path / "batch.sqlite",
                              [messages[i:i + per_turn]
                               for i in range(0, len(messages), per_turn)])
    assert one.mission.records["tlm"] == 32 == batched.mission.records["tlm"]
    assert one.station.counters.downlink_dropped_los == 0
    assert batched.station.counters.downlink_dropped_los == 0
    assert batched.station.counters.downlink_edge == one.station.counters.downlink_edge
    # the same rows, receive stamps and realtime flags included, and the HELLO sent at
    # AOS stamped with the AOS time (taken frames first, a turn stamped it with its
    # last WORLD's and judged the AOS second's records out of contact)
    assert archived(tmp_path / "batch.sqlite") == archived(tmp_path / "one.sqlite")
    hellos = [(e.seq, e.time_s) for e in up_batched if e.kind is Kind.HELLO]
    assert hellos == [(e.seq, e.time_s) for e in up_one if e.kind is Kind.HELLO]
    assert hellos[0] == (0, T0 + 5)

