"""Event emission with throttling that drains: faults become telemetry, floods are counted.

An event is declared once (name, severity, format) in its component's declarations.
:class:`EventLog` renders it, stamps it with mission time, and applies the declaration's
throttle: after ``throttle`` emissions of the same event in one burst the rest are
counted but not sent. A burst ends when the event has been quiet for
:data:`THROTTLE_QUIET_S` seconds (F Prime's throttles stay shut until a command resets
them; ours also reopen by themselves): the next one is sent again, saying how many were
suppressed since the last one that went out. The command ``exec.events_unthrottle``
reopens every throttle at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flightsw.dictionary import Dictionary, Event, Severity

THROTTLE_QUIET_S = 60.0
"""An event quiet for this long (mission time) leaves its throttled burst."""


@dataclass(frozen=True)
class EventRecord:
    name: str
    severity: str
    text: str
    args: dict[str, Any]
    time_s: float  # mission time

    def to_body(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity, "text": self.text,
                "args": self.args}


@dataclass
class EventLogState:
    burst: dict[str, int] = field(default_factory=dict)  # emissions in the current burst
    last_s: dict[str, float] = field(default_factory=dict)  # last emission attempt
    held: dict[str, int] = field(default_factory=dict)  # suppressed in the current burst
    emitted: int = 0
    suppressed: int = 0  # since boot

    @property
    def throttled_now(self) -> int:
        return sum(1 for n in self.held.values() if n > 0)


class EventLog:
    """Renders, stamps and throttles events; hands the ones to send to ``sink``."""

    def __init__(self, dictionary: Dictionary, sink: Callable[[EventRecord], None],
                 state: EventLogState | None = None) -> None:
        self._dictionary = dictionary
        self._sink = sink
        self.state = state or EventLogState()

    @property
    def suppressed(self) -> int:
        return self.state.suppressed

    @property
    def emitted(self) -> int:
        return self.state.emitted

    def emit(self, name: str, args: Mapping[str, Any],
             mission_time_s: float) -> EventRecord | None:
        st = self.state
        decl = self._dictionary.events.get(name)
        if decl is None:  # a programming error; still never lost
            decl = Event(name, Severity.WARNING_HI, "undeclared event {args}")
            args = {"args": dict(args)}
        last = st.last_s.get(name)
        if last is not None and mission_time_s - last >= THROTTLE_QUIET_S:
            st.burst.pop(name, None)  # quiet long enough: a new burst
        st.last_s[name] = mission_time_s
        count = st.burst.get(name, 0) + 1
        st.burst[name] = count
        if decl.throttle and count > decl.throttle:
            st.suppressed += 1
            st.held[name] = st.held.get(name, 0) + 1
            return None
        clean = {k: _plain(v) for k, v in args.items()}
        text = decl.render(clean)
        held = st.held.pop(name, 0)
        if held:
            text += f" [{held} more suppressed since the last report]"
        record = EventRecord(name, decl.severity.value, text, clean, mission_time_s)
        st.emitted += 1
        self._sink(record)
        return record

    def reset_throttle(self, name: str | None = None) -> None:
        if name is None:
            self.state.burst.clear()
        else:
            self.state.burst.pop(name, None)


def _plain(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 4:
        return str(value)[:80]
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    return str(value)
