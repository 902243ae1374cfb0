"""Upload a model to the spacecraft in chunks over a lossy uplink, resending only holes.

The flight side is :mod:`flightsw.model_store`: ``model.upload_begin`` opens an upload,
``model.upload_chunk`` carries :data:`~flightsw.model_store.CHUNK_BYTES` of the file in
base64, ``model.upload_status`` names the chunks still missing, ``model.upload_end``
starts verification (SHA-256, then the sandbox). Commands on a radio uplink get lost,
duplicated and reordered; the flight's chunk book makes all three harmless, and this
module's loop makes the upload finish anyway:

    begin -> send up to a window of missing chunks -> wait (bounded) for their answers
          -> status -> repeat until nothing is missing (or rounds run out) -> end

A lost *answer* is no worse than a lost chunk: the status says what really arrived.
Re-running the upload after a ground restart resumes it (``upload_begin`` of the same
SHA-256 returns the open upload). The driver talks to the spacecraft through
:class:`Uplink`, so the same loop runs against the operator API (:class:`OpsUplink`)
and the in-process harness (tests).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from flightsw.model_card import ModelCard, ModelCardError, shape_text
from flightsw.model_store import CHUNK_BYTES, MAX_MODEL_BYTES, parse_missing
from ground.errors import GroundError

ROUND_WAIT_S = 60.0
WINDOW_CHUNKS = 48
"""Chunks sent per round before asking what is missing: ~45 s of a 9.6 kbit/s uplink, so
a round's answers come within :data:`ROUND_WAIT_S` and the status query does not wait
behind a whole model's worth of chunks in the ground's queue (a 4 MiB model is 5,462)."""


class UploadFailed(GroundError):
    """The upload could not be finished (refused by the flight, or out of rounds)."""


class Uplink(Protocol):
    """What the upload loop needs: send a command, learn how it ended, let time pass."""

    def submit(self, name: str, args: dict[str, Any]) -> int: ...

    def outcome(self, token: int) -> tuple[bool, str] | None:
        """``(ok, note or reason)`` once the command finished; ``None`` while pending."""
        ...

    def wait(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class UploadPlan:
    """A model file and its card, cut into chunks."""

    card: ModelCard
    size_bytes: int
    chunks: tuple[bytes, ...]

    @property
    def sha256(self) -> str:
        return self.card.sha256

    def begin_args(self) -> dict[str, Any]:
        c = self.card
        return {"name": c.name, "version": c.version, "size_bytes": self.size_bytes,
                "sha256": c.sha256, "power_class": c.power_class, "accuracy": c.accuracy,
                "input_name": c.input_name, "input_shape": shape_text(c.input_shape),
                "output_name": c.output_name, "output_shape": shape_text(c.output_shape)}

    def chunk_args(self, upload_id: int, index: int) -> dict[str, Any]:
        return {"upload_id": upload_id, "index": index,
                "data": base64.b64encode(self.chunks[index]).decode()}


def cut(blob: bytes, card: ModelCard) -> UploadPlan:
    """``blob`` in upload chunks, with ``card`` (whose sha256 must be the blob's)."""
    return UploadPlan(card, len(blob), tuple(blob[i : i + CHUNK_BYTES]
                                             for i in range(0, len(blob), CHUNK_BYTES)))


def plan(model_path: Path, card_path: Path | None = None) -> UploadPlan:
    """Read ``MODEL.onnx`` and its card ``MODEL.json`` (the shipped models' card format:
    :class:`~flightsw.model_card.ModelCard`). A card that lacks a field, or whose sha256
    is not the file's, is refused here: the spacecraft would refuse it later."""
    import hashlib

    blob = Path(model_path).read_bytes()
    if not 0 < len(blob) <= MAX_MODEL_BYTES:
        raise UploadFailed(f"{model_path}: {len(blob)} B; the store takes 1..{MAX_MODEL_BYTES}")
    card_file = card_path or Path(model_path).with_suffix(".json")
    try:
        card = ModelCard.from_json(json.loads(card_file.read_text()), source=str(card_file))
    except (OSError, ValueError, ModelCardError) as exc:
        raise UploadFailed(f"model card {card_file}: {exc}") from exc
    if card.sha256 != hashlib.sha256(blob).hexdigest():
        raise UploadFailed(f"{model_path} does not match its card's sha256")
    return cut(blob, card)


@dataclass
class UploadReport:
    upload_id: int = 0
    rounds: int = 0
    chunks: int = 0
    chunks_sent: int = 0  # including resends
    status_queries: int = 0
    ended: bool = False
    note: str = ""
    missing_per_round: list[int] = field(default_factory=list)

    @property
    def resent(self) -> int:
        return self.chunks_sent - self.chunks


_UPLOAD_ID = re.compile(r"upload (\d+)")
_MISSING = re.compile(r"missing: ([0-9,\-]+|none)")


def _ask(link: Uplink, name: str, args: dict[str, Any], wait_s: float,
         tries: int = 5) -> tuple[bool, str]:
    """A command whose answer we need: sent again if its answer does not come."""
    for _ in range(tries):
        token = link.submit(name, args)
        got = _wait_all(link, [token], wait_s)
        if token in got:
            return got[token]
    raise UploadFailed(f"{name}: no answer after {tries} tries of {wait_s:g} s")


def _wait_all(link: Uplink, tokens: list[int], wait_s: float,
              step_s: float = 1.0) -> dict[int, tuple[bool, str]]:
    done: dict[int, tuple[bool, str]] = {}
    waited = 0.0
    while True:
        for t in tokens:
            if t not in done:
                out = link.outcome(t)
                if out is not None:
                    done[t] = out
        if len(done) == len(tokens) or waited >= wait_s:
            return done
        link.wait(step_s)
        waited += step_s


def upload(link: Uplink, p: UploadPlan, *, round_wait_s: float = ROUND_WAIT_S,
           window: int = WINDOW_CHUNKS, max_rounds: int | None = None,
           progress: Callable[[str], None] | None = None) -> UploadReport:
    """Upload ``p`` and end it (verification starts onboard); raises
    :class:`UploadFailed` with the flight's reason if it refuses. ``max_rounds``
    (default: three times the rounds a perfect link needs, plus 10) bounds the resends."""
    say = progress or (lambda _msg: None)
    if window < 1:
        raise UploadFailed("window must be at least one chunk")
    if max_rounds is None:
        max_rounds = 3 * math.ceil(len(p.chunks) / window) + 10
    rep = UploadReport(chunks=len(p.chunks))
    ok, note = _ask(link, "model.upload_begin", p.begin_args(), round_wait_s)
    if not ok:
        raise UploadFailed(f"upload_begin refused: {note}")
    m = _UPLOAD_ID.search(note)
    if m is None:
        raise UploadFailed(f"upload_begin gave no upload id: {note}")
    rep.upload_id = int(m.group(1))
    say(note)
    missing = _status(link, rep, round_wait_s)
    while missing:
        if rep.rounds >= max_rounds:
            raise UploadFailed(f"upload {rep.upload_id}: {len(missing)} chunks still missing "
                               f"after {rep.rounds} rounds")
        rep.rounds += 1
        rep.missing_per_round.append(len(missing))
        tokens = [link.submit("model.upload_chunk", p.chunk_args(rep.upload_id, i))
                  for i in missing[:window]]
        rep.chunks_sent += len(tokens)
        answers = _wait_all(link, tokens, round_wait_s)
        refused = [reason for ok_, reason in answers.values() if not ok_]
        if refused:
            raise UploadFailed(f"chunk refused: {refused[0]}")
        missing = _status(link, rep, round_wait_s)
        say(f"round {rep.rounds}: sent {len(tokens)}, {len(missing)} still missing")
    ok, note = _ask(link, "model.upload_end", {"upload_id": rep.upload_id}, round_wait_s)
    if not ok:
        raise UploadFailed(f"upload_end refused: {note}")
    rep.ended = True
    rep.note = note
    say(note)
    return rep


def _status(link: Uplink, rep: UploadReport, wait_s: float) -> list[int]:
    rep.status_queries += 1
    ok, note = _ask(link, "model.upload_status", {"upload_id": rep.upload_id}, wait_s)
    if not ok:
        raise UploadFailed(f"upload_status refused: {note}")
    m = _MISSING.search(note)
    if m is None:
        raise UploadFailed(f"upload_status said nothing about missing chunks: {note}")
    return [] if m.group(1) == "none" else parse_missing(m.group(1))


class OpsUplink:
    """:class:`Uplink` over the operator API (a running stack's ground process)."""

    def __init__(self, ops: Any) -> None:
        self.ops = ops

    def submit(self, name: str, args: dict[str, Any]) -> int:
        return int(self.ops.submit(name, args).cmd_seq)

    def outcome(self, token: int) -> tuple[bool, str] | None:
        ver = self.ops.verification(token)
        return (ver.ok, ver.reason) if ver.finished else None

    def wait(self, seconds: float) -> None:
        self.ops.clock.sleep_s(seconds)
