"""The executive's state across a reset: one file, written atomically, checked on load.

What is saved is :meth:`flightsw.topology.Topology.snapshot` - every component field
marked ``PERSIST`` - plus whether the executive stopped in order. The file is

    MAGIC (8 bytes) | SHA-256 of the body (32 bytes) | body (msgpack)

written to a temporary file, fsynced and renamed over the old one, whose previous
content is kept beside it as the *last good copy* (``.prev``). Loading checks the magic
and the hash; a corrupt or truncated file is reported and the last good copy used; if
neither is good the executive boots on defaults and says so. Never a crash loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

MAGIC = b"AISATST1"
STATE_FORMAT = 1


@dataclass
class Loaded:
    """What a boot found: the record (or ``None``), whether the last run ended in order,
    which file it came from, and every problem met on the way."""

    record: dict[str, Any] | None = None
    orderly: bool = False
    source: str = "none"  # "state", "previous" or "none"
    problems: list[str] = field(default_factory=list)


class StateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.previous = self.path.with_name(self.path.name + ".prev")
        self.saves = 0

    def save(self, record: dict[str, Any], *, orderly: bool, mission_time_s: float) -> None:
        body = msgpack.packb({"format": STATE_FORMAT, "orderly": orderly,
                              "mission_time_s": mission_time_s, "record": record},
                             default=_plain, use_bin_type=True)
        blob = MAGIC + hashlib.sha256(body).digest() + body
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        if self.path.exists() and _read_good(self.path) is not None:
            os.replace(self.path, self.previous)  # the last good copy
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.saves += 1

    def load(self) -> Loaded:
        loaded = Loaded()
        for source, path in (("state", self.path), ("previous", self.previous)):
            if not path.exists():
                if source == "state" and self.previous.exists():
                    loaded.problems.append(f"{path.name} is missing")
                continue
            try:
                doc = _read_good(path)
            except OSError as exc:
                loaded.problems.append(f"{path.name} unreadable: {exc}")
                continue
            if doc is None:
                loaded.problems.append(f"{path.name} is corrupt or truncated")
                continue
            loaded.record = doc["record"]
            loaded.orderly = bool(doc.get("orderly")) and source == "state"
            loaded.source = source
            return loaded
        return loaded


def _read_good(path: Path) -> dict[str, Any] | None:
    """The document in ``path`` if its magic, hash and layout check out, else ``None``."""
    blob = path.read_bytes()
    if len(blob) < len(MAGIC) + 32 or not blob.startswith(MAGIC):
        return None
    digest, body = blob[len(MAGIC):len(MAGIC) + 32], blob[len(MAGIC) + 32:]
    if hashlib.sha256(body).digest() != digest:
        return None
    try:
        doc = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        return None
    if (not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT
            or not isinstance(doc.get("record"), dict)):
        return None
    return doc


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot save {type(value).__name__}")
