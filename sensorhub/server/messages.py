"""Messages the server adds to the event schema of :mod:`sensorhub.events`.

``Ack`` answers a client request that succeeded (failures get an ``error`` event);
``RawSamples`` lives with the bus that fans it out. Both follow the schema's rules (a
``TYPE`` tag, encoded with ``events.dumps``) and may move into ``events.py`` later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sensorhub.bus import RawSamples

__all__ = ["SERVER_MESSAGES", "Ack", "RawSamples"]


@dataclass(frozen=True, slots=True)
class Ack:
    """A client request succeeded: ``request`` is its ``type``, ``result`` what the hub
    answered (the new marker, the calibration state, the recording state, the
    subscriptions)."""

    TYPE: ClassVar[str] = "ack"
    request: str
    result: dict[str, Any]


SERVER_MESSAGES: dict[str, type[Any]] = {cls.TYPE: cls for cls in (Ack, RawSamples)}
