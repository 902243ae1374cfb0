"""Stored command sequences: defined as data by command, run one step a second through
the normal dispatch (verification reports), one at a time, bounded, started by a
watchpoint or the ground."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw import sequences
from flightsw.catalog import build_dictionary
from flightsw.harness import Harness
from flightsw.sequences import SequenceError, Step
from flightsw.wire import Kind

DICT = build_dictionary()


@pytest.mark.parametrize("text, steps", [
    ("payload.throttle_cap level_pct=0; mode.set mode=STANDBY",
     [Step("payload.throttle_cap", {"level_pct": 0.0}), Step("mode.set", {"mode": "STANDBY"})]),
    ("exec.noop", [Step("exec.noop", {})]),
    (" exec.noop ;; exec.noop ;", [Step("exec.noop", {}), Step("exec.noop", {})]),
])
def test_steps_parse_and_validate_against_the_dictionary(text: str, steps: list[Step]) -> None:
    assert sequences.parse_steps(text, DICT) == steps


@pytest.mark.parametrize("text, words", [
    ("", "at least one step"),
    ("exec.reboot_everything", "step 1: unknown command"),
    ("exec.noop; payload.throttle_cap level_pct=500", "step 2"),
    ("exec.noop; mode.set", "step 2: missing argument"),
    ("seq.start name=park_payload", "may not start, change or stop sequences"),
    (";".join(["exec.noop"] * (sequences.MAX_STEPS + 1)), "at most"),
])
def test_bad_steps_are_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(SequenceError, match=words):
        sequences.parse_steps(text, DICT)


def _stage(h: Harness, seq: int, name: str) -> str:
    """The last verification stage of the ground's command ``seq`` (a sequence's steps are
    numbered by their own source, so the number alone may match one of them too)."""
    return [v for v in h.verification(seq) if v.name == name][-1].stage


def _ran(h: Harness, name: str) -> list[str]:
    """Stages of the verification reports of the sequence's commands called ``name``."""
    return [e.body["stage"] for e in h.downlink if e.kind is Kind.VERIFICATION
            and e.body.get("name") == name]


def test_ground_defines_and_starts_a_sequence_one_step_a_second() -> None:
    h = Harness()
    h.run(3)
    seq = h.command("seq.define", sequence="quiet",
                    steps="payload.throttle_cap level_pct=20; exec.noop; "
                          "payload.throttle_cap level_pct=30")
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    assert "quiet: payload.throttle_cap level_pct=20.0" in h.verification(seq)[-1].reason
    start = h.command("seq.start", sequence="quiet")
    h.run(1)
    assert h.verification(start)[-1].stage == "completed"
    assert h.core.state.sequences.running == "quiet"
    st = h.core.state.sequences
    assert st.next_step == 1  # bounded: one step per slow cycle
    assert h.core.state.payload.operator_cap_frac == pytest.approx(0.2)
    h.run(3)
    assert h.core.state.sequences.running == ""
    assert h.core.state.payload.operator_cap_frac == pytest.approx(0.3)
    assert _ran(h, "payload.throttle_cap") == ["accepted", "started", "completed"] * 2
    assert [e.args["name"] for e in h.events("seq.completed")] == ["quiet"]
    assert h.core.state.commands.last_seq[sequences.SOURCE] == 2


def test_one_at_a_time_a_second_start_is_refused_not_queued() -> None:
    h = Harness()
    h.run(3)
    h.command("seq.define", sequence="slow", steps="; ".join(["exec.noop"] * 10))
    h.run(1)
    h.command("seq.start", sequence="slow")
    h.run(2)
    second = h.command("seq.start", sequence="payload_half")
    h.run(1)
    assert _stage(h, second, "seq.start") == "failed"
    assert "another sequence is running" in [
        v for v in h.verification(second) if v.name == "seq.start"][-1].reason
    assert h.core.state.payload.operator_cap_frac == pytest.approx(1.0)
    abort = h.command("seq.abort")
    h.run(1)
    assert _stage(h, abort, "seq.abort") == "completed"
    assert [e.args["reason"] for e in h.events("seq.aborted")] == ["ground command"]
    assert h.core.state.sequences.running == ""


def test_a_failing_step_aborts_the_rest_with_the_reason() -> None:
    h = Harness()
    h.run(3)
    # SAFE -> COMPUTE is no transition: step 2 fails, step 3 never runs
    h.command("seq.define", sequence="bad",
              steps="mode.set mode=SAFE; mode.set mode=COMPUTE; payload.throttle_cap level_pct=10")
    h.run(1)
    h.command("seq.start", sequence="bad")
    h.run(4)
    aborted = h.events("seq.aborted")
    assert len(aborted) == 1 and "step 2 (mode.set) failed" in aborted[0].args["reason"]
    assert _ran(h, "payload.throttle_cap") == []
    assert h.core.state.payload.operator_cap_frac == pytest.approx(1.0)
    assert h.core.state.sequences.aborted == 1


def test_a_watchpoint_starts_a_ground_defined_sequence_and_busy_or_unknown_is_said() -> None:
    h = Harness()
    h.run(3)
    h.command("seq.define", sequence="cool_down",
              steps="payload.throttle_cap level_pct=40; exec.noop; exec.noop")
    h.command("limits.wp_set", wp_id=41, point="thermal.radiator_temp_c", kind="above",
              low=0.0, high=30.0, persistence=1, action="sequence", target="cool_down",
              enabled=True)
    h.command("limits.wp_set", wp_id=42, point="thermal.radiator_temp_c", kind="above",
              low=0.0, high=31.0, persistence=1, action="sequence", target="payload_full",
              enabled=True)
    h.command("limits.wp_set", wp_id=43, point="thermal.radiator_temp_c", kind="above",
              low=0.0, high=32.0, persistence=1, action="sequence", target="never_defined",
              enabled=True)
    h.run(1)
    h.run(2, radiator_temp_c=35.0)
    assert [e.args["by"] for e in h.events("seq.started")] == ["limits #41"]
    assert [(e.args["name"], e.args["running"]) for e in h.events("seq.busy")] == [
        ("payload_full", "cool_down")]  # one at a time: said, counted, not queued
    assert [e.args["name"] for e in h.events("seq.unknown")] == ["never_defined"]
    assert h.core.state.sequences.refused == 2
    assert h.core.state.payload.operator_cap_frac == pytest.approx(0.4)
    h.run(4)
    assert [e.args["name"] for e in h.events("seq.completed")] == ["cool_down"]


def test_the_table_is_changed_listed_and_survives_a_reset(tmp_path: Path) -> None:
    h = Harness(state_path=tmp_path / "state")
    h.run(3)
    cmds = [h.command("seq.define", sequence="mine", steps="exec.noop"),
            h.command("seq.delete", sequence="payload_half"),
            h.command("seq.delete", sequence="payload_half"),
            h.command("seq.define", sequence="bad name", steps="exec.noop"),
            h.command("seq.list")]
    h.run(2)
    names = ["seq.define", "seq.delete", "seq.delete", "seq.define", "seq.list"]
    stages = [_stage(h, s, n) for s, n in zip(cmds, names, strict=True)]
    assert stages == ["completed", "completed", "failed", "failed", "completed"]
    listed = sorted(e.args["text"] for e in h.events("seq.entry"))
    assert listed == ["mine: exec.noop", "park_payload: payload.throttle_cap level_pct=0.0; "
                      "mode.set mode=STANDBY", "payload_full: payload.throttle_cap "
                      "level_pct=100.0"]
    h.shutdown()
    again = Harness(state_path=tmp_path / "state")
    again.run(2)
    table = again.core.state.sequences.table
    assert sorted(table) == ["mine", "park_payload", "payload_full"]
    assert table["park_payload"][1] == Step("mode.set", {"mode": "STANDBY"})
