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

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Generic, TypeVar

from flightsw.config import FlightConfig
from flightsw.dictionary import Declarations
from flightsw.records import is_union

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


def restore(state: S, values: Mapping[str, Any]) -> S:
    """``state`` with the saved ``values`` put back, each rebuilt to its field's type
    (nested dataclasses, lists of them, optionals). Unknown names are ignored (a newer
    executive may have dropped a field); a value that does not fit keeps the default."""
    if not is_dataclass(state) or isinstance(state, type):
        return state
    hints = typing.get_type_hints(type(state))
    changes: dict[str, Any] = {}
    for f in fields(state):
        if f.metadata.get("persist") and f.name in values:
            try:
                changes[f.name] = _rebuild(hints[f.name], values[f.name])
            except (TypeError, ValueError):
                continue
    return replace(state, **changes)


def _rebuild(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if is_union(origin):
        if value is None:
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _rebuild(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            raise TypeError("expected a list")
        return [_rebuild(item, v) for v in value]
    if origin is dict:
        key_t, val_t = typing.get_args(hint) or (Any, Any)
        if not isinstance(value, Mapping):
            raise TypeError("expected a map")
        return {_rebuild(key_t, k): _rebuild(val_t, v) for k, v in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise TypeError("expected a map")
        sub = typing.get_type_hints(hint)
        known = {f.name for f in fields(hint)}
        return hint(**{k: _rebuild(sub[k], v) for k, v in value.items() if k in known})
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, float, str) and not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}")
    return value
