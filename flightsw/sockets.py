"""Small helpers for the ZeroMQ adapters (the only flightsw modules that move bytes)."""

from __future__ import annotations

from typing import Any

import zmq


def has_input(sock: zmq.Socket[Any]) -> bool:
    """A message is waiting. Far cheaper than a non-blocking recv that raises zmq.Again,
    which matters in lockstep, where the 10 Hz group polls every socket ten times per
    simulated second."""
    return bool(int(sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN)
