"""What every source yields: raw frames with their receive time, and link status changes.

Live BLE, the virtual radio and replay all produce the same two things, so nothing
downstream knows (or needs to know) where bytes came from:

- :class:`RawFrame`: one notification's payload exactly as received, which characteristic it
  came from, and the host receive time on the session clock. This is what the store keeps
  and what replay feeds back, so it is deliberately the *undecoded* bytes.
- :class:`LinkStatus`: a sensor's link state changed (connecting, streaming, reconnecting...),
  with counters a dashboard shows.
- :class:`Command`: an operator action (calibration step, marker) placed in the same stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Command", "Item", "LinkState", "LinkStatus", "RawFrame", "SensorKind", "item_time"]


class SensorKind(StrEnum):
    """The sensor profiles sensorhub speaks."""

    POLAR_H10 = "polar_h10"
    MOVESENSE = "movesense"
    LEANFW = "leanfw"
    #: Samples imported from a file (``sensorhub import``), never a radio: stored as sample
    #: blocks (:mod:`sensorhub.protocols.samples`) already on the session clock.
    IMPORTED = "imported"


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One notification as received.

    ``sensor``: the sensor's stable id (its address). ``characteristic``: the UUID string the
    notification came from (lower case, 128-bit form). ``receive_ns``: host receive time on the
    session clock (monotonic ns since session start), stamped in the notification callback
    before anything else happens.
    """

    sensor: str
    characteristic: str
    payload: bytes
    receive_ns: int


class LinkState(StrEnum):
    """A sensor link's life cycle, as shown on the dashboard."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    STARTING = "starting"  # connected; running the protocol's start sequence
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # waiting out a backoff before the next attempt
    STOPPING = "stopping"  # deliberate: stopping streams before disconnecting
    STOPPED = "stopped"  # deliberate end; no further attempts


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A link state change, with the counters that explain it."""

    sensor: str
    kind: SensorKind
    state: LinkState
    at_ns: int
    reason: str = ""
    attempts: int = 0  # connection attempts since the last time it streamed
    reconnects: int = 0  # successful reconnects this session
    frames: int = 0  # notifications received this session
    battery_pct: int | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """An operator action that changes processing (a calibration step, a marker).

    It travels in the same ordered stream as frames and link changes, and is recorded there,
    so a replay applies it at exactly the same point of the data as the live run did.
    """

    sensor: str
    t_ns: int
    name: str
    args: dict[str, Any] = field(default_factory=dict)


#: What flows from a source to the decoders, in arrival order.
Item = RawFrame | LinkStatus | Command


def item_time(item: Item) -> int:
    """An item's session time, ns: a frame's receive time, a link change's or command's time."""
    if isinstance(item, RawFrame):
        return item.receive_ns
    return item.at_ns if isinstance(item, LinkStatus) else item.t_ns
