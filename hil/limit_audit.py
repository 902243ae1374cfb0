"""The limit audit of a finished run: every limit violation, from two witnesses, with times.

Why two witnesses: the plant knows the truth at every step (the true temperatures, state
of charge, what the bus offered the battery, whether the bus browned out); it keeps, per
limit, how often, how long, when first and how badly (:class:`hil.plant.limits.Limit`)
and writes that to ``plant_summary.json``. A violation the flight software never saw - a
sensor that lied, a brown-out - shows only there. The ground archive holds what the
spacecraft reported: every archived housekeeping point is checked here against its red
limits in the run's own ``dictionary.json``, which is what an operator would have seen.
A run is clean only if both are.

What is checked, and where each limit is defined (once, and read from there):

- plant (profile): battery SoC below the floor, every thermal node above its maximum or
  below its minimum (the payload's maximum is the flight limit), the battery offered a
  charge outside its charge temperature range, the bus browning out (load not served);
- archive (dictionary): every point's ``red_low`` / ``red_high``; and the battery
  charging (``power.battery_current_a`` > 0) outside the charge temperature range of the
  run's ``flight_config.json``. A sample with no reading (NaN) is counted, not judged.

Episodes (entry to exit) are counted with the limit machinery of the plant, so the two
witnesses count alike; an archived sample stands for the time since the one before (at
most a minute).
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hil.plant.limits import Limit, iso_utc

PLANT_SUMMARY = "plant_summary.json"
DICTIONARY = "dictionary.json"
FLIGHT_CONFIG = "flight_config.json"
ARCHIVE = "archive.sqlite"

BATTERY_TEMP = "power.battery_temp_c"
BATTERY_CURRENT = "power.battery_current_a"
MAX_SAMPLE_S = 60.0
"""Longest time one archived sample stands for: SAFE mode slows housekeeping, but a
longer gap (a reset, a record not archived) is not counted as time in violation."""


class AuditError(Exception):
    """A run cannot be audited (a file missing, unreadable, or from an older aisat)."""


@dataclass(frozen=True)
class Finding:
    """One violated limit: how often, how long, when first, and how badly."""

    source: str
    """``plant`` (truth, every step) or ``archive`` (housekeeping as archived)."""
    label: str
    kind: str  # "above" / "below" the limit
    limit: float
    unit: str
    count: int  # plant steps or archived samples in violation
    seconds: float
    episodes: int
    first_utc_s: float
    worst: float
    worst_utc_s: float

    def describe(self) -> str:
        return (f"{self.source}: {self.label} {self.kind} {self.limit:g} {self.unit}: "
                f"{self.episodes} episode(s), {self.count} "
                f"{'steps' if self.source == 'plant' else 'samples'} ({self.seconds:.0f} s), "
                f"first {iso_utc(self.first_utc_s)}, worst {self.worst:.2f} {self.unit} at "
                f"{iso_utc(self.worst_utc_s)}")


@dataclass
class Audit:
    """The audit of one run. ``findings`` empty and something checked: a clean run."""

    findings: list[Finding] = field(default_factory=list)
    plant_sim_s: float = 0.0
    plant_limits: int = 0
    """Limits the plant checked at every step."""
    archive_records: int = 0
    """Housekeeping records read from the archive."""
    archive_samples: dict[str, int] = field(default_factory=dict)
    """Per point checked against a limit: archived samples with a reading."""
    unreadable: dict[str, int] = field(default_factory=dict)
    """Per point: archived samples with no reading (NaN), counted, not judged."""

    @property
    def violations(self) -> int:
        return len(self.findings)

    def to_json(self) -> dict[str, Any]:
        return {"violations": self.violations,
                "findings": [asdict(f) for f in self.findings],
                "plant_sim_s": self.plant_sim_s, "plant_limits": self.plant_limits,
                "archive_records": self.archive_records,
                "archive_samples": dict(self.archive_samples),
                "unreadable": dict(self.unreadable)}

    def lines(self) -> list[str]:
        """The audit for a person: what was checked, then each finding."""
        checked = sum(self.archive_samples.values())
        out = [f"  limit audit         {self.violations or 'no'} violation(s): plant "
               f"{self.plant_limits} limits over {self.plant_sim_s / 86_400:.2f} days; "
               f"archive {self.archive_records} records, {checked} samples of "
               f"{len(self.archive_samples)} limited points"]
        out += [f"    - {f.describe()}" for f in self.findings]
        if any(self.unreadable.values()):
            text = ", ".join(f"{k} {v}" for k, v in sorted(self.unreadable.items()) if v)
            out.append(f"    (no reading, not judged: {text})")
        return out


def _finding(source: str, audit: Mapping[str, Any]) -> Finding:
    return Finding(source=source, label=str(audit["label"]), kind=str(audit["kind"]),
                   limit=float(audit["limit"]), unit=str(audit["unit"]),
                   count=int(audit["steps"]), seconds=float(audit["violated_s"]),
                   episodes=int(audit["episodes"]), first_utc_s=float(audit["first_utc_s"]),
                   worst=float(audit["worst"]), worst_utc_s=float(audit["worst_utc_s"]))


def plant_findings(summary: Mapping[str, Any]) -> list[Finding]:
    """The violated limits in a plant summary's per-limit record (``limits``)."""
    limits = summary.get("limits")
    if not isinstance(limits, list):
        raise AuditError("the plant summary has no per-limit record ('limits'): written "
                         "by an aisat older than the limit audit")
    try:
        return [_finding("plant", lim) for lim in limits if int(lim["steps"]) > 0]
    except (KeyError, TypeError, ValueError) as exc:
        raise AuditError(f"the plant summary's per-limit record is malformed: {exc!r}") from exc


@dataclass
class ArchiveLimits:
    """The limits the archive is judged against, from the run's dictionary and config."""

    by_point: dict[str, list[Limit]]
    charge: list[Limit]
    """The charge temperature range, checked on the battery temperature while charging."""
    period_s: float
    """Housekeeping period: the time the first archived sample stands for; each later one
    stands for the time since the one before, up to :data:`MAX_SAMPLE_S`."""

    @classmethod
    def from_run(cls, dictionary: Mapping[str, Any],
                 flight_config: Mapping[str, Any]) -> ArchiveLimits:
        by_point: dict[str, list[Limit]] = {}
        try:
            for point in dictionary["telemetry"]:
                name, unit, red = point["name"], point.get("units", ""), point.get("limits")
                lims = []
                if red and red.get("red_low") is not None:
                    lims.append(Limit(name, unit, float(red["red_low"]), above=False))
                if red and red.get("red_high") is not None:
                    lims.append(Limit(name, unit, float(red["red_high"]), above=True))
                if lims:
                    by_point[name] = lims
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            raise AuditError(f"the run's dictionary is malformed: {exc!r}") from exc
        try:
            lo = float(flight_config["battery_charge_min_temp_c"])
            hi = float(flight_config["battery_charge_max_temp_c"])
            period_s = float(flight_config.get("hk_period_s", 1.0))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"the flight config lacks the charge temperature range: "
                             f"{exc!r}") from exc
        label = "battery charging temperature"
        charge = [Limit(label, "C", lo, above=False), Limit(label, "C", hi, above=True)]
        return cls(by_point, charge, period_s)

    def all(self) -> list[Limit]:
        return [lim for lims in self.by_point.values() for lim in lims] + self.charge


def _number(value: Any) -> float | None:
    """A finite reading, or None (no reading: NaN, None, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_archive(archive: Path, limits: ArchiveLimits, audit: Audit) -> None:
    """Every archived housekeeping record, in onboard-time order, against ``limits``."""
    from ground.archive_reader import ArchiveReader
    from ground.errors import GroundError

    samples = dict.fromkeys(limits.by_point, 0)
    unreadable = dict.fromkeys(limits.by_point, 0)
    last_s: float | None = None
    try:
        with ArchiveReader(archive) as reader:
            for rec in reader.records():
                audit.archive_records += 1
                gap_s = limits.period_s if last_s is None else rec.time_s - last_s
                dt = gap_s if 0.0 < gap_s <= MAX_SAMPLE_S else limits.period_s
                last_s = rec.time_s
                pts = rec.points
                for name, lims in limits.by_point.items():
                    if name not in pts:
                        continue
                    value = _number(pts[name])
                    if value is None:
                        unreadable[name] += 1
                        continue
                    samples[name] += 1
                    for lim in lims:
                        lim.check(value, rec.time_s, dt)
                current = _number(pts.get(BATTERY_CURRENT))
                temp = _number(pts.get(BATTERY_TEMP))
                if current is not None and current > 0.0 and temp is not None:
                    for lim in limits.charge:
                        lim.check(temp, rec.time_s, dt)
                else:
                    for lim in limits.charge:
                        lim.clear()
    except (GroundError, sqlite3.Error) as exc:
        raise AuditError(f"archive {archive}: {exc}") from exc
    audit.archive_samples = samples
    audit.unreadable = unreadable
    audit.findings += [_finding("archive", lim.audit()) for lim in limits.all() if lim.steps]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AuditError(f"{path} does not exist: not a finished run's directory?") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise AuditError(f"{path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise AuditError(f"{path} is not a JSON object")
    return data


def audit_run(run_dir: Path | str) -> Audit:
    """Audit a finished run's directory (plant summary, dictionary, config, archive)."""
    run = Path(run_dir)
    summary = _read_json(run / PLANT_SUMMARY)
    audit = Audit(findings=plant_findings(summary),
                  plant_sim_s=float(summary.get("sim_time_s", 0.0)),
                  plant_limits=len(summary["limits"]))
    if not (run / ARCHIVE).exists():
        raise AuditError(f"{run / ARCHIVE} does not exist: the ground archived nothing")
    limits = ArchiveLimits.from_run(_read_json(run / DICTIONARY), _read_json(run / FLIGHT_CONFIG))
    check_archive(run / ARCHIVE, limits, audit)
    audit.findings.sort(key=lambda f: (f.first_utc_s, f.source, f.label))
    return audit


def for_summary(run_dir: Path | str) -> tuple[dict[str, Any], list[str]]:
    """The audit as ``aisat sim`` shows it: its JSON and its lines (an audit that could
    not run says why, and counts as a violation: a run nobody could check is not clean)."""
    try:
        audit = audit_run(run_dir)
    except AuditError as exc:
        return {"violations": 1, "error": str(exc)}, [f"  limit audit         not done: {exc}"]
    return audit.to_json(), audit.lines()


def run_cli(run_dir: Path, as_json: bool) -> int:
    """``aisat audit``: 0 clean, 1 violations, 2 the run cannot be audited."""
    import sys

    try:
        audit = audit_run(run_dir)
    except AuditError as exc:
        print(f"aisat audit: {exc}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(audit.to_json(), indent=2))
    else:
        print("\n".join(audit.lines()))
    return 1 if audit.violations else 0
