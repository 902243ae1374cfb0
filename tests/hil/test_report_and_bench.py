"""The HTML report is self-contained and complete; the benchmark prints its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flightsw.hal import Actuators
from hil.bench import main as bench_main
from hil.plant import Plant, Profile
from hil.report import write_html


def test_report_is_self_contained_with_every_plot(jetson: Profile, tmp_path: Path) -> None:
    plant = Plant(jetson)
    for k in range(1200):
        mode = "COMPUTE" if k < 600 else "SAFE"
        plant.step(1.0, Actuators(payload_activity_frac=0.8, report_mode=mode))
    out = write_html(plant, tmp_path / "run.html", title="test run")
    text = out.read_text()
    assert text.count("<svg") == 6  # sun, power, battery, temperatures, payload, contacts
    for word in ("Sun and eclipse", "Power", "Battery", "Temperatures", "Payload", "contacts"):
        assert word in text
    assert "<script" not in text and " src=" not in text and "<link" not in text
    assert "No limit violations" in text
    assert "COMPUTE" in text and "SAFE" in text  # the mode band's legend


def test_report_lists_violations(jetson: Profile, tmp_path: Path) -> None:
    plant = Plant(jetson)
    plant.step(1.0, Actuators())
    summary = dict(plant.summary(), violations=["2025-06-22T09:00:01Z battery SoC 10 % below"])
    text = write_html(plant, tmp_path / "v.html", summary=summary).read_text()
    assert "battery SoC 10 % below" in text


def test_report_tables_every_limit_the_plant_checked(jetson: Profile, tmp_path: Path) -> None:
    """The per-limit record is a table (one row a limit, the violated ones marked), not a
    Python list dumped into the summary's cells."""
    plant = Plant(jetson)
    for _ in range(5):  # an empty pack in sunlight: below the SoC floor, loads still served
        plant.battery.energy_j = 0.0
        plant.step(1.0, Actuators(payload_activity_frac=1.0))
    text = write_html(plant, tmp_path / "l.html").read_text()
    table = text.split("<h2>Limits checked every step</h2>")[1].split("</table>")[0]
    assert table.count("<tr class='bad'>") == 1
    assert "<td>battery SoC</td><td>below 20 %</td><td>1</td><td>5</td>" in table
    assert table.count("<tr class='ok'>") >= 6  # the limits never violated are listed too
    assert "[{" not in text  # no list of dicts in the summary table


def test_report_refuses_a_plant_without_history(jetson: Profile, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="record=False"):
        write_html(Plant(jetson, record=False), tmp_path / "x.html")


def test_bench_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["plant", "--json", "--no-scaling", "--repeats", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["realtime_multiple"] > 0.0
    assert result["steps"] == 95 * 60


def test_bench_rejects_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["plant", "--profile", "nope", "--no-scaling"]) == 2
    assert "cubesat-jetson" in capsys.readouterr().err
