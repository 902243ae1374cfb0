"""An :class:`~ground.model_uplink.Uplink` over the in-process harness, with a link that
loses, duplicates and reorders commands on a seeded schedule (tests only)."""

from __future__ import annotations

import hashlib
import random
from typing import Any

from flightsw.harness import Harness
from flightsw.model_card import ModelCard


def camera_card(blob: bytes, *, name: str = "blob", sha256: str | None = None,
                **changes: Any) -> ModelCard:
    """A card for ``blob`` with the camera's interface (the shipped models'): tiles
    [N, 4, 32, 32] in, cloud_prob [N] out; ``changes`` override any field."""
    fields: dict[str, Any] = {
        "name": name, "version": "1", "sha256": sha256 or hashlib.sha256(blob).hexdigest(),
        "input_name": "tiles", "input_shape": ["N", 4, 32, 32], "output_name": "cloud_prob",
        "output_shape": ["N"], "power_class": "low", "accuracy": 0.5}
    return ModelCard(**{**fields, **changes})


class HarnessUplink:
    """Commands go up through the harness; ``loss``/``duplicate``/``reorder`` apply to
    every command (a held-back one goes up after the next, so it arrives out of order)."""

    def __init__(self, h: Harness, *, loss: float = 0.0, duplicate: float = 0.0,
                 reorder: float = 0.0, seed: int = 1, only: str = "") -> None:
        self.h = h
        self.loss, self.duplicate, self.reorder = loss, duplicate, reorder
        self.only = only  # apply the faults to this command only ("": all)
        self.rng = random.Random(seed)
        self.tokens: dict[int, list[int]] = {}
        self._next = 1
        self._held: list[tuple[int, str, dict[str, Any]]] = []
        self.lost = self.duplicated = self.reordered = 0

    def submit(self, name: str, args: dict[str, Any]) -> int:
        token, self._next = self._next, self._next + 1
        self.tokens[token] = []
        faulty = not self.only or name == self.only
        if faulty and self.rng.random() < self.loss:
            self.lost += 1
            return token
        if faulty and self.rng.random() < self.reorder:
            self.reordered += 1
            self._held.append((token, name, args))
            return token
        self._send(token, name, args)
        if faulty and self.rng.random() < self.duplicate:
            self.duplicated += 1
            self._send(token, name, args)
        while self._held:
            self._send(*self._held.pop(0))
        return token

    def _send(self, token: int, name: str, args: dict[str, Any]) -> None:
        self.tokens[token].append(self.h.command_args(name, args))

    def outcome(self, token: int) -> tuple[bool, str] | None:
        for seq in self.tokens[token]:
            for v in self.h.verification(seq):
                if v.stage in ("completed", "failed"):
                    return v.stage == "completed", v.reason
        return None

    def wait(self, seconds: float) -> None:
        while self._held:
            self._send(*self._held.pop(0))
        self.h.run(max(1, round(seconds)))
