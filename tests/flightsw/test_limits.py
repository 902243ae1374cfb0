"""The onboard limit checker: watchpoints, persistence, stale and rate checks, actions,
commands (validated, refused with the reason), the table across a reset, and the
escalation ladder ending in SAFE."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from flightsw import limits, modes, sequences
from flightsw.component import Tick
from flightsw.config import FlightConfig
from flightsw.harness import Harness
from flightsw.limits import LimitsState, Watchpoint, WatchpointError
from flightsw.wire import Kind

CFG = FlightConfig()


def _run(wp: Watchpoint, values: list[Any], *, mode: str = "COMPUTE",
         dt_s: float = 1.0) -> list[tuple[limits.LimitsOut, list[str]]]:
    """Feed one watchpoint a value per second; the outputs and event names per step."""
    state = LimitsState(watchpoints=[wp])
    out = []
    for i, value in enumerate(values):
        state, o, events = limits.step(state, {wp.point: value}, mode,
                                       Tick(1000.0 + i * dt_s, i * dt_s))
        out.append((o, [name for name, _ in events]))
    return out


def _trips(results: list[tuple[limits.LimitsOut, list[str]]]) -> list[int]:
    return [i for i, (_o, names) in enumerate(results) if "limits.tripped" in names]


@pytest.mark.parametrize("kind, low, high, values, tripped_at", [
    ("above", 0, 50, [40, 49.9, 50, 50.1, 60], [3]),
    ("below", 20, 0, [30, 20, 19.9, 10], [2]),
    ("outside", 0, 10, [5, 0, 10, 11, 5, -1], [3, 5]),
    ("above", 0, 50, [None, math.nan, 40], []),  # missing is the stale check's business
    ("above", 0, 0.5, [False, True], [1]),  # booleans read as 0 / 1
    ("stale", 0, 3, [1, None, None, None, None, 2], [4]),
    ("stale", 0, 3, [None, None, None, None, None], [4]),  # never seen: stale after 3 s
    ("rate", 0, 2, [10, 11, 13, 16, 17], [3]),  # +3 in one second
    ("rate", 0, 2, [10, 7], [1]),  # either sign
    ("rate", 0, 2, [10, None, 13, 14], []),  # across a gap: +3 over 2 s
])
def test_each_kind_trips_where_computed(kind: str, low: float, high: float,
                                        values: list[Any], tripped_at: list[int]) -> None:
    wp = Watchpoint(1, "x", kind, low, high)
    assert _trips(_run(wp, values)) == tripped_at


def test_persistence_counts_consecutive_samples_and_trips_once() -> None:
    wp = Watchpoint(1, "x", "above", high=10, persistence=3)
    results = _run(wp, [11, 11, 5, 11, 11, 11, 11, 11, 5, 5, 11, 5, 5, 5])
    assert _trips(results) == [5]  # the third violation in a row, not earlier, not again
    cleared = [i for i, (_o, names) in enumerate(results) if "limits.cleared" in names]
    assert cleared == [13]  # three good samples in a row clear it, not two


def test_a_disabled_watchpoint_never_trips() -> None:
    wp = Watchpoint(1, "x", "above", high=10, enabled=False)
    assert _trips(_run(wp, [20, 20, 20])) == []


def test_mode_action_asks_for_the_safest_mode_while_tripped() -> None:
    table = [Watchpoint(1, "a", "above", high=10, action="mode", target="STANDBY"),
             Watchpoint(2, "b", "above", high=10, action="mode", target="SAFE")]
    state = LimitsState(watchpoints=table)
    state, out, _ = limits.step(state, {"a": 11, "b": 0}, "COMPUTE", Tick(0.0, 0.0))
    assert out.mode_target == "STANDBY" and out.mode_reason.startswith("limit #1")
    state, out, _ = limits.step(state, {"a": 11, "b": 11}, "COMPUTE", Tick(1.0, 1.0))
    assert out.mode_target == "SAFE" and out.mode_reason.startswith("limit #2")
    # already safe enough: nothing asked
    state, out, _ = limits.step(state, {"a": 11, "b": 11}, "SAFE", Tick(2.0, 2.0))
    assert out.mode_target is None
    # the operator raised the mode while #1 is still tripped: it is pushed down again
    state, out, _ = limits.step(state, {"a": 11, "b": 0}, "NOMINAL", Tick(3.0, 3.0))
    assert out.mode_target == "STANDBY"


def test_sequence_action_starts_the_named_sequence_once() -> None:
    wp = Watchpoint(1, "x", "above", high=10, action="sequence", target="payload_half")
    results = _run(wp, [11, 11, 11])
    assert [o.sequences for o, _ in results] == [(("payload_half", "limits #1"),), (), ()]


@pytest.mark.parametrize("changes, words", [
    ({"wp_id": 0}, "id"),
    ({"point": "power.nonexistent"}, "no such numeric telemetry point"),
    ({"point": "mode.current"}, "no such numeric telemetry point"),  # an enum, not a number
    ({"kind": "outside", "low": 5.0, "high": 5.0}, "low < high"),
    ({"kind": "stale", "high": 0.0}, "high > 0"),
    ({"kind": "rate", "high": -1.0}, "high > 0"),
    ({"action": "mode", "target": "COMPUTE"}, "safer mode"),
    ({"action": "mode", "target": ""}, "safer mode"),
    ({"action": "sequence", "target": "self destruct"}, "letters, digits or _"),
    ({"action": "sequence", "target": ""}, "letters, digits or _"),
    ({"action": "event", "target": "SAFE"}, "takes no target"),
])
def test_bad_definitions_are_refused_with_the_reason(changes: dict[str, Any],
                                                      words: str) -> None:
    h = Harness()
    h.run(3)
    before = h.core.state.limits.watchpoints
    args = {"wp_id": 40, "point": "power.battery_soc_pct", "kind": "below", "low": 30.0,
            "high": 0.0, "persistence": 2, "action": "event", "target": "",
            "enabled": True, **changes}
    seq = h.command("limits.wp_set", **args)
    h.run(1)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and words in report.reason, report.reason
    assert h.core.state.limits.watchpoints == before  # nothing changed


def test_table_full_is_refused() -> None:
    state = LimitsState(watchpoints=[Watchpoint(i, "x", "above", high=1)
                                     for i in range(1, limits.MAX_WATCHPOINTS + 1)])
    handler = limits.make_handlers(lambda: frozenset({"x"}))["limits.wp_set"]
    args = {"wp_id": 200, "point": "x", "kind": "above", "low": 0.0, "high": 1.0,
            "persistence": 1, "action": "event", "target": "", "enabled": True}
    with pytest.raises(WatchpointError, match="full"):
        handler(state, args, Tick(0.0, 0.0))
    args["wp_id"] = 1  # replacing one is fine
    assert len(handler(state, args, Tick(0.0, 0.0)).state.watchpoints) == limits.MAX_WATCHPOINTS


def test_defaults_come_from_the_config_and_are_valid() -> None:
    cfg = FlightConfig(battery_temp_max_c=40.0, battery_charge_max_temp_c=40.0,
                       battery_voltage_min_v=12.0)
    table = {wp.wp_id: wp for wp in limits.default_watchpoints(cfg)}
    assert table[6].high == 40.0 and table[6].target == "SAFE"
    assert table[17].low == 12.0
    assert 17 not in {wp.wp_id for wp in limits.default_watchpoints(CFG)}  # no voltage set
    known = limits._numeric_points(CFG)()
    for wp in table.values():
        limits.validate(wp, known)


def test_commands_add_modify_disable_list_and_delete(tmp_path: Path) -> None:
    h = Harness(state_path=tmp_path / "state")
    h.run(3)
    add = {"wp_id": 40, "point": "thermal.radiator_temp_c", "kind": "above", "low": 0.0,
           "high": 30.0, "persistence": 2, "action": "event", "target": "", "enabled": True}
    seqs = [h.command("limits.wp_set", **add),
            h.command("limits.wp_set", **{**add, "high": 25.0}),
            h.command("limits.wp_enable", wp_id=4, enabled=False),
            h.command("limits.wp_delete", wp_id=16),
            h.command("limits.wp_delete", wp_id=99),
            h.command("limits.list")]
    h.run(2)
    notes = [h.verification(s)[-1] for s in seqs]
    assert [n.stage for n in notes] == ["completed"] * 4 + ["failed", "completed"]
    assert notes[0].reason.startswith("added #40") and "> 30" in notes[0].reason
    assert notes[1].reason.startswith("modified #40") and "> 25" in notes[1].reason
    assert "no such watchpoint" in notes[4].reason
    listed = [e.args["text"] for e in h.events("limits.watchpoint")]
    assert len(listed) == len(h.core.state.limits.watchpoints)
    assert any(t.startswith("#40 thermal.radiator_temp_c > 25") for t in listed)
    assert any(t.startswith("#4 ") and t.endswith("(disabled)") for t in listed)
    assert not any(t.startswith("#16 ") for t in listed)
    # a trip of the new watchpoint through the whole executive
    h.run(3, radiator_temp_c=26.0)
    assert [e.args["check"] for e in h.events("limits.tripped")] == [
        "#40 thermal.radiator_temp_c > 25 x2 -> event"]
    h.shutdown()
    # the table survives a reset
    again = Harness(state_path=tmp_path / "state")
    again.run(2)
    table = {wp.wp_id: wp for wp in again.core.state.limits.watchpoints}
    assert table[40].high == 25.0 and not table[4].enabled and 16 not in table


def test_a_sequence_runs_through_the_normal_dispatch_with_reports() -> None:
    h = Harness()
    h.run(3)
    seq = h.command("limits.wp_set", wp_id=41, point="thermal.radiator_temp_c", kind="above",
                    low=0.0, high=30.0, persistence=1, action="sequence",
                    target="payload_half", enabled=True)
    h.run(1)
    assert h.verification(seq)[-1].stage == "completed"
    h.run(2, radiator_temp_c=35.0)
    assert h.core.state.payload.operator_cap_frac == pytest.approx(0.5)
    assert h.core.state.commands.last_seq[sequences.SOURCE] == 0
    reports = [e.body for e in h.downlink if e.kind is Kind.VERIFICATION
               and e.body.get("name") == "payload.throttle_cap"]
    # made onboard: never "received" over the link
    assert [r["stage"] for r in reports] == ["accepted", "started", "completed"]


def test_the_ladder_warns_then_sheds_then_goes_safe_and_safe_waits_for_ground() -> None:
    h = Harness()
    h.run(12)
    assert h.core.state.mode.mode == "COMPUTE"
    bt_max = h.cfg.battery_temp_max_c
    h.run(4, battery_temp_c=bt_max - 0.8)  # warning only (derating done at max - 1.2)
    assert h.core.state.mode.mode == "COMPUTE"
    assert [e.args["check"].split()[0] for e in h.events("limits.tripped")] == ["#4"]
    h.run(4, battery_temp_c=bt_max - 0.3)  # shed rung: payload off
    assert h.core.state.mode.mode == "STANDBY"
    assert h.core.state.mode.reason.startswith("limit #5")
    assert not h.actuators[-1].payload_on
    h.run(4, battery_temp_c=bt_max + 1)  # top rung
    assert h.core.state.mode.mode == "SAFE"
    h.run(int(modes.LADDER_DWELL_S) + 30, battery_temp_c=20.0)
    assert h.core.state.mode.mode == "SAFE"  # a watchpoint's SAFE waits for the ground
    seq = h.command("mode.set", mode="NOMINAL")
    h.run(2)
    assert h.verification(seq)[-1].stage == "completed"
    assert h.core.state.mode.mode in ("NOMINAL", "COMPUTE")


def test_a_shed_rung_ends_by_itself_after_its_dwell_once_cool() -> None:
    h = Harness()
    h.run(12)
    bt_max = h.cfg.battery_temp_max_c
    h.run(4, battery_temp_c=bt_max - 0.3)
    assert h.core.state.mode.mode == "STANDBY"
    h.run(60, battery_temp_c=bt_max - 4)  # below the shed threshold, inside the margin
    assert h.core.state.mode.mode == "STANDBY"
    h.run(int(modes.LADDER_DWELL_S), battery_temp_c=bt_max - 4)
    assert h.core.state.mode.mode == "STANDBY"  # not yet cool enough to resume
    h.run(3, battery_temp_c=20.0)
    assert h.core.state.mode.mode == "NOMINAL"
    assert h.core.state.mode.reason == "limit cleared"


def test_only_a_safer_mode_may_be_forced() -> None:
    state = modes.ModeState("STANDBY", "test", 0.0)
    assert modes.force(state, "LOW_POWER", "limit #2", 1.0)[0].mode == "LOW_POWER"
    assert modes.force(state, "SAFE", "x", 1.0)[0].mode == "SAFE"
    for target in ("STANDBY", "NOMINAL", "COMPUTE", "NOPE"):
        with pytest.raises(modes.TransitionRefused):
            modes.force(state, target, "x", 1.0)


def test_a_clearing_watchpoint_no_longer_pushes_the_mode_down() -> None:
    """Found by the harness: a trip still clearing (good samples < persistence) forced
    SAFE again on a spacecraft whose mode table had just left a "battery low" SAFE, and
    that SAFE then waited for the ground."""
    wp = Watchpoint(1, "x", "below", low=15, persistence=3, action="mode", target="SAFE")
    results = _run(wp, [10, 10, 10, 90, 90, 90], mode="NOMINAL")
    assert [o.mode_target for o, _ in results] == [None, None, "SAFE", None, None, None]
    assert "limits.cleared" in results[5][1]
