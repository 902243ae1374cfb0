"""Mission time as the executive sees it, followed from the stamps on its messages.

The payload is a child process with no clock of its own worth trusting: in a lockstep
simulation the executive's mission time is the simulated scenario's, far from the wall
clock. Every envelope the executive sends carries its mission time, so the payload
takes the latest stamp and adds the monotonic time elapsed since it arrived. Until the
first stamp it uses the base clock's mission time. Monotonic time always comes from the
base clock: the stamps set *what time it is*, never *how long things take*.
"""

from __future__ import annotations

from flightsw.clock import Clock


class ParentSyncedClock:
    """A :class:`flightsw.clock.Clock` whose mission time follows the parent's stamps."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self._parent_time_s: float | None = None
        self._synced_at_s = 0.0

    def observe(self, parent_time_s: float) -> None:
        """Record the mission time stamped on an envelope that has just arrived."""
        self._parent_time_s = parent_time_s
        self._synced_at_s = self._base.monotonic_s()

    def monotonic_s(self) -> float:
        return self._base.monotonic_s()

    def mission_time_s(self) -> float:
        if self._parent_time_s is None:
            return self._base.mission_time_s()
        return self._parent_time_s + (self._base.monotonic_s() - self._synced_at_s)
