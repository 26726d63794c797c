"""The hub: sources -> per-participant pipelines -> event bus, owning every task.

:class:`Hub` is the asyncio composition a session runs in (``sensorhub serve``). It resolves
the configured sensors with one scan, runs a :class:`~sensorhub.sources.live.LiveSensors`
(supervisors + decoders), feeds each participant's samples to its
:class:`~sensorhub.pipeline.ParticipantPipeline` and every dyad's
:class:`~sensorhub.pipeline.DyadPipeline`, and publishes the resulting schema events on the
:class:`~sensorhub.bus.EventBus` that the websocket server fans out. It also implements the
control calls the server makes (:class:`~sensorhub.server.control.HubControl`): markers,
calibration steps, status and health.

Shutdown (:meth:`Hub.close`) stops every sensor stream before disconnecting, closes open
episodes (published as truncated) and finishes the dyad measures, so nothing received is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.config import HubConfig, ParticipantConfig
from sensorhub.errors import ConfigError, SensorhubError
from sensorhub.ingest import SensorSamples
from sensorhub.pipeline import DyadPipeline, ParticipantPipeline, PipelineOutput
from sensorhub.sources.base import LinkState, LinkStatus, SensorKind
from sensorhub.sources.ble import Device, scan_sensors
from sensorhub.sources.drivers import identify
from sensorhub.sources.environment import SensorEnvironment
from sensorhub.sources.live import LiveSensors

__all__ = ["Hub", "resolve_sensors"]

log = logging.getLogger(__name__)
NS = 1_000_000_000
#: How long the start-up scan listens. Sensors advertise at least once a second.
SCAN_SECONDS = 3.0


@dataclass(slots=True)
class _SensorView:
    """What the hub knows of one sensor, for status events and /api/sensors."""

    sensor: str
    kind: SensorKind
    participant: str
    state: LinkState = LinkState.DISCONNECTED
    reason: str = ""
    reconnects: int = 0
    samples_at_tick: int = 0
    last_rate_hz: float | None = None


async def resolve_sensors(
    config: HubConfig, env: SensorEnvironment, scan_seconds: float = SCAN_SECONDS
) -> tuple[dict[str, SensorKind], dict[str, Device]]:
    """Each participant's sensor kind (configured, or from one scan) and scanned devices."""
    found = await scan_sensors(env.backends, scan_seconds, identify)
    by_key = {s.name: s for s in found} | {s.address.lower(): s for s in found}
    kinds: dict[str, SensorKind] = {}
    devices: dict[str, Device] = {}
    for p in config.participants:
        hit = by_key.get(p.sensor) or by_key.get(p.sensor.lower())
        if hit is not None:
            devices[p.sensor] = hit.device
        kind = p.kind or (hit.kind if hit else None)
        if kind is None:
            raise ConfigError(
                f"participant {p.id}: sensor {p.sensor!r} was not seen in a "
                f"{scan_seconds:g} s scan; give its kind in the config to wait for it"
            )
        kinds[p.sensor] = kind
    return kinds, devices


class Hub:
    """Runs one session's sensors and pipelines; implements the server's control calls."""

    def __init__(
        self,
        config: HubConfig,
        env: SensorEnvironment,
        bus: EventBus,
        *,
        now_ns: Callable[[], int],
        kinds: dict[str, SensorKind],
        devices: dict[str, Device] | None = None,
    ) -> None:
        self.config = config
        self.bus = bus
        self.now_ns = now_ns
        self.session_id = uuid.uuid4().hex[:12]
        self.started_wall = dt.datetime.now(dt.UTC)
        self._participants = {p.id: p for p in config.participants}
        self.pipelines = {
            p.id: ParticipantPipeline(
                p, kinds[p.sensor], config.detection, angle_rate_hz=config.angle_rate_hz
            )
            for p in config.participants
        }
        self.dyads = [DyadPipeline(a, b) for a, b in config.dyads]
        self._by_sensor: dict[str, ParticipantConfig] = {p.sensor: p for p in config.participants}
        self._views = {
            p.sensor: _SensorView(p.sensor, kinds[p.sensor], p.id) for p in config.participants
        }
        self.live = LiveSensors(
            [(p.sensor, kinds[p.sensor]) for p in config.participants],
            backends=env.backends,
            now_ns=now_ns,
            devices=devices,
        )
        self.live.sample_sinks.append(self._on_samples)
        self.live.status_sinks.append(self._on_status)
        self._markers: list[ev.Marker] = []
        self._ticker: asyncio.Task[None] | None = None
        self.pipeline_errors = 0

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        self.live.start()
        self._ticker = asyncio.create_task(self._tick(), name="status-ticker")

    async def close(self) -> None:
        """Stop streams, drain what was received, close open episodes, finish dyads."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.live.close()
        for pid, pipe in self.pipelines.items():
            self._publish_output(pid, pipe.flush())
        for dyad in self.dyads:
            for event in dyad.finish():
                self.bus.publish(event)
        self._publish_statuses()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.config.status_interval_s)
            self._publish_statuses()

    # -- data path ------------------------------------------------------------------------

    def _on_samples(self, block: SensorSamples) -> None:
        participant = self._by_sensor[block.sensor]
        try:
            output = self.pipelines[participant.id].process(block.t_ns, block.acc_g)
        except Exception:
            # One participant's pipeline failing must not stop the others or the link.
            self.pipeline_errors += 1
            log.exception("pipeline of %s failed", participant.id)
            return
        self.bus.publish_raw(participant.id, block.t_ns, block.acc_g)
        self._publish_output(participant.id, output)

    def _publish_output(self, pid: str, output: PipelineOutput) -> None:
        for event in output.events:
            self.bus.publish(event)
        for dyad in self.dyads:
            if pid in dyad.members:
                for event in dyad.feed(pid, output):
                    self.bus.publish(event)

    def _on_status(self, status: LinkStatus) -> None:
        view = self._views[status.sensor]
        view.state, view.reason, view.reconnects = status.state, status.reason, status.reconnects
        self.bus.publish(self._status_event(view))

    def _status_event(self, view: _SensorView) -> ev.SensorStatus:
        stats = self.live.decoders[view.sensor].stats
        return ev.SensorStatus(
            view.sensor,
            view.kind.value,
            view.state.value,
            self.now_ns() / NS,
            participant=view.participant,
            battery_pct=stats.battery_pct,
            rate_hz=view.last_rate_hz,
            samples=stats.samples,
            gaps=stats.gaps,
            missing_samples=stats.missing_samples,
            malformed=stats.malformed,
            duplicates=stats.duplicates,
            reconnects=view.reconnects,
            reason=view.reason,
        )

    def _publish_statuses(self) -> None:
        interval = self.config.status_interval_s
        for view in self._views.values():
            samples = self.live.decoders[view.sensor].stats.samples
            view.last_rate_hz = round((samples - view.samples_at_tick) / interval, 2)
            view.samples_at_tick = samples
            self.bus.publish(self._status_event(view))

    # -- control (sensorhub.server.control.HubControl) ------------------------------------

    def hello(self) -> ev.Hello:
        return ev.Hello(
            self.session_id,
            self.participants(),
            self.sensors(),
            [list(d.members) for d in self.dyads],
            self.config.angle_rate_hz,
        )

    def session_info(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "name": self.config.session_name,
            "started": self.started_wall.isoformat(),
            "elapsed_s": round(self.now_ns() / NS, 3),
            "software": f"sensorhub {__version__}",
            "recording": False,
            "replay": False,
        }

    def participants(self) -> list[dict[str, Any]]:
        out = []
        for p in self.config.participants:
            pipe = self.pipelines[p.id]
            levels = {lv.name: lv for lv in self.config.detection.detector.levels}
            out.append(
                {
                    "id": p.id,
                    "sensor": p.sensor,
                    "kind": pipe.kind.value,
                    "attributes": dict(p.attributes),
                    "calibration": pipe.calibration.describe(),
                    "thresholds": {
                        "enter_deg": levels["forward"].enter_deg,
                        "exit_deg": levels["forward"].exit_deg,
                        "backward_enter_deg": levels["backward"].enter_deg,
                    },
                }
            )
        return out

    def sensors(self) -> list[dict[str, Any]]:
        return [ev.to_json(self._status_event(v)) for v in self._views.values()]

    def markers(self) -> list[ev.Marker]:
        return list(self._markers)

    def add_marker(self, label: str, source: str) -> ev.Marker:
        label = label.strip()
        if not label:
            raise ConfigError("a marker needs a non-empty label")
        if len(label) > 200:
            raise ConfigError("a marker label is at most 200 characters")
        marker = ev.Marker(self.now_ns() / NS, label, source)
        self._markers.append(marker)
        self.bus.publish(marker)
        return marker

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        pipe = self.pipelines.get(participant)
        if pipe is None:
            raise ConfigError(f"unknown participant {participant!r}")
        return pipe.calibrate(step)

    def set_recording(self, on: bool) -> dict[str, Any]:
        raise SensorhubError(
            "recording is not available: this version has no session store yet "
            "(it arrives with `--db`)"
        )

    def health(self) -> dict[str, Any]:
        return {
            "decode_queue": self.live.queue_depth,
            "pipeline_errors": self.pipeline_errors,
            "sensors": {
                name: {
                    "state": view.state.value,
                    "frames": dec.stats.frames,
                    "samples": dec.stats.samples,
                    "gaps": dec.stats.gaps,
                    "malformed": dec.stats.malformed,
                    "duplicates": dec.stats.duplicates,
                    "last_error": dec.stats.last_error,
                }
                for name, view in self._views.items()
                for dec in [self.live.decoders[name]]
            },
        }
