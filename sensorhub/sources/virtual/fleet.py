"""Ready-made sets of virtual sensors: by kind, or a simulated conversation (``--virtual N``).

``make_sensors(["polar_h10", "movesense", "leanfw"])`` gives one sensor per entry with unique
names; ``conversation_sensors(4, seed=1)`` gives four H10s worn by the simulator's two dyads,
each with the simulator's own per-sensor clock drift, so the radio reproduces its ground
truth (``stream.truth_episodes``) as a lab session would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from sensorhub.errors import ConfigError
from sensorhub.sim import ConversationStream, SimConfig

from .leanfw import LeanSensor
from .motion import as_motion_source
from .movesense import Movesense
from .polar_h10 import PolarH10
from .sensor import VirtualSensor

__all__ = ["SENSOR_KINDS", "conversation_sensors", "make_sensors"]

#: Kind name -> class, as ``VirtualSensor.kind`` spells it.
SENSOR_KINDS: dict[str, type[VirtualSensor]] = {
    cls.kind: cls for cls in (PolarH10, Movesense, LeanSensor)
}

#: Serials as each kind prints them (H10: 8 hex digits; leanfw: 12 hex, name = last 4).
_SERIAL_FORMAT = {"polar_h10": "{:08X}", "movesense": "1746300{:05d}", "leanfw": "D4A1F03B{:04X}"}


def make_sensors(
    kinds: Sequence[str], *, motions: Sequence[Any] | None = None, **options: Any
) -> list[VirtualSensor]:
    """One sensor per kind in ``kinds`` (unique serials and names); ``options`` go to every
    constructor, ``motions[i]`` (anything :func:`as_motion_source` takes) to the i-th."""
    if motions is not None and len(motions) != len(kinds):
        raise ConfigError(f"{len(motions)} motion sources for {len(kinds)} sensors")
    sensors: list[VirtualSensor] = []
    counts: dict[str, int] = {}
    for i, kind in enumerate(kinds):
        cls = SENSOR_KINDS.get(kind)
        if cls is None:
            raise ConfigError(
                f"unknown virtual sensor kind {kind!r} (known: {sorted(SENSOR_KINDS)})"
            )
        counts[kind] = counts.get(kind, 0) + 1
        serial = _SERIAL_FORMAT[kind].format(counts[kind])
        motion = None if motions is None else as_motion_source(motions[i])
        sensors.append(cls(serial=serial, motion=motion, **options))
    return sensors


def conversation_sensors(
    n: int, *, seed: int = 0, config: SimConfig | None = None, **options: Any
) -> tuple[list[VirtualSensor], ConversationStream]:
    """``n`` virtual H10s worn by the participants of one simulated conversation.

    Returns the sensors and the stream (for its ground truth). Each sensor's clock drift is
    the simulator's drift for that participant.
    """
    if n < 1:
        raise ConfigError(f"need at least one virtual sensor, got {n}")
    base = config or SimConfig()
    stream = ConversationStream(dataclasses.replace(base, n_participants=n), seed)
    sensors = make_sensors(["polar_h10"] * n, motions=stream.sensors, rate_hz=base.fs_hz, **options)
    for sensor, clock in zip(sensors, stream.clocks, strict=True):
        sensor.drift_ppm = clock.drift_ppm
    return sensors, stream
