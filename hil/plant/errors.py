"""Errors of the simulated spacecraft.

They reuse the flight software's structured error base (``reason`` plus keyword
details) so one handler turns any of them into an event or a clear CLI message. A bad
profile is the one error an operator meets directly (a typo in a TOML file), so
:class:`ProfileError` always names the file, the key and the problem.
"""

from __future__ import annotations

from typing import Any

from flightsw.errors import FlightError


class PlantError(FlightError):
    """Base of every error the plant raises on purpose."""


class ProfileError(PlantError):
    """A spacecraft profile that cannot be loaded: unknown name, bad file, key or value."""

    def __init__(self, reason: str, *, source: str = "", key: str = "", **details: Any) -> None:
        where = source + (f": {key}" if key else "")
        super().__init__(f"{where}: {reason}" if where else reason, **details)
        self.source = source
        self.key = key
