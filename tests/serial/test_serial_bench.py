"""``aisat bench serial`` runs and its figures hang together (it asserts nothing itself)."""

from __future__ import annotations

import json

import pytest

from flightsw.framing import encode_frames
from hil.bench import main as bench_main
from hil.serial_bench import computed


def test_computed_figures_follow_the_framer() -> None:
    mix = [b"a" * 100, b"b" * 3000]
    c = computed(mix)
    assert c["mix"]["wire_bytes"] == len(encode_frames(mix))
    by = [row["goodput_Bps_115200"] for row in c["by_size"]]
    assert by == sorted(by) and by[-1] < 11_520  # bigger frames, less overhead, < line
    assert c["mix"]["goodput_Bps_921600"] == pytest.approx(8 * c["mix"]["goodput_Bps_115200"])
    assert c["mix"]["overhead_pct"] < c["mix"]["overhead_pct_one_per_batch"]


def test_bench_serial_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["serial", "--json", "--seconds", "0.3"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["pty"]["frames"] > 0 and r["pty"]["discards"] == 0
    assert r["computed"]["mix"]["frames"] > 10
    assert r["pty"]["x_line_115200"] == pytest.approx(8 * r["pty"]["x_line_921600"])


def test_bench_serial_refuses_bad_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["serial", "--seconds", "0"]) == 2
    assert "positive" in capsys.readouterr().err
