"""The ops API, client side: one request, one reply, or a clear "nobody answered".

A fresh REQ socket per request keeps a lost reply from wedging the next one (REQ's
strict send/recv alternation), and ``LINGER 0`` keeps a dead ground from holding the
caller at exit. Refusals come back as data (``ok: false``); only "no ground process"
and unreadable replies raise. With a ``token`` (the ground's ops token, or a function
that reads it afresh for each request, as :func:`ground.ops_token.read` from the run
directory: a restarted ground has a new one) every request carries it, so ops that
command or stop are let through.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgpack
import zmq

from flightsw.errors import safe_repr
from ground.errors import NoStack, OpsError
from ground.ops_service import pack, unpack


class OpsClient:
    def __init__(self, endpoint: str, timeout_s: float = 5.0,
                 ctx: zmq.Context[Any] | None = None,
                 token: str | Callable[[], str | None] | None = None) -> None:
        if not endpoint:
            raise NoStack("the stack names no ground ops endpoint")
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.ctx = ctx or zmq.Context.instance()
        self.token = token

    def request(self, req: Mapping[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send one request; return the reply map (check its ``ok``)."""
        wait_ms = int(1000 * (self.timeout_s if timeout_s is None else timeout_s))
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.endpoint)
            token = self.token() if callable(self.token) else self.token
            sock.send(pack(req if token is None or "token" in req
                           else {**req, "token": token}))
            if not sock.poll(wait_ms, zmq.POLLIN):
                raise NoStack("the ground process does not answer (is the stack up?)",
                              ops=self.endpoint, waited_s=wait_ms / 1000)
            data = sock.recv()
        finally:
            sock.close(linger=0)
        try:
            reply = unpack(data)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise OpsError("unreadable reply from the ground process",
                           error=type(exc).__name__) from exc
        if not isinstance(reply, dict) or "ok" not in reply:
            raise OpsError("reply from the ground process is not an ops reply",
                           got=safe_repr(reply, 60))
        return reply

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Like :meth:`request`, but a refusal raises :class:`OpsError` with its fields."""
        reply = self.request({"op": op, **fields})
        if not reply["ok"]:
            details = {k: v for k, v in reply.items() if k not in ("ok", "error")}
            raise OpsError(str(reply.get("error", "refused")), op=op, **details)
        return reply
