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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class TaskTimes:
    """Nanoseconds a thread (or a sum of threads) spent on a CPU and runnable but
    waiting for one (``/proc/.../schedstat``: the rest of the wall time it slept)."""

    cpu_ns: int = 0
    wait_ns: int = 0

    def __add__(self, other: TaskTimes) -> TaskTimes:
        return TaskTimes(self.cpu_ns + other.cpu_ns, self.wait_ns + other.wait_ns)

    def __sub__(self, other: TaskTimes) -> TaskTimes:
        return TaskTimes(self.cpu_ns - other.cpu_ns, self.wait_ns - other.wait_ns)


def task_times(task: Path) -> TaskTimes | None:
    """One thread's times (``task``: ``/proc/PID/task/TID``, or ``/proc/self/task/TID``)."""
    try:
        fields = (task / "schedstat").read_text().split()
        return TaskTimes(int(fields[0]), int(fields[1]))
    except (OSError, ValueError, IndexError):
        return None


def _tasks(pid: int, proc: Path) -> list[Path]:
    try:
        return list((proc / str(pid) / "task").iterdir())
    except OSError:
        return []


def process_times(pid: int, proc: Path = Path("/proc")) -> TaskTimes | None:
    """Every living thread of ``pid``, summed (None: no such process)."""
    found = [t for t in (task_times(task) for task in _tasks(pid, proc)) if t is not None]
    return sum(found, TaskTimes()) if found else None


def thread_times(pid: int, name: str, proc: Path = Path("/proc")) -> TaskTimes | None:
    """The threads of ``pid`` named ``name``, summed (None: none)."""
    found: list[TaskTimes] = []
    for task in _tasks(pid, proc):
        try:
            comm = (task / "comm").read_text().strip()
        except OSError:
            continue
        times = task_times(task) if comm == name else None
        if times is not None:
            found.append(times)
    return sum(found, TaskTimes()) if found else None


def busiest_thread_times(pid: int, proc: Path = Path("/proc")) -> TaskTimes | None:
    """The busiest thread of ``pid`` other than its main thread (by CPU)."""
    found = [t for t in (task_times(task) for task in _tasks(pid, proc)
                         if task.name != str(pid)) if t is not None]
    return max(found, key=lambda t: t.cpu_ns) if found else None


__all__ = ["INFERENCE_THREAD", "TaskTimes", "busiest_thread_times", "name_this_thread",
           "process_times", "task_times", "thread_times"]
