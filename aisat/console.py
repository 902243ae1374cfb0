"""Terminal output for the launcher: lines that fit, progress in place, output that
survives a closed terminal. Pure formatting, plus :func:`say` at the edge."""

from __future__ import annotations

import math
import shutil
import sys
from typing import TextIO

CLEAR_TO_EOL = "\x1b[K"
ELLIPSIS = "…"


def terminal_width(fallback: int = 80) -> int:
    """Columns of the terminal (``$COLUMNS`` wins; ``fallback`` when not a terminal).
    Read at every redraw, so resizing the window takes effect at once."""
    return shutil.get_terminal_size((fallback, 24)).columns


def fit(text: str, width: int) -> str:
    """``text`` cut to at most ``width - 1`` columns (the last column would make some
    terminals wrap), ending in an ellipsis when something was cut."""
    room = max(1, width - 1)
    if len(text) <= room:
        return text
    return text[: room - 1] + ELLIPSIS if room > 1 else text[:room]


def in_place(text: str, width: int) -> str:
    """What to write to redraw one line on a terminal: carriage return, the text fitted
    to the width, then clear to the end of the line so no stale characters remain."""
    return "\r" + fit(text, width) + CLEAR_TO_EOL


def want_progress(stdout_is_tty: bool, json_output: bool) -> bool:
    """A live progress line only for a person watching a terminal: never into a pipe or
    file, never mixed into machine-readable output."""
    return stdout_is_tty and not json_output


def hms(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "--:--:--"
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def sim_progress_line(done_s: float, total_s: float, wall_s: float,
                      flown_s: float | None = None) -> str:
    """``sim 00:12:00 / 01:35:48  12.5% | 812x real time | ETA 00:00:07``.

    ``done_s``/``total_s``: sim seconds flown so far / to fly. The speed-up is
    ``flown_s`` sim seconds (default ``done_s``) over the ``wall_s`` they took; the ETA
    is what is left at that speed-up. Dashes until they are known.
    """
    flown = done_s if flown_s is None else flown_s
    pct = 100.0 * done_s / total_s if total_s > 0 else 0.0
    pct = min(max(pct, 0.0), 100.0)
    if wall_s > 0 and flown > 0:
        speedup = flown / wall_s
        rate = f"{speedup:,.0f}x real time" if speedup >= 10 else f"{speedup:.1f}x real time"
        eta = hms(max(0.0, total_s - done_s) / speedup)
    else:
        rate, eta = "--x real time", hms(math.nan)
    return f"sim {hms(done_s)} / {hms(total_s)} {pct:5.1f}% | {rate} | ETA {eta}"


def say(text: str = "", *, end: str = "\n", file: TextIO | None = None) -> None:
    """Print, but never fail: after SIGHUP the terminal is gone and writes raise EIO;
    stopping the stack matters more than telling a closed window about it."""
    stream = sys.stdout if file is None else file
    try:
        stream.write(text + end)
        stream.flush()
    except (OSError, ValueError):
        pass
