"""The payload's onnxruntime thread count as a board knob, read back from the OS.

On a board the intra-op thread count trades inference speed against heat and power:
more threads finish a batch sooner on more cores (and draw more). The payload takes the
count when it opens its session (``python -m payload --intra-op-threads N``), so this
knob is set on the executive's payload host and applies from the payload's next start;
its read-back is what the OS says the payload process runs - ``Threads:`` in
``/proc/PID/status`` - not what was asked for. The running payload's count is changed
by the ``payload.threads`` command (its CONFIG message; the payload rebuilds its session
between jobs); this layer is the board's start-up setting and reports what it set and
what the OS shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from flightsw.board.actuate import Actuation
from flightsw.board.detect import read_text

KNOB = "onnxruntime.intra_op_threads"
MAX_THREADS = 64


class ThreadedHost(Protocol):
    intra_op_threads: int | None

    @property
    def pid(self) -> int | None: ...


def os_threads(pid: int, proc: Path = Path("/proc")) -> int | None:
    """How many threads the OS runs for ``pid`` (None: no such process, or no /proc)."""
    text = read_text(proc / str(pid) / "status")
    for line in (text or "").splitlines():
        if line.startswith("Threads:"):
            value = line.split(":", 1)[1].strip()
            return int(value) if value.isdigit() else None
    return None


def set_payload_threads(host: ThreadedHost, threads: int) -> Actuation:
    """Ask for ``threads`` intra-op threads from the payload's next start; the read-back
    is the running payload's OS thread count (which the next start changes)."""
    cores = os.cpu_count() or 1
    if not 1 <= threads <= MAX_THREADS:
        return Actuation(KNOB, str(threads), "", False,
                         f"a thread count from 1 to {MAX_THREADS} (this board has {cores} "
                         f"CPUs)")
    host.intra_op_threads = threads
    pid = host.pid
    now = os_threads(pid) if pid is not None else None
    return Actuation(KNOB, str(threads), "" if now is None else f"{now} OS threads now", True,
                     "applies from the payload's next start")


__all__ = ["KNOB", "os_threads", "set_payload_threads"]
