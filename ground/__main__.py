"""``python -m ground``: run the ground process (station + mission control + ops API).

Endpoints come from ``<run-dir>/stack.json`` (written by the launcher) or from explicit
flags, which win over the file. Exit status: 0 after an orderly stop (ops ``stop``, a
plant STOP, SIGTERM, SIGINT), 1 if it cannot start (bad endpoints, port in use), 2 for
bad usage.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import zmq

from flightsw.lifeline import die_with_parent
from flightsw.stackinfo import StackInfo
from ground.errors import GroundError
from ground.process import GroundConfig, GroundProcess
from ground.stack import archive_path, load_dictionary, read_stack

log = logging.getLogger("ground")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ground", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", type=Path, help="read endpoints from RUN_DIR/stack.json")
    p.add_argument("--link", help="executive's link PAIR endpoint (the ground connects)")
    p.add_argument("--world", help="plant WORLD PUB endpoint; '' for always in contact")
    p.add_argument("--ops", help="ops REP endpoint to bind")
    p.add_argument("--archive", type=Path, help="SQLite archive path")
    p.add_argument("--dictionary", type=Path, help="exported dictionary JSON")
    p.add_argument("--edge-grace-s", type=float, default=0.5,
                   help="accept downlink this long around AOS/LOS edges (default 0.5)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> tuple[GroundConfig, str | None]:
    """Merge stack.json (if a run dir is given) with explicit flags; flags win."""
    info = read_stack(args.run_dir) if args.run_dir else StackInfo(run_dir="")
    link = args.link if args.link is not None else info.link
    ops = args.ops if args.ops is not None else info.ops
    world = args.world if args.world is not None else info.world
    if args.archive is not None:
        archive = args.archive
    elif info.archive or info.run_dir:
        archive = archive_path(info)
    else:
        raise GroundError("no archive path: give --archive or --run-dir")
    if not link or not ops:
        raise GroundError("link and ops endpoints are required (from --run-dir or flags)",
                          link=link, ops=ops)
    dictionary = str(args.dictionary) if args.dictionary else (info.dictionary or None)
    return GroundConfig(link=link, ops=ops, archive=archive, world=world,
                        edge_grace_s=args.edge_grace_s), dictionary


def main(argv: list[str] | None = None) -> int:
    die_with_parent()  # a SIGKILLed launcher cannot stop us; the kernel then does
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s ground %(levelname)s %(message)s")
    try:
        cfg, dictionary_path = config_from_args(args)
        dictionary = load_dictionary(dictionary_path)
        ground = GroundProcess(cfg, dictionary)
    except GroundError as exc:
        print(f"ground: {exc}", file=sys.stderr)
        return 1
    except zmq.ZMQError as exc:
        print(f"ground: cannot open sockets: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: Any) -> None:
        ground.request_stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        ground.run()
    finally:
        ground.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
