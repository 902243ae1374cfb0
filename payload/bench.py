"""``python -m payload.bench``: how fast the shipped model loads and runs on this machine.

Prints JSON: model load time (card check + session + dry run), inference throughput at a
batch of 16 tiles through :class:`~payload.model.LoadedModel` and through a bare
onnxruntime session on the same bytes (the wrapper's overhead), and the cost of a whole
16-tile job (capture + inference). It is the seed of the roadmap's ``aisat bench
payload``; it reads time only through :class:`flightsw.clock.RealClock`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from typing import Any

from flightsw.clock import RealClock


def _timed(clock: RealClock, fn: Callable[[], object], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        t0 = clock.monotonic_s()
        fn()
        samples.append(clock.monotonic_s() - t0)
    return samples


def run_bench(batch: int = 16, repeats: int = 300, intra_op_threads: int = 1) -> dict[str, Any]:
    clock = RealClock()
    t0 = clock.monotonic_s()
    import onnxruntime as ort

    from payload.camera import capture
    from payload.messages import JobSpec
    from payload.model import CPU_PROVIDER, load_model
    from payload.screening import screen

    import_s = clock.monotonic_s() - t0
    t0 = clock.monotonic_s()
    model = load_model(intra_op_threads=intra_op_threads)
    first_load_s = clock.monotonic_s() - t0  # what a freshly started payload pays
    load_samples = _timed(clock, lambda: load_model(intra_op_threads=intra_op_threads), 5)
    tiles = capture(batch, seed=1, lat_deg=45.0, lon_deg=0.0).tiles

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    bare = ort.InferenceSession(str(model.path), sess_options=options,
                                providers=[CPU_PROVIDER])
    feeds = {model.card.input_name: tiles}
    outputs = [model.card.output_name]

    for _ in range(20):  # warm-up
        model.infer(tiles)
        bare.run(outputs, feeds)
    wrapped = _timed(clock, lambda: model.infer(tiles), repeats)
    raw = _timed(clock, lambda: bare.run(outputs, feeds), repeats)
    spec = JobSpec(job_id=1, n_tiles=batch, seed=2, lat_deg=45.0, lon_deg=0.0)
    job = _timed(clock, lambda: screen(spec, model, clock.monotonic_s), max(repeats // 10, 10))

    def per_s(samples: list[float]) -> float:
        return round(batch / statistics.median(samples), 1)

    return {
        "model": model.model_id,
        "provider": model.provider,
        "intra_op_threads": intra_op_threads,
        "cpu_count": os.cpu_count(),
        "batch": batch,
        "import_s": round(import_s, 3),
        "first_load_s": round(first_load_s, 4),
        "reload_s_median": round(statistics.median(load_samples), 4),
        "infer_ms_p50": round(statistics.median(wrapped) * 1e3, 3),
        "infer_ms_p99": round(sorted(wrapped)[int(0.99 * (len(wrapped) - 1))] * 1e3, 3),
        "tiles_per_s": per_s(wrapped),
        "bare_onnxruntime_tiles_per_s": per_s(raw),
        "throughput_ratio_to_bare": round(statistics.median(raw) / statistics.median(wrapped), 3),
        "job_ms_p50": round(statistics.median(job) * 1e3, 3),
        "job_tiles_per_s": per_s(job),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payload.bench", description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--intra-op-threads", type=int, default=1)
    args = parser.parse_args(argv)
    result = run_bench(args.batch, args.repeats, args.intra_op_threads)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
