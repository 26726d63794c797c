"""A small, genuine in-memory hub for testing the server layer on its own (DESIGN 11).

It implements :class:`~sensorhub.server.control.HubControl` with plain state and publishes
to a real :class:`~sensorhub.bus.EventBus`; the session clock is a settable number.
"""

from __future__ import annotations

from typing import Any

from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError, SensorhubError
from sensorhub.events import Angle, EpisodeStarted, Hello, Marker, SensorStatus


class FakeHub:
    def __init__(
        self,
        bus: EventBus,
        participants: tuple[str, ...] = ("p1", "p2"),
        *,
        store: bool = False,
    ) -> None:
        self.bus = bus
        self.now = 0.0
        self.store = store
        self.recording = False
        self._participants = [{"id": p, "group": "A", "sensor": f"H10 {p}"} for p in participants]
        self._markers: list[Marker] = []
        self.calibration: dict[str, list[str]] = {p: [] for p in participants}
        self._status = {
            p["sensor"]: SensorStatus(
                p["sensor"], "polar_h10", "streaming", 0.0, participant=p["id"]
            )
            for p in self._participants
        }

    # -- HubControl ------------------------------------------------------------------

    def hello(self) -> Hello:
        return Hello(
            session="fake-session",
            participants=self.participants(),
            sensors=self.sensors(),
            dyads=[[p["id"] for p in self._participants[:2]]],
        )

    def session_info(self) -> dict[str, Any]:
        return {"session": "fake-session", "t": self.now, "recording": self.recording}

    def participants(self) -> list[dict[str, Any]]:
        return [dict(p) for p in self._participants]

    def sensors(self) -> list[dict[str, Any]]:
        return [
            {"id": s.sensor, "state": s.state, "participant": s.participant}
            for s in self._status.values()
        ]

    def markers(self) -> list[Marker]:
        return list(self._markers)

    def add_marker(self, label: str, source: str) -> Marker:
        marker = Marker(self.now, label, source)
        self._markers.append(marker)
        self.bus.publish(marker)
        return marker

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        if participant not in self.calibration:
            raise ConfigError(f"unknown participant {participant!r}")
        done = self.calibration[participant]
        if step == "reset":
            done.clear()
        elif step == "forward" and "upright" not in done:
            raise ConfigError("calibrate 'upright' before 'forward'")
        else:
            done.append(step)
        return {"participant": participant, "steps": list(done), "complete": "forward" in done}

    def set_recording(self, on: bool) -> dict[str, Any]:
        if not self.store:
            raise SensorhubError("recording needs a store (start serve with --db)")
        self.recording = on
        return {"recording": on}

    def health(self) -> dict[str, Any]:
        return {"pipelines": len(self._participants), "sensors": len(self._status)}

    # -- test drivers --------------------------------------------------------------------

    def angle(self, participant: str, forward: float, t: float | None = None) -> Angle:
        event = Angle(participant, self.now if t is None else t, forward, 0.0)
        self.bus.publish(event)
        return event

    def episode(self, participant: str, t: float) -> EpisodeStarted:
        event = EpisodeStarted(participant, "forward", "forward", t - 2.0, t - 1.5, t)
        self.bus.publish(event)
        return event
