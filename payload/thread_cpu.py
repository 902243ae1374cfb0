"""CPU time of a process and of its named threads, in nanoseconds, from Linux ``/proc``.

Why: the payload benchmark runs on shared machines where wall-clock throughput swings
with the neighbours, and a pipeline that uses a second core looks faster on the wall
while costing more CPU. CPU time per tile does not swing, and per thread it shows
what is in series with inference (the ``inference`` thread's CPU per tile against the
bare loop's) apart from what runs beside it (the socket thread's). ``/proc/.../stat``
counts in clock ticks (10 ms, coarser than a round of the benchmark);
``/proc/.../schedstat`` counts nanoseconds, so it is read here.

The payload names its inference thread (:func:`name_this_thread`) so it can be found.
Everything returns ``None`` where ``/proc`` cannot be read (gone, or not Linux).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

PR_SET_NAME = 15
"""From ``<linux/prctl.h>``: set the calling thread's name (15 bytes at most)."""
INFERENCE_THREAD = "inference"


def name_this_thread(name: str) -> bool:
    """Give the calling OS thread ``name`` (seen in ``/proc/PID/task/TID/comm``, top and
    gdb); False where the OS does not let us."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        return int(prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _task_ns(task: Path) -> int | None:
    try:
        return int((task / "schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_cpu_ns(pid: int, proc: Path = Path("/proc")) -> int | None:
    """CPU nanoseconds used by every living thread of ``pid``."""
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return None
    return sum(ns for ns in (_task_ns(t) for t in tasks) if ns is not None)


def thread_cpu_ns(pid: int, name: str, proc: Path = Path("/proc")) -> int | None:
    """CPU nanoseconds used by the threads of ``pid`` named ``name`` (None: none)."""
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return None
    total: int | None = None
    for task in tasks:
        try:
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        ns = _task_ns(task) if comm == name else None
        if ns is not None:
            total = (total or 0) + ns
    return total


def busiest_thread_ns(pid: int, proc: Path = Path("/proc")) -> int | None:
    """CPU nanoseconds of the busiest thread of ``pid`` other than its main thread."""
    try:
        tasks = [t for t in (proc / str(pid) / "task").iterdir() if t.name != str(pid)]
    except OSError:
        return None
    found = [ns for ns in (_task_ns(t) for t in tasks) if ns is not None]
    return max(found) if found else None


__all__ = ["INFERENCE_THREAD", "busiest_thread_ns", "name_this_thread", "process_cpu_ns",
           "thread_cpu_ns"]
