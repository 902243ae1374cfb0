"""A run directory only its owner can read: the archive (the whole mission's data), the
recorder store, command keys and the ops token live there.

Why a umask and not a chmod per file: every process of the stack (launcher, plant,
executive, ground, payload) writes files there - logs, summaries, SQLite's -wal and
-shm files - and a umask set in the launcher before it spawns them reaches all of them,
including files nobody thought of yet. Files that must be private whatever the umask
(the archive, the recorder store, the state record) are also created 0600 by their
writers.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_UMASK = 0o077
"""Group and others get nothing: files 0600, directories 0700."""


def make_private(run_dir: Path) -> None:
    """Create ``run_dir`` (0700), tighten it if it exists, and set this process's umask
    so that everything the stack creates from now on is owner-only (children inherit)."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(run_dir, 0o700)
    os.umask(PRIVATE_UMASK)


def readable_by_others(run_dir: Path) -> list[str]:
    """Paths under ``run_dir`` that group or others may read, write or enter."""
    return sorted(str(p) for p in [run_dir, *run_dir.rglob("*")]
                  if p.exists() and os.stat(p).st_mode & 0o077)
