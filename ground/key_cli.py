"""``aisat ground rotate-key``: load a new uplink key onboard and switch to it.

The ground makes key N+1 and sends ``auth.key_rotate`` with it wrapped under the current
key (see :mod:`ground.uplink_keys`); this waits until the flight reports it
``completed`` (the ground then seals under the new key) or ``failed``. Out of contact
the rotation waits at the ground like any command. Exit 0 once switched, 1 if it failed
or did not finish in time.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from ground.api import Ops
from ground.errors import WaitTimeout

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:
    r = sub.add_parser("rotate-key", parents=[common],
                       help="load a new uplink key onboard and switch the ground to it")
    r.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the flight's report (default 30)")


def run(run_dir: Path, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ops = Ops(run_dir, request_timeout_s=args.ops_timeout)
    rotation = ops.rotate_key()
    key_id = rotation.args.get("key_id")
    print(f"#{rotation.cmd_seq} auth.key_rotate to key {key_id}: {rotation.stage}", file=out)
    try:
        final = ops.wait_verification(rotation.cmd_seq, args.timeout)
    except WaitTimeout as exc:
        print(f"aisat ground rotate-key: {exc}; the ground keeps the current key until "
              "the flight reports it (aisat ground status)", file=err)
        return EXIT_FAILED
    if not final.ok:
        print(f"aisat ground rotate-key: {final}", file=err)
        return EXIT_FAILED
    print(f"uplink key {key_id} in use (the old one is accepted onboard for a grace "
          "period)", file=out)
    return EXIT_OK
