"""``python -m flightsw``: run the flight executive (normally started by ``aisat up``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from flightsw.board.hybrid import BOARD_CHOICES
from flightsw.config import FlightConfig
from flightsw.errors import FlightError
from flightsw.executive import Executive, ExecutiveOptions, install_signal_handlers
from flightsw.lifeline import die_with_parent
from flightsw.watchdog import WATCHDOG_CHOICES


def main(argv: list[str] | None = None) -> int:
    die_with_parent()  # a SIGKILLed launcher must not leave an executive (and payload) behind
    p = argparse.ArgumentParser(prog="python -m flightsw", description=__doc__)
    p.add_argument("--plant", required=True,
                   help="plant bus endpoint to connect to: unix://@NAME or unix:///PATH "
                        "(a local stack), or a ZeroMQ endpoint (tcp://HOST:PORT)")
    p.add_argument("--link", required=True,
                   help="space link: a ZeroMQ endpoint to bind (tcp://127.0.0.1:5600), or a "
                        "UART on a board (serial:/dev/ttyTHS1?baud=921600)")
    p.add_argument("--clock", choices=("sim", "real"), default="real",
                   help="sim: follow the plant's ticks in lockstep; real: wall time")
    p.add_argument("--config", type=Path, help="flight configuration JSON")
    p.add_argument("--profile", default="default", help="spacecraft name (for events)")
    p.add_argument("--run-dir", type=Path)
    p.add_argument("--model", help="ONNX model for the payload (default: shipped model)")
    p.add_argument("--stats-out", type=Path, help="write final statistics JSON here")
    p.add_argument("--watchdog", default="auto", metavar=WATCHDOG_CHOICES,
                   help="watchdog to kick while every rate group runs on time; auto: "
                        "systemd when $NOTIFY_SOCKET is set, else none (default auto)")
    p.add_argument("--board", default="none", metavar=BOARD_CHOICES,
                   help="take the compute's temperature and power from a board (auto: "
                        "this one if it is a Jetson or a Pi; virtual:PATH a virtual board); "
                        "none: all from the plant (default)")
    p.add_argument("--payload-threads", type=int, default=None, metavar="N",
                   help="onnxruntime intra-op threads for the payload (default: its own)")
    p.add_argument("--keys", type=Path, default=None, metavar="DIR",
                   help="uplink key directory shared with the ground (default: "
                        "$AISAT_KEY_DIR, else RUN_DIR/keys; created 0700 with one key)")
    p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s flightsw %(levelname)s %(message)s")
    try:
        cfg = FlightConfig.load(args.config) if args.config else FlightConfig()
        executive = Executive.over_zmq(cfg, ExecutiveOptions(
            plant_endpoint=args.plant, link_endpoint=args.link, lockstep=args.clock == "sim",
            profile=args.profile, run_dir=args.run_dir, model_path=args.model,
            stats_out=args.stats_out, watchdog=args.watchdog, board=args.board,
            payload_threads=args.payload_threads, key_dir=args.keys))
    except FlightError as exc:
        print(f"flightsw: {exc}", file=sys.stderr)
        return 2
    install_signal_handlers(executive)
    return executive.run()


if __name__ == "__main__":
    sys.exit(main())
