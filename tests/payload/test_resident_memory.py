"""The payload's own resident memory, read through one descriptor kept open.

It must give what a fresh read of ``/proc/self/statm`` gives (it caches nothing but the
descriptor: memory allocated after it opened shows), and 0.0, not an error, where the
file cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flightsw.payload_host import resident_mb
from payload.resident_memory import ResidentMemory

ALLOC_MB = 64


def test_it_reads_what_a_fresh_open_reads_and_follows_new_memory() -> None:
    rss = ResidentMemory()
    try:
        before = rss.mb()
        fresh = resident_mb()
        assert fresh is not None and before > 0
        assert before == pytest.approx(fresh, abs=2.0)
        block = bytearray(ALLOC_MB * 1024 * 1024)  # zero-filled: every page touched
        after = rss.mb()
        assert after - before > ALLOC_MB * 0.9
        assert after == pytest.approx(resident_mb(), abs=2.0)
        del block
    finally:
        rss.close()


def test_an_unreadable_file_reads_as_zero(tmp_path: Path) -> None:
    missing = ResidentMemory(str(tmp_path / "no-statm"))
    assert missing.mb() == 0.0
    garbage = tmp_path / "statm"
    garbage.write_text("not numbers\n")
    bad = ResidentMemory(str(garbage))
    try:
        assert bad.mb() == 0.0
    finally:
        bad.close()
    assert bad.mb() == 0.0  # closed: no descriptor, no error
