"""Event emission with throttling: faults become telemetry, and floods are counted.

An event is declared once (name, severity, format) in its component's declarations.
:class:`EventLog` renders it, stamps it, and applies the declaration's throttle: after
``throttle`` emissions of the same event the rest are counted but not sent, until the
throttle is reset (by command or when the condition clears) - F Prime's rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flightsw.dictionary import Dictionary, Event, Severity


@dataclass(frozen=True)
class EventRecord:
    name: str
    severity: str
    text: str
    args: dict[str, Any]
    time_s: float

    def to_body(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "text": self.text,
                "args": self.args}


class EventLog:
    def __init__(self, dictionary: Dictionary, sink: Callable[[EventRecord], None]) -> None:
        self._dictionary = dictionary
        self._sink = sink
        self._counts: dict[str, int] = {}
        self.suppressed = 0
        self.emitted = 0

    def emit(self, name: str, args: Mapping[str, Any], time_s: float) -> EventRecord | None:
        decl = self._dictionary.events.get(name)
        if decl is None:  # a programming error; still never lost
            decl = Event(name, Severity.WARNING_HI, "undeclared event {args}")
            args = {"args": dict(args)}
        count = self._counts.get(name, 0) + 1
        self._counts[name] = count
        if decl.throttle and count > decl.throttle:
            self.suppressed += 1
            return None
        clean = {k: _plain(v) for k, v in args.items()}
        record = EventRecord(name, decl.severity.value, decl.render(clean), clean, time_s)
        self.emitted += 1
        self._sink(record)
        return record

    def reset_throttle(self, name: str | None = None) -> None:
        if name is None:
            self._counts.clear()
        else:
            self._counts.pop(name, None)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
