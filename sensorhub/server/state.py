"""The server's state, stored in the aiohttp application under one typed key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from sensorhub.bus import EventBus
from sensorhub.server.control import HubControl
from sensorhub.server.settings import ServerSettings

if TYPE_CHECKING:
    from sensorhub.server.ws import Connection

__all__ = ["STATE", "ServerState"]


@dataclass(eq=False)
class ServerState:
    control: HubControl
    bus: EventBus
    settings: ServerSettings
    connections: set[Connection] = field(default_factory=set)
    shutting_down: bool = False
    upgrading: int = 0
    connections_total: int = 0
    closed_by_reason: dict[str, int] = field(default_factory=dict)

    def count_close(self, kind: str) -> None:
        self.closed_by_reason[kind] = self.closed_by_reason.get(kind, 0) + 1

    async def close_all(self, code: int, reason: str) -> None:
        """Ask every websocket to close once its queue is sent (events published on the way
        down, such as truncated episodes, still go out) and wait, bounded, until the
        handlers finish."""
        self.shutting_down = True
        waits = [asyncio.ensure_future(c.finished.wait()) for c in self.connections]
        for conn in list(self.connections):
            conn.request_close(code, reason, drain=True)
        if waits:
            await asyncio.wait(waits, timeout=self.settings.close_timeout_s * 3 + 1)
            for w in waits:
                w.cancel()


STATE = web.AppKey("sensorhub_server", ServerState)
