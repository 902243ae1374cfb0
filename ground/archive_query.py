"""How anything outside the ground process reads the archive (the web console, the CLI,
scripts): :func:`open_archive` and the :class:`ArchiveQuery` interface.

::

    from ground.archive_query import open_archive

    with open_archive(run_dir).reader as q:          # a running stack, or a stopped run
        q.point_names()                              # ["exec.uptime_s", ...]
        q.series("power.battery_soc_pct", t_from, t_to, max_points=1500)
        q.latest_of(["mode.current", "power.battery_soc_pct"])
        q.events(limit=200, min_severity="WARNING_LO", t_from=t0, t_to=t1)
        q.events_after(after_id)                     # live tail, by row id
        q.products(t_from, t_to, limit=50)
        q.samples("exec.uptime_s", after_id)         # live tail of one point

All times are onboard (spacecraft) UTC seconds (``time_s`` of each row); ``rx_s`` is the
ground's receive time; ``id`` is the archive row id, which rises with arrival and is the
cursor for live tails. Every query is read-only and never blocks the ground's writes
(SQLite WAL). :meth:`ArchiveQuery.series` returns at most about ``max_points`` samples in
onboard-time order, decimated with each bucket's first, lowest and highest value, so a
plot keeps its spikes (see :mod:`ground.archive_reader` for how and how fast).
Played-back records sort into place by onboard time, not arrival.

Why an interface: the SQLite reader is the embedded implementation; a server database
(see :mod:`ground.archive_store`) implements the same methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ground.archive_reader import ArchiveReader, EventRow, ProductRow, Record, Sample
from ground.errors import NoStack
from ground.stack import ARCHIVE_FILE, archive_path, read_stack


class ArchiveQuery(Protocol):
    """The archive's read side (implemented by :class:`ArchiveReader`)."""

    def point_names(self) -> list[str]:
        """Every telemetry point ever archived, sorted."""
        ...

    def latest_of(self, names: list[str]) -> dict[str, Sample]:
        """Each point's newest sample by arrival (points never seen are left out)."""
        ...

    def series(self, name: str, t_from: float | None = None, t_to: float | None = None,
               max_points: int = 2000) -> list[Sample]:
        """One point over onboard time, decimated for plotting."""
        ...

    def samples(self, name: str, after_id: int = 0, limit: int = 10_000) -> list[Sample]:
        """One point's samples archived after row ``after_id`` (a live tail)."""
        ...

    def records(self, t_from: float | None = None, t_to: float | None = None,
                batch: int = 2000) -> Iterator[Record]:
        """Whole housekeeping records in onboard-time order (the export streams these)."""
        ...

    def events(self, limit: int = 50, min_severity: str | None = None,
               after_id: int = 0, t_from: float | None = None,
               t_to: float | None = None) -> list[EventRow]:
        """The newest ``limit`` events at or above a severity, in onboard-time order."""
        ...

    def events_after(self, after_id: int) -> Iterator[EventRow]:
        ...

    def products(self, t_from: float | None = None, t_to: float | None = None,
                 limit: int = 100) -> list[ProductRow]:
        ...

    def quarantine(self, limit: int = 100) -> list[dict[str, Any]]:
        """Records the ground could not archive as they were, with the reason."""
        ...

    def mission_now_s(self) -> float | None:
        ...

    def counts(self) -> dict[str, int]:
        ...

    def close(self) -> None:
        ...


@dataclass
class OpenArchive:
    reader: ArchiveReader
    path: Path
    stopped: bool  # no stack runs in the run directory: this is a stopped run's archive


def open_archive(run_dir: Path | str) -> OpenArchive:
    """The running stack's archive, or else a stopped run's (``RUN_DIR/archive.sqlite``).
    Raises :class:`NoStack` (saying where it looked) if there is neither."""
    try:
        path = archive_path(read_stack(run_dir))
        return OpenArchive(ArchiveReader(path), path, stopped=False)
    except NoStack as exc:
        if "looked_in" not in exc.details:  # a stack.json that names a missing archive
            raise
    path = Path(run_dir) / ARCHIVE_FILE
    if not path.exists():
        raise NoStack(f"no running stack in {run_dir}, and no archive of a stopped run "
                      f"at {path}", archive=str(path))
    return OpenArchive(ArchiveReader(path), path, stopped=True)
