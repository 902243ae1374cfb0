"""Latching alarms: a serious event or a red limit stays on the operator's screen until
someone acknowledges it, even after the condition has cleared.

Why: a pass lasts minutes and a red battery temperature that recovered by itself before
anyone looked is still something an operator must know happened. An event whose
severity is at least :data:`ALARM_SEVERITIES` raises one alarm per event name, a
telemetry point that goes red raises one per point; repeats of an alarm not yet
acknowledged only count up (no flood). Once acknowledged, the next occurrence is a new
alarm. Limit alarms also say whether the point is still red (``active``).

Pure: :class:`AlarmBook` takes observations and returns nothing but its own state; the
server persists :meth:`AlarmBook.to_json` so acknowledgements survive a console restart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ALARMS_FILE = "console_alarms.json"
"""The alarm book in a run directory; it moves with the run's archive (hil.stack)."""
ALARM_SEVERITIES = frozenset({"WARNING_HI", "FATAL"})
KEEP_ACKED = 50
"""Acknowledged alarms kept for the record (newest first); unacknowledged are never dropped."""


@dataclass
class Alarm:
    id: int
    key: str  # "event:<name>" or "limit:<point>"
    source: str  # "event" or "limit"
    name: str
    severity: str
    text: str
    first_s: float  # onboard time of the first occurrence (UTC s)
    last_s: float
    count: int = 1
    active: bool = True  # limit alarms: still red at the last look
    acked: bool = False
    acked_by: str = ""
    acked_at_s: float | None = None  # ground time of the acknowledgement


@dataclass
class AlarmBook:
    alarms: list[Alarm] = field(default_factory=list)
    next_id: int = 1
    events_cursor: int = 0  # archive row id of the last event looked at

    def _open(self, key: str) -> Alarm | None:
        return next((a for a in self.alarms if a.key == key and not a.acked), None)

    def _raise(self, key: str, source: str, name: str, severity: str, text: str,
               time_s: float) -> Alarm:
        alarm = self._open(key)
        if alarm is not None:
            alarm.count += 1
            alarm.first_s = min(alarm.first_s, time_s)
            if time_s >= alarm.last_s:
                alarm.last_s, alarm.text = time_s, text
            alarm.active = True
            return alarm
        alarm = Alarm(self.next_id, key, source, name, severity, text, time_s, time_s)
        self.next_id += 1
        self.alarms.append(alarm)
        return alarm

    def observe_event(self, row_id: int, name: str, severity: str, text: str,
                      time_s: float) -> Alarm | None:
        """An archived event; raises (or counts) an alarm if it is serious enough."""
        self.events_cursor = max(self.events_cursor, row_id)
        if severity not in ALARM_SEVERITIES:
            return None
        return self._raise(f"event:{name}", "event", name, severity, text, time_s)

    def observe_limit(self, point: str, state: str, text: str, time_s: float) -> None:
        """A point's limit state (``red``/``yellow``/``ok``) at its latest sample."""
        key = f"limit:{point}"
        if state == "red":
            alarm = self._open(key)
            if alarm is None or not alarm.active:
                self._raise(key, "limit", point, "RED", text, time_s)
            else:
                alarm.last_s, alarm.text = max(alarm.last_s, time_s), text
            return
        for alarm in self.alarms:
            if alarm.key == key and not alarm.acked:
                alarm.active = False

    def acknowledge(self, alarm_id: int, by: str, now_s: float) -> Alarm:
        """Acknowledge one alarm; KeyError if there is no such open alarm."""
        for alarm in self.alarms:
            if alarm.id == alarm_id:
                if not alarm.acked:
                    alarm.acked, alarm.acked_by, alarm.acked_at_s = True, by, now_s
                    self._trim()
                return alarm
        raise KeyError(alarm_id)

    def _trim(self) -> None:
        acked = [a for a in self.alarms if a.acked]
        drop = {a.id for a in sorted(acked, key=lambda a: a.id)[:-KEEP_ACKED]}
        self.alarms = [a for a in self.alarms if a.id not in drop]

    def unacknowledged(self) -> list[Alarm]:
        return [a for a in self.alarms if not a.acked]

    def to_json(self) -> dict[str, Any]:
        return {"alarms": [asdict(a) for a in self.alarms], "next_id": self.next_id,
                "events_cursor": self.events_cursor}

    @classmethod
    def from_json(cls, data: Any) -> AlarmBook:
        """A saved book; ValueError (with what is wrong) if it is not one."""
        if not isinstance(data, dict):
            raise ValueError("alarm book is not a JSON object")
        try:
            alarms = [Alarm(**a) for a in data.get("alarms", [])]
            return cls(alarms, int(data.get("next_id", 1)), int(data.get("events_cursor", 0)))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"alarm book unreadable: {exc}") from exc
