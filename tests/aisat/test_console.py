"""The launcher's terminal output: status lines that fit, progress in place."""

from __future__ import annotations

import io

import pytest

from aisat.console import (
    CLEAR_TO_EOL,
    fit,
    in_place,
    say,
    sim_progress_line,
    want_progress,
)
from hil.stack import status_line

WORLD = {
    "elapsed_s": 15.0, "time_utc_s": 1750582815.0, "temps_c": {"payload": 20.4},
    "battery_soc_frac": 0.902, "sun_fraction": 1.0, "mode": "COMPUTE",
    "throttle_frac": 1.0, "jobs_done": 1781,
    "next_pass": {"aos_utc_s": 1750582815.0 + 201, "station": "Weilheim"},
}


def test_the_full_status_line_is_unchanged_without_a_width() -> None:
    assert status_line(WORLD, 128.6) == (
        "T+00:00:15 2025-06-22 09:00:15Z | COMPUTE | sun      | batt  90.2% | "
        "payload  20.4°C thr 100% | jobs 1781 (128.6/s) | LOS, next Weilheim in 00:03:21")


@pytest.mark.parametrize("width", [40, 80, 200])
def test_the_status_line_fits_the_terminal(width: int) -> None:
    line = status_line(WORLD, 128.6, width)
    assert len(line) <= width - 1  # the last column would wrap on some terminals
    assert line.startswith("T+00:00:15") and "COMPUTE" in line and "…" not in line


def test_narrow_terminals_lose_the_least_important_parts_first() -> None:
    assert status_line(WORLD, 128.6, 200) == status_line(WORLD, 128.6)
    at_80 = status_line(WORLD, 128.6, 80)
    assert "2025-06-22" not in at_80 and "sun " not in at_80 and "jobs" not in at_80
    assert "batt  90.2%" in at_80 and "Weilheim" in at_80
    at_40 = status_line(WORLD, 128.6, 40)
    assert at_40 == "T+00:00:15 | COMPUTE | batt  90.2%"


def test_a_very_narrow_terminal_gets_a_cut_line_with_an_ellipsis() -> None:
    line = status_line(WORLD, None, 16)
    assert len(line) == 15 and line.endswith("…")


def test_a_redraw_clears_what_a_longer_previous_line_left() -> None:
    out = in_place("short", 80)
    assert out == "\r" + "short" + CLEAR_TO_EOL
    assert in_place("x" * 300, 40) == "\r" + "x" * 38 + "…" + CLEAR_TO_EOL
    assert fit("abc", 4) == "abc" and fit("abcd", 4) == "ab…"


def test_sim_progress_line() -> None:
    line = sim_progress_line(done_s=720.0, total_s=5748.0, wall_s=1.0)
    assert line == "sim 00:12:00 / 01:35:48  12.5% | 720x real time | ETA 00:00:06"
    # the speed-up from what was flown since the first sample, not since t=0
    line = sim_progress_line(done_s=1000.0, total_s=2000.0, wall_s=2.0, flown_s=10.0)
    assert "5.0x real time" in line and "ETA 00:03:20" in line
    assert "50.0%" in line


def test_sim_progress_before_any_speed_is_known() -> None:
    line = sim_progress_line(done_s=0.0, total_s=600.0, wall_s=0.0)
    assert line == "sim 00:00:00 / 00:10:00   0.0% | --x real time | ETA --:--:--"


@pytest.mark.parametrize(("tty", "json_output", "expected"), [
    (True, False, True), (False, False, False), (True, True, False), (False, True, False)])
def test_progress_only_for_a_person_at_a_terminal(tty: bool, json_output: bool,
                                                   expected: bool) -> None:
    assert want_progress(tty, json_output) is expected


def test_say_survives_a_closed_terminal() -> None:
    class Gone(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError(5, "Input/output error")

    say("stopping", file=Gone())  # no exception: the stack still gets stopped
    buf = io.StringIO()
    say("hello", end="", file=buf)
    assert buf.getvalue() == "hello"
