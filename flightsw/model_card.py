"""A model card: what a model is and promises, as one record the whole system shares.

Why one record: the card travels far. A shipped model's card file
(``payload/models/NAME.json``) is read into the hashed dictionary the executive builds
and the ground checks at HELLO (:mod:`flightsw.catalog`); an uploaded model's card goes
up with ``model.upload_begin``, is held against what onnxruntime reports in the sandbox
(:func:`contradictions`), is kept in the store's state and its ``SHA.json`` file, and
comes down in the ``model.validated`` event the ground archives. Every one of those
places reads and writes the card through :meth:`ModelCard.to_json` /
:meth:`ModelCard.from_json`, so the card has one layout: the shipped card files' own
(``inputs``/``outputs`` lists of ``{name, shape}``; extra keys such as ``held_out`` are
the file's, not the card's).

Shapes are lists of positive ints and names (a name is a dynamic axis, e.g. ``"N"``);
the dictionary has no list argument type, so on the command line a shape is text:
``"N,4,32,32"`` (:func:`shape_text` / :func:`parse_shape`).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flightsw.errors import FlightError

POWER_CLASSES = ("low", "medium", "high")
SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[1] / "payload" / "models"
"""Where the shipped models and their card files are (data the flight reads, not code
it imports: ``flightsw`` never imports ``payload``)."""
MAX_SHAPE_TEXT = 64
"""Longest shape text an upload command carries (``"N,4,32,32"`` is 9)."""


class ModelCardError(FlightError):
    """A card that is malformed, or that contradicts its model."""


@dataclass(frozen=True)
class ModelCard:
    """Name, version, hash, interface, power class and accuracy of one model."""

    name: str = ""
    version: str = ""
    sha256: str = ""
    input_name: str = ""
    input_shape: list[Any] = field(default_factory=list)
    output_name: str = ""
    output_shape: list[Any] = field(default_factory=list)
    power_class: str = "low"
    accuracy: float = 0.0

    def label(self) -> str:
        return f"{self.name} v{self.version} ({self.sha256[:12]})"

    def describe(self) -> str:
        """One line for listings (the store's ``model.list`` note and the CLI)."""
        return (f"{self.label()} in {self.input_name}[{shape_text(self.input_shape)}] "
                f"out {self.output_name}[{shape_text(self.output_shape)}] power "
                f"{self.power_class} accuracy {self.accuracy:.4f}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "sha256": self.sha256,
                "inputs": [{"name": self.input_name, "shape": list(self.input_shape)}],
                "outputs": [{"name": self.output_name, "shape": list(self.output_shape)}],
                "power_class": self.power_class, "accuracy": self.accuracy}

    @classmethod
    def from_json(cls, data: Any, *, source: str = "card") -> ModelCard:
        """Parse and check a card; every problem is a :class:`ModelCardError` that names
        the field. ``accuracy`` may sit in ``held_out`` (the shipped cards' report)."""
        if not isinstance(data, dict):
            raise ModelCardError("model card is not a JSON object", card=source)
        try:
            (inp,) = data["inputs"]
            (out,) = data["outputs"]
            accuracy = data.get("accuracy")
            if accuracy is None:
                accuracy = data.get("held_out", {}).get("accuracy")
            card = cls(name=_text(data["name"], "name"), version=_text(data["version"], "version"),
                       sha256=_text(data["sha256"], "sha256").lower(),
                       input_name=_text(inp["name"], "inputs[0].name"),
                       input_shape=check_shape(inp["shape"], "inputs[0].shape"),
                       output_name=_text(out["name"], "outputs[0].name"),
                       output_shape=check_shape(out["shape"], "outputs[0].shape"),
                       power_class=str(data["power_class"]), accuracy=_number(accuracy))
        except KeyError as exc:
            name = str(exc).strip("'")
            raise ModelCardError(f"model card lacks a field: {name}", card=source,
                                 field=name) from exc
        except (TypeError, ValueError, AttributeError) as exc:
            raise ModelCardError(f"model card is malformed: {exc}", card=source) from exc
        card.check(source)
        return card

    def check(self, source: str = "card") -> None:
        """The values every card must have (hash, power class, accuracy in 0..1)."""
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ModelCardError("model card sha256 is not 64 hex digits", card=source)
        if self.power_class not in POWER_CLASSES:
            raise ModelCardError("model card power_class unknown", card=source,
                                 got=self.power_class, valid=list(POWER_CLASSES))
        if not (math.isfinite(self.accuracy) and 0.0 <= self.accuracy <= 1.0):
            raise ModelCardError("model card accuracy must be in 0..1", card=source,
                                 got=self.accuracy)


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"accuracy must be a number, got {value!r}")
    return float(value)


def check_shape(value: Any, name: str = "shape") -> list[Any]:
    """A non-empty list of positive ints and axis names; raises ValueError saying why."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{name} must be a non-empty list")
    for dim in value:
        ok = (isinstance(dim, str) and dim != "" and "," not in dim) or (
            isinstance(dim, int) and not isinstance(dim, bool) and dim > 0)
        if not ok:
            raise ValueError(f"{name} dims must be positive ints or names, got {dim!r}")
    return list(value)


def shape_text(shape: list[Any]) -> str:
    """``[N, 4, 32, 32]`` -> ``"N,4,32,32"`` (how an upload command carries a shape)."""
    return ",".join(str(d) for d in shape)


def parse_shape(text: str, name: str = "shape") -> list[Any]:
    """``"N,4,32,32"`` -> ``["N", 4, 32, 32]``; raises :class:`ModelCardError`."""
    dims: list[Any] = []
    for part in text.split(","):
        part = part.strip()
        dims.append(int(part) if part.lstrip("-").isdigit() else part)
    try:
        return check_shape(dims, name)
    except ValueError as exc:
        raise ModelCardError(f"{name} {text!r} is not a shape: {exc}") from exc


def _same_dim(a: Any, b: Any) -> bool:
    """Equal sizes, or both dynamic: a dynamic axis may carry any name."""
    return a == b if isinstance(a, int) or isinstance(b, int) else True


def contradictions(card: ModelCard, input_name: str, input_shape: list[Any],
                   output_name: str, output_shape: list[Any]) -> list[str]:
    """Where ``card`` disagrees with what onnxruntime reports of the model (empty: it
    does not). A dynamic axis matches a dynamic axis whatever their names."""
    found: list[str] = []
    for what, claimed, real in (("input", (card.input_name, card.input_shape),
                                 (input_name, input_shape)),
                                ("output", (card.output_name, card.output_shape),
                                 (output_name, output_shape))):
        if claimed[0] != real[0]:
            found.append(f"card {what} name {claimed[0]!r}, model has {real[0]!r}")
        if len(claimed[1]) != len(real[1]) or not all(
                _same_dim(a, b) for a, b in zip(claimed[1], real[1], strict=False)):
            found.append(f"card {what} shape [{shape_text(claimed[1])}], model has "
                         f"[{shape_text(real[1])}]")
    return found


@functools.lru_cache(maxsize=4)
def shipped_cards(models_dir: Path = SHIPPED_MODELS_DIR) -> tuple[ModelCard, ...]:
    """The cards of the models shipped with the flight software, by file name. A card
    file that cannot be read is an error: a dictionary must not quietly lose a model."""
    cards = []
    for path in sorted(Path(models_dir).glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelCardError("shipped model card unreadable", card=str(path),
                                 error=str(exc)) from exc
        cards.append(ModelCard.from_json(data, source=str(path)))
    return tuple(cards)
