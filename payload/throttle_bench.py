"""The throttle's curve: what the duty cycle and the intra-op thread count do to the
payload's CPU use and throughput, measured (``aisat bench payload --throttle``).

The executive throttles the payload by a duty cycle (:mod:`payload.pacing`: after
``b`` seconds of work, rest ``b (1 - L) / L``); the payload's other CPU knob is
onnxruntime's intra-op thread count, set when its session is made. This runs the
payload's own core (:class:`payload.core.PayloadCore`, the real model, real time, pacing
on, as in free-running flight) with a queue that never empties, for each duty level and
thread count, and measures the process's CPU time over wall time (cores used) and tiles
per second. Nothing else runs in the process, so its CPU time is the payload's.

It shows a curve, not a pass/fail: on a busy machine every figure is lower, the shape
(CPU and throughput proportional to the duty; threads adding CPU, and throughput only
where a batch is big enough to split) is the point.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from flightsw.clock import RealClock
from flightsw.messages import ConfigBody, JobBody
from flightsw.wire import Kind, Sequencer

DUTY_LEVELS = (0.25, 0.5, 0.75, 1.0)
THREADS = (1, 2)
BATCH = 64
SECONDS_PER_POINT = 1.5
REPEATS = 3


def _point(model: Any, duty: float, seconds: float, batch: int) -> dict[str, Any]:
    from payload.core import PayloadCore

    clock = RealClock()
    core = PayloadCore(model, clock)
    seq = Sequencer("flight")
    core.handle(seq.make(Kind.PAYLOAD_CONFIG, 0.0, ConfigBody(duty, True).to_body()),
                clock.monotonic_s())
    job_id = 0
    tiles = 0
    cpu0, t0 = time.process_time(), clock.monotonic_s()
    while (now := clock.monotonic_s()) - t0 < seconds:
        while len(core.queue) < 2:
            job_id += 1
            core.handle(seq.make(Kind.PAYLOAD_JOB, 0.0, JobBody(
                job_id, batch, job_id * 7919, 45.0, 7.0).to_body()), now)
        wait = core.wait_s(now)
        if wait:
            clock.sleep_s(min(wait, seconds - (now - t0)))
            continue
        for env in core.run_next_job(clock.monotonic_s()):
            tiles += int(env.body.get("n_tiles", 0))
    wall = clock.monotonic_s() - t0
    return {"duty": duty, "cpu_cores": round((time.process_time() - cpu0) / wall, 3),
            "tiles_per_s": round(tiles / wall, 1)}


def bench_throttle(duties: tuple[float, ...] = DUTY_LEVELS, threads: tuple[int, ...] = THREADS,
                   batch: int = BATCH, seconds: float = SECONDS_PER_POINT,
                   repeats: int = REPEATS) -> dict[str, Any]:
    """Every (threads, duty) point ``repeats`` times, interleaved (a neighbour's burst
    then hits every point alike), and the median of each."""
    from payload.model import load_model
    from payload.tile_bank import shared_bank

    shared_bank().prewarm()  # the camera's one-off renders are not the throttle's doing
    models = {n: load_model(intra_op_threads=n) for n in threads}
    for model in models.values():
        _point(model, 1.0, 0.3, batch)  # warm-up
    samples: dict[tuple[int, float], list[dict[str, Any]]] = {}
    for _ in range(max(repeats, 1)):
        for n in threads:
            for duty in duties:
                samples.setdefault((n, duty), []).append(_point(models[n], duty, seconds,
                                                                batch))
    rows = []
    for (n, duty), got in samples.items():
        rows.append({"intra_op_threads": n, "duty": duty,
                     "cpu_cores": statistics.median(g["cpu_cores"] for g in got),
                     "tiles_per_s": statistics.median(g["tiles_per_s"] for g in got)})
    return {"batch": batch, "seconds_per_point": seconds, "repeats": repeats,
            "load_avg_1min": _load_avg(), "curve": rows}


def _load_avg() -> float | None:
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def format_curve(result: dict[str, Any]) -> str:
    lines = [f"throttle curve: batch {result['batch']}, {result['seconds_per_point']:g} s "
             f"per point, median of {result['repeats']} interleaved, the payload core paced "
             f"as in flight (load average {result['load_avg_1min']})",
             "  threads  duty   CPU (cores)   tiles/s"]
    for row in result["curve"]:
        lines.append(f"  {row['intra_op_threads']:>7}  {row['duty']:>4.2f}   "
                     f"{row['cpu_cores']:>11.3f}   {row['tiles_per_s']:>7,.1f}")
    return "\n".join(lines)
