"""The ground segment's errors: structured, like the flight software's.

Ground errors reuse :class:`flightsw.errors.FlightError`'s shape (a ``reason`` plus
keyword ``details``) so that the CLI, the scripting API and the ops replies can show
*what* went wrong and the valid choices without parsing a message. They form their own
branch so a caller can tell a ground-side refusal from a flight-side one.
"""

from __future__ import annotations

from flightsw.errors import FlightError


class GroundError(FlightError):
    """Base of every error the ground segment raises on purpose."""


class NoStack(GroundError):
    """No running stack (or no ground process) answers at the expected address."""


class OpsError(GroundError):
    """The ground process refused an ops request or gave a reply we cannot read."""


class CommandFailed(GroundError):
    """A command ended in ``failed`` (at the ground or on board)."""


class WaitTimeout(GroundError):
    """A scripted wait ran out of time; the message says what was seen meanwhile."""
