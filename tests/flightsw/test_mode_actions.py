"""The mode table's entry actions as data: load budget (enforced by the load plan),
housekeeping rate, and the next-contact guard on COMPUTE. Table-driven."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from flightsw import modes
from flightsw.config import FlightConfig, HeaterConfig
from flightsw.harness import Harness
from flightsw.load_shedding import LoadPlan, plan
from flightsw.wire import Kind

# the cubesat-jetson's figures: bus 5.5 W, heaters 2 W (battery) + 4 W (payload),
# payload 4..25 W, pack 77 Wh
CFG = FlightConfig(heaters=(HeaterConfig("battery", "battery", 2.0),
                            HeaterConfig("payload", "payload", 4.0)),
                   battery_capacity_wh=77.0, payload_idle_w=4.0, payload_max_w=25.0,
                   bus_load_w=5.5, hk_period_s=1.0)


@pytest.mark.parametrize("mode, level, budget_w, hk_s", [
    ("SAFE", 1, 5.5 + 6.0, 2.0),          # bus + both heaters (survival), payload off
    ("LOW_POWER", 2, 5.5 + 2.0, 2.0),     # bus + the battery heater only
    ("STANDBY", 1, 5.5 + 6.0, 1.0),
    ("NOMINAL", 0, 5.5 + 6.0 + 4.0 + 0.25 * 21.0, 1.0),  # payload to 25 % of its range
    ("COMPUTE", 0, 5.5 + 6.0 + 25.0, 1.0),
])
def test_each_mode_has_its_load_budget_and_telemetry_rate(mode: str, level: int,
                                                          budget_w: float, hk_s: float) -> None:
    spec = modes.MODES[mode]
    assert modes.shed_level(spec) == level
    assert modes.budget_w(spec, CFG) == pytest.approx(budget_w)
    assert modes.hk_period_s(mode, CFG) == hk_s


@pytest.mark.parametrize("mode, soc, sun, level, reason", [
    ("COMPUTE", 0.9, 1.0, 0, ""),
    ("LOW_POWER", 0.9, 0.0, 2, "mode LOW_POWER keeps none of: payload, heaters"),
    ("STANDBY", 0.9, 1.0, 1, "mode STANDBY keeps none of: payload"),
    ("STANDBY", 0.19, 0.0, 2, "battery at 19.0 %"),  # the charge sheds more: it wins
])
def test_the_load_plan_enforces_the_mode_budget(mode: str, soc: float, sun: float,
                                                level: int, reason: str) -> None:
    got = plan(LoadPlan(), soc, sun, CFG, mode=mode,
               mode_level=modes.shed_level(modes.MODES[mode]))
    assert got.level == level
    assert got.reason.startswith(reason)


def test_a_mode_imposed_level_does_not_count_as_the_charge_hysteresis() -> None:
    """Leaving STANDBY at 26 % (above the 25 % safe level, inside its 2 % hysteresis): the
    payload comes back, because it was the mode, not the charge, that had shed it."""
    standby = plan(LoadPlan(), 0.26, 1.0, CFG, mode="STANDBY", mode_level=1)
    assert standby.level == 1 and standby.by_charge == 0
    assert plan(standby, 0.26, 1.0, CFG).level == 0
    assert plan(LoadPlan(1), 0.26, 1.0, CFG).level == 1  # shed by the charge: it holds


# soc, next contact in s -> the guard's verdict (None: COMPUTE may start). Full drain is
# 30.5 W on 77 Wh: 1200 s costs 13.2 % of the pack; the resume level is 45 %.
@pytest.mark.parametrize("soc, contact_s, refused", [
    (0.70, 1200.0, None),          # 70 - 13.2 = 56.8 % at AOS
    (0.62, 1200.0, "leave 48.8 %"),  # 62 - 13.2 = 48.8 % < 50 %
    (0.62, 1500.0, None),          # the contact is beyond the guard's horizon
    (0.62, math.nan, None),        # no contact forecast
    (0.62, 0.0, None),             # in contact: the pack is what it is, and above 60 %
    (0.61, 1100.0, "leave 48.9 %"),
])
def test_next_contact_guard(soc: float, contact_s: float, refused: str | None) -> None:
    cfg = replace(CFG, battery_soc_resume_frac=0.50)  # the resume level the guard holds
    inputs = modes.ModeInputs(soc, 40.0, next_contact_in_s=contact_s)
    reason = modes._compute_ok(inputs, cfg)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason and "below the 50 %" in reason


def test_a_refused_compute_command_says_the_next_contact_guard() -> None:
    cfg = replace(CFG, capture_period_s=5.0, battery_soc_resume_frac=0.50,
                  auto_compute=False)
    h = Harness(cfg)
    h.run(3, battery_soc_frac=0.61, next_contact_in_s=1150.0)  # 48.4 % at AOS
    seq = h.command("mode.set", mode="COMPUTE")
    h.run(1, battery_soc_frac=0.61, next_contact_in_s=1150.0)
    report = h.verification(seq)[-1]
    assert report.stage == "failed" and "next contact is in 1150 s" in report.reason
    assert [e.args["target"] for e in h.events("mode.refused")] == ["COMPUTE"]
    h.run(1, battery_soc_frac=0.61, next_contact_in_s=3000.0)  # the guard sees the sample
    seq = h.command("mode.set", mode="COMPUTE")
    h.run(1, battery_soc_frac=0.61, next_contact_in_s=3000.0)
    assert h.verification(seq)[-1].stage == "completed"


def _hk_count(h: Harness) -> int:
    return sum(1 for e in h.downlink if e.kind is Kind.TELEMETRY)


def test_housekeeping_rate_follows_the_mode_and_the_operator_until_the_next_change() -> None:
    h = Harness(replace(CFG, capture_period_s=5.0))
    h.run(4)
    h.downlink.clear()
    h.run(10)
    assert _hk_count(h) == 10  # NOMINAL / COMPUTE: every second
    h.command("mode.set", mode="SAFE")
    h.run(1)
    h.downlink.clear()
    h.run(10)
    assert _hk_count(h) == 5  # SAFE: every 2 s
    assert h.latest("mode.current") == "SAFE"
    assert h.latest("mode.budget_w") == pytest.approx(11.5)
    h.command("exec.hk_period_set", period_s=5.0)  # the operator's rate holds in SAFE
    h.run(1)
    h.downlink.clear()
    h.run(20)
    assert _hk_count(h) == 4
    h.command("mode.set", mode="NOMINAL")  # a mode change sets the mode's own rate
    h.run(1)
    h.downlink.clear()
    h.run(10)
    assert _hk_count(h) == 10
