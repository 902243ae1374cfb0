"""Typed records for message bodies: one encoder (``to_body``) and one decoder
(``from_body``) per kind of body, shared by every process.

A record is a dataclass whose fields are plain wire types (bool, int, float, str, list,
dict, or another record). :meth:`Record.from_body` checks an untrusted map field by field
and raises :class:`~flightsw.errors.WireError` naming the field and what was wrong;
unknown extra keys are ignored (a newer sender may add fields), missing ones keep their
defaults unless the field is listed in ``REQUIRED``.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, ClassVar, TypeVar

from flightsw.errors import WireError, safe_repr

R = TypeVar("R", bound="Record")


class Record:
    """Base of every typed body. Subclasses are dataclasses."""

    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def to_body(self) -> dict[str, Any]:
        """A plain map for the codec. Nested records become maps; lists and maps are
        passed as they are (not copied: the codec only reads them)."""
        names = _FIELD_NAMES.get(type(self))
        if names is None:
            names = tuple(f.name for f in fields(self))  # type: ignore[arg-type]
            _FIELD_NAMES[type(self)] = names
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            out[name] = value.to_body() if isinstance(value, Record) else value
        return out

    @classmethod
    def from_body(cls: type[R], data: Any) -> R:
        if not isinstance(data, Mapping):
            raise WireError(f"{cls.__name__} must be a map", got=type(data).__name__)
        kwargs: dict[str, Any] = {}
        for name, required, coerce in _plan(cls):
            if name not in data:
                if required:
                    raise WireError(f"{cls.__name__}.{name} is missing")
                continue
            kwargs[name] = coerce(data[name])
        return cls(**kwargs)



def is_union(origin: Any) -> bool:
    """``typing.get_origin`` of ``X | None`` or ``Optional[X]`` (both spellings)."""
    return origin is typing.Union or str(origin) == "<class 'types.UnionType'>"


_HINTS: dict[type, dict[str, Any]] = {}
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


_PLANS: dict[type, list[tuple[str, bool, Any]]] = {}


def _plan(cls: type[Record]) -> list[tuple[str, bool, Any]]:
    """Per record class, once: each field's name, whether it is required, and the
    function that checks a value for it (decoding is on every stream's hot path)."""
    plan = _PLANS.get(cls)
    if plan is None:
        hints = _hints(cls)
        plan = [(f.name, f.name in cls.REQUIRED, _coercer(cls.__name__, f.name, hints[f.name]))
                for f in fields(cls)]  # type: ignore[arg-type]
        _PLANS[cls] = plan
    return plan


def _coercer(owner: str, name: str, hint: Any) -> Any:
    """The check for one field, specialised once for its type: the common, well-formed
    value passes without the generic machinery (``typing.get_origin`` per value was most
    of decoding a TICK's sensors or an ACTUATORS' heater map, once a simulated second
    on both ends of the plant bus); anything else - a wrong type, an int for a float -
    takes the careful path of :func:`_coerce`, which raises the same errors as ever."""

    def slow(value: Any) -> Any:
        return _coerce(owner, name, hint, value)

    fast = _FAST.get(hint)
    if fast is not None:
        def scalar(value: Any, _t: type = fast) -> Any:
            return value if type(value) is _t else slow(value)

        return scalar
    origin = typing.get_origin(hint)
    if is_union(origin):
        options = typing.get_args(hint)
        inner = [o for o in options if o is not type(None)]
        if not inner:
            return slow
        none_ok = type(None) in options
        inner_check = _coercer(owner, name, inner[0])

        def optional(value: Any) -> Any:
            return None if value is None and none_ok else inner_check(value)

        return optional
    args = typing.get_args(hint)
    if origin is dict and len(args) == 2 and args[1] in _FAST:
        value_type = _FAST[args[1]]

        def scalar_map(value: Any) -> Any:
            if (type(value) is dict and set(map(type, value)) <= _STR
                    and set(map(type, value.values())) <= {value_type}):
                return dict(value)  # what the careful path returns for such a map
            return slow(value)

        return scalar_map
    if origin is list and len(args) == 1 and args[0] in _FAST:
        item_type = _FAST[args[0]]

        def scalar_list(value: Any) -> Any:
            if type(value) is list and set(map(type, value)) <= {item_type}:
                return list(value)
            return slow(value)

        return scalar_list
    if origin is None and isinstance(hint, type) and issubclass(hint, Record) \
            and not issubclass(hint, (dict, list)):
        return hint.from_body
    return slow


_STR = frozenset((str,))
_FAST: dict[Any, type] = {bool: bool, int: int, str: str, float: float}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def _coerce(owner: str, name: str, hint: Any, value: Any) -> Any:
    where = f"{owner}.{name}"
    origin = typing.get_origin(hint)
    if is_union(origin):
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
