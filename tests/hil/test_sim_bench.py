"""``aisat bench sim``: its arithmetic, its alternation and its refusals, with a fake
runner (no real sim: that is the benchmark's job, not a test's)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import pytest

from hil import sim_bench
from hil.sim_bench import SimBenchError, SimRun, bare_inference_s, bench_sim, summarise


def _run(checkout: str, profile: str, wall_s: float, cpu_s: float,
         bare_s: float | None = None, tiles: int = 100) -> SimRun:
    return SimRun(checkout, profile, wall_s, cpu_s, cpu_s * 0.9, cpu_s * 0.1, 2.0, 5.0, 0,
                  {"tiles_done": tiles, "records_archived": 7, "sim_time_s": 11_000.0},
                  bare_s)


def test_ratios_are_baseline_over_this_from_sums_and_per_round() -> None:
    runs = [_run("this", "p", 100.0, 40.0, bare_s=50.0), _run("baseline", "p", 300.0, 120.0),
            _run("baseline", "p", 250.0, 100.0), _run("this", "p", 50.0, 20.0, bare_s=40.0)]
    e = summarise(runs, 2.0, Path("/base"))["profiles"]["p"]
    assert e["this_wall_s"] == 150.0 and e["baseline_wall_s"] == 550.0
    assert e["wall_ratio"] == pytest.approx(550 / 150, abs=1e-3)
    assert e["cpu_ratio"] == pytest.approx(220 / 60, abs=1e-3)
    # rounds pair in order: this #1 with baseline #1, this #2 with baseline #2
    assert e["rounds"] == [{"wall_ratio": 3.0, "cpu_ratio": 3.0},
                           {"wall_ratio": 5.0, "cpu_ratio": 5.0}]
    assert e["sim_over_bare"] == [2.0, 1.25]
    assert (e["load_min"], e["load_max"]) == (2.0, 5.0)
    text = sim_bench.format_result(summarise(runs, 2.0, Path("/base")))
    assert "faster: wall 3.667x, CPU 3.667x" in text
    assert "sim wall / bare onnxruntime: 2.00, 1.25" in text


def test_without_a_baseline_only_this_checkouts_figures() -> None:
    e = summarise([_run("this", "p", 80.0, 30.0, bare_s=64.0)], 2.0)["profiles"]["p"]
    assert "wall_ratio" not in e and e["this_cpu_s"] == 30.0 and e["sim_over_bare"] == [1.25]


def _archive(path: Path, products: list[tuple[int, dict[str, object]]]) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, seq INTEGER, time_s REAL, "
                 "rx_s REAL, body_json TEXT, realtime INTEGER, rx_wall_s REAL)")
    for seq, body in products:
        conn.execute("INSERT INTO products (seq, body_json) VALUES (?, ?)",
                     (seq, json.dumps(body)))
    conn.commit()
    conn.close()
    return path


def test_bare_time_sums_products_and_scales_to_every_tile(tmp_path: Path) -> None:
    archive = _archive(tmp_path / "a.sqlite", [
        (1, {"jobs": 2, "tiles": 128, "infer_ms_mean": 10.0}),
        (1, {"jobs": 2, "tiles": 128, "infer_ms_mean": 10.0}),  # archived twice: once
        (2, {"jobs": 1, "tiles": 64, "infer_ms_mean": 40.0}),
        (3, {"jobs": 1, "tiles": 64}),  # an older body without times: left out
    ])
    # 2*10 + 1*40 = 60 ms for 192 tiles; 384 tiles were classified -> 120 ms
    assert bare_inference_s(archive, 384) == pytest.approx(0.120)
    assert bare_inference_s(_archive(tmp_path / "b.sqlite", []), 10) is None
    assert bare_inference_s(tmp_path / "missing.sqlite", 10) is None


def test_rounds_alternate_which_checkout_goes_first(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / ".venv" / "bin").mkdir(parents=True)
    (base / "aisat").mkdir()
    (base / "aisat" / "cli.py").write_text("")
    py = base / ".venv" / "bin" / "python"
    py.write_text("#!/bin/sh\n")
    py.chmod(0o755)
    calls: list[tuple[str, str, Path]] = []

    def fake(checkout: str, argv: list[str], cwd: Path) -> SimRun:
        calls.append((checkout, argv[0], cwd))
        assert argv[1:4] == ["-m", "aisat", "sim"] and "--json" in argv
        return _run(checkout, argv[argv.index("--profile") + 1],
                    10.0 if checkout == "this" else 30.0, 5.0)

    result = bench_sim(["suncatcher-proto"], 3, baseline=base, runner=fake,
                       work_dir=tmp_path)
    assert [c[0] for c in calls] == ["this", "baseline", "baseline", "this", "this",
                                     "baseline"]
    assert {c[1] for c in calls if c[0] == "baseline"} == {str(py)}
    assert {c[2] for c in calls if c[0] == "baseline"} == {base}
    assert result["profiles"]["suncatcher-proto"]["wall_ratio"] == 3.0
    assert not list(tmp_path.glob("aisat-simbench-*"))  # scratch removed after a good run


@pytest.mark.parametrize("kwargs, message", [
    ({"rounds": 0}, "--rounds must be at least 1"),
    ({"orbits": 0.0}, "--orbits must be positive"),
    ({"profiles": ["no-such-profile"]}, "no-such-profile"),
    ({"baseline": "missing"}, "is not a directory"),
    ({"baseline": "novenv"}, "has no .venv/bin/python"),
])
def test_bad_arguments_are_refused_before_anything_runs(tmp_path: Path, kwargs: dict,
                                                        message: str) -> None:
    args: dict = {"profiles": ["suncatcher-proto"], "rounds": 1, "orbits": 2.0,
                  "baseline": None}
    args.update(kwargs)
    if isinstance(kwargs.get("baseline"), str):
        baseline = tmp_path / kwargs["baseline"]
        if kwargs["baseline"] == "novenv":
            baseline.mkdir()
        args["baseline"] = baseline

    def never(checkout: str, argv: list[str], cwd: Path) -> SimRun:
        raise AssertionError("nothing may run")

    with pytest.raises(SimBenchError, match=message):
        bench_sim(args["profiles"], args["rounds"], args["orbits"], args["baseline"],
                  runner=never)


def test_the_cli_says_what_is_wrong_and_exits_2(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(profiles=None, rounds=1, orbits=2.0, json=False,
                              baseline=tmp_path / "nowhere")
    assert sim_bench.run(args) == 2
    assert "aisat bench sim: --baseline" in capsys.readouterr().err


def test_a_failed_run_is_an_error_with_its_stderr(tmp_path: Path) -> None:
    run_dir = tmp_path / "r" / "x"
    script = tmp_path / "fail.py"
    script.write_text("import sys; print('boom', file=sys.stderr); sys.exit(2)\n")
    with pytest.raises(SimBenchError, match="exited 2") as info:
        sim_bench.run_sim("this", [sys.executable, str(script), "--profile", "p",
                                   "--run-dir", str(run_dir)], tmp_path)
    assert "boom" in str(info.value)


def test_a_run_measures_wall_and_the_cpu_of_its_children(tmp_path: Path) -> None:
    """The CPU figure includes what a grandchild burned (the tree, via wait4)."""
    script = tmp_path / "sim.py"
    script.write_text(
        "import json, subprocess, sys, time\n"
        "subprocess.run([sys.executable, '-c', "
        "'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.3: pass'])\n"
        "print(json.dumps({'tiles_done': 0, 'sim_time_s': 1.0}))\n")
    run = sim_bench.run_sim("baseline", [sys.executable, str(script), "--profile", "p",
                                         "--run-dir", str(tmp_path / "r" / "x")], tmp_path)
    assert run.cpu_s >= 0.3 and run.wall_s >= 0.3
    assert run.summary == {"tiles_done": 0, "sim_time_s": 1.0} and run.bare_s is None


def test_the_wall_time_is_not_rounded_to_the_load_sample(tmp_path: Path) -> None:
    """The exit was looked for only once a second (at each load sample), so every wall
    time came out rounded up to a whole second: 0.2 s read as 1.0."""
    script = tmp_path / "sim.py"
    script.write_text("import json, time\ntime.sleep(0.2)\n"
                      "print(json.dumps({'tiles_done': 0, 'sim_time_s': 1.0}))\n")
    run = sim_bench.run_sim("baseline", [sys.executable, str(script), "--profile", "p",
                                         "--run-dir", str(tmp_path / "r" / "x")], tmp_path)
    assert 0.2 <= run.wall_s < 0.9
