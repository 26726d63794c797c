"""The REST endpoints under ``/api`` (documented in docs/http-api.md).

Handlers raise; :func:`sensorhub.server.app.error_middleware` renders every failure as a
JSON ``error`` object with the right status.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sensorhub.errors import DecodeError
from sensorhub.events import to_json
from sensorhub.server import actions
from sensorhub.server.state import STATE

__all__ = ["routes"]

routes = web.RouteTableDef()


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, else 400 (413 beyond ``max_request_bytes``)."""
    if request.content_type != "application/json":
        # Also a CSRF guard: a cross-site page can only send a JSON content type after a
        # CORS preflight, which this server never grants.
        raise DecodeError(f"expected Content-Type application/json, got {request.content_type}")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise DecodeError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise DecodeError(f"body must be a JSON object, got {type(body).__name__}")
    return body


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "status": "ok",
            "server": {
                "clients": len(state.connections),
                "connections_total": state.connections_total,
                "closed": dict(state.closed_by_reason),
                "token_required": state.settings.token_required,
            },
            "bus": state.bus.stats(),
            "hub": state.control.health(),
        }
    )


@routes.get("/api/session")
async def session(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].control.session_info())


@routes.get("/api/participants")
async def participants(request: web.Request) -> web.Response:
    return web.json_response({"participants": request.app[STATE].control.participants()})


@routes.get("/api/sensors")
async def sensors(request: web.Request) -> web.Response:
    return web.json_response({"sensors": request.app[STATE].control.sensors()})


@routes.get("/api/markers")
async def markers(request: web.Request) -> web.Response:
    items = [to_json(m) for m in request.app[STATE].control.markers()]
    return web.json_response({"markers": items})


@routes.post("/api/markers")
async def add_marker(request: web.Request) -> web.Response:
    body = await _json_body(request)
    marker = actions.add_marker(request.app[STATE].control, body.get("label"), "api")
    return web.json_response(marker, status=201)


@routes.post("/api/calibration/{participant}/{step}")
async def calibrate(request: web.Request) -> web.Response:
    control = request.app[STATE].control
    participant, step = request.match_info["participant"], request.match_info["step"]
    known = actions.participant_ids(control)
    if participant not in known:
        raise web.HTTPNotFound(reason=f"unknown participant {participant!r} (known: {known})")
    if step not in actions.CALIBRATION_STEPS:
        steps = list(actions.CALIBRATION_STEPS)
        raise web.HTTPNotFound(reason=f"unknown calibration step {step!r} (known: {steps})")
    return web.json_response(actions.calibrate(control, participant, step))


@routes.post("/api/recording")
async def recording(request: web.Request) -> web.Response:
    body = await _json_body(request)
    on = body.get("on")
    if not isinstance(on, bool):
        raise DecodeError(f"'on' must be true or false, got {on!r}")
    return web.json_response(request.app[STATE].control.set_recording(on))
