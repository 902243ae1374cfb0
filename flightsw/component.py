"""The component contract: what every onboard function looks like to the executive.

A component (after F Prime's) is one module that

- declares its commands, telemetry and events (``DECLARATIONS``, see
  :mod:`flightsw.dictionary`);
- keeps its whole state in one dataclass; fields that must survive a reset carry
  ``field(metadata=PERSIST)``;
- steps purely: ``step(state, inputs, t) -> (state, outputs, events)`` with typed input
  and output records;
- handles its commands purely: ``handler(state, args, t) -> Handled`` (new state, a note
  for the verification report, events);
- reports ``telemetry(state) -> {point: value}``.

No sockets, processes, files or clocks inside a component: time arrives as a
:class:`Tick`, I/O is the shell's business. A :class:`Component` record lists the
generic parts (initial state, handlers, telemetry) so that the topology can dispatch
commands, gather housekeeping and persist state without knowing each component.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Generic, TypeVar

from flightsw.config import FlightConfig
from flightsw.dictionary import Declarations

S = TypeVar("S")

PERSIST: Mapping[str, Any] = {"persist": True}
"""``field(metadata=PERSIST)`` marks a state field that must survive a reset."""

EventOut = tuple[str, dict[str, Any]]
"""An event a component raises: its declared name and its arguments."""
Events = list[EventOut]


@dataclass(frozen=True)
class Tick:
    """When a step or handler runs. The only two times aisat knows.

    ``mission_time_s``: spacecraft time, UTC seconds since the Unix epoch (stamped on
    every record). ``monotonic_s``: seconds on the executive's scheduling clock, never
    going back (periods, timeouts, backoff).
    """

    mission_time_s: float
    monotonic_s: float


@dataclass(frozen=True)
class Handled(Generic[S]):
    """What a command handler returns: the new state, a note for the verification
    report (``completed: <note>``) and events."""

    state: S
    note: str = ""
    events: Events = field(default_factory=list)


Handler = Callable[[S, dict[str, Any], Tick], Handled[S]]
"""``handler(state, validated_args, t)``; raises :class:`~flightsw.errors.FlightError`
(with the reason) to fail the command."""


@dataclass(frozen=True)
class Component(Generic[S]):
    """The generic face of one component, for the topology.

    ``name`` is also the name of its field in the executive's state record. From this
    record alone the executive builds the dictionary, routes commands, gathers
    housekeeping and persists state; the topology only wires the component's ``step``
    into a rate group."""

    name: str
    declare: Callable[[FlightConfig], tuple[Declarations, ...]]
    initial: Callable[[FlightConfig], S]
    telemetry: Callable[[S], dict[str, Any]]
    handlers: Mapping[str, Handler[S]] = field(default_factory=dict)


def fixed(*declarations: Declarations) -> Callable[[FlightConfig], tuple[Declarations, ...]]:
    """``declare`` for a component whose declarations do not depend on the config."""
    return lambda _cfg: declarations


def persisted(state: Any) -> dict[str, Any]:
    """The fields of a component state marked :data:`PERSIST`, by name."""
    if not is_dataclass(state):
        return {}
    return {f.name: getattr(state, f.name) for f in fields(state)
            if f.metadata.get("persist")}
