"""The console's web server: one Starlette app, served by uvicorn.

The page (``static/index.html``) polls the JSON endpoints below and draws everything
itself; the server only checks requests and turns them into calls on
:class:`ground.console.backend.ConsoleBackend`. Every refusal is JSON
``{"ok": false, "error": <reason>, ...}`` with a 4xx status (5xx only when the ground
itself cannot be reached: 503):

==========================================  =============================================
``GET /``                                   the page (with this start's CSRF value)
``GET /api/state``                          link, spacecraft clock, overview, alarms
``GET /api/telemetry``                      every point: value, limit colour, stale
``GET /api/dictionary``                     commands (args, hazardous), points, severities
``GET /api/series?point=&window_s=|t0=&t1=&buckets=``  a point over time, decimated
``GET /api/events?min_severity=&limit=&after_id=``     event log
``GET /api/commands``, ``/api/commands/N``  this console's commands and their stages
``POST /api/commands``                      ``{"name", "args", "at_s"?, "confirm"?}``
``POST /api/commands/N/cancel|hold|release``  a command still waiting at the ground
``POST /api/alarms/N/ack``                  ``{"by"?}``: acknowledge a latched alarm
``GET /api/passes``, ``/api/products``      pass timeline; capture-window products
``GET /api/jobs``                           operator jobs: outcome, tiles on the ground
``GET /api/jobs/J/tiles/I.png?band=rgb|swir``  one downlinked tile as a PNG
==========================================  =============================================

Access rules (loopback, token, CSRF, Host) are in :mod:`ground.console.access`.
"""

from __future__ import annotations

import json
import math
import socket
import sys
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flightsw.errors import CommandRejected, safe_repr
from flightsw.wire import nesting_depth
from ground.console import access
from ground.console.backend import (
    EVENT_LIMIT_MAX,
    QUEUE_ACTIONS,
    BackendDown,
    ConsoleBackend,
)
from ground.console.series import MAX_BUCKETS

MAX_BODY_BYTES = 16 * 1024
"""Largest POST body; a command with its arguments is a few hundred bytes."""
MAX_BODY_DEPTH = 6
MAX_WINDOW_S = 366 * 86400.0
DEFAULT_PORT = 8080

STATIC = resources.files("ground.console") / "static"

LOGIN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>aisat console</title>
<link rel="stylesheet" href="/static/console.css"></head><body class="login">
<form method="post" action="/login"><h1>aisat console</h1>
<p>This console is reachable from the network: enter the ground's ops token
(<code>RUN_DIR/ops.token</code>).</p><input type="password" name="token" autofocus>
<button type="submit">Sign in</button>{error}</form></body></html>"""


class BadRequest(Exception):
    def __init__(self, reason: str, status: int = 400, **details: Any) -> None:
        super().__init__(reason)
        self.reason, self.status, self.details = reason, status, details


def refuse(status: int, reason: str, **details: Any) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason, **details}, status_code=status)


# --- request parsing ----------------------------------------------------------------
def query_float(request: Request, name: str, default: float | None = None,
                lo: float = -math.inf, hi: float = math.inf) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number", got=safe_repr(text, 40)) from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise BadRequest(f"{name} must be a finite number in [{lo:g}, {hi:g}]",
                         got=safe_repr(text, 40))
    return value


def query_int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", got=safe_repr(text, 40)) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be in [{lo}, {hi}]", got=value)
    return value


def path_int(request: Request, name: str) -> int:
    text = request.path_params.get(name, "")
    if not str(text).isdigit() or len(str(text)) > 18:
        raise BadRequest(f"{name} must be a non-negative integer", got=safe_repr(text, 40))
    return int(text)


async def json_body(request: Request) -> dict[str, Any]:
    """A POST's JSON object, bounded in size and depth before anything looks inside."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(f"body too large ({len(body)} bytes, limit {MAX_BODY_BYTES})", 413)
    if not body:
        return {}
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest("body is not JSON", detail=safe_repr(str(exc), 120)) from None
    if nesting_depth(data, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        raise BadRequest(f"body nested deeper than {MAX_BODY_DEPTH}")
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object", got=type(data).__name__)
    return data


# --- the app ------------------------------------------------------------------------
Handler = Callable[[Request], Awaitable[Response]]


def endpoint(fn: Callable[[Request], Awaitable[Any]]) -> Handler:
    """Wrap a handler: its result becomes JSON; refusals become clear 4xx/503 replies."""
    async def wrapped(request: Request) -> Response:
        try:
            result = await fn(request)
        except BadRequest as exc:
            return refuse(exc.status, exc.reason, **exc.details)
        except BackendDown as exc:
            return refuse(503, exc.reason, **_json_safe(exc.details))
        except CommandRejected as exc:
            status = 428 if exc.details.get("needs_confirmation") else 422
            return refuse(status, exc.reason, **_json_safe(exc.details))
        if isinstance(result, Response):
            return result
        return JSONResponse({"ok": True, **result})
    return wrapped


def _json_safe(details: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v if isinstance(v, (str, int, float, bool, list)) or v is None
            else safe_repr(v, 200) for k, v in details.items()}


def create_app(backend: ConsoleBackend, bind_host: str = "127.0.0.1",
               port: int = DEFAULT_PORT, token: str | None = None,
               csrf: str | None = None) -> ASGIApp:
    """The console as an ASGI app. ``token``: required from remote clients (a
    non-loopback bind); ``csrf``: the POST header value (random if not given)."""
    csrf_value = csrf or access.new_secret()
    remote = not access.is_loopback(bind_host)
    page = (STATIC / "index.html").read_text().replace("{{csrf}}", csrf_value)

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    async def login(request: Request) -> Response:
        if not remote:
            return RedirectResponse("/", status_code=303)
        if request.method == "GET":
            return HTMLResponse(LOGIN_PAGE.format(error=""))
        body = await request.body()
        fields = parse_qs(body[:MAX_BODY_BYTES].decode("utf-8", "replace"))
        given = (fields.get("token") or [""])[0]
        if not access.same_secret(given, token):
            return HTMLResponse(LOGIN_PAGE.format(error="<p class=bad>wrong token</p>"), 403)
        reply = RedirectResponse("/", status_code=303)
        reply.set_cookie(access.TOKEN_COOKIE, token or "", httponly=True, samesite="strict")
        return reply

    async def state(request: Request) -> Any:
        return await run_in_threadpool(backend.state)

    async def telemetry(request: Request) -> Any:
        return await run_in_threadpool(backend.telemetry)

    async def dictionary(request: Request) -> Any:
        d = await run_in_threadpool(backend.dictionary)
        full = d.to_json()
        return {"version": full["version"], "hash": full["hash"],
                "commands": full["commands"], "telemetry": full["telemetry"],
                "events": full["events"]}

    async def series(request: Request) -> Any:
        point = request.query_params.get("point")
        if not point:
            raise BadRequest("point is required (a telemetry point name)")
        buckets = query_int(request, "buckets", 400, 1, MAX_BUCKETS)
        window = query_float(request, "window_s", None, 1.0, MAX_WINDOW_S)
        t0 = query_float(request, "t0", None, 0.0, 1e11)
        t1 = query_float(request, "t1", None, 0.0, 1e11)
        if window is not None and (t0 is not None or t1 is not None):
            raise BadRequest("give either window_s or t0/t1, not both")
        if t0 is not None and t1 is not None and t1 <= t0:
            raise BadRequest("t1 must be after t0", t0=t0, t1=t1)

        def read() -> dict[str, Any]:
            lo, hi = t0, t1
            if window is not None:
                now = backend.reader().mission_now_s()
                if now is not None:
                    lo, hi = now - window, now
            return backend.series(point, lo, hi, buckets)
        return await run_in_threadpool(read)

    async def events(request: Request) -> Any:
        severity = request.query_params.get("min_severity") or None
        limit = query_int(request, "limit", 200, 1, EVENT_LIMIT_MAX)
        after = query_int(request, "after_id", 0, 0, 2**62)
        return await run_in_threadpool(backend.events, severity, limit, after)

    async def commands(request: Request) -> Any:
        if request.method == "GET":
            return await run_in_threadpool(backend.commands)
        body = await json_body(request)
        unknown = sorted(set(body) - {"name", "args", "at_s", "confirm"})
        if unknown:
            raise BadRequest("unknown fields", unknown=unknown,
                             valid=["name", "args", "at_s", "confirm"])
        name, args = body.get("name"), body.get("args", {})
        if not isinstance(name, str) or not name:
            raise BadRequest("name must be a command name (text)")
        if not isinstance(args, dict):
            raise BadRequest("args must be a JSON object of argument: value")
        at_s = body.get("at_s")
        if at_s is not None and (isinstance(at_s, bool) or not isinstance(at_s, (int, float))
                                 or not math.isfinite(at_s) or at_s <= 0):
            raise BadRequest("at_s must be a mission time in UTC seconds",
                             got=safe_repr(at_s, 40))
        confirm = body.get("confirm", False)
        if not isinstance(confirm, bool):
            raise BadRequest("confirm must be true or false")
        record = await run_in_threadpool(backend.submit, name, args, at_s, confirm)
        return {"command": record}

    async def command(request: Request) -> Any:
        return {"command": await run_in_threadpool(backend.command,
                                                   path_int(request, "seq"))}

    async def queue_action(request: Request) -> Any:
        await json_body(request)
        action = str(request.path_params.get("action", ""))
        if action not in QUEUE_ACTIONS:
            raise BadRequest("unknown queue action", 404, got=safe_repr(action, 20),
                             valid=list(QUEUE_ACTIONS))
        return {"command": await run_in_threadpool(backend.queue_action, action,
                                                   path_int(request, "seq"))}

    async def ack(request: Request) -> Any:
        body = await json_body(request)
        by = body.get("by", "operator")
        if not isinstance(by, str) or len(by) > 64:
            raise BadRequest("by must be text of at most 64 characters")
        return {"alarm": await run_in_threadpool(backend.acknowledge,
                                                 path_int(request, "alarm_id"), by)}

    async def passes(request: Request) -> Any:
        def read() -> dict[str, Any]:
            try:
                nxt = (backend.status().get("link") or {}).get("next_pass")
            except BackendDown:
                nxt = None
            return backend.passes(nxt)
        return await run_in_threadpool(read)

    async def products(request: Request) -> Any:
        limit = query_int(request, "limit", 30, 1, 500)
        return await run_in_threadpool(backend.products, limit)

    async def jobs(request: Request) -> Any:
        return await run_in_threadpool(backend.jobs, query_int(request, "limit", 20, 1, 200))

    async def tile(request: Request) -> Any:
        png_bytes = await run_in_threadpool(
            backend.tile_png, path_int(request, "job_id"), path_int(request, "index"),
            request.query_params.get("band", "rgb"))
        return Response(png_bytes, media_type="image/png",
                        headers={"Cache-Control": "max-age=3600"})

    async def not_found(request: Request) -> Any:
        raise BadRequest("no such endpoint", 404, path=safe_repr(request.url.path, 80))

    routes = [
        Route("/", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/api/state", endpoint(state)),
        Route("/api/telemetry", endpoint(telemetry)),
        Route("/api/dictionary", endpoint(dictionary)),
        Route("/api/series", endpoint(series)),
        Route("/api/events", endpoint(events)),
        Route("/api/commands", endpoint(commands), methods=["GET", "POST"]),
        Route("/api/commands/{seq}", endpoint(command)),
        Route("/api/commands/{seq}/{action}", endpoint(queue_action), methods=["POST"]),
        Route("/api/alarms/{alarm_id}/ack", endpoint(ack), methods=["POST"]),
        Route("/api/passes", endpoint(passes)),
        Route("/api/products", endpoint(products)),
        Route("/api/jobs", endpoint(jobs)),
        Route("/api/jobs/{job_id}/tiles/{index}.png", endpoint(tile)),
        Route("/api/{rest:path}", endpoint(not_found), methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ]
    app = Starlette(routes=routes)
    return Guard(app, bind_host, port, token if remote else None, csrf_value)


SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),  # no other page may frame the console (clickjacking)
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
"""On every response: the page runs only its own script and cannot be framed elsewhere."""


class Guard:
    """ASGI middleware applying :mod:`ground.console.access`'s rules to every request."""

    def __init__(self, app: ASGIApp, bind_host: str, port: int, token: str | None,
                 csrf: str) -> None:
        self.app, self.bind_host, self.port = app, bind_host, port
        self.token, self.csrf = token, csrf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        request = Request(scope)
        refusal = self.check(request)
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)

    def check(self, request: Request) -> Response | None:
        if not access.host_allowed(request.headers.get("host"), self.bind_host, self.port):
            return refuse(421, "Host header does not name this console",
                          host=safe_repr(request.headers.get("host"), 80))
        path = request.url.path
        if self.token is not None and not path.startswith(("/login", "/static/")):
            if not access.same_secret(request.cookies.get(access.TOKEN_COOKIE), self.token):
                if path.startswith("/api/"):
                    return refuse(401, "sign in with the ops token first (/login)")
                return RedirectResponse("/login", status_code=303)
        if request.method == "POST" and path.startswith("/api/"):
            if not access.same_secret(request.headers.get(access.CSRF_HEADER), self.csrf):
                return refuse(403, f"missing or wrong {access.CSRF_HEADER} header "
                                   "(send requests from the console page)")
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "application/json":
                return refuse(415, "POST bodies must be application/json", got=ctype)
        if request.method not in ("GET", "HEAD", "POST"):
            return refuse(405, "method not allowed", method=request.method)
        return None


def serve(run_dir: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Run the console until interrupted; refuses a non-loopback bind without a token."""
    import uvicorn

    try:
        token = access.read_token(run_dir)
        access.check_bind(host, token, run_dir)
    except access.AccessError as exc:
        print(f"aisat console: {exc}", file=sys.stderr)
        return 2
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:  # bind here, so a busy port is one clear line and the URL is printed only if real
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(f"aisat console: cannot serve on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    backend = ConsoleBackend(run_dir)
    app = create_app(backend, host, port, token)
    shown = f"[{host}]" if ":" in host else host
    print(f"aisat console: http://{shown}:{port}/  (run dir {run_dir}; Ctrl-C stops it)",
          flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            server_header=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
