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
