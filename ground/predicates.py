"""Predicates that say what they test, so a failed wait can explain itself.

``wait_tlm("power.battery_soc_pct", gt(50))`` fails with "... > 50 timed out ..."
rather than "<lambda> timed out". A plain value means equality; any other callable is
accepted and described by its name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Predicate:
    test: Callable[[Any], bool]
    description: str

    def __call__(self, value: Any) -> bool:
        try:
            return bool(self.test(value))
        except TypeError:  # e.g. None > 50: a missing reading does not satisfy it
            return False

    def __str__(self) -> str:
        return self.description


def gt(limit: float) -> Predicate:
    return Predicate(lambda v: v > limit, f"> {limit:g}")


def ge(limit: float) -> Predicate:
    return Predicate(lambda v: v >= limit, f">= {limit:g}")


def lt(limit: float) -> Predicate:
    return Predicate(lambda v: v < limit, f"< {limit:g}")


def le(limit: float) -> Predicate:
    return Predicate(lambda v: v <= limit, f"<= {limit:g}")


def eq(expected: Any) -> Predicate:
    return Predicate(lambda v: v == expected, f"== {expected!r}")


def ne(other: Any) -> Predicate:
    return Predicate(lambda v: v != other, f"!= {other!r}")


def between(low: float, high: float) -> Predicate:
    """Inclusive range."""
    return Predicate(lambda v: low <= v <= high, f"in [{low:g}, {high:g}]")


def one_of(choices: Collection[Any]) -> Predicate:
    return Predicate(lambda v: v in choices, f"in {sorted(choices, key=repr)!r}")


def anything() -> Predicate:
    return Predicate(lambda v: True, "any value")


def as_predicate(spec: Any) -> Predicate:
    """A :class:`Predicate` from a predicate, a callable, or a value to compare with."""
    if isinstance(spec, Predicate):
        return spec
    if callable(spec):
        name = getattr(spec, "__name__", repr(spec))
        return Predicate(spec, name if name != "<lambda>" else "a lambda")
    return eq(spec)
