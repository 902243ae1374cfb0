"""Typed records for message bodies: one encoder (``to_body``) and one decoder
(``from_body``) per kind of body, shared by every process.

A record is a dataclass whose fields are plain wire types (bool, int, float, str, list,
dict, or another record). :meth:`Record.from_body` checks an untrusted map field by field
and raises :class:`~flightsw.errors.WireError` naming the field and what was wrong;
unknown extra keys are ignored (a newer sender may add fields), missing ones keep their
defaults unless the field is listed in ``REQUIRED``.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

from flightsw.errors import WireError, safe_repr

R = TypeVar("R", bound="Record")


class Record:
    """Base of every typed body. Subclasses are dataclasses."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def to_body(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    # kept for the HAL records' older callers
    def to_dict(self) -> dict[str, Any]:
        return self.to_body()

    @classmethod
    def from_body(cls: type[R], data: Any) -> R:
        if not isinstance(data, Mapping):
            raise WireError(f"{cls.__name__} must be a map", got=type(data).__name__)
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):  # type: ignore[arg-type]
            if f.name not in data:
                if f.name in cls.REQUIRED:
                    raise WireError(f"{cls.__name__}.{f.name} is missing")
                continue
            kwargs[f.name] = _coerce(cls.__name__, f.name, hints[f.name], data[f.name])
        return cls(**kwargs)

    @classmethod
    def from_dict(cls: type[R], data: Any) -> R:
        return cls.from_body(data)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _coerce(owner: str, name: str, hint: Any, value: Any) -> Any:
    where = f"{owner}.{name}"
    origin = typing.get_origin(hint)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        inner = [o for o in options if o is not type(None)]
        return _coerce(owner, name, inner[0], value)
    if hint is bool:
        if not isinstance(value, bool):
            raise WireError(f"{where} must be a bool", got=safe_repr(value))
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WireError(f"{where} must be a number", got=safe_repr(value))
        try:
            return float(value)
        except OverflowError as exc:
            raise WireError(f"{where} is out of range", got=safe_repr(value)) from exc
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise WireError(f"{where} must be an integer", got=safe_repr(value))
        return value
    if hint is str:
        if not isinstance(value, str):
            raise WireError(f"{where} must be a string", got=safe_repr(value))
        return value
    if origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            raise WireError(f"{where} must be a map", got=safe_repr(value))
        args = typing.get_args(hint)
        if args and args[1] in (bool, float, int, str):
            return {str(k): _coerce(owner, f"{name}[{safe_repr(k)}]", args[1], v)
                    for k, v in value.items()}
        return dict(value)
    if origin is list or hint is list:
        if not isinstance(value, list):
            raise WireError(f"{where} must be a list", got=safe_repr(value))
        args = typing.get_args(hint)
        if args and args[0] in (bool, float, int, str):
            return [_coerce(owner, f"{name}[]", args[0], v) for v in value]
        return list(value)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_body(value)
    return value


def finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else math.nan
