"""``aisat bench recovery``: the JSON the issue specifies, from real faults, and a clear
refusal of bad arguments."""

from __future__ import annotations

import json

import pytest

from aisat.cli import main
from hil.recovery_bench import KINDS, bench_recovery


@pytest.mark.integration
def test_one_trial_of_each_fault_gives_the_specified_json() -> None:
    result = bench_recovery(KINDS, trials=1, heartbeat_timeout_s=1.5)
    assert result["trials"] == 1
    for kind in KINDS:
        r = result[kind]
        assert r["trials"] == 1
        assert 0 < r["p50_s"] <= r["p99_s"] < 30.0
        assert r["detect_p50_s"] + r["restart_p50_s"] == pytest.approx(r["p50_s"], abs=1e-3)
    # a hang is only seen through the heartbeat; a crash at once
    assert result["hang"]["detect_p50_s"] > result["crash"]["detect_p50_s"]
    assert result["hang"]["detect_p50_s"] <= 1.5 + 0.2
    json.dumps(result)  # one JSON object


@pytest.mark.parametrize(("args", "words"), [
    (["--kinds", "warp"], "unknown fault kind warp"),
    (["--kinds", ","], "unknown fault kind (none)"),
    (["--trials", "0"], "--trials must be at least 1"),
    (["--heartbeat-timeout-s", "nan"], "--heartbeat-timeout-s must be at least 1"),
])
def test_bad_arguments_are_refused_with_the_reason(
        args: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "recovery", *args]) == 2
    assert words in capsys.readouterr().err
