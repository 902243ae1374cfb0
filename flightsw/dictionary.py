"""The command / telemetry / event dictionary: declared once, exported as versioned JSON.

Each component declares its commands, telemetry points and events next to its code as a
:class:`Declarations` value. :func:`flightsw.catalog.build_dictionary` gathers them into
one :class:`Dictionary`, which

- validates a command (name and every argument: type, range, choices) with a reason and
  the valid choices when it refuses - the ground does this before sending and the
  executive again on receipt;
- exports itself as JSON (``aisat dictionary``) with a content hash that ground and
  flight compare when the link comes up;
- round-trips from that JSON, so the ground and its console can work from the exported
  file alone;
- carries the cards of the models the spacecraft flies with (``models``), so the hash the
  ground checks at HELLO covers what the payload can run, not only how to command it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from flightsw.errors import CommandRejected, DictionaryError, safe_repr
from flightsw.model_card import ModelCard, ModelCardError

DICTIONARY_SCHEMA = 1
"""Version of the JSON layout itself."""


class ArgType(str, Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    ENUM = "enum"


class Severity(str, Enum):
    """Event severities, as F Prime names them."""

    DIAGNOSTIC = "DIAGNOSTIC"
    ACTIVITY_LO = "ACTIVITY_LO"
    ACTIVITY_HI = "ACTIVITY_HI"
    WARNING_LO = "WARNING_LO"
    WARNING_HI = "WARNING_HI"
    FATAL = "FATAL"


@dataclass(frozen=True)
class Arg:
    """One command argument: its type, unit and the values it may take."""

    name: str
    type: ArgType
    description: str = ""
    units: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    max_len: int = 256

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type.value,
                               "description": self.description, "units": self.units}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.choices:
            out["choices"] = list(self.choices)
        if self.type is ArgType.STR:
            out["max_len"] = self.max_len
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Arg:
        return cls(name=data["name"], type=ArgType(data["type"]),
                   description=data.get("description", ""), units=data.get("units", ""),
                   min=data.get("min"), max=data.get("max"),
                   choices=tuple(data.get("choices", ())), max_len=data.get("max_len", 256))

    def describe(self) -> str:
        """A one-line reminder of what this argument accepts, for error messages."""
        if self.type is ArgType.ENUM:
            return f"{self.name}: one of {', '.join(self.choices)}"
        rng = ""
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            rng = f" in [{lo}, {hi}]"
        unit = f" {self.units}" if self.units else ""
        return f"{self.name}: {self.type.value}{rng}{unit}"


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    args: tuple[Arg, ...] = ()
    hazardous: bool = False
    component: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component,
                "description": self.description, "hazardous": self.hazardous,
                "args": [a.to_json() for a in self.args]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Command:
        return cls(name=data["name"], description=data.get("description", ""),
                   args=tuple(Arg.from_json(a) for a in data.get("args", ())),
                   hazardous=bool(data.get("hazardous", False)),
                   component=data.get("component", ""))


@dataclass(frozen=True)
class Limits:
    """Red/yellow limits of a telemetry point, in the point's own units."""

    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None

    def classify(self, value: float) -> str:
        """Return ``"red"``, ``"yellow"`` or ``"ok"`` (``"red"`` for NaN: no reading)."""
        if isinstance(value, float) and math.isnan(value):
            return "red"
        if (self.red_low is not None and value < self.red_low) or (
            self.red_high is not None and value > self.red_high
        ):
            return "red"
        if (self.yellow_low is not None and value < self.yellow_low) or (
            self.yellow_high is not None and value > self.yellow_high
        ):
            return "yellow"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("red_low", self.red_low), ("yellow_low", self.yellow_low),
                                  ("yellow_high", self.yellow_high),
                                  ("red_high", self.red_high)) if v is not None}


@dataclass(frozen=True)
class Telemetry:
    name: str
    type: ArgType
    description: str
    units: str = ""
    limits: Limits | None = None
    component: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "component": self.component,
                               "type": self.type.value, "units": self.units,
                               "description": self.description}
        if self.limits is not None:
            out["limits"] = self.limits.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Telemetry:
        limits = data.get("limits")
        return cls(name=data["name"], type=ArgType(data["type"]),
                   description=data.get("description", ""), units=data.get("units", ""),
                   limits=Limits(**limits) if limits is not None else None,
                   component=data.get("component", ""))


@dataclass(frozen=True)
class Event:
    name: str
    severity: Severity
    format: str  # str.format template over the event's named args
    description: str = ""
    component: str = ""
    throttle: int = 0  # after this many in a row, further ones are counted, not sent (0 = never)

    def render(self, args: Mapping[str, Any]) -> str:
        try:
            return self.format.format(**args)
        except (KeyError, IndexError, ValueError) as exc:
            return f"{self.format} [unformattable: {exc!r}; args={dict(args)!r}]"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "component": self.component,
                "severity": self.severity.value, "format": self.format,
                "description": self.description, "throttle": self.throttle}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        return cls(name=data["name"], severity=Severity(data["severity"]),
                   format=data["format"], description=data.get("description", ""),
                   component=data.get("component", ""), throttle=int(data.get("throttle", 0)))


@dataclass(frozen=True)
class Declarations:
    """What one component declares. Lives at the top of that component's module."""

    component: str
    commands: tuple[Command, ...] = ()
    telemetry: tuple[Telemetry, ...] = ()
    events: tuple[Event, ...] = ()

    def owned(self) -> Declarations:
        """The same declarations with every entry stamped with this component's name."""
        from dataclasses import replace

        return Declarations(
            self.component,
            tuple(replace(c, component=self.component) for c in self.commands),
            tuple(replace(t, component=self.component) for t in self.telemetry),
            tuple(replace(e, component=self.component) for e in self.events),
        )


@dataclass
class Dictionary:
    version: str
    commands: dict[str, Command] = field(default_factory=dict)
    telemetry: dict[str, Telemetry] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    models: tuple[ModelCard, ...] = ()
    """The shipped models' cards, sorted by name and version."""

    @classmethod
    def build(cls, version: str, components: Iterable[Declarations],
              models: Iterable[ModelCard] = ()) -> Dictionary:
        d = cls(version, models=_sorted_cards(models))
        for comp in components:
            owned = comp.owned()
            _add(d.commands, owned.commands, "command", comp.component)
            _add(d.telemetry, owned.telemetry, "telemetry point", comp.component)
            _add(d.events, owned.events, "event", comp.component)
        return d

    # --- export -------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        body = {
            "schema": DICTIONARY_SCHEMA,
            "version": self.version,
            "commands": [c.to_json() for c in sorted(self.commands.values(),
                                                     key=lambda c: c.name)],
            "telemetry": [t.to_json() for t in sorted(self.telemetry.values(),
                                                      key=lambda t: t.name)],
            "events": [e.to_json() for e in sorted(self.events.values(),
                                                   key=lambda e: e.name)],
        }
        if self.models:  # absent when empty: a dictionary without cards keeps its hash
            body["models"] = [m.to_json() for m in self.models]
        body["hash"] = _content_hash(body)
        return body

    @property
    def hash(self) -> str:
        """SHA-256 over the canonical JSON of the content (first 16 hex digits)."""
        return str(self.to_json()["hash"])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dictionary:
        if data.get("schema") != DICTIONARY_SCHEMA:
            raise DictionaryError("unsupported dictionary schema", got=data.get("schema"),
                                  expected=DICTIONARY_SCHEMA)
        d = cls(str(data["version"]))
        d.commands = {c["name"]: Command.from_json(c) for c in data["commands"]}
        d.telemetry = {t["name"]: Telemetry.from_json(t) for t in data["telemetry"]}
        d.events = {e["name"]: Event.from_json(e) for e in data["events"]}
        try:
            d.models = _sorted_cards(ModelCard.from_json(m, source="dictionary models")
                                     for m in data.get("models", ()))
        except ModelCardError as exc:
            raise DictionaryError("dictionary carries a bad model card",
                                  error=str(exc)) from exc
        stated = data.get("hash")
        if stated is not None and stated != d.hash:
            raise DictionaryError("dictionary hash does not match its content",
                                  stated=stated, computed=d.hash)
        return d

    # --- validation -----------------------------------------------------------------
    def validate_command(self, name: Any, args: Any) -> dict[str, Any]:
        """Check a command against its declaration; return its arguments, normalised.

        Raises :class:`CommandRejected` naming the problem and the valid choices.
        """
        if not isinstance(name, str) or name not in self.commands:
            raise CommandRejected("unknown command", command=_short(name),
                                  valid=sorted(self.commands))
        cmd = self.commands[name]
        if not isinstance(args, Mapping):
            raise CommandRejected("arguments must be a map", command=name)
        declared = {a.name: a for a in cmd.args}
        unknown = sorted(str(k) for k in args if k not in declared)
        if unknown:
            raise CommandRejected("unknown argument", command=name, argument=unknown[0],
                                  valid=[a.describe() for a in cmd.args])
        out: dict[str, Any] = {}
        for arg in cmd.args:
            if arg.name not in args:
                raise CommandRejected("missing argument", command=name, argument=arg.name,
                                      expected=arg.describe())
            out[arg.name] = check_value(name, arg, args[arg.name])
        return out

    def parse_command_text(self, name: str, pairs: Iterable[str]) -> dict[str, Any]:
        """Turn CLI ``key=value`` words into validated arguments (ground CLI and console)."""
        if name not in self.commands:
            raise CommandRejected("unknown command", command=name, valid=sorted(self.commands))
        declared = {a.name: a for a in self.commands[name].args}
        raw: dict[str, Any] = {}
        for pair in pairs:
            key, sep, text = pair.partition("=")
            if not sep or not key:
                raise CommandRejected("argument must be written key=value", command=name,
                                      got=pair,
                                      valid=[a.describe() for a in self.commands[name].args])
            if key in raw:
                raise CommandRejected("argument given twice", command=name, argument=key)
            arg = declared.get(key)
            raw[key] = parse_text(name, arg, text) if arg is not None else text
        return self.validate_command(name, raw)


_Entry = TypeVar("_Entry", Command, Telemetry, Event)


def _sorted_cards(cards: Iterable[ModelCard]) -> tuple[ModelCard, ...]:
    out = tuple(sorted(cards, key=lambda m: (m.name, m.version, m.sha256)))
    seen = [m.sha256 for m in out]
    if len(set(seen)) != len(seen):
        raise DictionaryError("a model card appears twice", models=[m.label() for m in out])
    return out


def _add(table: dict[str, _Entry], entries: Iterable[_Entry], what: str,
         component: str) -> None:
    for entry in entries:
        if entry.name in table:
            raise DictionaryError(f"{what} declared twice", name=entry.name,
                                  components=(table[entry.name].component, component))
        table[entry.name] = entry


def check_value(command: str, arg: Arg, value: Any) -> Any:
    """Validate one argument value against its declaration; return it normalised."""
    def bad(reason: str) -> CommandRejected:
        return CommandRejected(reason, command=command, argument=arg.name,
                               got=_short(value), expected=arg.describe())

    if arg.type is ArgType.BOOL:
        if not isinstance(value, bool):
            raise bad("argument must be a bool")
        return value
    if arg.type is ArgType.STR:
        if not isinstance(value, str):
            raise bad("argument must be a string")
        if len(value) > arg.max_len:
            raise bad("argument too long")
        return value
    if arg.type is ArgType.ENUM:
        if not isinstance(value, str) or value not in arg.choices:
            raise bad("argument is not one of the choices")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad(f"argument must be {'an integer' if arg.type is ArgType.INT else 'a number'}")
    if arg.type is ArgType.INT:
        if isinstance(value, float):
            if not value.is_integer():
                raise bad("argument must be an integer")
            value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise bad("argument must be finite")
    if (arg.min is not None and value < arg.min) or (arg.max is not None and value > arg.max):
        raise bad("argument out of range")
    return value


def parse_text(command: str, arg: Arg, text: str) -> Any:
    """Parse the text form of an argument (``mode=SAFE``, ``level_pct=50``)."""
    try:
        if arg.type is ArgType.INT:
            return int(text, 0)
        if arg.type is ArgType.FLOAT:
            return float(text)
        if arg.type is ArgType.BOOL:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError as exc:
        raise CommandRejected(f"cannot read argument as {arg.type.value}", command=command,
                              argument=arg.name, got=text, expected=arg.describe()) from exc
    return text


def _content_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps({k: v for k, v in body.items() if k != "hash"}, sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _short(value: Any) -> str:
    return safe_repr(value)
