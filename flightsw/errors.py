"""The flight software's error hierarchy.

Every error carries structured fields (``reason`` plus keyword details) so that it can be
turned into an event or a failed verification report without parsing its message.
Foreign exceptions (msgpack, zmq, onnxruntime) are translated at the boundary with
``raise FlightError(...) from exc``.
"""

from __future__ import annotations

import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = 40
_REPR.maxother = 40


def safe_repr(value: Any, max_chars: int = 40) -> str:
    """``repr`` that cannot recurse without bound or run long: for messages about
    untrusted values (a plain ``repr`` of a 1,000-deep list raises RecursionError)."""
    try:
        text = _REPR.repr(value)
    except Exception as exc:  # a hostile __repr__ must not turn an error into a crash
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


class FlightError(Exception):
    """Base of every error the flight software raises on purpose."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details
        self.events: list[tuple[str, dict[str, Any]]] = []
        """Events a refusing handler wants raised along with the failed verification."""

    def __str__(self) -> str:
        if not self.details:
            return self.reason
        extra = ", ".join(f"{k}={safe_repr(v, 200)}" for k, v in sorted(self.details.items()))
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
