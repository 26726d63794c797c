"""The aiohttp application: websocket fan-out, REST control, the static dashboard.

:func:`create_app` builds it from a :class:`HubControl`, an :class:`EventBus` and
:class:`ServerSettings`; :func:`start_server` / :func:`run_server` listen on a TCP port and
stop cleanly (websockets closed with 1001 GOING_AWAY, then the runner cleaned up).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError, DecodeError, SensorhubError
from sensorhub.events import ErrorEvent, to_json
from sensorhub.server import security
from sensorhub.server.api import routes as api_routes
from sensorhub.server.control import HubControl
from sensorhub.server.replay_api import routes as replay_routes
from sensorhub.server.settings import ServerSettings
from sensorhub.server.state import STATE, ServerState
from sensorhub.server.ws import websocket_handler

__all__ = [
    "ServerHandle",
    "create_app",
    "error_response",
    "run_server",
    "server_settings",
    "start_server",
]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "refused",
    413: "too_large",
    503: "unavailable",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON ``error`` object (the event schema's ``ErrorEvent``) with an HTTP status."""
    code = _STATUS_CODES.get(status, "internal_error" if status >= 500 else "error")
    return web.json_response(to_json(ErrorEvent(code, message)), status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as JSON: HTTP errors keep their status; the hub's refusals map to
    400 (malformed input), 409 (``ConfigError``) and 503 (other ``SensorhubError``)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return error_response(exc.status, exc.reason, headers)
    except DecodeError as exc:
        return error_response(400, str(exc))
    except ConfigError as exc:
        return error_response(409, str(exc))
    except SensorhubError as exc:
        return error_response(503, str(exc))
    except Exception:  # a hub bug: log it, answer in the API's format
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error (logged on the server)")


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host (DNS rebinding), size, Origin and token checks, before any handler runs."""
    settings = request.app[STATE].settings
    security.check_host(request, settings)
    length = request.content_length
    if length is not None and length > settings.max_request_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=settings.max_request_bytes, actual_size=length)
    if request.path == "/ws" or request.method not in ("GET", "HEAD", "OPTIONS"):
        security.check_origin(request, settings)
    if settings.token is not None and security.needs_token(request.path):
        security.check_token(request, settings.token, allow_query=request.path == "/ws")
    return await handler(request)


async def static_handler(request: web.Request) -> web.StreamResponse:
    """The dashboard: ``/`` is ``index.html``; nothing outside ``dashboard_dir`` is served."""
    root = request.app[STATE].settings.dashboard_dir.resolve()
    index = root / "index.html"
    if not index.is_file():
        raise web.HTTPServiceUnavailable(reason=f"dashboard not installed: {index} is missing")
    tail = request.match_info["tail"]
    if request.path.startswith("/api/"):
        raise web.HTTPNotFound(reason=f"no such endpoint: {request.path}")
    try:
        path = index if tail in ("", "index.html") else (root / tail).resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (OSError, ValueError):  # a NUL byte, a name too long...
        found = False
    if not found:
        raise web.HTTPNotFound(reason=f"no such file: /{tail}")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def _close_websockets(app: web.Application) -> None:
    await app[STATE].close_all(WSCloseCode.GOING_AWAY, "server shutting down")


async def _websocket_owner(app: web.Application) -> AsyncIterator[None]:
    """Owns the websocket registry: nothing may outlive the app.

    The GOING_AWAY close itself runs in ``on_shutdown``, because aiohttp waits for running
    handlers (a websocket handler runs as long as its connection) *before* cleanup contexts
    exit; this exit then only catches connections that ignored it.
    """
    yield
    state = app[STATE]
    if state.connections:
        log.warning("%d websocket(s) still open at cleanup", len(state.connections))
        await state.close_all(WSCloseCode.GOING_AWAY, "server shutting down")


def create_app(control: HubControl, bus: EventBus, settings: ServerSettings) -> web.Application:
    """The application. ``settings`` are :meth:`~ServerSettings.resolved`: on a non-loopback
    host without a token one is generated; read it back with :func:`server_settings`."""
    settings = settings.resolved()
    app = web.Application(
        middlewares=[error_middleware, security_middleware],
        client_max_size=settings.max_request_bytes,
    )
    app[STATE] = ServerState(control=control, bus=bus, settings=settings)
    app.add_routes([web.get("/ws", websocket_handler)])
    app.add_routes(api_routes)
    app.add_routes(replay_routes)  # 404 unless the control offers replay_control()
    app.add_routes([web.get("/{tail:.*}", static_handler)])
    app.on_shutdown.append(_close_websockets)
    app.cleanup_ctx.append(_websocket_owner)
    return app


def server_settings(app: web.Application) -> ServerSettings:
    """The effective settings of an app (with the generated token, if any)."""
    return app[STATE].settings


@dataclass
class ServerHandle:
    """A listening server: where it is, the token clients need, and how to stop it."""

    runner: web.AppRunner
    host: str
    port: int
    token: str | None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        """Close websockets (GOING_AWAY), stop listening, run the app's cleanup."""
        await self.runner.cleanup()


async def start_server(
    app: web.Application, host: str | None = None, port: int | None = None
) -> ServerHandle:
    """Listen on ``host:port`` (default: the settings'; port 0 picks a free port); call
    ``stop()`` on the handle."""
    settings = app[STATE].settings
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.close_timeout_s * 3 + 1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"server: cannot listen on {host}:{port}: {exc.strerror}") from exc
    bound = runner.addresses[0]
    return ServerHandle(runner, host, int(bound[1]), settings.token)


@asynccontextmanager
async def run_server(
    app: web.Application, host: str | None = None, port: int | None = None
) -> AsyncIterator[ServerHandle]:
    """``async with run_server(app, host, port) as handle:`` — stopped on exit."""
    handle = await start_server(app, host, port)
    try:
        yield handle
    finally:
        await handle.stop()
