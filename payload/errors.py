"""The payload's error hierarchy.

It hangs under :class:`flightsw.errors.FlightError`, so every payload error carries the
same structured fields (a short ``reason`` plus keyword ``details``) and the process can
put it in a job result or a log line without parsing the message. onnxruntime's
exceptions are translated at the boundary (:mod:`payload.model`) with
``raise ModelError(...) from exc``; nothing outside that module sees them.
"""

from __future__ import annotations

from flightsw.errors import FlightError


class PayloadError(FlightError):
    """Base of every error the payload raises on purpose."""


class ModelError(PayloadError):
    """A model that cannot be loaded, verified or run (missing, corrupt, wrong shape...)."""


class MessageRejected(PayloadError):
    """An incoming message whose body does not match its kind's schema."""
