"""``aisat bench sim``: ``aisat sim --orbits 2`` of this checkout against a baseline
checkout, run alternately, wall and CPU side by side.

Why a benchmark and not a test: the sim's speed is the whole lockstep stack's (plant,
executive, payload, ground and the link between them), and on a shared machine a timed
assertion would fail on its neighbours' load. So this prints figures and ratios and
asserts nothing; the load average during each run is printed beside it.

- *wall*: from the spawn of ``aisat sim`` to its exit (the launcher's own start-up and
  the ground's final drain included: it is what an operator waits for).
- *CPU*: user + system of the whole process tree, from :func:`os.wait4` on the launcher
  (each process reaps its children, so the plant, executive, payload and ground are in
  it); neighbours on the machine skew this far less than wall time.
- *faster*: baseline / this, per round and over all rounds (sums, not a mean of ratios).
- *sim / bare*: this checkout's sim wall time over the bare onnxruntime time of the
  tiles it classified: the payload's own ``session.run`` times (each data product's
  ``infer_ms_mean`` times its jobs), summed over the archived products and scaled to
  every tile the executive counted. A sim that runs real inference cannot beat 1.0.

The baseline is another checkout with its own virtual environment (``DIR/.venv``), e.g.
``git worktree add /work/wt-b4 b4ef211`` with ``python3 -m venv .venv && pip install -e .``
in it; its ``aisat sim`` runs from ``DIR`` under ``DIR/.venv/bin/python``. Rounds
alternate which checkout goes first, so a change in the machine's load hits both.

    aisat bench sim [--json] [--baseline DIR] [--profile NAME]... [--rounds N] [--orbits X]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROFILES = ("orbital-dc-node", "suncatcher-proto")
DEFAULT_ORBITS = 2.0
LOAD_SAMPLE_S = 1.0
EXIT_POLL_S = 0.01
"""How often the launcher's exit is looked for: the wall time is good to this (a run's
exit was looked for only at each load sample once, which rounded every wall time up to
the next whole second: 5 % of a 20 s run)."""


class SimBenchError(Exception):
    """Bad arguments or a run that failed (the message says which and why)."""


@dataclass
class SimRun:
    """One ``aisat sim`` run of one checkout."""

    checkout: str  # "this" or "baseline"
    profile: str
    wall_s: float
    cpu_s: float  # user + system of the whole process tree
    user_s: float
    system_s: float
    load_min: float
    load_max: float
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)
    """The sim's ``--json`` mission summary (empty if it printed none)."""
    bare_s: float | None = None
    """Bare onnxruntime seconds for every tile it classified (this checkout only)."""


Runner = Callable[[str, list[str], Path], SimRun]
"""(checkout, argv, cwd) -> a finished run; tests pass a fake."""


def bare_inference_s(archive: Path, tiles_done: int) -> float | None:
    """Bare onnxruntime seconds for ``tiles_done`` tiles, from the archived data
    products: the sum of each product's ``jobs * infer_ms_mean`` scaled by the tiles
    the executive counted over the tiles in those products. ``None`` if the archive
    holds no product with inference times (an older checkout's, or none archived)."""
    if not Path(archive).exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
        try:
            rows = conn.execute("SELECT seq, body_json FROM products").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    seen: set[int] = set()
    infer_ms = 0.0
    tiles = 0
    for seq, body_json in rows:
        if seq in seen:  # a record archived twice counts once
            continue
        seen.add(seq)
        try:
            body = json.loads(body_json)
            jobs, mean_ms, n = int(body["jobs"]), float(body["infer_ms_mean"]), \
                int(body["tiles"])
        except (KeyError, TypeError, ValueError):
            continue
        infer_ms += jobs * mean_ms
        tiles += n
    if tiles <= 0 or infer_ms <= 0:
        return None
    return infer_ms / 1e3 * tiles_done / tiles


def run_sim(checkout: str, argv: list[str], cwd: Path) -> SimRun:
    """Run one ``aisat sim`` to its end; wall from spawn to exit, CPU of its tree."""
    profile = argv[argv.index("--profile") + 1]
    run_dir = Path(argv[argv.index("--run-dir") + 1])
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    out_path = run_dir.parent / f"{run_dir.name}.out"
    err_path = run_dir.parent / f"{run_dir.name}.err"
    loads = [os.getloadavg()[0]]
    t0 = time.monotonic()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
    # os.wait4, not Popen.wait: the tree's rusage comes with the exit status
    sampled_s = t0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(EXIT_POLL_S)
        if time.monotonic() - sampled_s >= LOAD_SAMPLE_S:
            sampled_s = time.monotonic()
            loads.append(os.getloadavg()[0])
    wall_s = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
    summary: dict[str, Any] = {}
    try:
        parsed = json.loads(out_path.read_text() or "{}")
        summary = parsed if isinstance(parsed, dict) else {}
    except (OSError, ValueError):
        summary = {}
    stderr = err_path.read_bytes() if err_path.exists() else b""
    if proc.returncode not in (0, 1) or not summary:  # 1: limit violations, still a run
        tail = stderr.decode(errors="replace")[-1500:]
        raise SimBenchError(f"{checkout} checkout's aisat sim --profile {profile} exited "
                            f"{proc.returncode} (run dir {run_dir}):\n{tail}")
    run = SimRun(checkout, profile, wall_s, usage.ru_utime + usage.ru_stime,
                 usage.ru_utime, usage.ru_stime, min(loads), max(loads), proc.returncode,
                 summary)
    if checkout == "this":
        run.bare_s = bare_inference_s(run_dir / "archive.sqlite",
                                      int(summary.get("tiles_done") or 0))
    return run


def baseline_python(baseline: Path) -> Path:
    """The baseline checkout's interpreter (``DIR/.venv/bin/python``), checked."""
    if not baseline.is_dir():
        raise SimBenchError(f"--baseline {str(baseline)!r} is not a directory")
    python = baseline / ".venv" / "bin" / "python"
    if not os.access(python, os.X_OK):
        raise SimBenchError(f"--baseline {str(baseline)!r} has no {python.relative_to(baseline)}"
                            f" (make one: python3 -m venv .venv && .venv/bin/pip install -e .)")
    if not (baseline / "aisat" / "cli.py").is_file():
        raise SimBenchError(f"--baseline {str(baseline)!r} is not an aisat checkout "
                            f"(no aisat/cli.py)")
    return python


def check_profiles(profiles: Sequence[str]) -> None:
    from hil.plant import ProfileError, load_profile

    for name in profiles:
        try:
            load_profile(name)
        except ProfileError as exc:
            raise SimBenchError(str(exc)) from None


def sim_argv(python: str | Path, profile: str, orbits: float, run_dir: Path) -> list[str]:
    return [str(python), "-m", "aisat", "sim", "--orbits", repr(orbits), "--profile", profile,
            "--run-dir", str(run_dir), "--json"]


def bench_sim(profiles: Sequence[str], rounds: int, orbits: float = DEFAULT_ORBITS,
              baseline: Path | None = None, runner: Runner = run_sim,
              work_dir: Path | None = None,
              on_run: Callable[[SimRun], None] | None = None) -> dict[str, Any]:
    """Run every profile ``rounds`` times (alternating checkouts with a baseline) and
    return the figures and ratios (:func:`summarise`)."""
    if rounds < 1:
        raise SimBenchError("--rounds must be at least 1")
    if not orbits > 0:
        raise SimBenchError("--orbits must be positive")
    if not profiles:
        raise SimBenchError("no profile to run")
    check_profiles(profiles)
    base_py = baseline_python(baseline) if baseline is not None else None
    here = Path(__file__).resolve().parents[1]
    scratch = Path(tempfile.mkdtemp(prefix="aisat-simbench-", dir=work_dir))
    runs: list[SimRun] = []
    finished = False
    try:
        for profile in profiles:
            for r in range(rounds):
                order: list[tuple[str, str | Path, Path]] = [("this", sys.executable, here)]
                if base_py is not None and baseline is not None:
                    order.append(("baseline", base_py, baseline))
                    if r % 2:
                        order.reverse()
                for checkout, python, cwd in order:
                    run_dir = scratch / f"{profile}-{checkout}-{r}"
                    run = runner(checkout, sim_argv(python, profile, orbits, run_dir), cwd)
                    shutil.rmtree(run_dir, ignore_errors=True)
                    runs.append(run)
                    if on_run is not None:
                        on_run(run)
        finished = True
    finally:
        if finished:  # a failed run's directory stays, for its logs
            shutil.rmtree(scratch, ignore_errors=True)
    return summarise(runs, orbits, baseline)


def _ratio(before: float, after: float) -> float | None:
    return round(before / after, 3) if after > 0 else None


def summarise(runs: Sequence[SimRun], orbits: float,
              baseline: Path | None = None) -> dict[str, Any]:
    """Per profile: each round's figures, the ratios baseline / this per round (paired
    in round order) and over all rounds (sums), and this checkout's sim / bare."""
    out: dict[str, Any] = {"orbits": orbits, "baseline": str(baseline) if baseline else None,
                           "profiles": {}}
    for profile in dict.fromkeys(r.profile for r in runs):
        mine = [r for r in runs if r.profile == profile and r.checkout == "this"]
        base = [r for r in runs if r.profile == profile and r.checkout == "baseline"]
        entry: dict[str, Any] = {
            "runs": [asdict(r) | {"summary": _brief(r.summary)} for r in mine + base],
            "this_wall_s": round(sum(r.wall_s for r in mine), 2),
            "this_cpu_s": round(sum(r.cpu_s for r in mine), 2),
            "load_min": round(min(r.load_min for r in mine + base), 2),
            "load_max": round(max(r.load_max for r in mine + base), 2),
        }
        overs = [(r.wall_s / r.bare_s) for r in mine if r.bare_s]
        entry["sim_over_bare"] = [round(v, 2) for v in overs]
        entry["tiles"] = [int(r.summary.get("tiles_done") or 0) for r in mine]
        if base:
            entry["baseline_wall_s"] = round(sum(r.wall_s for r in base), 2)
            entry["baseline_cpu_s"] = round(sum(r.cpu_s for r in base), 2)
            entry["wall_ratio"] = _ratio(entry["baseline_wall_s"], entry["this_wall_s"])
            entry["cpu_ratio"] = _ratio(entry["baseline_cpu_s"], entry["this_cpu_s"])
            entry["rounds"] = [
                {"wall_ratio": _ratio(b.wall_s, m.wall_s),
                 "cpu_ratio": _ratio(b.cpu_s, m.cpu_s)}
                for m, b in zip(mine, base, strict=False)]  # a failed run ends the bench
        out["profiles"][profile] = entry
    return out


_BRIEF = ("sim_time_s", "wall_time_s", "speedup", "tiles_done", "jobs_done",
          "records_downlinked", "records_archived", "records_onboard_at_end")


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in _BRIEF if k in summary}


def format_result(result: dict[str, Any]) -> str:
    orbits = result["orbits"]
    lines = [f"sim benchmark: aisat sim --orbits {orbits:g}"
             + (f", against {result['baseline']}" if result.get("baseline") else "")
             + " (CPU: user+system of the whole process tree)"]
    for profile, e in result["profiles"].items():
        lines.append(f"  {profile} (load average {e['load_min']:.1f}-{e['load_max']:.1f})")
        for r in e["runs"]:
            s = r["summary"]
            over = (f", sim/bare {r['wall_s'] / r['bare_s']:.2f}"
                    if r.get("bare_s") else "")
            lines.append(f"    {r['checkout']:<8} wall {r['wall_s']:7.1f} s  CPU "
                         f"{r['cpu_s']:7.1f} s  ({s.get('tiles_done', '?')} tiles, "
                         f"{s.get('records_archived', '?')} records archived{over}; "
                         f"load {r['load_min']:.1f}-{r['load_max']:.1f})")
        if "wall_ratio" in e:
            per = ", ".join(f"{x['wall_ratio']}x/{x['cpu_ratio']}x" for x in e["rounds"])
            lines.append(f"    faster: wall {e['wall_ratio']}x, CPU {e['cpu_ratio']}x over all "
                         f"rounds (baseline {e['baseline_wall_s']} s / {e['baseline_cpu_s']} s, "
                         f"this {e['this_wall_s']} s / {e['this_cpu_s']} s); per round "
                         f"wall/CPU: {per}")
        if e["sim_over_bare"]:
            lines.append(f"    sim wall / bare onnxruntime: "
                         f"{', '.join(f'{v:.2f}' for v in e['sim_over_bare'])}")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sim", help="aisat sim --orbits 2 against a baseline checkout: wall, "
                       "CPU of the process tree, ratios, sim/bare")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--baseline", type=Path, default=None,
                   help="another checkout with its own .venv (e.g. a worktree of b4ef211)")
    p.add_argument("--profile", action="append", dest="profiles", default=None,
                   help=f"profile to run (repeatable; default {', '.join(DEFAULT_PROFILES)})")
    p.add_argument("--rounds", type=int, default=2, help="runs per profile and checkout")
    p.add_argument("--orbits", type=float, default=DEFAULT_ORBITS)


def run(args: argparse.Namespace, runner: Runner = run_sim) -> int:
    profiles = args.profiles or list(DEFAULT_PROFILES)

    def progress(r: SimRun) -> None:
        print(f"aisat bench sim: {r.profile} {r.checkout}: wall {r.wall_s:.1f} s, CPU "
              f"{r.cpu_s:.1f} s", file=sys.stderr, flush=True)

    try:
        result = bench_sim(profiles, args.rounds, args.orbits, args.baseline, runner,
                           on_run=progress)
    except SimBenchError as exc:
        print(f"aisat bench sim: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2) if args.json else format_result(result))
    return 0
