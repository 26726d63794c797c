"""The live service's network face: websocket fan-out, REST control, static dashboard.

The hub hands :func:`create_app` a :class:`HubControl` and an :class:`~sensorhub.bus.EventBus`;
nothing here touches sensors or pipelines directly. See docs/websocket.md and
docs/http-api.md.
"""

from sensorhub.server.app import ServerHandle, create_app, run_server, server_settings, start_server
from sensorhub.server.control import HubControl
from sensorhub.server.messages import Ack
from sensorhub.server.settings import ServerSettings

__all__ = [
    "Ack",
    "HubControl",
    "ServerHandle",
    "ServerSettings",
    "create_app",
    "run_server",
    "server_settings",
    "start_server",
]
