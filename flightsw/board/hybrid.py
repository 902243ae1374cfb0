"""Hybrid sensing in hardware in the loop: the spacecraft from the plant, the compute
from the board.

On a bench the board is real but the spacecraft is not: battery, sun, orbit, contacts and
the structure's temperatures come from the simulated plant over the plant bus, while the
compute's temperature and power are the board's own (its thermal zones and power rails,
:mod:`flightsw.board.sensors`). :func:`hybrid_sample` puts the two together - a pure
function - so the executive throttles against the board's real heat. A board reading
that fails is NaN, never the plant's number: the throttle treats a lost compute
temperature as hot, which is the safe assumption, and the plant's model of a payload
that is not there would only hide the fault.

:class:`BoardSensing` is the shell around it: it reads the board at most every
``min_interval_s`` of wall time (a lockstep run asks hundreds of times a second; sysfs
changes at the sensors' rate, a few times a second), and :func:`from_option` turns the
``--board`` switch into one.

    --board none            the plant's temperatures (the sim stack; default)
    --board auto            the board under / if it is a Jetson, a Raspberry Pi or a
                            virtual board; none on any other computer (a laptop's CPU
                            temperature is not the payload's)
    --board virtual:PATH    the virtual board whose tree is at PATH (hil.virtual_board)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from flightsw.board.detect import VIRTUAL_MARKER, Board, detect
from flightsw.board.sensors import BoardSensors, read_board
from flightsw.board.vcgencmd import CommandRunner, run_command, tree_runner
from flightsw.errors import FlightError
from flightsw.hal import Sensors

BOARD_CHOICES = "auto|none|virtual:PATH"
READ_INTERVAL_S = 0.5
"""Wall seconds between two readings of the board (the rest are the last reading)."""
FLIGHT_FAMILIES = ("jetson", "raspberry-pi")
"""The boards ``auto`` flies with; any other computer leaves the plant's temperatures."""


def hybrid_sample(plant: Sensors, board: BoardSensors) -> Sensors:
    """The plant's sample with the compute's temperature and power from the board."""
    return replace(plant, payload_temp_c=board.hottest_c, compute_power_w=board.input_power_w)


class BoardSensing:
    """Reads one board for the executive, rate-limited on wall time."""

    def __init__(self, board: Board, *, runner: CommandRunner = run_command,
                 min_interval_s: float = READ_INTERVAL_S,
                 monotonic_s: Callable[[], float] = time.monotonic) -> None:
        self.board = board
        self.runner = runner
        self.min_interval_s = min_interval_s
        self._now = monotonic_s
        self._last: BoardSensors | None = None
        self._read_at_s = -math.inf
        self.reads = 0
        self.problems: list[str] = []
        """The last reading's problems (what could not be read, and why)."""

    def latest(self) -> BoardSensors:
        now = self._now()
        if self._last is None or now - self._read_at_s >= self.min_interval_s:
            self._last = read_board(self.board, self.runner)
            self._read_at_s = now
            self.reads += 1
            self.problems = list(self._last.problems)
        return self._last

    def merge(self, plant: Sensors) -> Sensors:
        return hybrid_sample(plant, self.latest())

    def describe(self) -> str:
        b = self.board
        used = b.profile.name + (f" emulating {b.emulates}" if b.emulates else "")
        return f"{used} at {b.root}"


def from_option(text: str, *, runner: CommandRunner = run_command,
                root: Path | str = "/") -> BoardSensing | None:
    """``--board`` as a :class:`BoardSensing` (None: the plant's temperatures). Raises
    :class:`~flightsw.errors.FlightError` naming what is wrong with the option."""
    if text == "none":
        return None
    if text == "auto":
        board = detect(root)
        if board.virtual or board.family in FLIGHT_FAMILIES:
            return BoardSensing(board, runner=runner)
        return None
    if text.startswith("virtual:"):
        path = Path(text[len("virtual:"):])
        if not text[len("virtual:"):]:
            raise FlightError(f"--board virtual: needs the tree's path ({BOARD_CHOICES})",
                              got=text)
        if not (path / VIRTUAL_MARKER).is_file():
            raise FlightError(f"{path} is not a virtual board's tree (no {VIRTUAL_MARKER}; "
                              f"make one with python -m hil.virtual_board FAMILY {path})",
                              got=text)
        return BoardSensing(detect(path), runner=tree_runner(path))
    raise FlightError(f"unknown --board choice ({BOARD_CHOICES})", got=text)


__all__ = ["BOARD_CHOICES", "BoardSensing", "from_option", "hybrid_sample"]
