"""What the server asks of the hub: the one seam between ``server/`` and ``hub.py``.

The server never reaches into the hub's internals; it calls these methods (all synchronous
and quick: they read state or hand a request to the hub) and consumes events from the
:class:`~sensorhub.bus.EventBus`. Tests drive the server with a small in-memory
implementation (``tests/server/fakehub.py``); the hub provides the real one.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from sensorhub.events import Hello, Marker

__all__ = ["HubControl"]


@runtime_checkable
class HubControl(Protocol):
    """The hub as the server sees it.

    Errors: ``calibrate`` raises :class:`~sensorhub.errors.ConfigError` when the request
    cannot be honoured as configured (unknown participant, a step out of order);
    ``set_recording`` raises :class:`~sensorhub.errors.SensorhubError` when recording is
    unavailable (no store). The server turns these into ``error`` replies / HTTP 409 or 503.
    """

    def hello(self) -> Hello:
        """The first message of every websocket connection."""
        ...

    def session_info(self) -> dict[str, Any]:
        """``GET /api/session``: id, start time, replay flag, recording state..."""
        ...

    def participants(self) -> list[dict[str, Any]]:
        """``GET /api/participants``: one dict per participant, each with an ``"id"``."""
        ...

    def sensors(self) -> list[dict[str, Any]]:
        """``GET /api/sensors``: the latest status of every sensor."""
        ...

    def markers(self) -> list[Marker]:
        """``GET /api/markers``: the session's markers so far, oldest first."""
        ...

    def add_marker(self, label: str, source: str) -> Marker:
        """Stamp a marker at the current session time and publish it on the bus."""
        ...

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        """Run one calibration step (``upright``, ``forward`` or ``reset``)."""
        ...

    def set_recording(self, on: bool) -> dict[str, Any]:
        """Start or stop recording; the result describes the new state."""
        ...

    def health(self) -> dict[str, Any]:
        """Hub-side health (pipelines, sensors) for ``GET /api/health``."""
        ...
