"""Command round trip, measured: how long from an operator's ``cmd`` to ``completed``.

Each probe sends ``exec.noop`` through the ops API (validated, queued, sealed, sent,
authenticated onboard, run, reported) and polls its record until ``completed``; the
round trip is wall time on the caller's side, so it includes everything an operator
waits for. Measured before this issue's work: p50 571 ms, because replies waited for
the 1 Hz downlink flush; target: p50 under 150 ms on loopback in contact.

``measure_cmd_rtt`` is the function other tools call (``aisat bench link`` reports its
``cmd_rtt_p50_ms``); ``python -m ground.rtt_probe --run-dir DIR [--json]`` runs it
against a running stack, which must be in contact (``aisat up``, then wait for AOS).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from flightsw.clock import RealClock
from ground.api import Ops
from ground.errors import GroundError

POLL_S = 0.002


@dataclass(frozen=True)
class RttResult:
    n: int  # round trips measured (completed)
    failed: int  # probes that failed or timed out (not in the percentiles)
    p50_ms: float
    p99_ms: float
    max_ms: float


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]


def measure_cmd_rtt(ops: Ops, n: int = 50, *, timeout_s: float = 10.0,
                    clock: RealClock | None = None) -> RttResult:
    """``n`` no-op round trips through ``ops``, one after the other."""
    clock = clock or RealClock()
    rtts_ms: list[float] = []
    failed = 0
    for _ in range(n):
        start = clock.monotonic_s()
        rec = ops.submit("exec.noop")
        while not rec.finished and clock.monotonic_s() - start < timeout_s:
            clock.sleep_s(POLL_S)
            rec = ops.verification(rec.cmd_seq)
        if rec.ok:
            rtts_ms.append((clock.monotonic_s() - start) * 1e3)
        else:
            failed += 1
    return RttResult(len(rtts_ms), failed, round(percentile(rtts_ms, 0.50), 1),
                     round(percentile(rtts_ms, 0.99), 1),
                     round(max(rtts_ms, default=float("nan")), 1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ground.rtt_probe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, default=None)
    p.add_argument("-n", type=int, default=50, help="round trips (default 50)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("-n must be at least 1")
    try:
        with Ops(args.run_dir) if args.run_dir else Ops() as ops:
            result = measure_cmd_rtt(ops, args.n)
    except GroundError as exc:
        print(f"rtt_probe: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(f"command round trip over {result.n} no-ops ({result.failed} failed): "
              f"p50 {result.p50_ms} ms, p99 {result.p99_ms} ms, max {result.max_ms} ms")
    return 0 if result.n else 1


if __name__ == "__main__":
    sys.exit(main())
