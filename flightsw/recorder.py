"""The onboard recorder: downlink records held until there is a link to send them on.

Bounded, with a stated eviction order: when full, the oldest housekeeping telemetry goes
first, then the oldest data products, and only then the oldest events and verification
reports. Every eviction is counted and reported in telemetry, so nothing is lost
silently. Records leave in priority order (events and verifications, then data products,
then housekeeping history), oldest first within a class.

This is the seed of the store-and-forward recorder (acknowledged, persistent) that the
ground-segment work grows it into; today a record is released when it is handed to an
open link.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum


class Priority(IntEnum):
    EVENT = 0  # events and verification reports: sent first, evicted last
    PRODUCT = 1  # payload data products
    HOUSEKEEPING = 2  # housekeeping history: sent last, evicted first


@dataclass
class Recorder:
    capacity: int
    _queues: dict[Priority, deque[bytes]] = field(default_factory=dict)
    evicted: dict[Priority, int] = field(default_factory=dict)
    stored_total: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError("recorder capacity must be at least 1")
        for p in Priority:
            self._queues[p] = deque()
            self.evicted[p] = 0

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def evicted_total(self) -> int:
        return sum(self.evicted.values())

    def store(self, priority: Priority, frame: bytes) -> None:
        if len(self) >= self.capacity:
            for victim in sorted(Priority, reverse=True):  # housekeeping first
                if self._queues[victim]:
                    self._queues[victim].popleft()
                    self.evicted[victim] += 1
                    break
        self._queues[priority].append(frame)
        self.stored_total += 1

    def peek(self) -> bytes | None:
        for p in Priority:
            if self._queues[p]:
                return self._queues[p][0]
        return None

    def peek_many(self, n: int) -> list[bytes]:
        """Up to ``n`` frames in the order :meth:`pop` would return them."""
        out: list[bytes] = []
        for p in Priority:
            for frame in self._queues[p]:
                if len(out) >= n:
                    return out
                out.append(frame)
        return out

    def pop(self) -> bytes | None:
        for p in Priority:
            if self._queues[p]:
                return self._queues[p].popleft()
        return None

    def depth(self, priority: Priority) -> int:
        return len(self._queues[priority])
