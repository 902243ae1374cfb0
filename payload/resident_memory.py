"""The payload's own resident memory, read for every heartbeat without reopening /proc.

Why: every heartbeat carries ``rss_mb``, and in a lockstep simulation the payload answers
thousands of pings (3,915 in a 2-orbit suncatcher run). Opening, reading and closing
``/proc/self/statm`` each time (:func:`flightsw.payload_host.resident_mb`, which reads
any process's) cost ~18 us a ping on a quiet host and was the largest single item of a
heartbeat. The kernel regenerates a procfs file on every read from offset 0, so one
descriptor kept open and read with ``pread`` gives the same fresh number for ~2 us:
no value is cached, only the descriptor.
"""

from __future__ import annotations

import os

from flightsw.payload_host import statm_resident_mb

STATM_PATH = "/proc/self/statm"
_READ_BYTES = 128  # "size resident shared text lib data dt": 7 numbers, well under this


class ResidentMemory:
    """``mb()``: this process's resident memory in MiB now (0.0 where it cannot be read:
    not Linux, or /proc not mounted), as :func:`flightsw.payload_host.resident_mb`."""

    def __init__(self, path: str = STATM_PATH) -> None:
        try:
            self._fd: int | None = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = None

    def mb(self) -> float:
        if self._fd is None:
            return 0.0
        try:
            mb = statm_resident_mb(os.pread(self._fd, _READ_BYTES, 0))
        except OSError:
            return 0.0
        return 0.0 if mb is None else mb

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
