"""The sim stack with the space link on a UART: ``aisat up --link serial``.

On a bench the executive runs on a board and speaks to the host over a serial cable; the
host's bridge (:mod:`hil.serial_bridge`) binds the ground's link socket in the
executive's place. Here the cable is a pty pair that the bridge makes (the virtual
board's UART): the executive opens its slave by path exactly as it opens
``/dev/ttyTHS1`` on a Jetson (``--link serial:PATH?baud=N``), so the executive, the
framing, the bridge and the ground all run the code a board runs, and the ground sees no
difference. Line faults (dropped bytes, flipped bits, a line held in break) can be put
on the cable to show that nothing is lost end to end.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hil.line_faults import parse_faults

if TYPE_CHECKING:
    from hil.stack import Stack

LINK_CHOICES = ("zmq", "serial")
VIRTUAL_BAUD = 921_600
"""What the executive asks of the virtual UART (a pty has no line rate; a board's
921600 baud is the rate the link is sized for)."""
UART_PATH_FILE = "uart.path"
BRIDGE_STATS_FILE = "bridge_stats.json"
BRIDGE_START_S = 30.0


def check_link(link: str, faults: str) -> None:
    """Refuse a link choice or fault spec the stack cannot run, before anything starts."""
    if link not in LINK_CHOICES:
        raise ValueError(f"unknown link {link!r}; choose from {', '.join(LINK_CHOICES)}")
    if faults:
        if link != "serial":
            raise ValueError("line faults need the serial link (--link serial)")
        parse_faults(faults)


def start_serial_bridge(stack: Stack, faults: str = "") -> str:
    """Start the bridge with its pty cable; the executive's ``--link`` endpoint."""
    from hil.stack import StackError

    check_link("serial", faults)
    run_dir = Path(stack.info.run_dir)
    path_file = run_dir / UART_PATH_FILE
    path_file.unlink(missing_ok=True)
    (run_dir / BRIDGE_STATS_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "hil.serial_bridge", "--virtual-uart", str(path_file),
            "--link", stack.info.link, "--baud", str(VIRTUAL_BAUD),
            "--stats-out", str(run_dir / BRIDGE_STATS_FILE),
            "--log-level", stack.opts.log_level]
    if faults:
        argv += ["--faults", faults]
    stack._spawn("bridge", argv)
    deadline = stack.clock.monotonic_s() + BRIDGE_START_S
    while not path_file.exists():
        failed = stack.failed_process()
        if failed:
            raise StackError(failed)
        if stack.clock.monotonic_s() > deadline:
            raise StackError(f"the serial bridge made no UART within {BRIDGE_START_S:.0f} s "
                             f"(see {run_dir}/bridge.log)")
        stack.clock.sleep_s(0.05)
    return f"serial:{path_file.read_text().strip()}?baud={VIRTUAL_BAUD}"


__all__ = ["LINK_CHOICES", "check_link", "start_serial_bridge"]
