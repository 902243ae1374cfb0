"""``aisat ground queue [list|hold|release|cancel] [SEQ]``: the ground's command queue.

Commands typed out of contact wait at the ground (``queued``) for the next pass. An
operator may hold one there (it stays until released, whatever passes come), release
it, or cancel it (queued or held); ``list`` (the default) shows what waits and what is
on its way. Exit codes as for the rest of ``aisat ground``: 0 done, 1 refused by the
ground (the command is already on its way, or unknown), 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from ground.api import Ops, Verification
from ground.errors import GroundError, OpsError

ACTIONS = ("list", "hold", "release", "cancel")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    q = sub.add_parser("queue", parents=[common],
                       help="the ground's command queue: list, hold, release, cancel")
    q.add_argument("what", nargs="?", default="list", choices=ACTIONS,
                   help="list (default), or what to do with command SEQ")
    q.add_argument("cmd_seq", nargs="?", metavar="SEQ",
                   help="the command's number, as 'cmd' printed it (7 or #7)")


def parse_seq(text: object) -> int:
    """A command number as an operator types it (``7`` or ``#7``); raises ValueError."""
    digits = str(text).strip().lstrip("#")
    if not digits.isdigit() or len(digits) > 19:
        raise ValueError("a command number is an integer >= 0 (as 'aisat ground cmd' "
                         f"printed it, e.g. 7 or #7); got {str(text)[:40]!r}")
    return int(digits)


def run(run_dir: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ops = Ops(run_dir, request_timeout_s=args.ops_timeout)
    if args.what == "list":
        if args.cmd_seq is not None:
            print("aisat ground queue: 'list' takes no command number", file=err)
            return EXIT_USAGE
        return _list(ops.queue(), out)
    if args.cmd_seq is None:
        print(f"aisat ground queue {args.what}: name the command (SEQ)", file=err)
        return EXIT_USAGE
    try:
        cmd_seq = parse_seq(args.cmd_seq)
    except ValueError as exc:
        print(f"aisat ground queue: {exc}", file=err)
        return EXIT_USAGE
    move = {"hold": ops.hold, "release": ops.release, "cancel": ops.cancel}[args.what]
    try:
        ver = move(cmd_seq)
    except OpsError as exc:
        stage = exc.details.get("stage")
        where = f" (stage: {stage})" if stage else ""
        print(f"aisat ground queue: command #{cmd_seq} not {_past(args.what)}: "
              f"{exc.reason}{where}", file=err)
        return EXIT_FAILED
    print(f"#{ver.cmd_seq} {ver.name}: {_past(args.what)} ({ver.stage})", file=out)
    return EXIT_OK


def _past(what: str) -> str:
    return {"hold": "held", "release": "released", "cancel": "cancelled"}.get(what, what)


def _list(queue: dict[str, list[Verification]], out: TextIO) -> int:
    rows = [v for k in ("held", "queued", "in_flight") for v in queue[k]]
    if not rows:
        print("no commands waiting at the ground or on their way", file=out)
        return EXIT_OK
    for v in sorted(rows, key=lambda v: v.cmd_seq):
        args = " ".join(f"{k}={val}" for k, val in v.args.items())
        sends = f" (sent {v.sends}x)" if v.sends > 1 else ""
        print(f"#{v.cmd_seq:<6} {v.stage:<9} {v.name}{' ' + args if args else ''}{sends}",
              file=out)
    return EXIT_OK


__all__ = ["GroundError", "add_parser", "parse_seq", "run"]
