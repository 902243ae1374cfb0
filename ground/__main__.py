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

from flightsw import keyring
from flightsw.lifeline import die_with_parent
from flightsw.stackinfo import StackInfo
from ground import ops_token
from ground.core import CLOCKS
from ground.errors import GroundError
from ground.link_physics import LinkPhysics
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
    p.add_argument("--clock", choices=CLOCKS, default="real",
                   help="real: wall time (boards, aisat up); sim: the spacecraft time of "
                   "the plant's WORLD messages, for lockstep (aisat sim); default real")
    p.add_argument("--edge-grace-s", type=float, default=None,
                   help="accept downlink this long around AOS/LOS edges, in ground-clock "
                   "seconds (default 0.5 on the real clock, 2 on the sim clock)")
    p.add_argument("--allow-remote-ops", action="store_true",
                   help="let the ops endpoint bind beyond loopback (anyone who reaches it "
                   "can command the spacecraft and stop the ground)")
    p.add_argument("--profile", default=None,
                   help="spacecraft profile (name or .toml) whose [link] table sets the "
                        "link physics; default: the run dir's, else an ideal link")
    p.add_argument("--keys", type=Path, default=None, metavar="DIR",
                   help="uplink key directory shared with the flight (default: "
                        "$AISAT_KEY_DIR, else RUN_DIR/keys, else next to the archive)")
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
    if not args.allow_remote_ops and not is_local_endpoint(ops):
        raise GroundError("the ops endpoint must be loopback (it takes commands for the "
                          "spacecraft); pass --allow-remote-ops to bind it elsewhere",
                          ops=ops)
    if args.clock == "sim" and not world:
        raise GroundError("--clock sim needs a plant: give --world (or a run dir with one)")
    if args.edge_grace_s is not None and not (0 <= args.edge_grace_s < 3600):
        raise GroundError("--edge-grace-s must be in [0, 3600)", got=args.edge_grace_s)
    run_dir = args.run_dir or (Path(info.run_dir) if info.run_dir else None)
    return GroundConfig(link=link, ops=ops, archive=archive, world=world,
                        edge_grace_s=args.edge_grace_s, clock=args.clock,
                        link_physics=link_physics(args.profile or info.profile),
                        keys=keyring.resolve_dir(args.keys, run_dir),
                        token_path=run_dir / ops_token.TOKEN_FILE if run_dir else None
                        ), dictionary


def link_physics(profile: str) -> LinkPhysics | None:
    """The ``[link]`` table of a spacecraft profile (None: no profile, an ideal link)."""
    if not profile:
        return None
    from hil.plant.errors import ProfileError
    from hil.plant.profile import load_profile

    try:
        return load_profile(profile).link
    except ProfileError as exc:
        raise GroundError(f"cannot read the link physics: {exc}", profile=profile) from exc


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


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
    except (keyring.KeyDirError, OSError) as exc:
        print(f"ground: cannot set up its keys: {exc}", file=sys.stderr)
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
