"""aisat flight software: the executive and the interface everything else is built against.

Nothing in this package imports ``ground``, ``payload`` or ``hil``; they import from it.

Where things live:

- the interface: :mod:`~flightsw.wire` (the codec), :mod:`~flightsw.records` and
  :mod:`~flightsw.messages` (every message body, typed), :mod:`~flightsw.dictionary` and
  :mod:`~flightsw.catalog` (commands, telemetry, events), :mod:`~flightsw.hal` (sensor
  and actuator records, screened), :mod:`~flightsw.config` (the flight settings schema);
- the component contract: :mod:`~flightsw.component`; the components:
  :mod:`~flightsw.modes`, :mod:`~flightsw.power`, :mod:`~flightsw.throttle`,
  :mod:`~flightsw.payload_supervision` (+ the policy in :mod:`~flightsw.supervisor`),
  :mod:`~flightsw.commanding`, :mod:`~flightsw.link` (+ :mod:`~flightsw.recorder`),
  :mod:`~flightsw.events`, :mod:`~flightsw.jobs` (operator jobs; their products in
  :mod:`~flightsw.job_products`, uploaded tensors in :mod:`~flightsw.job_tensor`);
- the pure core that wires them: :mod:`~flightsw.topology` (rate groups in
  :mod:`~flightsw.rategroups`);
- the shell around it: :mod:`~flightsw.executive` (loops, signals),
  :mod:`~flightsw.transport` (ZeroMQ and in-memory frame pipes),
  :mod:`~flightsw.payload_host` (the payload child process), :mod:`~flightsw.clock`
  (the one place wall time is read), :mod:`~flightsw.lifeline` (no orphans);
- testing seams: :mod:`~flightsw.harness` (the whole executive in process).
"""

__version__ = "0.1.0"
