"""The ground archive's books, for tests that prove nothing was lost or doubled: which
downlink numbers were archived, and how often."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def archived_seqs(archive: Path) -> list[int]:
    """Every archived downlink number, once per archived record: a telemetry packet, an
    event, a verification report, a data
    product, a flight HELLO. A record archived twice appears twice."""
    with sqlite3.connect(archive) as db:
        seqs = [s for (s,) in db.execute("SELECT seq FROM telemetry")]
        for table in ("events", "verifications", "products"):
            seqs += [s for (s,) in db.execute(f"SELECT seq FROM {table}")]
        seqs += [s for (s,) in db.execute("SELECT seq FROM hellos WHERE direction = 'down'")]
    return seqs


def doubled_points(archive: Path) -> int:
    """Telemetry packets (one row each, points packed) archived more than once under one
    number."""
    with sqlite3.connect(archive) as db:
        (n,) = db.execute("SELECT count(*) FROM (SELECT seq FROM telemetry "
                          "GROUP BY seq HAVING count(*) > 1)").fetchone()
    return int(n)
