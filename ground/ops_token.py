"""The ops API's token: who may command the spacecraft or stop the ground.

The ops socket binds loopback only, but every local user and process can reach
loopback. Measured before this: one unauthenticated request stopped the ground. Now the
ground makes a fresh random token at each start and writes it to ``RUN_DIR/ops.token``
(0600: only the operator's account can read it); requests that command or stop must
carry it (``token``), read-only ones need not. The CLI, the scripting API and the
launcher read it from the run directory.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "ops.token"
TOKEN_BYTES = 32


def create(path: Path) -> str:
    """A new token, written to ``path`` (0600, replacing the last run's atomically)."""
    token = secrets.token_hex(TOKEN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode("ascii") + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return token


def read(run_dir: Path | str) -> str | None:
    """The token of the ground running in ``run_dir``; None if there is none to read."""
    try:
        text = (Path(run_dir) / TOKEN_FILE).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def matches(expected: str, given: object) -> bool:
    """Constant-time comparison of a request's token with the ground's."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogatepass"))
