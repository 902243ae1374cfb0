"""Measure what radiation tolerance costs and what it catches: ``measure() -> dict``.

For each shipped model, on the same 16-tile captures and one onnxruntime thread:

- ``scrubbable_cost_ratio``: a job's inference on the session that computes with the
  payload's own weight arrays (pre-packing off, optimisation at EXTENDED:
  :mod:`payload.model_weights`) over a stock session (all optimisations) - the price of
  being able to scrub at all;
- ``scrub_cpu_us``: one scrub (SHA-256 of every weight tensor), and the weight bytes;
- ``scrub_detection``: injected weight flips (1-8 random bits, many trials) found by the
  next scrub; ``weight_flips_changing_answers``: how many of them changed any output;
- per-inference checks on *transient* input upsets (one random bit of the input flipped
  during the first run only): among upsets that changed any output
  (``effective_upsets``), the fraction each check flags - ``range`` (alone), ``sampled``
  (range + the one-tile re-run, the default on every job), ``run_twice`` - and among
  upsets that changed a cloudy/clear *decision*, the same;
- overheads, job time with the check over job time without: ``range_overhead`` (every
  job), ``sampled_overhead`` (a job that gets the one-tile re-run),
  ``sampled_overhead_amortized`` (one job in ``sampled_every_n_jobs`` gets it), and
  ``run_twice_overhead``. The detection rates of ``sampled`` are those of a sampled job;
- where the checks run in the payload process (:mod:`payload.job_run`): the re-runs on
  the inference thread, in series with inference (``inference_thread_overhead_amortized``:
  the one-tile re-run on one job in ``sampled_every_n_jobs``), the verdict (range
  check, comparisons) on the socket thread while the next job infers
  (``verdict_cpu_us``, per job).

Ratios come from medians of this thread's CPU time over interleaved repeats in the same
process (see :func:`_medians_s` for why CPU time); the host's load average is reported.
``aisat bench integrity [--json]`` prints it.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from payload.camera import capture
from payload.integrity import (
    FAILED,
    SAMPLED_RERUN_EVERY,
    SUSPECT,
    checked_infer,
    infer_runs,
    judge,
)
from payload.model import MODELS_DIR, load_model

TILES = 16


def _medians_s(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median CPU time of each function (this thread's: onnxruntime with one intra-op
    thread computes on the caller's thread), run in interleaved rounds. CPU time, not
    wall time: on a shared 2-core host with a load average of 8-10 (measured while this
    was written) wall-clock medians varied 3x between identical runs."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.thread_time()
            fn()
            times[k].append(time.thread_time() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def _stock_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(path.read_bytes(), sess_options=options,
                                providers=["CPUExecutionProvider"])


def measure_model(path: Path, *, trials: int = 200, repeats: int = 200,
                  seed: int = 2026) -> dict[str, Any]:
    model = load_model(path)
    assert model.weights is not None
    batch = capture(TILES, seed, 50.0, 10.0).tiles
    stock = _stock_session(path)
    name_in, name_out = model.card.input_name, model.card.output_name
    weights = model.weights
    sampled_runs = infer_runs(model.infer, batch, sample_seed=SAMPLED_RERUN_EVERY)
    t = _medians_s({
        "stock": lambda: stock.run([name_out], {name_in: batch}),
        "ours": lambda: model.infer(batch),
        "range": lambda: checked_infer(model.infer, batch, sample_seed=1),
        "sampled": lambda: checked_infer(model.infer, batch, sample_seed=SAMPLED_RERUN_EVERY),
        "twice": lambda: checked_infer(model.infer, batch, sample_seed=1, run_twice=True),
        "runs_sampled": lambda: infer_runs(model.infer, batch,
                                           sample_seed=SAMPLED_RERUN_EVERY),
        "verdict": lambda: judge(sampled_runs),
        "scrub": weights.scrub,
    }, repeats)
    stock_s, ours_s, range_s, sampled_s, twice_s, scrub_s = (
        t["stock"], t["ours"], t["range"], t["sampled"], t["twice"], t["scrub"])

    rng = np.random.default_rng(seed)
    clean = model.infer(batch)
    detected = changing = 0
    for trial in range(trials):
        model.weights.flip_bits(1 + trial % 8, rng)
        changing += int(not np.array_equal(model.infer(batch), clean))
        report = model.weights.scrub()
        detected += bool(report.corrupted)
        model.weights.repair(report.corrupted)
    assert np.array_equal(model.infer(batch), clean)

    effective = decisive = 0
    flagged = {"range": 0, "sampled": 0, "run_twice": 0}
    flagged_decisive = dict.fromkeys(flagged, 0)
    clean_cloudy = clean > model.threshold
    for _ in range(trials):
        upset = batch.copy()
        raw = upset.reshape(-1).view(np.uint8)
        bit = int(rng.integers(raw.size * 8))
        raw[bit // 8] ^= np.uint8(1 << (bit % 8))
        with np.errstate(all="ignore"):
            wrong = model.infer(upset)
        if np.array_equal(wrong, clean):
            continue
        effective += 1
        decision = bool(np.any((wrong > model.threshold) != clean_cloudy)
                        or not np.all(np.isfinite(wrong)))
        decisive += decision
        sample = int(rng.integers(1 << 24)) * SAMPLED_RERUN_EVERY  # a sampled job
        _, v_sampled = checked_infer(model.infer, batch, sample_seed=sample,
                                     first_run_input=upset)
        _, v_twice = checked_infer(model.infer, batch, sample_seed=sample, run_twice=True,
                                   first_run_input=upset)
        hits = {"range": v_sampled.verdict == FAILED,
                "sampled": v_sampled.verdict in (SUSPECT, FAILED),
                "run_twice": v_twice.verdict in (SUSPECT, FAILED)}
        for k, hit in hits.items():
            flagged[k] += hit
            flagged_decisive[k] += hit and decision

    def rate(n: int, of: int) -> float | None:
        return round(n / of, 4) if of else None

    return {
        "model": model.model_id,
        "weight_bytes": model.weights.n_bytes,
        "stock_job_cpu_ms": round(stock_s * 1e3, 3),
        "job_cpu_ms": round(ours_s * 1e3, 3),
        "scrubbable_cost_ratio": round(ours_s / stock_s, 3),
        "scrub_cpu_us": round(scrub_s * 1e6, 1),
        "scrub_detection": rate(detected, trials),
        "weight_flip_trials": trials,
        "weight_flips_changing_answers": rate(changing, trials),
        "input_upset_trials": trials,
        "effective_upsets": effective,
        "decision_changing_upsets": decisive,
        "detection_of_effective": {k: rate(v, effective) for k, v in flagged.items()},
        "detection_of_decision_changing": {k: rate(v, decisive)
                                           for k, v in flagged_decisive.items()},
        "range_overhead": round(range_s / ours_s, 3),
        "sampled_overhead": round(sampled_s / ours_s, 3),
        "sampled_every_n_jobs": SAMPLED_RERUN_EVERY,
        "sampled_overhead_amortized": round(
            (range_s * (SAMPLED_RERUN_EVERY - 1) + sampled_s) / SAMPLED_RERUN_EVERY / ours_s, 3),
        "run_twice_overhead": round(twice_s / ours_s, 3),
        "verdict_cpu_us": round(t["verdict"] * 1e6, 1),
        "inference_thread_overhead_amortized": round(
            (ours_s * (SAMPLED_RERUN_EVERY - 1) + t["runs_sampled"])
            / SAMPLED_RERUN_EVERY / ours_s, 3),
    }


def measure(*, trials: int = 200, repeats: int = 200) -> dict[str, Any]:
    """Every shipped model (see the module docstring for each number)."""
    models = sorted(MODELS_DIR.glob("*.onnx"))
    import os

    return {"tiles_per_job": TILES, "threads": 1, "clock": "thread CPU time",
            "load_average_1min": round(os.getloadavg()[0], 2),
            "models": [measure_model(p, trials=trials, repeats=repeats) for p in models]}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("integrity", help="radiation tolerance: scrub cost and detection, "
                       "per-inference checks' detection rates and overheads")
    p.add_argument("--json", action="store_true")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--repeats", type=int, default=200)


def run(args: argparse.Namespace) -> int:
    result = measure(trials=args.trials, repeats=args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['tiles_per_job']} tiles per job, {result['threads']} thread, "
          f"{result['clock']}; load average {result['load_average_1min']}")
    for m in result["models"]:
        print(f"{m['model']}: {m['weight_bytes']} B of weights; job {m['job_cpu_ms']} ms CPU "
              f"(stock session {m['stock_job_cpu_ms']} ms, x{m['scrubbable_cost_ratio']})")
        print(f"  scrub {m['scrub_cpu_us']} us CPU; detected {m['scrub_detection']:.0%} of "
              f"{m['weight_flip_trials']} injected weight flips "
              f"({m['weight_flips_changing_answers']:.0%} of them changed an answer)")
        print(f"  input upsets: {m['effective_upsets']} of {m['input_upset_trials']} changed "
              f"an output, {m['decision_changing_upsets']} a decision; flagged: "
              + ", ".join(f"{k} {v}" for k, v in m["detection_of_effective"].items())
              + "; of decision-changing: "
              + ", ".join(f"{k} {v}" for k, v in m["detection_of_decision_changing"].items()))
        print(f"  overhead: range x{m['range_overhead']}, sampled re-run "
              f"x{m['sampled_overhead']} on 1 job in {m['sampled_every_n_jobs']} "
              f"(x{m['sampled_overhead_amortized']} amortised), run twice "
              f"x{m['run_twice_overhead']}")
        print(f"  in the payload process: on the inference thread x"
              f"{m['inference_thread_overhead_amortized']} (the sampled re-runs, amortised); "
              f"the verdict {m['verdict_cpu_us']} us CPU per job beside it")
    return 0
