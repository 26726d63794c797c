"""``/api/replay``: pause, speed and seek of a replay served as if live (docs/http-api.md).

The routes are always present; they act when the server's control object offers a
``replay_control()`` method returning a :class:`ReplayController` (``replay --serve``). A live
session answers 404 with a JSON error. Requests pass the same token, Origin and Host checks
as every other endpoint (the app's security middleware runs first).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

from aiohttp import web

from sensorhub.errors import DecodeError
from sensorhub.server.api import _json_body
from sensorhub.server.state import STATE

__all__ = ["ACTIONS", "ReplayController", "routes"]

routes = web.RouteTableDef()

ACTIONS = ("pause", "resume", "speed", "seek")
#: Beyond this a paced replay is max speed in all but name; a bound keeps typos out.
MAX_SPEED_FACTOR = 10_000.0


class ReplayController(Protocol):
    """What ``/api/replay`` drives (:class:`sensorhub.sources.replay.ReplayControl`)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_speed(self, speed: float | None) -> None: ...

    def seek(self, t_s: float) -> None: ...

    def state(self) -> dict[str, Any]: ...


def _controller(request: web.Request) -> ReplayController:
    offer = getattr(request.app[STATE].control, "replay_control", None)
    controller: ReplayController | None = offer() if callable(offer) else None
    if controller is None:
        raise web.HTTPNotFound(reason="this session is live, not a replay: nothing to control")
    return controller


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DecodeError(f"{what} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise DecodeError(f"{what} must be finite, got {value!r}")
    return number


def _speed(value: Any) -> float | None:
    if value == "max":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise DecodeError(f"speed must be a number or 'max', got {value!r}") from None
    speed = _number(value, "speed")
    if not 0 < speed <= MAX_SPEED_FACTOR:
        raise DecodeError(f"speed must be above 0 and at most {MAX_SPEED_FACTOR:g}, or 'max'")
    return speed


@routes.get("/api/replay")
async def replay_state(request: web.Request) -> web.Response:
    return web.json_response(_controller(request).state())


@routes.post("/api/replay")
async def replay_action(request: web.Request) -> web.Response:
    controller = _controller(request)
    body = await _json_body(request)
    action, value = body.get("action"), body.get("value")
    if action not in ACTIONS:
        raise DecodeError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    if action == "pause":
        controller.pause()
    elif action == "resume":
        controller.resume()
    elif action == "speed":
        controller.set_speed(_speed(value))
    else:
        target = _number(value, "seek value (seconds)")
        if target < 0:
            raise DecodeError(f"seek value must be at least 0 s, got {value!r}")
        controller.seek(target)
    return web.json_response(controller.state())
