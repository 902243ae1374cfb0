"""The archive: one row per record, quarantine, realtime flags, schema versions, queries,
export, file permissions."""

from __future__ import annotations

import csv
import io
import math
import sqlite3
import stat
from pathlib import Path

import msgpack
import pytest

from flightsw.wire import Kind, Sequencer
from ground import archive as archive_mod
from ground import archive_reader
from ground.archive import SCHEMA_VERSION, Archive, ArchiveVersionError
from ground.archive_query import open_archive
from ground.archive_reader import ArchiveReader
from ground.cli import main as ground_cli
from ground.mission_control import MissionControl

from .conftest import DICTIONARY

T0 = 1.8e9


def raw(kind: str, seq: int, time_s: float, body: object) -> bytes:
    """An envelope packed without the encoder's checks (what a broken flight could send)."""
    data: bytes = msgpack.packb([1, kind, "flight", seq, time_s, body], use_bin_type=True)
    return data


def hk(i: int) -> dict[str, object]:
    return {"points": {"exec.uptime_s": float(i), "mode.current": "NOMINAL",
                       "power.battery_soc_pct": 50.0 + (i % 10)}}


def test_a_bad_record_in_a_4000_record_commit_costs_only_itself(tmp_path: Path) -> None:
    """The issue's defect: one verification with cmd_seq >= 2**63 discarded its whole
    commit (2,919 of 4,000 good records lost while the counters said all were archived).
    Now it is quarantined alone, with its reason, and the other 3,999 are archived."""
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    rec = mc.submit("exec.noop", {}, now_s=T0)
    mc.commands.mark_sent(rec, T0)
    for seq in range(4000):
        t = T0 + seq
        if seq == 2081:
            frame = raw("ver", seq, t, {"cmd_seq": 2**63, "stage": "completed"})
        elif seq % 4 == 0:
            frame = raw("evt", seq, t, {"name": "x.y", "severity": "ACTIVITY_LO",
                                        "text": "t", "args": {"n": seq}})
        elif seq == 3001:
            frame = raw("ver", seq, t, {"cmd_seq": rec.cmd_seq, "stage": "accepted",
                                        "name": "exec.noop", "reason": ""})
        elif seq % 4 == 1:
            frame = raw("result", seq, t, {"jobs": 1, "big": 2**64 - 1})
        else:
            frame = raw("tlm", seq, t, hk(seq))
        mc.on_frame(frame, t + 0.5)
    mc.archive.flush()  # one commit for all 4,000
    assert sum(mc.records.values()) == 3999
    stats = mc.archive.stats()
    assert stats["rows_lost"] == 0
    assert stats["records_quarantined"] == 1
    assert stats["quarantine_reasons"] == {"bad ver body: cmd_seq out of range [0, 2**63)": 1}
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        counts = r.counts()
        archived = (counts["telemetry"] + counts["events"] + counts["verifications"]
                    + counts["products"])
        assert archived == 3999
        [bad] = r.quarantine()
        assert (bad["kind"], bad["seq"], bad["time_s"]) == ("ver", 2081, T0 + 2081)
        assert "cmd_seq out of range" in bad["reason"]
    assert sorted(mc.archive.downlink_seqs()) == list(range(4000))  # every number had


def test_a_row_the_database_refuses_in_a_big_batch_is_quarantined_alone(
        tmp_path: Path) -> None:
    archive = Archive(tmp_path / "a.sqlite")
    for seq in range(4000):  # a value that bypassed mission control's checks
        archive.add_verification(seq, T0, T0, 2**64 if seq == 1234 else seq, "n",
                                 "accepted", "")
    assert archive.flush() == 3999
    assert archive.quarantined == {"verifications row refused: OverflowError": 1}
    archive.close()
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert r.counts()["verifications"] == 3999
        [bad] = r.quarantine()
        assert bad["seq"] == 1234 and "OverflowError" in bad["detail"]


def test_telemetry_is_one_row_per_record_with_realtime_and_played_back(
        tmp_path: Path) -> None:
    mc = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    fl = Sequencer("flight")
    f0 = fl.pack(Kind.TELEMETRY, T0, hk(0))
    f1 = fl.pack(Kind.TELEMETRY, T0 + 1, hk(1))  # held back: arrives late
    f2 = fl.pack(Kind.TELEMETRY, T0 + 2, hk(2))
    old = fl.pack(Kind.TELEMETRY, T0 - 3000, hk(3))  # recorded out of contact
    mc.on_frame(f0, T0 + 0.1)
    mc.on_frame(f2, T0 + 2.1)
    mc.on_frame(f1, T0 + 2.2)  # fills a gap: played back or sent again
    mc.on_frame(old, T0 + 2.3)
    mc.archive.flush()
    conn = sqlite3.connect(tmp_path / "a.sqlite")
    rows = conn.execute("SELECT seq, realtime, layout, packed FROM telemetry "
                        "ORDER BY id").fetchall()
    layouts = conn.execute("SELECT id, names FROM layouts").fetchall()
    conn.close()
    assert [(s, rt) for s, rt, _, _ in rows] == [(0, 1), (2, 1), (1, 0), (3, 0)]
    # the names once, in the layout; each row only its values
    [(layout, names)] = layouts
    assert {r[2] for r in rows} == {layout}
    assert dict(zip(msgpack.unpackb(names), msgpack.unpackb(rows[0][3]), strict=True)) == \
        hk(0)["points"]
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert [rec.realtime for rec in r.records()] == [False, True, False, True]  # by time
        assert r.point_names() == ["exec.uptime_s", "mode.current", "power.battery_soc_pct"]
        assert r.latest("exec.uptime_s").value == 3.0  # type: ignore[union-attr]
        assert r.latest("never.sent") is None and r.samples("never.sent") == []


def _v2_archive(path: Path) -> None:
    """An archive as the ground wrote it before schema 3: one telemetry row per point."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO meta VALUES ('schema_version', '2');
        CREATE TABLE telemetry (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL,
            rx_s REAL, name TEXT, value, rx_wall_s REAL);
        CREATE INDEX telemetry_by_name ON telemetry (name, id);
        CREATE TABLE points (name TEXT PRIMARY KEY);
        INSERT INTO points VALUES ('a'), ('b');
        CREATE TABLE events (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL,
            name TEXT, severity TEXT, text TEXT, args_json TEXT, rx_wall_s REAL);
        INSERT INTO events VALUES (1, 2, 1800000001.0, 1800000001.5, 'e', 'ACTIVITY_LO',
            't', '{}', 5.0);
        CREATE TABLE commands (cmd_seq INTEGER PRIMARY KEY, name TEXT, args_json TEXT,
            stage TEXT, reason TEXT, failed_at TEXT, queued_s REAL, sent_s REAL,
            accepted_s REAL, completed_s REAL, failed_s REAL, onboard_time_s REAL);
    """)
    conn.executemany("INSERT INTO telemetry (seq, time_s, rx_s, name, value, rx_wall_s) "
                     "VALUES (?,?,?,?,?,?)",
                     [(0, T0, T0, "a", 1, 9.0), (0, T0, T0, "b", "x", 9.0),
                      (1, T0 + 1, T0 + 1, "a", 2, 9.0), (1, T0 + 1, T0 + 1, "b", "y", 9.0)])
    conn.commit()
    conn.close()


def test_an_older_archive_is_refused_by_readers_and_migrated_by_the_cli(
        tmp_path: Path) -> None:
    path = tmp_path / "archive.sqlite"
    _v2_archive(path)
    with pytest.raises(ArchiveVersionError, match=r"schema 2.*aisat ground migrate"):
        ArchiveReader(path)
    out = io.StringIO()
    assert ground_cli(["migrate", "--run-dir", str(tmp_path)], out=out) == 0
    assert "migrated from schema 2 to 3" in out.getvalue()
    with ArchiveReader(path) as r:
        assert [(s.seq, s.value) for s in r.samples("a")] == [(0, 1), (1, 2)]
        assert r.latest("b").value == "y"  # type: ignore[union-attr]
        assert [e.name for e in r.events()] == ["e"]
        assert r.counts()["telemetry"] == 2
    out = io.StringIO()
    assert ground_cli(["migrate", "--run-dir", str(tmp_path)], out=out) == 0
    assert "nothing to do" in out.getvalue()


def test_a_ground_opening_an_older_archive_migrates_it(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    _v2_archive(path)
    mc = MissionControl(DICTIONARY, Archive(path))
    assert mc.archive.downlink_seqs() == [0, 1, 2]  # a restart archives nothing twice
    mc.on_frame(raw("tlm", 3, T0 + 3, {"points": {"a": 3}}), T0 + 3)
    mc.archive.close()
    with ArchiveReader(path) as r:
        assert [s.value for s in r.samples("a")] == [1, 2, 3]


def test_a_newer_archive_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    Archive(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                 (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveVersionError, match="newer than this ground"):
        Archive(path)
    with pytest.raises(ArchiveVersionError, match="aisat that wrote it"):
        ArchiveReader(path)


def test_the_archive_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    archive = Archive(path)
    archive.add_telemetry(0, T0, T0, {"a": 1})
    archive.flush()
    for f in (path, tmp_path / "a.sqlite-wal"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    archive.close()


def _series_archive(path: Path, n: int, spike_at: int) -> None:
    archive = Archive(path)
    for i in range(n):
        archive.add_telemetry(i, T0 + i, T0 + i, {
            "v": 1000.0 if i == spike_at else math.sin(i / 50), "s": "A" if i < n // 2
            else "B", **({"rare": i} if i % 100 == 0 else {})})
    archive.close()


@pytest.mark.parametrize("decode_all_max", [100_000, 1000])
def test_series_is_decimated_and_keeps_spikes(tmp_path: Path, decode_all_max: int,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_reader, "DECODE_ALL_MAX_ROWS", decode_all_max)
    path = tmp_path / "a.sqlite"
    _series_archive(path, 5000, spike_at=3333)
    with ArchiveReader(path) as r:
        full = r.series("v", max_points=10_000)
        assert len(full) == 5000 and [s.seq for s in full] == list(range(5000))
        some = r.series("v", max_points=300)
        assert 0 < len(some) <= 300
        times = [s.time_s for s in some]
        assert times == sorted(times)
        if decode_all_max > 5000:  # min/max decimation from every sample
            assert max(s.value for s in some) == 1000.0
            assert [s.value for s in r.series("s", max_points=30)].count("B") >= 1
        window = r.series("v", T0 + 100, T0 + 199, max_points=1000)
        assert [s.seq for s in window] == list(range(100, 200))
        assert [s.value for s in r.series("rare", max_points=10_000)] == list(
            range(0, 5000, 100))
        assert r.series("nonexistent") == []


def _stopped_run(run_dir: Path) -> None:
    mc = MissionControl(DICTIONARY, Archive(run_dir / "archive.sqlite"))
    fl = Sequencer("flight")
    for i in range(10):
        mc.on_frame(fl.pack(Kind.TELEMETRY, T0 + i, hk(i)), T0 + i)
    mc.on_frame(fl.pack(Kind.RESULT, T0 + 5, {"jobs": 2, "tiles": 32}), T0 + 5)
    mc.archive.close()


def test_export_and_products_read_a_stopped_run(tmp_path: Path) -> None:
    _stopped_run(tmp_path)
    csv_path = tmp_path / "out.csv"
    out = io.StringIO()
    assert ground_cli(["export", "--run-dir", str(tmp_path), "--points",
                       "exec.uptime_s,mode.current", "--from", str(T0 + 2), "--to",
                       "2027-01-15T08:00:07Z", "--out", str(csv_path)], out=out) == 0
    assert "stopped run" in out.getvalue() and "6 records written" in out.getvalue()
    rows = list(csv.reader(csv_path.open()))
    assert rows[0] == ["time_utc", "time_s", "seq", "rx_s", "realtime", "exec.uptime_s",
                       "mode.current"]
    assert [r[5] for r in rows[1:]] == ["2.0", "3.0", "4.0", "5.0", "6.0", "7.0"]
    assert rows[1][0] == "2027-01-15T08:00:02.000Z" and rows[1][4] == "1"
    everything = tmp_path / "all.csv"
    assert ground_cli(["export", "--run-dir", str(tmp_path), "--out", str(everything)],
                      out=io.StringIO()) == 0
    assert len(list(csv.reader(everything.open()))) == 11
    err = io.StringIO()
    assert ground_cli(["export", "--run-dir", str(tmp_path), "--points", "nope", "--out",
                       str(tmp_path / "x.csv")], out=io.StringIO(), err=err) == 2
    assert "unknown telemetry points" in err.getvalue()
    assert not (tmp_path / "x.csv").exists()
    assert ground_cli(["export", "--run-dir", str(tmp_path), "--from", "yesterday",
                       "--out", str(tmp_path / "x.csv")], out=io.StringIO(),
                      err=io.StringIO()) == 2
    out = io.StringIO()
    assert ground_cli(["products", "--run-dir", str(tmp_path)], out=out) == 0
    assert '"tiles":32' in out.getvalue()


def test_open_archive_says_where_it_looked(tmp_path: Path) -> None:
    from ground.errors import NoStack
    with pytest.raises(NoStack, match="no archive of a stopped run"):
        open_archive(tmp_path)
    _stopped_run(tmp_path)
    opened = open_archive(tmp_path)
    assert opened.stopped and opened.reader.counts()["products"] == 1
    opened.reader.close()


def test_an_archive_from_before_schema_versions_is_migrated(tmp_path: Path) -> None:
    """Schema 1: no meta version, no wall receive stamps."""
    path = tmp_path / "a.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE telemetry (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL,
            rx_s REAL, name TEXT, value);
        CREATE TABLE events (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, rx_s REAL,
            name TEXT, severity TEXT, text TEXT, args_json TEXT);
    """)
    conn.executemany("INSERT INTO telemetry (seq, time_s, rx_s, name, value) "
                     "VALUES (?,?,?,?,?)", [(0, T0, T0, "a", 1.5), (0, T0, T0, "b", None)])
    conn.commit()
    conn.close()
    Archive(path).close()
    with ArchiveReader(path) as r:
        [rec] = list(r.records())
        assert rec.points == {"a": 1.5, "b": None} and rec.realtime is None
        assert r.point_names() == ["a", "b"]  # schema 1 had no point index: built
        assert r.latest("a").value == 1.5  # type: ignore[union-attr]
        assert r.events() == []


def test_a_reader_never_sees_a_half_made_archive(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The ground makes its archive while operators' readers may open it already: a
    reader that came between the tables and the version row read the new archive as
    schema 1 ("has schema 1, this reader reads 3"). Every state a reader can see during
    creation is now no tables at all, or all of them with the version."""
    path = tmp_path / "archive.sqlite"
    real_connect = archive_mod.connect
    seen: list[int | None] = []

    def traced(p: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
        conn = real_connect(p, readonly=readonly)
        if not readonly:
            def look(_statement: str) -> None:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as other:
                    seen.append(archive_mod.schema_version(other))
            conn.set_trace_callback(look)
        return conn

    monkeypatch.setattr(archive_mod, "connect", traced)
    Archive(path).close()
    assert len(seen) > 3  # it looked between the statements
    assert set(seen) <= {None, archive_mod.SCHEMA_VERSION}, seen
