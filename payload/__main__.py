"""``python -m payload --endpoint tcp://127.0.0.1:PORT``: the executive starts this child."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Thread pools numpy's BLAS would otherwise start, one per core."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m payload",
        description="aisat inference payload: cloud screening of onboard captures, "
                    "driven by the executive over a ZeroMQ PAIR socket.",
    )
    parser.add_argument("--endpoint", required=True,
                        help="ZeroMQ endpoint the executive has bound, e.g. tcp://127.0.0.1:5601")
    parser.add_argument("--model", type=Path, default=None,
                        help="ONNX model with its .json card beside it (default: shipped model)")
    parser.add_argument("--incarnation", type=int, default=0,
                        help="restart count from the supervisor, echoed in heartbeats")
    parser.add_argument("--intra-op-threads", type=int, default=1,
                        help="onnxruntime intra-op threads (default 1: leave the executive a core)")
    parser.add_argument("--parent-pid", type=int, default=None,
                        help="exit when this process is no longer our parent (default: the "
                             "parent at start; passing it closes the race of a parent that "
                             "dies while we import)")
    parser.add_argument("--model-sha256", default="",
                        help="run the known model with this SHA-256 (--model or the shipped "
                             "one; the shipped one if neither matches): the supervisor's "
                             "last known good model")
    parser.add_argument("--key-stdin", action="store_true",
                        help="read the channel key (hex, one line) from stdin; the executive "
                             "always does this, and without a key the payload refuses to run")
    parser.add_argument("--log-level", default="INFO",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    return parser.parse_args(argv)


def limit_blas_threads() -> None:
    """One BLAS thread, unless the operator said otherwise.

    The camera's upsampling goes through numpy's BLAS, whose default thread pool takes
    every core and then spins waiting for more work: measured on a 2-core laptop, the
    payload burned ~1 CPU at a 20 % throttle. The throttle and ``--intra-op-threads``
    are the payload's CPU budget; BLAS must not add a hidden one. Must run before numpy
    is imported, which is why the heavy imports below wait for it.
    """
    for var in SINGLE_THREAD_ENV:
        os.environ.setdefault(var, "1")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from flightsw.lifeline import die_with_parent

    die_with_parent(args.parent_pid)  # the kernel stops us if the executive is SIGKILLed
    limit_blas_threads()
    from payload.process import ProcessOptions, run

    logging.basicConfig(
        level=args.log_level, stream=sys.stderr,
        format=f"%(asctime)s payload[{os.getpid()}.{args.incarnation}] %(levelname)s %(message)s",
    )
    key = b""
    if args.key_stdin:
        from flightsw.channel_auth import read_key

        try:
            key = read_key(sys.stdin.buffer)
        except ValueError as exc:
            logging.getLogger("payload").error("bad channel key on stdin: %s", exc)
    from payload.model import choose_model_path

    model_path = choose_model_path(args.model, args.model_sha256)
    return run(ProcessOptions(endpoint=args.endpoint, model_path=model_path,
                              incarnation=args.incarnation,
                              intra_op_threads=args.intra_op_threads,
                              parent_pid=args.parent_pid, key=key))


if __name__ == "__main__":
    sys.exit(main())
