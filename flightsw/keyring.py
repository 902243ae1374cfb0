"""The uplink key directory: where flight and ground keep the keys that authenticate
commands (see :mod:`flightsw.uplink_auth`).

Why a directory of files: the keys are shared by the flight computer and the ground,
which in the sim stack are processes on one host and on a board are two machines; a
directory is what both can be given (``--keys DIR``) and what an operator can copy to a
board at integration ("provisioning before launch"). Where it is, in order:

1. ``--keys DIR`` on ``python -m flightsw`` / ``python -m ground`` (the launcher passes it);
2. ``$AISAT_KEY_DIR``;
3. ``RUN_DIR/keys`` (the run directory both processes already share).

Layout: one file per key, ``uplink-<id>.key`` holding the 32 key bytes as one line of
hex. The directory is created ``0700`` and every file ``0600`` (owner only): anyone who
can read a key can command the spacecraft. A key the ground has generated for a
rotation but the flight has not yet confirmed is ``uplink-<id>.pending`` (the flight
never loads it from disk: it receives it by command). On first run the directory is
created with key 1; two processes racing to create it agree (the file is created by an
atomic, non-replacing link, so exactly one key 1 ever exists).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from flightsw import channel_auth

ENV_VAR = "AISAT_KEY_DIR"
KEY_SUFFIX = ".key"
PENDING_SUFFIX = ".pending"
MAX_KEY_ID = 0xFFFF  # two bytes in the frame header
_NAME = re.compile(r"^uplink-(\d{1,5})\.(key|pending)$")


class KeyDirError(Exception):
    """The key directory cannot be used (unreadable, wrong permissions, bad key)."""


def resolve_dir(explicit: str | Path | None, run_dir: str | Path | None) -> Path | None:
    """Where the keys are (see the module docstring); None if nothing says."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    if run_dir:
        return Path(run_dir) / "keys"
    return None


def key_path(directory: Path, key_id: int, *, pending: bool = False) -> Path:
    return directory / f"uplink-{key_id}{PENDING_SUFFIX if pending else KEY_SUFFIX}"


def ensure(directory: Path) -> dict[int, bytes]:
    """The directory's active keys, creating the directory (0700) and key 1 (0600) on
    first use. Raises :class:`KeyDirError` with the reason if it cannot."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise KeyDirError(f"cannot create the key directory {directory}: {exc}") from exc
    keys = load(directory)
    if not keys:
        write_key(directory, 1, channel_auth.new_key())
        keys = load(directory)
    return keys


def load(directory: Path, *, pending: bool = False) -> dict[int, bytes]:
    """Keys by id (active ones, or the pending ones). Raises :class:`KeyDirError` for a
    malformed key file: a key that silently went missing would lock the ground out."""
    out: dict[int, bytes] = {}
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return out
    except OSError as exc:
        raise KeyDirError(f"cannot read the key directory {directory}: {exc}") from exc
    want = "pending" if pending else "key"
    for name in names:
        m = _NAME.match(name)
        if m is None or m.group(2) != want:
            continue
        key_id = int(m.group(1))
        try:
            text = (directory / name).read_text("ascii").strip()
            key = bytes.fromhex(text)
        except (OSError, ValueError) as exc:
            raise KeyDirError(f"unreadable key file {directory / name}: {exc}") from exc
        if len(key) != channel_auth.KEY_BYTES or not 1 <= key_id <= MAX_KEY_ID:
            raise KeyDirError(f"bad key file {directory / name}: want a key id in "
                              f"[1, {MAX_KEY_ID}] and {channel_auth.KEY_BYTES} bytes")
        out[key_id] = key
    return out


def write_key(directory: Path, key_id: int, key: bytes, *, pending: bool = False) -> bool:
    """Create ``uplink-<id>`` (0600) unless it exists; True if this call created it."""
    final = key_path(directory, key_id, pending=pending)
    tmp = directory / f".{final.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, final)  # atomic and never replaces: a racing creator's key wins
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def activate(directory: Path, key_id: int) -> None:
    """A pending key becomes active (the flight confirmed it)."""
    pending = key_path(directory, key_id, pending=True)
    if pending.exists():
        os.replace(pending, key_path(directory, key_id))
