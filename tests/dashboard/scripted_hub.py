"""A scripted stand-in for the hub's websocket, for testing the dashboard in a real browser.

It serves ``dashboards/live/`` and a ``/ws`` endpoint on loopback. Each new websocket gets the
``hello`` the test chose; after that the test broadcasts real ``sensorhub.events`` messages
and reads back what the page sent (decoded and validated with the client schema, so a
malformed dashboard message fails the test).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from sensorhub.errors import DecodeError
from sensorhub.events import CLIENT_MESSAGES, Angle, Hello, Marker, from_json, to_json

DASHBOARD_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "live"


class ScriptedHub:
    """Websocket side of the fake hub: broadcast events, record client messages."""

    def __init__(self, hello: Hello) -> None:
        self.hello = hello
        self.clients: list[web.WebSocketResponse] = []
        self.connects = 0
        #: Client messages as decoded objects (AddMarker, Calibrate, ...), in arrival order.
        self.received: list[Any] = []
        #: Client messages that did not decode: a dashboard bug.
        self.invalid: list[str] = []
        #: What ``GET /api/markers`` answers (markers set before the page connected).
        self.markers: list[Marker] = []
        self._changed = asyncio.Condition()

    async def handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps(to_json(self.hello)))
        async with self._changed:
            self.clients.append(ws)
            self.connects += 1
            self._changed.notify_all()
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    decoded = from_json(json.loads(msg.data), CLIENT_MESSAGES)
                except (ValueError, DecodeError) as exc:
                    self.invalid.append(f"{msg.data!r}: {exc}")
                    continue
                async with self._changed:
                    self.received.append(decoded)
                    self._changed.notify_all()
        finally:
            async with self._changed:
                if ws in self.clients:
                    self.clients.remove(ws)
                self._changed.notify_all()
        return ws

    async def handle_markers(self, _request: web.Request) -> web.Response:
        return web.json_response({"markers": [to_json(m) for m in self.markers]})

    async def broadcast(self, events: Iterable[Any]) -> int:
        """Send events to every connected page, in order; returns how many were sent."""
        n = 0
        for event in events:
            text = json.dumps(to_json(event), allow_nan=False)
            for ws in list(self.clients):
                await ws.send_str(text)
            n += 1
        return n

    async def drop_clients(self) -> None:
        """Close every page's socket, as a restarting hub would."""
        for ws in list(self.clients):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"hub restarting")

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)


def make_app(hub: ScriptedHub) -> web.Application:
    """The dashboard's static files at ``/`` and the scripted websocket at ``/ws``."""

    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(DASHBOARD_DIR / "index.html")

    async def close_sockets(_app: web.Application) -> None:
        await hub.drop_clients()

    app = web.Application()
    # aiohttp does not close websockets on shutdown by itself: without this the runner's
    # cleanup waits out its timeout for every page still connected.
    app.on_shutdown.append(close_sockets)
    app.router.add_get("/ws", hub.handle_ws)
    app.router.add_get("/api/markers", hub.handle_markers)
    app.router.add_get("/", index)
    app.router.add_static("/", DASHBOARD_DIR)
    return app


def angle_stream(
    participant: str,
    t0: float,
    t1: float,
    rate_hz: float = 10.0,
    leans: Iterable[tuple[float, float, float]] = (),
    seed: int = 0,
) -> list[Angle]:
    """Plausible forward angles: a few degrees of sway around upright, plus smooth leans
    given as (onset s, end s, depth deg) with 1.5 s ramps."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(t0 * rate_hz), round(t1 * rate_hz)) / rate_hz
    sway = 2.0 * np.sin(2 * np.pi * t / 17.0 + seed) + np.cumsum(rng.normal(0, 0.08, t.size))
    forward = sway - sway.mean() + 3.0 + rng.normal(0, 0.4, t.size)
    for onset, end, depth in leans:
        up = np.clip((t - onset) / 1.5, 0, 1)
        down = np.clip((end - t) / 1.5, 0, 1)
        forward += depth * np.minimum(up, down)
    lateral = rng.normal(0, 1.0, t.size)
    return [
        Angle(participant, float(ti), round(float(f), 2), round(float(la), 2))
        for ti, f, la in zip(t, forward, lateral, strict=True)
    ]
