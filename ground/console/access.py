"""Who may reach the console, and what a request must carry to change anything.

Rules (stated once, enforced by the server, tested in ``tests/console``):

- **Bind**: loopback (``127.0.0.1``, ``::1``, ``localhost``) by default. Any other
  address needs the ground's ops token (``RUN_DIR/ops.token``, mode 0600, written by
  the ground at start: :mod:`ground.ops_token`); without one the console refuses to
  start, with the reason. The console never serves TLS: to reach it from another
  machine, prefer an SSH tunnel to a loopback console; binding elsewhere is for a
  trusted network.
- **Remote requests** (console bound elsewhere than loopback): every request needs the
  token, presented once on the login form and then carried by an ``HttpOnly``,
  ``SameSite=Strict`` cookie. Loopback needs no token: whoever can reach loopback can
  already read the run directory.
- **CSRF**: every POST must carry the header :data:`CSRF_HEADER` with the value the
  server put in the page (random per console start). A page on another origin can
  neither read that value nor send a custom header without a CORS preflight, which
  the console never grants. POST bodies must be ``application/json`` for the same
  reason, and the ``Host`` header must name the console itself (a DNS-rebinding page
  cannot use the browser as a proxy to the loopback console).
- **Framing**: every response forbids framing and foreign scripts (CSP
  ``frame-ancestors 'none'``, ``default-src 'self'``), so another page cannot overlay
  the console and trick a click on a hazardous command's confirmation.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from pathlib import Path

from ground import ops_token

CSRF_HEADER = "X-Aisat-Csrf"
TOKEN_COOKIE = "aisat_console"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


class AccessError(Exception):
    """The console may not start as asked; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    """True for loopback names and addresses (``127.0.0.0/8``, ``::1``)."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def read_token(run_dir: Path) -> str | None:
    """The ground's ops token (:mod:`ground.ops_token`), or None if the run directory
    has none.

    A token file others can read is refused (it would let any local user command the
    spacecraft through the console): :class:`AccessError` says how to fix it.
    """
    path = Path(run_dir) / ops_token.TOKEN_FILE
    try:
        info = path.stat()
    except OSError:
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AccessError(f"ops token {path} is readable by others "
                          f"(mode {stat.S_IMODE(info.st_mode):o}); chmod 600 it")
    return ops_token.read(run_dir)


def check_bind(host: str, token: str | None, run_dir: Path) -> None:
    """Refuse a non-loopback bind without a token (:class:`AccessError` with why)."""
    if is_loopback(host) or token:
        return
    raise AccessError(f"binding {host} (not loopback) needs the ground's ops token, and "
                      f"{Path(run_dir) / ops_token.TOKEN_FILE} does not exist: start the ground "
                      f"first, or bind 127.0.0.1 and reach it through an SSH tunnel")


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; nothing matches a missing secret."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def host_allowed(host_header: str | None, bind_host: str, port: int) -> bool:
    """Whether a request's ``Host`` names this console (DNS-rebinding defence)."""
    if not host_header:
        return False
    name, _, port_text = host_header.rpartition(":") if not host_header.endswith("]") \
        else (host_header, "", "")
    if not name:
        name, port_text = host_header, ""
    if port_text and port_text != str(port):
        return False
    name = name.strip("[]").lower()
    if is_loopback(bind_host):
        return is_loopback(name)
    return bind_host in ("0.0.0.0", "::") or name == bind_host.strip("[]").lower()


def new_secret() -> str:
    return os.urandom(24).hex()
