"""The flight software's error hierarchy.

Every error carries structured fields (``reason`` plus keyword details) so that it can be
turned into an event or a failed verification report without parsing its message.
Foreign exceptions (msgpack, zmq, onnxruntime) are translated at the boundary with
``raise FlightError(...) from exc``.
"""

from __future__ import annotations

from typing import Any


class FlightError(Exception):
    """Base of every error the flight software raises on purpose."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def __str__(self) -> str:
        if not self.details:
            return self.reason
        extra = ", ".join(f"{k}={v!r}" for k, v in sorted(self.details.items()))
        return f"{self.reason} ({extra})"


class WireError(FlightError):
    """Bytes that do not decode to a valid envelope."""


class WireVersionError(WireError):
    """A well-formed envelope from a different wire version."""


class DictionaryError(FlightError):
    """A declaration or lookup in the command/telemetry/event dictionary is wrong."""


class CommandRejected(FlightError):
    """A command that fails validation against the dictionary (unknown name, bad argument)."""


class TransitionRefused(FlightError):
    """A mode transition that the mode table does not allow, or whose guard fails."""
