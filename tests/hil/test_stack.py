"""The launcher's run directory: a new run keeps the last one's archive, bounded."""

from __future__ import annotations

import calendar
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import RUN_FILES, rotate_previous_run


def _fake_run(run_dir: Path, ended_utc: str) -> None:
    """The files a finished run leaves, last written at ``ended_utc`` (YYYYmmddTHHMMSSZ)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(run_dir / "archive.sqlite")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (?)", (ended_utc,))
    conn.commit()  # the row is in the -wal file only, not checkpointed
    for name in ("dictionary.json", "ground.log"):
        (run_dir / name).write_text(ended_utc)
    t = calendar.timegm(time.strptime(ended_utc, "%Y%m%dT%H%M%SZ"))
    for name in RUN_FILES:
        if (run_dir / name).exists():
            os.utime(run_dir / name, (t, t))
    _open.append(conn)  # kept open, as a SIGKILLed ground leaves it: the WAL stays


@pytest.fixture(autouse=True)
def _close_archives() -> Iterator[None]:
    yield
    for conn in _open:
        conn.close()
    _open.clear()


_open: list[sqlite3.Connection] = []


def test_a_first_run_has_nothing_to_move(tmp_path: Path) -> None:
    assert rotate_previous_run(tmp_path) == []
    assert not (tmp_path / "runs").exists()


def test_the_previous_archive_moves_with_its_wal_and_dictionary(tmp_path: Path) -> None:
    _fake_run(tmp_path, "20250622T090000Z")
    assert (tmp_path / "archive.sqlite-wal").exists()
    notes = rotate_previous_run(tmp_path)
    dest = tmp_path / "runs" / "20250622T090000Z"
    assert notes == [f"the previous run's archive is now {dest / 'archive.sqlite'}"]
    assert not (tmp_path / "archive.sqlite").exists()
    assert (dest / "dictionary.json").read_text() == "20250622T090000Z"
    assert (dest / "ground.log").exists()
    rows = sqlite3.connect(dest / "archive.sqlite").execute("SELECT x FROM t").fetchall()
    assert rows == [("20250622T090000Z",)]  # nothing lost: the WAL came along


def test_two_runs_ending_in_the_same_second_both_survive(tmp_path: Path) -> None:
    _fake_run(tmp_path, "20250622T090000Z")
    rotate_previous_run(tmp_path)
    _fake_run(tmp_path, "20250622T090000Z")
    rotate_previous_run(tmp_path)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "20250622T090000Z", "20250622T090000Z-2"]


def test_only_the_newest_runs_are_kept_and_the_removal_is_said(tmp_path: Path) -> None:
    (tmp_path / "runs" / "my-notes").mkdir(parents=True)  # not ours: never touched
    for minute in range(5):
        _fake_run(tmp_path, f"20250622T09{minute:02d}00Z")
        notes = rotate_previous_run(tmp_path, keep=3)
    kept = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert kept == ["20250622T090200Z", "20250622T090300Z", "20250622T090400Z", "my-notes"]
    assert len(notes) == 2 and "removed the oldest saved run" in notes[1]
    assert "20250622T090100Z" in notes[1] and "keeping the last 3" in notes[1]


def test_the_ground_is_started_on_the_stacks_archive_and_endpoints() -> None:
    from flightsw.stackinfo import StackInfo
    from hil.stack import ground_argv

    info = StackInfo(run_dir="/r", link="tcp://l", world="tcp://w", ops="tcp://o",
                     archive="/r/archive.sqlite")
    argv = ground_argv(info, lockstep=True)
    assert argv[1:3] == ["-m", "ground"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs["--link"] == "tcp://l" and pairs["--archive"] == "/r/archive.sqlite"
    assert pairs["--world"] == "tcp://w" and pairs["--ops"] == "tcp://o"
    assert pairs["--clock"] == "sim"
    assert ground_argv(info, lockstep=False)[-2:] == ["--clock", "real"]


def test_a_port_another_process_holds_cannot_break_a_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launcher chose a free loopback port for the space link and for the ground's
    ops socket and left the binding to the executive and the ground; a process taking
    the port in between (measured: a sim that would not start) failed the start, or
    worse, the ground connected to that stranger. The stack's own streams are now named
    Unix sockets: no port is chosen, so there is none to lose."""
    import socket

    import hil.stack
    from hil.stack import Stack, StackOptions

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = int(squatter.getsockname()[1])
        monkeypatch.setattr(hil.stack, "free_port", lambda: taken)  # the race, lost
        # a relay profile: the link is up from the start, so frames reach the ground
        stack = Stack.start(StackOptions(profile="orbital-dc-node", lockstep=True,
                                         duration_s=60.0, run_dir=tmp_path / "run"))
        try:
            stack.wait_lockstep(timeout_s=120.0)
            stack.wait_ground_drained()
        finally:
            stack.stop()
    assert f":{taken}" not in stack.info.link + stack.info.ops
    with sqlite3.connect(tmp_path / "run" / "archive.sqlite") as db:
        kept = db.execute("SELECT count(*) FROM telemetry").fetchone()[0]
    assert kept > 0, "the ground archived nothing from the executive"


def test_a_run_shorter_than_the_grounds_start_up_still_ends_with_the_ground(
        tmp_path: Path) -> None:
    """A 5 s lockstep scenario is over in milliseconds, before the ground process is up:
    it used to miss the plant's STOP in about half such runs and wait to be stopped (30
    s). The plant now starts once the ground has joined the world feed, so the ground
    sees the STOP and leaves by itself, with the scenario's records."""
    from hil.stack import Stack, StackOptions

    stack = Stack.start(StackOptions(profile="orbital-dc-node", lockstep=True,
                                     duration_s=5.0, run_dir=tmp_path / "run"))
    try:
        stack.wait_lockstep(timeout_s=60.0)
        stack.wait_ground_drained(timeout_s=20.0)
        left_by_itself = stack.procs["ground"].poll() is not None
    finally:
        stack.stop()
    log = (tmp_path / "run" / "ground.log").read_text()
    assert left_by_itself and "ground stopping: plant STOP" in log, log[-2000:]
