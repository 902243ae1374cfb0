"""Mission control's core with a real archive file: no sockets, times passed in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from flightsw.errors import CommandRejected
from flightsw.uplink_auth import peel
from flightsw.wire import Envelope, Kind, Sequencer, decode, encode
from ground.archive import Archive
from ground.archive_reader import ArchiveReader
from ground.mission_control import HashState, MissionControl

from .conftest import DICTIONARY

T0 = 1.8e9


class Uplink:
    """The station side of ``pump_uplink``: records frames, can refuse them."""

    def __init__(self) -> None:
        self.frames: list[Envelope] = []
        self.accepting = True

    def __call__(self, frame: bytes) -> bool:
        if self.accepting:
            self.frames.append(decode(peel(frame)))
        return self.accepting

    def kinds(self) -> list[str]:
        """What went up, acknowledgements aside (they have their own tests)."""
        return [e.kind.value for e in self.frames if e.kind is not Kind.ACK]

    def acks(self) -> list[dict[str, object]]:
        return [dict(e.body) for e in self.frames if e.kind is Kind.ACK]


@pytest.fixture
def mc(tmp_path: Path) -> MissionControl:
    return MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))


def flight(mc: MissionControl, seq: Sequencer, kind: Kind, body: dict[str, object],
           rx_s: float = T0 + 1) -> None:
    mc.on_frame(seq.pack(kind, T0, body), rx_s)


def hello(dictionary_hash: str = DICTIONARY.hash) -> dict[str, object]:
    return {"dictionary_hash": dictionary_hash, "dictionary_version": DICTIONARY.version}


def test_archive_round_trip(mc: MissionControl, tmp_path: Path) -> None:
    fl = Sequencer("flight")
    flight(mc, fl, Kind.HELLO, hello())
    flight(mc, fl, Kind.TELEMETRY, {"points": {"power.battery_soc_pct": 55.5,
                                               "link.in_contact": True,
                                               "payload.model": "cloudnet",
                                               "thermal.payload_temp_c": math.nan}})
    flight(mc, fl, Kind.EVENT, {"name": "power.battery_low", "severity": "WARNING_HI",
                                "text": "Battery at 29 %", "args": {"soc_pct": 29.0}})
    flight(mc, fl, Kind.RESULT, {"jobs": 3, "tiles": 48, "job_ids": [1, 2, 3]})
    rec = mc.submit("exec.noop", {}, now_s=T0 + 2)
    up = Uplink()
    mc.on_aos()
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 3)
    assert up.kinds() == ["hello", "cmd"]
    flight(mc, fl, Kind.VERIFICATION, {"cmd_seq": rec.cmd_seq, "name": "exec.noop",
                                       "stage": "accepted", "reason": ""})
    flight(mc, fl, Kind.VERIFICATION, {"cmd_seq": rec.cmd_seq, "name": "exec.noop",
                                       "stage": "completed", "reason": "done"})
    assert mc.archive.flush() > 0

    with ArchiveReader(tmp_path / "a.sqlite") as r:
        soc = r.latest("power.battery_soc_pct")
        assert soc is not None
        assert (soc.value, soc.seq, soc.time_s, soc.rx_s) == (55.5, 1, T0, T0 + 1)
        assert r.latest("link.in_contact").value == 1  # type: ignore[union-attr]
        assert r.latest("payload.model").value == "cloudnet"  # type: ignore[union-attr]
        assert r.latest("thermal.payload_temp_c").value is None  # type: ignore[union-attr]
        assert set(r.latest_all()) == {"power.battery_soc_pct", "link.in_contact",
                                       "payload.model", "thermal.payload_temp_c"}
        [evt] = r.events()
        assert (evt.name, evt.severity, evt.args) == ("power.battery_low", "WARNING_HI",
                                                      {"soc_pct": 29.0})
        assert r.events(min_severity="FATAL") == []
        [product] = r.products_after(0)
        assert product.body["job_ids"] == [1, 2, 3]
        cmd = r.command(rec.cmd_seq)
        assert cmd is not None and cmd["stage"] == "completed" and cmd["reason"] == "done"
        assert cmd["queued_s"] == T0 + 2 and cmd["sent_s"] == T0 + 3
        assert [v["stage"] for v in r.verifications(rec.cmd_seq)] == ["accepted",
                                                                        "completed"]
        assert r.counts()["hellos"] == 2  # the flight's, and ours going up


def test_gaps_are_counted_and_duplicates_dropped_not_archived_twice(
        mc: MissionControl, tmp_path: Path) -> None:
    frames = {n: encode(Envelope(Kind.TELEMETRY, "flight", n, T0 + n,
                                 {"points": {"exec.uptime_s": float(n)}})) for n in range(6)}
    for n in (0, 1, 3, 3, 5):  # 2 and 4 lost, 3 duplicated
        mc.on_frame(frames[n], T0)
    mc.archive.flush()
    snap = mc.snapshot()["downlink_seq"]
    assert (snap["missing"], snap["duplicates"], snap["gaps_opened"]) == (2, 1, 2)
    assert mc.snapshot()["duplicates_dropped"] == 1
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert len(r.samples("exec.uptime_s")) == 4  # 0, 1, 3, 5: the second 3 dropped


def test_undecodable_and_malformed_frames_are_counted_not_raised(mc: MissionControl) -> None:
    fl = Sequencer("flight")
    mc.on_frame(b"\xc1", T0)  # not msgpack
    mc.on_frame(b"", T0)
    flight(mc, fl, Kind.TELEMETRY, {"points": [1, 2]})  # bad body
    flight(mc, fl, Kind.VERIFICATION, {"cmd_seq": "x", "stage": "completed"})
    flight(mc, fl, Kind.COMMAND, {"name": "exec.noop", "args": {}})  # wrong direction
    flight(mc, fl, Kind.TELEMETRY, {"points": {"exec.uptime_s": 1.0}})
    assert mc.decode_errors == 5
    assert (mc.bad_bodies, mc.unexpected_kinds) == (2, 1)
    assert mc.records["tlm"] == 1
    assert mc.archive.flush() > 0
    stats = mc.archive.stats()
    # frames that did not decode are link errors; records that did, but break their
    # kind's schema, are quarantined (with their numbers)
    assert (stats["link_errors_seen"], stats["records_quarantined"]) == (3, 2)
    assert stats["quarantine_reasons"] == {"bad tlm body: points must be a map": 1,
                                           "bad ver body: cmd_seq must be an integer": 1}


def test_commands_wait_for_contact_and_a_matching_flight_hello(mc: MissionControl) -> None:
    up = Uplink()
    rec = mc.submit("exec.hk_period_set", {"period_s": 5}, now_s=T0)
    assert rec.args == {"period_s": 5.0}
    mc.on_aos()
    assert mc.pump_uplink(up, uplink_open=False, now_s=T0) == 0 and up.frames == []
    up.accepting = False  # executive not connected: nothing is marked sent
    assert mc.pump_uplink(up, uplink_open=True, now_s=T0) == 0
    up.accepting = True
    assert mc.pump_uplink(up, uplink_open=True, now_s=T0) == 0
    assert up.kinds() == ["hello"]  # HELLO first; commands wait for the flight's
    flight(mc, Sequencer("flight"), Kind.HELLO, hello())
    assert mc.pump_uplink(up, uplink_open=True, now_s=T0 + 1) == 1
    cmd = up.frames[-1]
    assert (cmd.kind, cmd.seq, cmd.source) == (Kind.COMMAND, rec.cmd_seq, "ground")
    assert rec.stage.value == "sent"


def test_dictionary_mismatch_refuses_commands(mc: MissionControl) -> None:
    waiting = mc.submit("exec.noop", {}, now_s=T0)
    flight(mc, Sequencer("flight"), Kind.HELLO, hello("0123456789abcdef"))
    assert mc.hash_state == HashState.MISMATCH
    assert waiting.stage.value == "failed" and waiting.failed_at == "ground"
    assert "dictionary mismatch" in waiting.reason and "0123456789abcdef" in waiting.reason
    late = mc.submit("exec.noop", {}, now_s=T0 + 1)
    assert late.stage.value == "failed" and "dictionary mismatch" in late.reason
    up = Uplink()
    mc.on_aos()
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 2)
    assert up.kinds() == ["hello"]  # no command ever goes up


def boot_hello(boot_id: int, boot_s: float, first_seq: int,
               continued: bool) -> dict[str, object]:
    return {**hello(), "boot_id": boot_id, "boot_mission_time_s": boot_s,
            "first_seq": first_seq, "seq_continued": continued}


def test_reconnect_asks_for_hello_again_and_keeps_the_accounting(
        mc: MissionControl) -> None:
    fl = Sequencer("flight")
    flight(mc, fl, Kind.HELLO, boot_hello(1, T0, 0, False))
    fl.pack(Kind.EVENT, T0, {})  # number 1 lost on the way
    flight(mc, fl, Kind.EVENT, {"name": "x", "args": {}})
    assert mc.hash_state == HashState.MATCH and mc.downlink.missing == 1
    mc.on_flight_connected()
    assert mc.hash_state == HashState.UNKNOWN and mc.hello_pending
    assert mc.downlink.missing == 1 and mc.downlink.epochs == 1  # still owed


def test_a_boot_that_continues_its_numbering_keeps_the_epoch(mc: MissionControl) -> None:
    fl = Sequencer("flight")
    flight(mc, fl, Kind.HELLO, boot_hello(1, T0, 0, False))
    fl.pack(Kind.EVENT, T0, {})  # number 1 is still in the crashed boot's recorder
    after = Sequencer("flight", start=2)
    flight(mc, after, Kind.HELLO, boot_hello(2, T0 + 50, 2, True))
    assert mc.downlink.epochs == 1 and mc.downlink.missing == 1
    flight(mc, Sequencer("flight", start=1), Kind.EVENT, {"name": "x", "args": {}})
    assert mc.downlink.missing == 0 and mc.downlink.duplicates == 0
    # the old boot's HELLO, played back late, does not make it the one we talk to
    flight(mc, Sequencer("flight"), Kind.HELLO, boot_hello(1, T0, 0, False))
    assert mc.snapshot()["flight_boot_id"] == 2


def test_a_boot_that_restarted_its_numbering_starts_a_new_epoch(mc: MissionControl) -> None:
    fl = Sequencer("flight")
    flight(mc, fl, Kind.HELLO, boot_hello(1, T0, 0, False))
    flight(mc, fl, Kind.EVENT, {"name": "x", "args": {}})
    flight(mc, Sequencer("flight"), Kind.HELLO, boot_hello(1, T0 + 60, 0, False))
    assert mc.downlink.epochs == 2 and mc.downlink.duplicates == 0
    assert mc.records["hello"] == 2


def test_what_arrived_is_acknowledged_at_most_once_a_period(mc: MissionControl) -> None:
    fl = Sequencer("flight")
    up = Uplink()
    mc.pump_uplink(up, uplink_open=True, now_s=T0)
    assert up.acks() == []  # nothing received, no boot known
    flight(mc, fl, Kind.HELLO, boot_hello(3, T0, 0, True))
    for _ in range(3):
        flight(mc, fl, Kind.EVENT, {"name": "x", "args": {}})
    fl.pack(Kind.EVENT, T0, {})  # 4 lost
    flight(mc, fl, Kind.EVENT, {"name": "x", "args": {}})
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 1)
    assert up.acks() == [{"boot_id": 3, "ranges": [[0, 4], [5, 6]]}]
    flight(mc, Sequencer("flight", start=4), Kind.EVENT, {"name": "x", "args": {}})
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 1.5)  # within the period: wait
    assert len(up.acks()) == 1
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 2)
    assert up.acks()[-1]["ranges"] == [[0, 6]]
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 10)  # nothing new: no ack
    assert len(up.acks()) == 2 and mc.snapshot()["acks_sent"] == 2


def test_eviction_reports_account_for_numbers_that_will_not_come(mc: MissionControl) -> None:
    fl = Sequencer("flight", start=10)
    flight(mc, fl, Kind.EVENT, {"name": "x", "args": {}})
    flight(mc, fl, Kind.EVENT, {"name": "link.records_evicted", "severity": "WARNING_LO",
                                "text": "", "args": {"count": 9, "kind": "housekeeping",
                                                     "ranges": [[2, 9], [12, 13]]}})
    assert mc.downlink.missing == 0 and mc.downlink.evicted_net == 10
    flight(mc, fl, Kind.EVENT, {"name": "link.records_evicted", "args": {"ranges": "2-9"}})
    assert mc.bad_bodies == 1


def test_invalid_commands_are_refused_before_queueing(mc: MissionControl) -> None:
    with pytest.raises(CommandRejected) as err:
        mc.submit("exec.hk_period_set", {"period_s": 1000}, now_s=T0)
    assert err.value.reason == "argument out of range"
    assert mc.commands.queued() == [] and mc.commands.next_seq == 0


def test_command_queue_and_numbering_survive_a_ground_restart(tmp_path: Path) -> None:
    first = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    sent, queued, cancelled = (first.submit("exec.noop", {}, now_s=T0) for _ in range(3))
    first.on_aos()
    first.pump_uplink(Uplink(), uplink_open=True, now_s=T0)  # HELLO only: no flight HELLO
    first.hash_state = HashState.MATCH
    first.commands.mark_sent(sent, T0)
    first.archive.put_command(sent)
    first.cancel(cancelled.cmd_seq, T0)
    first.archive.close()

    second = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    assert [r.cmd_seq for r in second.commands.queued()] == [queued.cmd_seq]
    assert [r.cmd_seq for r in second.commands.in_flight()] == [sent.cmd_seq]
    assert second.submit("exec.noop", {}, now_s=T0).cmd_seq == 3
    fl = Sequencer("flight")
    flight(second, fl, Kind.VERIFICATION, {"cmd_seq": sent.cmd_seq, "name": "exec.noop",
                                           "stage": "completed", "reason": ""})
    assert second.commands.get(sent.cmd_seq).stage.value == "completed"  # type: ignore[union-attr]
    assert second.commands.unmatched_verifications == 0


def test_cancel_withdraws_a_queued_command(mc: MissionControl) -> None:
    rec = mc.submit("exec.noop", {}, now_s=T0)
    assert mc.cancel(rec.cmd_seq, now_s=T0 + 1) is rec
    assert rec.stage.value == "failed" and "cancelled" in rec.reason
    assert mc.cancel(rec.cmd_seq, now_s=T0 + 2) is None


def test_hello_is_repeated_until_the_flight_answers(mc: MissionControl) -> None:
    up = Uplink()
    mc.on_aos()
    for dt in (0.0, 1.0, 4.9, 5.0, 6.0):
        mc.pump_uplink(up, uplink_open=True, now_s=T0 + dt)
    assert up.kinds() == ["hello", "hello"]
    flight(mc, Sequencer("flight"), Kind.HELLO, hello())
    mc.pump_uplink(up, uplink_open=True, now_s=T0 + 20)
    assert up.kinds() == ["hello", "hello"]


def test_uplink_state_says_why_commands_wait(mc: MissionControl) -> None:
    assert mc.uplink_state(uplink_open=False, flight_connected=True) == (
        "holding commands until AOS")
    assert "executive to connect" in mc.uplink_state(uplink_open=True, flight_connected=False)
    assert "flight's HELLO" in mc.uplink_state(uplink_open=True, flight_connected=True)
    flight(mc, Sequencer("flight"), Kind.HELLO, hello())
    assert mc.uplink_state(uplink_open=True, flight_connected=True) == "sending"
    flight(mc, Sequencer("flight", start=1), Kind.HELLO, hello("feedfacefeedface"))
    assert mc.uplink_state(uplink_open=True, flight_connected=True).startswith(
        "refusing commands: dictionary mismatch: flight feedfacefeedface")


def test_a_time_tag_goes_up_with_its_command_and_survives_a_ground_restart(
        tmp_path: Path) -> None:
    """A command queued for later must never go up untagged (it would run at once)."""
    first = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    with pytest.raises(CommandRejected, match="mission time"):
        first.submit("exec.noop", {}, now_s=T0, at_s="soon")
    for bad in (float("nan"), float("inf"), -1.0, True):
        with pytest.raises(CommandRejected):
            first.submit("exec.noop", {}, now_s=T0, at_s=bad)
    tagged = first.submit("exec.noop", {}, now_s=T0, at_s=T0 + 3600)
    first.archive.put_command(tagged)
    first.archive.flush()
    first.archive.close()

    second = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    (restored,) = second.commands.queued()
    assert restored.cmd_seq == tagged.cmd_seq and restored.at_s == T0 + 3600
    up = Uplink()
    second.on_aos()
    second.hash_state = HashState.MATCH
    second.pump_uplink(up, uplink_open=True, now_s=T0 + 10)
    (command,) = [e for e in up.frames if e.kind is Kind.COMMAND]
    assert command.body == {"name": "exec.noop", "args": {}, "at_s": T0 + 3600}


def test_a_restarted_ground_does_not_archive_a_resent_record_twice(tmp_path: Path) -> None:
    fl = Sequencer("flight")
    first = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    frames = [fl.pack(Kind.EVENT, T0, {"name": "x", "args": {}}) for _ in range(3)]
    for frame in frames:
        first.on_frame(frame, T0)
    first.archive.close()
    second = MissionControl(DICTIONARY, Archive(tmp_path / "a.sqlite"))
    second.on_frame(frames[1], T0 + 5)  # its acknowledgement was lost: sent again
    second.on_frame(fl.pack(Kind.EVENT, T0, {"name": "y", "args": {}}), T0 + 5)
    second.archive.flush()
    assert second.duplicates_dropped == 1 and second.downlink.missing == 0
    with ArchiveReader(tmp_path / "a.sqlite") as r:
        assert [e.name for e in r.events()] == ["x", "x", "x", "y"]


def test_a_report_for_an_onboard_sources_command_leaves_the_ground_command_alone(
        mc: MissionControl) -> None:
    """Stored sequences and the limit checker number their commands per source, so an
    onboard command can share a number with a ground command: its reports (source
    ``seq``) are archived but must not complete or fail the ground's command."""
    fl = Sequencer("flight")
    flight(mc, fl, Kind.HELLO, hello())
    rec = mc.submit("exec.noop", {}, now_s=T0 + 2)
    mc.on_aos()
    mc.pump_uplink(Uplink(), uplink_open=True, now_s=T0 + 3)
    assert rec.stage.value == "sent"
    flight(mc, fl, Kind.VERIFICATION, {"cmd_seq": rec.cmd_seq, "name": "payload.throttle_cap",
                                       "stage": "failed", "reason": "step failed",
                                       "source": "seq"})
    assert rec.stage.value == "sent" and rec.reason == ""
    flight(mc, fl, Kind.VERIFICATION, {"cmd_seq": rec.cmd_seq, "name": "exec.noop",
                                       "stage": "completed", "reason": "", "source": "ground"})
    assert rec.stage.value == "completed"


@pytest.mark.parametrize("name", ["mode.set", "model.delete", "model.inject_fault",
                                  "schedule.clear", "limits.wp_delete", "auth.key_rotate"])
def test_what_cannot_be_undone_is_marked_hazardous(mc: MissionControl, name: str) -> None:
    """The issue names them: leave SAFE (mode.set), delete a model; and what wipes onboard
    tables or keys."""
    assert mc.dictionary.commands[name].hazardous


@pytest.mark.parametrize(("name", "args"), [("mode.set", {"mode": "NOMINAL"}),
                                            ("model.delete", {"model": "cloud_screen"})])
def test_hazardous_commands_are_refused_at_the_ground_without_confirmation(
        mc: MissionControl, name: str, args: dict[str, object]) -> None:
    with pytest.raises(CommandRejected, match="hazardous"):
        mc.submit(name, args, now_s=T0)
    assert mc.submit(name, args, now_s=T0, confirm=True).stage.value == "queued"
