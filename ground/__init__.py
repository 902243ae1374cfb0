"""The ground segment: station emulator, mission control, ops API, CLI and scripting API.

Built against the flight software's interface (``flightsw.wire``, the exported
dictionary, ``flightsw.stackinfo``); nothing in ``flightsw`` imports from here.

- :mod:`ground.core` - station + mission control + ops on one ground clock (wall, or
  spacecraft time in lockstep: ``python -m ground --clock sim``), no I/O (pure core).
- :mod:`ground.station` - which frames get through the space link, and when (pure).
- :mod:`ground.mission_control` - decode, archive and account for every downlink
  record; validate, queue and uplink commands; the dictionary-hash check (pure core).
- :mod:`ground.command_log`, :mod:`ground.downlink_seq` - command stages and downlink
  sequence accounting (pure state).
- :mod:`ground.archive`, :mod:`ground.archive_reader` - the SQLite (WAL) archive;
  :mod:`ground.archive_store` and :mod:`ground.archive_query` - its write and read
  interfaces (what a PostgreSQL archive would implement); :mod:`ground.export` - CSV
  export and the archive-only CLI actions.
- :mod:`ground.ops_service`, :mod:`ground.ops_client` - the ops request/reply API.
- :mod:`ground.process` (``python -m ground``) - the shell: sockets, loop, signals.
- :mod:`ground.api` (``Ops``) and :mod:`ground.predicates` - the scripting API.
- :mod:`ground.cli` - ``aisat ground cmd|cancel|tlm|events|status|export|products|...``.
"""
