"""The limit audit (:mod:`hil.limit_audit`) and the plant's per-limit record it reads:
each witness catches what it should, with counts and first/worst times, and a run that
cannot be audited says why instead of passing as clean."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from aisat.cli import main as aisat_main
from flightsw.catalog import build_dictionary
from flightsw.config import FlightConfig
from flightsw.hal import Actuators
from ground.archive import Archive
from hil.limit_audit import (
    ArchiveLimits,
    Audit,
    AuditError,
    audit_run,
    check_archive,
    plant_findings,
)
from hil.plant import Plant, Profile, load_profile
from hil.plant.limits import Limit
from hil.plant.thermal import KELVIN

DT_S = 1.0


def _node_temp(profile: Profile, node: str, temp_c: float) -> Profile:
    nodes = tuple(replace(n, initial_temp_c=temp_c) if n.name == node else n
                  for n in profile.thermal.nodes)
    return replace(profile, thermal=replace(profile.thermal, nodes=nodes))


def _entry(summary: dict[str, object], label: str, kind: str) -> dict[str, object]:
    limits = summary["limits"]
    assert isinstance(limits, list)
    return next(e for e in limits if e["label"] == label and e["kind"] == kind)


def test_a_limit_counts_episodes_and_keeps_first_and_worst() -> None:
    lim = Limit("battery SoC", "%", 20.0, above=False)
    for t, value in enumerate([25, 19, 18, 21, 15, 16, 30], start=100):
        lim.check(value, float(t), 2.0)
    a = lim.audit()
    assert (a["steps"], a["episodes"], a["violated_s"]) == (4, 2, 8.0)
    assert a["first_utc_s"] == 101.0 and a["worst"] == 15 and a["worst_utc_s"] == 104.0
    assert Limit("x", "C", 45.0, above=True).audit()["worst"] is None  # never violated


def test_a_cold_pack_offered_charge_in_sunlight_is_a_violation(jetson: Profile) -> None:
    """The default epoch is in sunlight (eclipse 31 min later): a pack at -5 C, below its
    0 C charge limit, is offered the array's surplus from the first step; the charger
    refuses it (no current) and the plant reports it, from that step, worst at -5 C or
    colder. The same pack at 20 C is not."""
    plant = Plant(_node_temp(jetson, "battery", -5.0), record=False)
    for _ in range(60):
        plant.step(DT_S, Actuators())
    assert plant.sensors().battery_current_a <= 0.0  # refused: nothing went in
    s = plant.summary()
    cold = _entry(s, "battery charge-offered temperature", "below")
    assert cold["steps"] == 60 and cold["episodes"] == 1 and cold["violated_s"] == 60.0
    assert cold["first_utc_s"] == plant.epoch_utc_s + DT_S
    assert isinstance(cold["worst"], float) and cold["worst"] <= -5.0
    assert any("charge-offered temperature" in v and "below limit 0.00" in v
               for v in s["violations"])
    findings = plant_findings(s)
    assert [f.label for f in findings] == ["battery charge-offered temperature"]

    warm = Plant(jetson, record=False)
    for _ in range(60):
        warm.step(DT_S, Actuators())
    assert warm.sensors().battery_current_a > 0.0  # charging, inside its range
    assert warm.summary()["violations"] == [] and plant_findings(warm.summary()) == []


def test_a_cold_pack_in_eclipse_is_not_offered_charge(jetson: Profile) -> None:
    """A pack chilled to -5 C on entering the umbra (31 min after the epoch) is offered
    no charge there: no step in the shadow is a violation."""
    plant = Plant(jetson, record=False)
    while plant.sensors().sun_fraction > 0.0:
        plant.step(10.0, Actuators())
    plant.thermal.temps_k[plant.thermal.names.index("battery")] = KELVIN - 5.0
    for _ in range(60):
        plant.step(DT_S, Actuators())
    assert plant.sensors().sun_fraction == 0.0 and plant.sensors().battery_temp_c < 0.0
    assert _entry(plant.summary(), "battery charge-offered temperature", "below")["steps"] == 0
    assert plant.summary()["violations"] == []


def test_a_brownout_is_an_episode_with_the_share_of_load_served(jetson: Profile) -> None:
    """An empty pack and a starved array (0.05 m^2) cannot carry the payload: the bus
    sheds load and the plant records how little of it was served."""
    profile = replace(jetson, battery=replace(jetson.battery, initial_soc_frac=0.0),
                      array=replace(jetson.array, area_m2=0.05))
    plant = Plant(profile, record=False)
    for _ in range(30):
        plant.step(DT_S, Actuators(payload_activity_frac=1.0))
    entry = _entry(plant.summary(), "bus brownout: load served", "below")
    assert entry["steps"] == 30
    assert isinstance(entry["worst"], float) and entry["worst"] < 100.0
    assert any("brownout" in v for v in plant.summary()["violations"])


# --- the archive witness ---------------------------------------------------------------

CFG = FlightConfig.from_mapping(load_profile("cubesat-jetson").flight)


def _archive(path: Path, rows: list[dict[str, float]], t0: float = 1.75e9) -> Path:
    archive = Archive(path)
    for i, points in enumerate(rows):
        archive.add_telemetry(i, t0 + i, t0 + i + 0.5, points)
    archive.flush()
    archive.close()
    return path


def _hk(**overrides: float) -> dict[str, float]:
    points = {"power.battery_soc_pct": 80.0, "power.battery_temp_c": 20.0,
              "power.battery_current_a": 1.0, "thermal.payload_temp_c": 60.0,
              "thermal.avionics_temp_c": 25.0, "mode.changes": 1.0}
    points.update(overrides)
    return points


def _limits() -> ArchiveLimits:
    return ArchiveLimits.from_run(build_dictionary(CFG).to_json(), CFG.to_dict())


def test_the_archive_is_judged_by_the_dictionarys_red_limits(tmp_path: Path) -> None:
    assert CFG.payload_temp_max_c == 85.0 and CFG.battery_soc_floor_frac == 0.2
    rows = [_hk(), _hk(**{"thermal.payload_temp_c": 86.0}),
            _hk(**{"thermal.payload_temp_c": 88.5}), _hk(),
            _hk(**{"power.battery_soc_pct": 19.0, "power.battery_current_a": -2.0}),
            _hk(**{"thermal.payload_temp_c": math.nan}), _hk()]
    audit = Audit()
    check_archive(_archive(tmp_path / "a.sqlite", rows), _limits(), audit)
    assert audit.archive_records == 7
    assert audit.archive_samples["thermal.payload_temp_c"] == 6
    assert audit.unreadable["thermal.payload_temp_c"] == 1  # counted, not judged
    by_label = {f.label: f for f in audit.findings}
    assert set(by_label) == {"thermal.payload_temp_c", "power.battery_soc_pct"}
    hot = by_label["thermal.payload_temp_c"]
    assert (hot.kind, hot.limit, hot.count, hot.episodes) == ("above", 85.0, 2, 1)
    assert hot.first_utc_s == 1.75e9 + 1 and hot.worst == 88.5
    assert hot.worst_utc_s == 1.75e9 + 2 and hot.seconds == 2 * CFG.hk_period_s
    low = by_label["power.battery_soc_pct"]
    assert (low.kind, low.limit, low.worst, low.first_utc_s) == ("below", 20.0, 19.0,
                                                                  1.75e9 + 4)


def test_charging_outside_the_charge_range_is_caught_but_discharging_cold_is_not(
        tmp_path: Path) -> None:
    """-3 C is inside the pack's survival range (red low -10 C) but below its 0 C charge
    limit: a violation only while the current is positive (charging)."""
    rows = [_hk(**{"power.battery_temp_c": -3.0, "power.battery_current_a": -1.5}),
            _hk(**{"power.battery_temp_c": -3.0, "power.battery_current_a": 0.0}),
            _hk(**{"power.battery_temp_c": -3.0, "power.battery_current_a": 0.4}),
            _hk(**{"power.battery_temp_c": -2.0, "power.battery_current_a": 0.4})]
    audit = Audit()
    check_archive(_archive(tmp_path / "a.sqlite", rows), _limits(), audit)
    [f] = audit.findings
    assert (f.label, f.kind, f.limit, f.count, f.episodes) == (
        "battery charging temperature", "below", 0.0, 2, 1)
    assert f.first_utc_s == 1.75e9 + 2 and f.worst == -3.0


def test_a_sample_stands_for_the_time_since_the_last_but_a_gap_is_not_violated_time(
        tmp_path: Path) -> None:
    """Housekeeping every 10 s (SAFE slows it): three hot samples are 20 s after the
    first; then an hour's gap (a reset) before the last, which counts one period only."""
    archive = Archive(tmp_path / "a.sqlite")
    t0 = 1.75e9
    for i, (t, temp) in enumerate([(0, 86.0), (10, 87.0), (20, 86.5), (3620, 86.0)]):
        archive.add_telemetry(i, t0 + t, t0 + t, _hk(**{"thermal.payload_temp_c": temp}))
    archive.flush()
    archive.close()
    audit = Audit()
    check_archive(tmp_path / "a.sqlite", _limits(), audit)
    [hot] = audit.findings
    assert hot.count == 4 and hot.seconds == CFG.hk_period_s + 10 + 10 + CFG.hk_period_s
    assert hot.episodes == 1 and hot.worst == 87.0 and hot.worst_utc_s == t0 + 10


def test_a_malformed_dictionary_or_config_is_refused() -> None:
    with pytest.raises(AuditError, match="dictionary is malformed"):
        ArchiveLimits.from_run({"telemetry": [{"name": "x", "limits": {"red_low": "cold"}}]},
                               CFG.to_dict())
    with pytest.raises(AuditError, match="charge temperature range"):
        ArchiveLimits.from_run(build_dictionary(CFG).to_json(), {})


def test_a_clean_archive_has_no_findings(tmp_path: Path) -> None:
    audit = Audit()
    check_archive(_archive(tmp_path / "a.sqlite", [_hk() for _ in range(5)]), _limits(),
                  audit)
    assert audit.findings == [] and audit.archive_records == 5
    assert audit.archive_samples == {"power.battery_soc_pct": 5, "power.battery_temp_c": 5,
                                     "thermal.payload_temp_c": 5, "thermal.avionics_temp_c": 5}


# --- a run directory, and the CLI ------------------------------------------------------

def _run_dir(tmp_path: Path, jetson: Profile, battery_c: float) -> Path:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    plant = Plant(_node_temp(jetson, "battery", battery_c), record=False)
    for _ in range(10):
        plant.step(DT_S, Actuators())
    (run / "plant_summary.json").write_text(json.dumps(plant.summary()))
    (run / "dictionary.json").write_text(json.dumps(build_dictionary(CFG).to_json()))
    (run / "flight_config.json").write_text(json.dumps(CFG.to_dict()))
    _archive(run / "archive.sqlite", [_hk() for _ in range(5)])
    return run


def test_audit_run_and_the_cli_exit_codes(tmp_path: Path, jetson: Profile,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    clean = _run_dir(tmp_path / "clean", jetson, 20.0)
    audit = audit_run(clean)
    assert audit.violations == 0 and audit.plant_limits >= 7 and audit.plant_sim_s == 10.0
    assert aisat_main(["audit", "--run-dir", str(clean)]) == 0
    assert "limit audit         no violation(s)" in capsys.readouterr().out

    cold = _run_dir(tmp_path / "cold", jetson, -5.0)
    assert aisat_main(["audit", "--run-dir", str(cold), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["violations"] == 1
    assert out["findings"][0]["source"] == "plant"
    assert out["findings"][0]["label"] == "battery charge-offered temperature"

    (cold / "archive.sqlite").unlink()
    assert aisat_main(["audit", "--run-dir", str(cold)]) == 2
    assert "archive.sqlite does not exist" in capsys.readouterr().err


def test_a_run_that_cannot_be_audited_says_why(tmp_path: Path, jetson: Profile) -> None:
    with pytest.raises(AuditError, match=r"plant_summary\.json does not exist"):
        audit_run(tmp_path)
    run = _run_dir(tmp_path, jetson, 20.0)
    old = json.loads((run / "plant_summary.json").read_text())
    del old["limits"]  # what an aisat before the audit wrote
    (run / "plant_summary.json").write_text(json.dumps(old))
    with pytest.raises(AuditError, match="no per-limit record"):
        audit_run(run)
    (run / "plant_summary.json").write_text("[1, 2")
    with pytest.raises(AuditError, match="unreadable"):
        audit_run(run)
