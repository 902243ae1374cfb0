"""The archive's two interfaces: what mission control writes through, what readers ask.

Mission control (:mod:`ground.mission_control`) writes only through :class:`RecordStore`;
the CLI, the scripting API, the export and the web console read only through
:class:`ground.archive_query.ArchiveQuery`. SQLite (:class:`ground.archive.Archive` and
:class:`ground.archive_reader.ArchiveReader`) is the embedded implementation of both.

Why a Protocol and not a base class: a server database for one ground station serving
many spacecraft (PostgreSQL) is a second implementation with nothing to inherit - the
same rows, a different driver. What it takes, concretely:

- the same tables (``ground/archive.py`` ``SCHEMA``: ``telemetry`` one row per record
  with the point map as ``BYTEA`` msgpack, or ``JSONB`` if the database should index
  into it; ``BIGINT`` for ``seq``/``cmd_seq``; ``DOUBLE PRECISION`` times) plus a
  ``spacecraft`` column in each, part of every index, so that one server holds several
  missions apart;
- :meth:`RecordStore.flush` as one transaction with a ``SAVEPOINT`` per table batch, and
  row-by-row retry into ``quarantine`` when a batch is refused (exactly what the SQLite
  writer does: ``psycopg``'s ``executemany`` raises the same way), ``COPY`` for the
  telemetry batch if the insert rate matters;
- the reader's queries are plain SQL over ``time_s`` indexes (see
  :mod:`ground.archive_reader`); the decimation's ``GROUP BY`` bucket works as written;
- ``WAL`` readers become ordinary concurrent readers (MVCC), and the file-permission
  rule (0600) becomes the database's roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ground.command_log import CommandRecord


class RecordStore(Protocol):
    """Buffered writes of downlink records, committed together by :meth:`flush`.

    Every ``add_*`` takes the record's downlink number ``seq``, its onboard time
    ``time_s`` (spacecraft UTC s), the ground-clock receive time ``rx_s``, the wall
    receive time ``wall_s`` (for people) and whether it came in ``realtime`` (False:
    played back from the recorder, or sent again). A store must never lose a record's
    neighbours to one record it cannot hold: that record is quarantined and counted.
    """

    path: str

    def add_telemetry(self, seq: int, time_s: float, rx_s: float,
                      points: Mapping[str, Any], wall_s: float | None = None,
                      realtime: bool | None = None) -> int:
        """One housekeeping record; returns how many points it held."""
        ...

    def add_event(self, seq: int, time_s: float, rx_s: float, name: str, severity: str,
                  text: str, args: Mapping[str, Any], wall_s: float | None = None,
                  realtime: bool | None = None) -> None:
        ...

    def add_verification(self, seq: int, time_s: float, rx_s: float, cmd_seq: int | None,
                         name: str, stage: str, reason: str,
                         wall_s: float | None = None, realtime: bool | None = None) -> None:
        ...

    def add_product(self, seq: int, time_s: float, rx_s: float,
                    body: Mapping[str, Any], wall_s: float | None = None,
                    realtime: bool | None = None) -> None:
        ...

    def add_hello(self, direction: str, seq: int, time_s: float, rx_s: float,
                  dictionary_hash: str, dictionary_version: str, matches: bool | None,
                  wall_s: float | None = None) -> None:
        ...

    def add_link_error(self, rx_s: float, frame: bytes, reason: str,
                       wall_s: float | None = None) -> None:
        """A frame that did not decode."""
        ...

    def add_quarantine(self, kind: str, seq: int | None, time_s: float | None, rx_s: float,
                       reason: str, detail: str, wall_s: float | None = None) -> None:
        """A record that decoded but cannot be archived as it is."""
        ...

    def put_command(self, rec: CommandRecord) -> None:
        """The command's current state (the latest call per command wins)."""
        ...

    def set_mission_now(self, time_s: float) -> None:
        ...

    def set_meta(self, key: str, value: str) -> None:
        ...

    @property
    def pending_rows(self) -> int:
        ...

    def flush(self, *, meta_only_too: bool = False) -> int:
        """Commit everything buffered; returns the rows written."""
        ...

    def next_cmd_seq(self) -> int:
        ...

    def downlink_seqs(self) -> list[int]:
        """Every downlink number archived (a restarted ground archives nothing twice)."""
        ...

    def unfinished_commands(self) -> list[CommandRecord]:
        ...

    def stats(self) -> dict[str, Any]:
        ...

    def close(self) -> None:
        ...
