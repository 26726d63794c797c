"""Who may talk to the server: bearer token, websocket Origin, Host (DNS rebinding).

Each check raises an aiohttp HTTP exception that the error middleware renders as JSON.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from aiohttp import web

from sensorhub.server.settings import ServerSettings, is_loopback

__all__ = ["check_host", "check_origin", "check_token", "needs_token"]

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def needs_token(path: str) -> bool:
    """The websocket and every API endpoint except the health probe; not the static page."""
    return path == "/ws" or (path.startswith("/api/") and path != "/api/health")


def check_token(request: web.Request, token: str, *, allow_query: bool) -> None:
    """``Authorization: Bearer <token>``, or ``?token=`` where a browser cannot set headers
    (the websocket). Compared in constant time."""
    given: str | None = None
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        given = value.strip()
    elif allow_query:
        given = request.query.get("token")
    if given is None:
        raise web.HTTPUnauthorized(
            reason="token required",
            headers={"WWW-Authenticate": 'Bearer realm="sensorhub"'},
        )
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise web.HTTPUnauthorized(
            reason="invalid token",
            headers={"WWW-Authenticate": 'Bearer realm="sensorhub", error="invalid_token"'},
        )


def _loopback_names(settings: ServerSettings) -> frozenset[str]:
    return _LOOPBACK_NAMES | {settings.host.strip("[]").lower()}


def check_host(request: web.Request, settings: ServerSettings) -> None:
    """On loopback, refuse a ``Host`` that is not a loopback name.

    A web page can rebind its own DNS name to 127.0.0.1 and then read or drive the hub as
    "same origin"; its requests still carry its name in ``Host``. (On other addresses a
    token is required, which such a page does not have.)
    """
    if not is_loopback(settings.host):
        return
    hostname = urlsplit(f"//{request.host}").hostname or ""
    if hostname.lower() not in _loopback_names(settings):
        raise web.HTTPForbidden(reason=f"host {request.host!r} not allowed")


def check_origin(request: web.Request, settings: ServerSettings) -> None:
    """A browser's ``Origin`` must be the server's own (or listed in ``allowed_origins``).

    "Own" means the scheme is http(s) and host:port equal the request's ``Host``; on
    loopback the name must also be a loopback name (see :func:`check_host`). Requests
    without ``Origin`` come from non-browser clients, which cross-site pages cannot forge;
    they pass (the token, where required, still applies).
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if "*" in settings.allowed_origins or origin in settings.allowed_origins:
        return
    parts = urlsplit(origin)
    same = parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()
    if same and is_loopback(settings.host):
        same = (parts.hostname or "").lower() in _loopback_names(settings)
    if not same:
        raise web.HTTPForbidden(reason=f"origin {origin!r} not allowed")
