"""``sensorhub serve --from-mqtt URL``: the dashboard for every hub on a broker (in progress)."""

from __future__ import annotations

import asyncio

from sensorhub.errors import ConfigError
from sensorhub.mqtt.protocol import MqttSettings
from sensorhub.server.settings import ServerSettings

__all__ = ["run_aggregator"]


async def run_aggregator(mqtt: MqttSettings, server: ServerSettings, stop: asyncio.Event) -> None:
    """Serve the dashboard and websocket for all hubs on ``mqtt`` until ``stop`` is set."""
    raise ConfigError("serve --from-mqtt is being built")
