"""Time-tagged commands: validated when they come up, stored onboard (across resets),
run at their time in or out of contact, listed, deleted; never lost, never run twice."""

from __future__ import annotations

from pathlib import Path

from flightsw import schedule
from flightsw.harness import EPOCH_S, Harness


def _stages(h: Harness, seq: int) -> list[str]:
    return [v.stage for v in h.verification(seq)]


def test_a_time_tagged_command_runs_at_its_time_out_of_contact() -> None:
    h = Harness()
    h.run(3)
    seq = h.command_at(EPOCH_S + 20.0, "mode.set", mode="NOMINAL")
    h.run(2)
    assert _stages(h, seq) == ["received", "accepted"]
    assert "scheduled for" in h.verification(seq)[1].reason
    assert h.latest("schedule.entries") == 1
    h.run(10, in_contact=False)  # the pass ends; the command waits onboard
    assert h.latest("mode.current") == "COMPUTE"
    h.run(10, in_contact=False)
    assert h.core.state.mode.mode == "NOMINAL"  # ran at its time, out of contact
    h.run(5, in_contact=True)
    assert _stages(h, seq) == ["received", "accepted", "started", "completed"]
    assert h.events("schedule.ran") and h.latest("schedule.entries") == 0


def test_a_bad_time_tagged_command_is_refused_at_once_not_at_its_time() -> None:
    h = Harness()
    h.run(2)
    seq = h.command_at(EPOCH_S + 500.0, "mode.set", mode="WARP")
    h.run(1)
    assert _stages(h, seq) == ["received", "failed"] and "WARP" in h.verification(seq)[-1].reason
    assert h.latest("schedule.entries") == 0


def test_a_failure_at_its_time_is_reported_with_the_reason() -> None:
    h = Harness()
    h.run(2)
    seq = h.command_at(EPOCH_S + 8.0, "payload.restart")
    h.command("payload.enable", enabled=False)
    h.run(10)
    assert _stages(h, seq) == ["received", "accepted", "started", "failed"]
    assert "disabled" in h.verification(seq)[-1].reason


def test_list_delete_and_clear() -> None:
    h = Harness()
    h.run(2)
    a = h.command_at(EPOCH_S + 300.0, "exec.noop")
    b = h.command_at(EPOCH_S + 200.0, "mode.set", mode="SAFE")
    h.run(1)
    listing = h.command("schedule.list")
    h.run(1)
    note = h.verification(listing)[-1].reason
    assert note.startswith("2 scheduled:") and note.index(f"#{b}") < note.index(f"#{a}")
    gone = h.command("schedule.delete", cmd_seq=b)
    missing = h.command("schedule.delete", cmd_seq=999)
    h.run(1)
    assert _stages(h, gone)[-1] == "completed"
    assert "no command #999" in h.verification(missing)[-1].reason
    assert h.latest("schedule.entries") == 1
    h.command("schedule.clear")
    h.run(1)
    assert h.latest("schedule.entries") == 0
    h.run(300)
    assert h.core.state.mode.mode != "SAFE" and _stages(h, a) == ["received", "accepted"]


def test_the_schedule_is_bounded() -> None:
    h = Harness()
    h.run(1)
    seqs = [h.command_at(EPOCH_S + 1000.0 + i, "exec.noop")
            for i in range(schedule.MAX_ENTRIES + 3)]
    h.run(2)
    assert h.latest("schedule.entries") == schedule.MAX_ENTRIES
    assert "schedule full" in h.verification(seqs[-1])[-1].reason


def test_the_schedule_survives_a_reset_and_nothing_runs_twice(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    h = Harness(state_path=path)
    h.run(2)
    soon = h.command_at(EPOCH_S + 5.0, "exec.noop")
    later = h.command_at(EPOCH_S + 30.0, "mode.set", mode="NOMINAL")
    h.run(8)
    assert _stages(h, soon) == ["received", "accepted", "started", "completed"]
    h.executive.save_state()
    h2 = Harness(state_path=path)  # a reset (kill -9): the saved record is all it has
    h2.elapsed_s = h.elapsed_s
    h2.run(30)
    assert _stages(h2, soon) == []  # ran before the reset: not again
    assert _stages(h2, later)[-1] == "completed"
    assert h2.core.state.schedule.ran >= 1


def test_a_command_whose_time_passed_long_ago_while_down_is_not_run(tmp_path: Path) -> None:
    path = tmp_path / "flight_state.bin"
    h = Harness(state_path=path)
    h.run(2)
    seq = h.command_at(EPOCH_S + 5.0, "exec.hk_period_set", period_s=7.0)
    h.run(1)
    h.executive.save_state(orderly=True)
    h2 = Harness(state_path=path)  # back up an hour later
    h2.elapsed_s = h.elapsed_s + 3600.0
    h2.run(2)
    # ("accepted", unacknowledged before the reset, comes down again from the recorder)
    assert _stages(h2, seq)[-1] == "failed"
    assert "past its time" in h2.verification(seq)[-1].reason
    assert h2.events("schedule.expired") and h2.core.state.housekeeping.period_s != 7.0
    assert h2.latest("schedule.expired") == 1
