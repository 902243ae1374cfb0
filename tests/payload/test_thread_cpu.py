"""Per-thread CPU from /proc (payload.thread_cpu), as the payload benchmark reads it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from payload.thread_cpu import (
    TaskTimes,
    busiest_thread_times,
    name_this_thread,
    process_times,
    task_times,
    thread_times,
)


def test_a_named_busy_thread_is_found_and_its_cpu_counted() -> None:
    done = threading.Event()
    named = threading.Event()

    def spin() -> None:
        assert name_this_thread("spinner-test")
        named.set()
        end = time.thread_time() + 0.2
        while time.thread_time() < end:
            pass
        done.wait(10)

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    assert named.wait(10)
    deadline = time.monotonic() + 10
    while (t := thread_times(os.getpid(), "spinner-test")) is None or t.cpu_ns < 2e8:
        assert time.monotonic() < deadline, t
        time.sleep(0.02)
    whole = process_times(os.getpid())
    busiest = busiest_thread_times(os.getpid())
    done.set()
    worker.join(10)
    assert whole is not None and whole.cpu_ns >= t.cpu_ns
    assert busiest is not None and busiest.cpu_ns >= t.cpu_ns
    assert thread_times(os.getpid(), "no-such-thread") is None


def test_a_missing_process_or_task_reads_as_none(tmp_path: Path) -> None:
    assert process_times(2**22 + 12345) is None
    assert task_times(tmp_path / "gone") is None
    assert TaskTimes(5, 7) - TaskTimes(2, 3) == TaskTimes(3, 4)
