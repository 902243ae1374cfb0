"""Days of flight through the whole stack in lockstep - plant, executive with its payload
doing real inference, ground - audited for limit violations afterwards
(:mod:`hil.limit_audit`: the plant's truth at every step and every archived housekeeping
point against the dictionary's red limits).

Why ``cubesat-jetson``: of the shipped profiles its limits bind hardest under the flight
policy: the pack's heat (``aisat bench policy`` and ``tests/hil/test_multiday_flight.py``
fly it within 4 K of the battery's 45 C limit, with eclipses on every orbit all year),
and it is the default profile the other stack tests fly. Two days is 30 orbits: 30 eclipse
entries and exits, each with the planner's taper and the pack's heat cycle, and the passes
over six stations.

Nothing is thinned out for speed: housekeeping at 1 Hz, a capture every 10 s, the
shipped model, the plant stepped every simulated second (see the README section "A
multi-day lockstep flight, audited" for the wall time on a 2-core machine and where it goes).

The second test is the audit's own check: a short run of a spacecraft whose avionics
limit sits below their operating point and whose pack starts below its charge range, where
the audit must name both, from both witnesses where each can see it.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hil.limit_audit import audit_run
from hil.plant import Plant, load_profile
from tests.archive_books import archived_seqs, doubled_points

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

PROFILE = "cubesat-jetson"
DAYS = 2.0
DAY_S = 86_400.0


@dataclass
class Flight:
    run_dir: Path
    summary: dict[str, Any]
    wall_s: float


def _sim(run_dir: Path, profile: str, orbits: float, timeout_s: float) -> tuple[int, Flight,
                                                                                   str]:
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "aisat", "sim", "--profile", profile,
                          "--orbits", repr(orbits), "--run-dir", str(run_dir), "--json"],
                         capture_output=True, text=True, timeout=timeout_s)
    wall_s = time.monotonic() - t0
    summary = json.loads(out.stdout) if out.stdout.strip() else {}
    return out.returncode, Flight(run_dir, summary, wall_s), out.stderr


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Flight:
    orbits = DAYS * DAY_S / Plant(load_profile(PROFILE), record=False).orbit_period_s
    code, flight, err = _sim(tmp_path_factory.mktemp("days") / "run", PROFILE, orbits,
                             timeout_s=3 * 3600)
    print(f"\n{DAYS:g} days of {PROFILE} in lockstep: {flight.wall_s:.0f} s wall "
          f"({flight.summary.get('speedup')}x real time)")
    assert code == 0, err[-3000:] + json.dumps(flight.summary.get("violations"))[:3000]
    return flight


def test_two_days_in_lockstep_without_a_violation(two_days: Flight) -> None:
    s = two_days.summary
    assert s["sim_time_s"] == pytest.approx(DAYS * DAY_S, abs=2.0)
    assert s["stop_reason"] == "scenario complete" and s["executive_restarts"] == 0
    assert s["violations"] == []  # the plant's truth
    audit = s["limit_audit"]
    assert audit["violations"] == 0, audit["findings"]
    # and the audit looked: every step of the plant, and the archive's housekeeping
    assert audit["plant_sim_s"] == s["sim_time_s"] and audit["plant_limits"] >= 7
    assert set(audit["archive_samples"]) == {"power.battery_soc_pct", "power.battery_temp_c",
                                             "thermal.payload_temp_c",
                                             "thermal.avionics_temp_c"}
    hk_records = s["sim_time_s"]  # 1 Hz housekeeping
    assert min(audit["archive_samples"].values()) > 0.9 * hk_records
    assert sum(audit["unreadable"].values()) == 0
    # the same audit, read again from the run directory, agrees
    again = audit_run(two_days.run_dir)
    assert again.violations == 0 and again.archive_records == audit["archive_records"]


def test_the_policy_flew_near_what_binds_and_did_not_chatter(two_days: Flight) -> None:
    s = two_days.summary
    cfg = json.loads((two_days.run_dir / "flight_config.json").read_text())
    # the pack's heat binds: flown close to its limit, not at a margin's distance
    assert cfg["battery_temp_max_c"] - 6.0 < s["max_temps_c"]["battery"] \
        < cfg["battery_temp_max_c"]
    assert s["min_battery_soc_pct"] > 100 * cfg["battery_soc_floor_frac"]
    assert s["mode_changes"] <= 3  # boot NOMINAL -> COMPUTE; no chatter over 30 orbits


def test_the_payload_did_real_work_all_along(two_days: Flight) -> None:
    s = two_days.summary
    cfg = json.loads((two_days.run_dir / "flight_config.json").read_text())
    captures = s["sim_time_s"] / cfg["capture_period_s"]
    assert s["jobs_done"] > 0.8 * captures and s["payload_restarts"] == 0
    assert s["tiles_done"] > 8 * s["jobs_done"]
    with sqlite3.connect(two_days.run_dir / "archive.sqlite") as db:
        (products,) = db.execute("SELECT count(*) FROM products").fetchone()
        (first_s, last_s) = db.execute("SELECT min(time_s), max(time_s) FROM products"
                                       ).fetchone()
    # every job's product archived at the ground, but those still onboard at the end
    assert products >= s["jobs_done"] - s["records_onboard_at_end"]
    assert last_s - first_s > (DAYS - 0.25) * DAY_S


def test_the_books_balance_after_two_days(two_days: Flight) -> None:
    """Every downlink number the executive made is archived once at the ground or still
    held onboard for the next pass; none evicted, none archived twice."""
    archive = two_days.run_dir / "archive.sqlite"
    stats = json.loads((two_days.run_dir / "exec_stats.json").read_text())
    archived = archived_seqs(archive)
    assert len(archived) == len(set(archived)), "a record was archived twice"
    assert doubled_points(archive) == 0
    with sqlite3.connect(two_days.run_dir / "recorder.sqlite") as db:
        held = {n for (n,) in db.execute("SELECT seq FROM records")}
        (next_seq,) = db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()
    made = set(range(int(next_seq)))
    assert stats["records_made"] == len(made) and stats["recorder_evicted"] == 0
    lost = made - set(archived) - held
    assert not lost, f"lost: {sorted(lost)[:20]} of {len(lost)}"
    assert set(archived) <= made and stats["recorder_left"] == len(held)
    assert len(archived) > 0.9 * two_days.summary["sim_time_s"]


# --- the audit catches what it must ------------------------------------------------------

def _broken_profile(tmp_path: Path) -> Path:
    """cubesat-jetson with its avionics qualified only to 20.5 C (the sun warms them past
    it within minutes) and a pack that starts at -5 C, below its 0 C charge limit, in
    sunlight (so the array offers it charge the charger must refuse)."""
    shipped = Path(load_profile(PROFILE).source).read_text()
    broken = shipped.replace("max_temp_c = 60.0 ", "max_temp_c = 20.5 ", 1)
    pack = 'name = "battery"               # 8 x 18650'
    at = broken.index(pack)
    head, tail = broken[:at], broken[at:]
    broken = head + tail.replace("initial_temp_c = 20.0", "initial_temp_c = -5.0", 1)
    assert broken.count("20.5") == 1 and "initial_temp_c = -5.0" in broken
    path = tmp_path / "broken.toml"
    path.write_text(broken)
    return path


def test_the_audit_names_every_violation_of_a_broken_run(tmp_path: Path) -> None:
    code, flight, err = _sim(tmp_path / "run", str(_broken_profile(tmp_path)), 0.2,
                             timeout_s=600)
    assert code == 1, err[-3000:]  # aisat sim fails a run with violations
    audit = flight.summary["limit_audit"]
    found = {(f["source"], f["label"], f["kind"]): f for f in audit["findings"]}
    epoch_s = load_profile(PROFILE).epoch_utc_s
    # the plant's truth: the avionics past their (too low) limit, the cold pack refused
    hot = found[("plant", "avionics temperature", "above")]
    assert hot["limit"] == 20.5 and hot["worst"] > 20.5 and hot["count"] > 0
    cold = found[("plant", "battery charge-offered temperature", "below")]
    assert cold["limit"] == 0.0 and cold["first_utc_s"] == epoch_s + 1.0
    assert cold["worst"] <= -5.0
    # the archive: what the spacecraft reported of the same avionics excursion (the
    # charger refused the cold pack, so no telemetry shows it charging cold)
    seen = found[("archive", "thermal.avionics_temp_c", "above")]
    assert seen["limit"] == 20.5 and seen["count"] > 0
    assert abs(seen["first_utc_s"] - hot["first_utc_s"]) <= 5.0
    assert ("archive", "battery charging temperature", "below") not in found
    # and the plant's episodes are in the summary's violation list, with their times
    assert any("avionics temperature" in v for v in flight.summary["violations"])
    assert audit["violations"] == len(audit["findings"]) >= 3
