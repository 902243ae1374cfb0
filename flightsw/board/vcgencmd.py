"""A Raspberry Pi's firmware readings: ``vcgencmd get_throttled``, ``measure_temp`` and,
on a Pi 5, ``pmic_read_adc``.

The firmware knows what Linux does not: whether the supply sagged (under-voltage), the
ARM clock was capped, the core throttled, or the soft temperature limit (80-85 C)
engaged - now, and at any time since boot (bits 0-3 and 16-19 of ``get_throttled``).
The commands run through an injectable runner (argv in, stdout out), so tests feed the
firmware's canned output and a board runs the real ``vcgencmd``; parsing is pure and a
reply it cannot read is a problem string, never an exception.
"""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CommandRunner = Callable[[Sequence[str]], str]
"""Runs a command; returns its stdout; raises OSError or subprocess errors on failure."""
COMMAND_TIMEOUT_S = 2.0

THROTTLE_BITS = {0: "under_voltage", 1: "arm_freq_capped", 2: "throttled",
                 3: "soft_temp_limit"}
SINCE_BOOT_SHIFT = 16


def run_command(argv: Sequence[str]) -> str:
    """The real runner: a bounded ``subprocess.run`` (the firmware answers in ms)."""
    done = subprocess.run(list(argv), capture_output=True, text=True, check=True,
                          timeout=COMMAND_TIMEOUT_S)
    return done.stdout


BOARD_BIN = "usr/bin"
"""Where a virtual board's tree keeps its own commands (``vcgencmd``)."""


def tree_runner(root: str | Path) -> CommandRunner:
    """A runner for the board under ``root``: a command the tree itself carries
    (``ROOT/usr/bin/vcgencmd`` on a virtual Pi) runs from there, anything else as on
    the board (``/`` is the board itself, so this is :func:`run_command` there)."""
    base = Path(root) / BOARD_BIN

    def run(argv: Sequence[str]) -> str:
        own = base / argv[0] if argv else None
        if own is not None and str(root) not in ("", "/") and own.is_file():
            return run_command([str(own), *argv[1:]])
        return run_command(argv)

    return run


@dataclass(frozen=True)
class Throttled:
    """``get_throttled`` decoded: the conditions now, and those seen since boot."""

    raw: int
    now: frozenset[str]
    since_boot: frozenset[str]


def parse_throttled(text: str) -> Throttled:
    """``throttled=0x50005`` -> now {under_voltage, throttled}, since boot the same."""
    m = re.fullmatch(r"\s*throttled=(0x[0-9a-fA-F]+|\d+)\s*", text)
    if not m:
        raise ValueError(f"not a get_throttled reply: {text.strip()[:60]!r}")
    raw = int(m.group(1), 0)
    now = frozenset(name for bit, name in THROTTLE_BITS.items() if raw >> bit & 1)
    since = frozenset(name for bit, name in THROTTLE_BITS.items()
                      if raw >> (bit + SINCE_BOOT_SHIFT) & 1)
    return Throttled(raw, now, since)


def parse_temp(text: str) -> float:
    """``temp=48.3'C`` -> 48.3."""
    m = re.fullmatch(r"\s*temp=(-?\d+(?:\.\d+)?)'C\s*", text)
    if not m:
        raise ValueError(f"not a measure_temp reply: {text.strip()[:60]!r}")
    return float(m.group(1))


def parse_pmic_adc(text: str) -> dict[str, tuple[float, float]]:
    """``pmic_read_adc`` (Pi 5) -> rail -> (volts, amps) for rails with both readings.

    The PMIC reports ``NAME_I current(n)=0.1A`` and ``NAME_V volt(n)=0.8V`` lines; a rail
    is paired by its name without the suffix (``VDD_CORE_I`` and ``VDD_CORE_V``)."""
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*(\S+)_([IV])\s+(?:current|volt)\(\d+\)=(-?[\d.]+)([AV])\s*", line)
        if not m:
            continue
        value = float(m.group(3))
        (amps if m.group(2) == "I" else volts)[m.group(1)] = value
    return {name: (volts[name], amps[name]) for name in sorted(amps) if name in volts}


@dataclass(frozen=True)
class PiFirmware:
    """One round of the Pi's firmware readings; NaN/None where a command failed."""

    temp_c: float = math.nan
    throttled: Throttled | None = None
    rails: tuple[tuple[str, float, float], ...] = ()  # (rail, volts, amps), Pi 5
    problems: tuple[str, ...] = ()

    @property
    def power_w(self) -> float:
        """The PMIC's rails summed (Pi 5); NaN where there are none."""
        return sum(v * a for _, v, a in self.rails) if self.rails else math.nan


def read_firmware(runner: CommandRunner = run_command, *, pmic: bool = False,
                  vcgencmd: str = "vcgencmd") -> PiFirmware:
    """Ask the firmware; each command that fails or answers oddly becomes a problem."""
    problems: list[str] = []

    def ask(*args: str) -> str | None:
        try:
            return runner([vcgencmd, *args])
        except (OSError, subprocess.SubprocessError) as exc:
            problems.append(f"{vcgencmd} {' '.join(args)}: {exc}")
            return None

    def parsed(text: str | None, parse: Callable[[str], T]) -> T | None:
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError as exc:
            problems.append(str(exc))
            return None

    temp = parsed(ask("measure_temp"), parse_temp)
    throttled = parsed(ask("get_throttled"), parse_throttled)
    rails: tuple[tuple[str, float, float], ...] = ()
    if pmic:
        text = ask("pmic_read_adc")
        if text is not None:
            by_rail = parse_pmic_adc(text)
            if not by_rail:
                problems.append(f"pmic_read_adc: no rail read from {text.strip()[:60]!r}")
            rails = tuple((name, v, a) for name, (v, a) in by_rail.items())
    return PiFirmware(math.nan if temp is None else temp, throttled, rails, tuple(problems))


__all__ = [
    "BOARD_BIN",
    "CommandRunner",
    "PiFirmware",
    "Throttled",
    "parse_pmic_adc",
    "parse_temp",
    "parse_throttled",
    "read_firmware",
    "run_command",
    "tree_runner",
]
