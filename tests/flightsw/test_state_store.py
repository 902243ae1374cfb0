"""The executive's state survives a reset: saved atomically, checked on load, restored
at boot; an unexplained reset enters SAFE; a damaged file never causes a crash loop."""

from __future__ import annotations

import stat
from pathlib import Path

from flightsw.harness import Harness
from flightsw.state_store import StateStore
from flightsw.wire import Kind


def _fly_and_stop(path: Path, *, orderly: bool) -> Harness:
    h = Harness(state_path=path)
    h.run(12)
    seq = h.command("mode.set", mode="NOMINAL")  # a command saves at once
    h.run(3)
    assert h.verification(seq)[-1].stage == "completed"
    if orderly:
        h.shutdown()
    return h


def test_store_round_trip_is_private_and_keeps_the_last_good_copy(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.bin")
    assert store.load().record is None and store.load().problems == []
    store.save({"mode": {"mode": "SAFE"}}, orderly=False, mission_time_s=1.0)
    store.save({"mode": {"mode": "NOMINAL"}}, orderly=True, mission_time_s=2.0)
    loaded = store.load()
    assert loaded.record == {"mode": {"mode": "NOMINAL"}} and loaded.orderly
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.previous.exists()


def test_an_orderly_restart_resumes_mode_counters_and_numbering(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    first = _fly_and_stop(path, orderly=True)
    last_seq = max(e.seq for e in first.downlink)
    jobs = first.core.state.payload.next_job_id
    second = Harness(state_path=path)
    second.run(5)
    restored = second.events("exec.state_restored")
    assert restored and "stopped in order" in restored[0].text
    assert second.latest("mode.current") == "NOMINAL"  # the operator's choice survived
    assert second.latest("mode.commanded") is True
    # downlink numbering continues exactly; what the first run's ground had not
    # acknowledged at shutdown (its last records) is sent again, under its old numbers
    assert second.core.state.link.first_seq == first.core.state.link.next_seq > last_seq
    assert second.events("link.backlog_kept")  # numbered after the last send: kept, sent now
    unacked = {e.seq for e in second.downlink if e.seq <= last_seq}
    assert unacked and min(unacked) > max(e.seq for e in first.downlink
                                          if e.kind is Kind.VERIFICATION)
    assert second.core.state.payload.next_job_id >= jobs  # one job counter across boots
    assert second.latest("payload.state") == "ready"  # a new child, the old one is gone
    assert not second.events("exec.reset_unexplained")


def test_a_crash_restart_enters_safe_and_requeues_the_lost_jobs(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    first = _fly_and_stop(path, orderly=False)  # as if kill -9: no orderly save
    first.payload.hang()
    first.run(4)  # a capture (t=15) goes to the hung child and stays in flight
    first.command("exec.noop")
    first.run(1)  # ... and a command saves the record with it (no capture after it)
    lost = sorted(first.core.state.payload.in_flight)
    assert lost
    first.run(2)  # numbered after the last state save, but in the recorder store
    used = first.core.state.link.next_seq
    second = Harness(state_path=path)
    second.run(4)
    # the numbering continues exactly (no skip, no reuse): below it, only records the
    # crashed run made and its ground had not acknowledged, sent again unchanged
    assert second.core.state.link.first_seq == used
    before = {e.seq: e for e in first.downlink}
    assert all(before[e.seq] == e for e in second.downlink if e.seq < used)
    assert second.events("exec.reset_unexplained")
    assert second.latest("mode.current") == "SAFE"
    requeued = [int(e.args["job_id"]) for e in second.events("payload.job_requeued")]
    assert requeued == lost
    assert "ended without stopping" in second.events("exec.state_restored")[0].text
    # SAFE after an unexplained reset waits for the ground
    second.run(10)
    assert second.latest("mode.current") == "SAFE"
    seq = second.command("mode.set", mode="NOMINAL")
    second.run(1)
    assert second.verification(seq)[-1].stage == "completed"


def test_a_corrupt_state_file_falls_back_to_the_last_good_copy(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    _fly_and_stop(path, orderly=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    h = Harness(state_path=path)
    h.run(2)
    problems = [e.text for e in h.events("exec.state_problem")]
    assert any("corrupt or truncated" in p for p in problems)
    assert "last good copy" in h.events("exec.state_restored")[0].text
    assert h.latest("exec.cycle_faults") == 0


def test_no_good_copy_boots_on_defaults_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    _fly_and_stop(path, orderly=True)
    path.write_bytes(path.read_bytes()[:20])  # truncated
    StateStore(path).previous.write_bytes(b"not a state file at all")
    h = Harness(state_path=path)
    h.run(3)
    problems = [e.text for e in h.events("exec.state_problem")]
    assert any("no good copy" in p for p in problems)
    assert not h.events("exec.state_restored")
    assert h.latest("mode.current") == "COMPUTE"  # defaults: a normal boot
    assert any(e.kind is Kind.TELEMETRY for e in h.downlink)


def test_a_crash_loop_lands_in_safe_with_the_payload_off(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    h = Harness(state_path=path)
    h.run(5)
    boot_ids = [h.core.state.link.boot_id]
    for _ in range(3):  # three kill -9s in a row, a few seconds apart
        h.command("exec.noop")
        h.run(2)
        h = Harness(state_path=path)
        h.run(3)
        boot_ids.append(h.core.state.link.boot_id)
    assert boot_ids == [1, 2, 3, 4]  # said in HELLO: the ground can tell boots apart
    hellos = [e for e in h.downlink if e.kind is Kind.HELLO]
    assert hellos and hellos[0].body["boot_id"] == 4
    loop = h.events("exec.crash_loop")
    assert loop and "3 unexplained resets" in loop[0].text
    assert h.latest("payload.state") == "disabled" and h.latest("mode.current") == "SAFE"
    h.run(10)
    assert h.latest("payload.state") == "disabled"  # stays off by itself
    assert h.latest("payload.rung") == "locked out"
    seq = h.command("payload.enable", enabled=True)
    h.run(1)
    assert "clear it first" in h.verification(seq)[-1].reason
    h.command("payload.clear_faults")  # the ground clears it, as any lockout
    h.run(3)
    assert h.latest("payload.state") == "ready"


def test_command_books_and_last_sequence_survive_a_reset(tmp_path: Path) -> None:
    """Measured before: the command counters and the last command number executed were
    in memory only, so a reset forgot them (the anti-replay window needs the number)."""
    path = tmp_path / "flight_state.bin"
    h = Harness(state_path=path)
    h.run(2)
    for _ in range(3):
        h.command("exec.noop")
    last = h.command("exec.noop")
    h.command("no.such.command")
    h.run(2)
    h.executive.save_state()
    h2 = Harness(state_path=path)
    h2.run(2)
    books = h2.core.state.commands
    assert books.accepted == 4 and books.rejected == 1 and books.completed == 4
    assert books.last_seq == {"ground": last}
    assert h2.latest("exec.cmds_accepted") == 4


def test_the_last_sequence_book_is_bounded_against_invented_sources() -> None:
    from flightsw.harness import EPOCH_S
    from flightsw.wire import Sequencer

    h = Harness()
    h.run(1)
    for i in range(100):  # even under the ground's key: only "ground" commands
        h.uplink_raw(Sequencer(f"src{i}").pack(Kind.COMMAND, EPOCH_S,
                                               {"name": "exec.noop", "args": {}}))
    h.run(2)
    assert len(h.core.state.commands.last_seq) <= 16
    assert h.core.state.auth.rejected["unknown_source"] == 100
    assert h.core.state.auth.windows == {}  # only the ground's would be kept
