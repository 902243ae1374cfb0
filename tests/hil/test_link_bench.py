"""``aisat bench link``: the figures exist and mean what they say (no speed asserted)."""

from __future__ import annotations

import json

import pytest

from hil import bench, link_bench


def test_goodput_over_a_lossy_pass_counts_each_record_once() -> None:
    clean = link_bench.goodput(loss=0.0, pass_s=20)
    lossy = link_bench.goodput(loss=0.3, pass_s=20)
    assert clean["duplicates_dropped"] == 0 and clean["frames_resent"] == 0
    assert 0 < lossy["goodput_fraction"] < clean["goodput_fraction"] <= 1.0
    assert lossy["frames_resent"] > 0  # the losses were asked for again


@pytest.mark.integration
def test_bench_link_json_has_the_four_numbers(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(link_bench, "PASS_S", 10.0)
    monkeypatch.setattr(link_bench.goodput, "__defaults__", (0.1, 10.0, 1, "cubesat-jetson"))
    assert bench.main(["link", "--json", "--records", "300", "--rtt-commands", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"ratio_to_bare", "latency_p99_ms", "cmd_rtt_p50_ms",
                        "goodput_fraction"}
    assert all(isinstance(v, float) and v > 0 for v in out.values()), out


def test_bench_link_refuses_too_small_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["link", "--records", "5"]) == 2
    assert "--records" in capsys.readouterr().err
