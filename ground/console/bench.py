"""``aisat bench console``: what each console endpoint costs on a run's archive.

Why: the page polls its state every second and a live plot every three; on a long
run's archive those reads must stay cheap. This drives the real app in process (no
socket, so only the console's and the archive's own work is timed) against a run
directory, running or stopped, and prints the first and median time of each request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REQUESTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("/api/state", {}),
    ("/api/telemetry", {}),
    ("/api/events", {"limit": 200}),
    ("/api/series", {"point": "power.battery_soc_pct", "buckets": 400}),
    ("/api/series", {"point": "mode.current", "buckets": 400}),
    ("/api/series", {"point": "power.battery_soc_pct", "window_s": 1800}),
    ("/api/passes", {}),
    ("/api/products", {}),
)


def bench_console(run_dir: Path, repeats: int = 5) -> dict[str, Any]:
    """Time every request of :data:`REQUESTS` ``repeats`` times; raises RuntimeError
    naming the request that did not answer 200."""
    from starlette.testclient import TestClient

    from ground.console.backend import ConsoleBackend
    from ground.console.server import create_app

    backend = ConsoleBackend(run_dir)
    rows = []
    with TestClient(create_app(backend), base_url="http://127.0.0.1:8080") as client:
        for path, params in REQUESTS:
            times_ms = []
            for _ in range(repeats):
                start = time.perf_counter()
                reply = client.get(path, params=params)
                times_ms.append((time.perf_counter() - start) * 1000)
                if reply.status_code != 200:
                    raise RuntimeError(f"{path} {params}: {reply.status_code} "
                                       f"{reply.json().get('error')}")
            body = reply.json()
            rows.append({"request": path + ("?" + "&".join(f"{k}={v}" for k, v in
                                                           params.items()) if params else ""),
                         "first_ms": round(times_ms[0], 2),
                         "median_ms": round(statistics.median(times_ms), 2),
                         "samples": body.get("raw_count"),
                         "drawn": len(body["t"]) if "t" in body else None})
    return {"run_dir": str(run_dir), "repeats": repeats,
            "archive_rows": backend.reader().counts(), "requests": rows}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("console", help="what each operator-console request costs on a "
                       "run's archive")
    p.add_argument("--run-dir", type=Path, required=True,
                   help="a run directory (running or stopped)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        print("aisat bench console: --repeats >= 1", file=sys.stderr)
        return 2
    try:
        result = bench_console(args.run_dir, args.repeats)
    except RuntimeError as exc:
        print(f"aisat bench console: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"console requests on {result['run_dir']} ({result['archive_rows']}), "
          f"{result['repeats']} each:")
    for row in result["requests"]:
        plot = (f"  ({row['samples']} samples, {row['drawn']} drawn)"
                if row["samples"] is not None else "")
        print(f"  {row['request']:<58} first {row['first_ms']:>7.1f} ms  "
              f"median {row['median_ms']:>7.1f} ms{plot}")
    return 0
