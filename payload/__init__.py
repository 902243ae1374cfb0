"""aisat's inference payload: the child process that screens onboard captures for clouds.

The executive starts it as ``python -m payload --endpoint tcp://127.0.0.1:PORT`` and
talks to it over one ZeroMQ PAIR socket with the shared codec (:mod:`flightsw.wire`).

Modules, outside in:

- :mod:`payload.process` - the ZeroMQ loop, signals, parent-death check (the shell);
- :mod:`payload.core` - envelopes in, envelopes out: queue, counters, heartbeats;
- :mod:`payload.job_run` - a job's three stages (prepare, infer on the inference thread,
  finish) and its cancel switch;
- :mod:`payload.messages` - the schema of each body the executive sends;
- :mod:`payload.pacing` - the throttle as a duty cycle, and the busy-fraction meter;
- :mod:`payload.screening` - one job: capture, classify, count;
- :mod:`payload.products` - an operator job: per-tile results, hashes, compressed tiles;
- :mod:`payload.tile_bank` - captures from tiles rendered once (the camera off the
  critical path);
- :mod:`payload.camera` - deterministic synthetic 4-band EO tiles with ground truth;
- :mod:`payload.model` - model + card: SHA-256 check, provider choice, dry run;
- :mod:`payload.mission_clock` - mission time followed from the executive's stamps;
- :mod:`payload.models` - the shipped ``cloud_screen_v1`` and the script that made it;
- :mod:`payload.service_bench`, :mod:`payload.throttle_bench` - ``aisat bench payload``;
  :mod:`payload.thread_cpu` - CPU time per process and per named thread from ``/proc``.

Nothing here is imported by :mod:`flightsw`; this package imports from it.
"""
