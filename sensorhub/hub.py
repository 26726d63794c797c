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
from sensorhub.sources.base import Command, LinkState, LinkStatus, SensorKind
from sensorhub.sources.ble import Device, scan_sensors
from sensorhub.sources.drivers import identify
from sensorhub.sources.environment import SensorEnvironment
from sensorhub.sources.live import DecodeStage
from sensorhub.store.sqlite import Recorder

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
        stage: DecodeStage,
        bus: EventBus,
        *,
        now_ns: Callable[[], int],
        kinds: dict[str, SensorKind],
        recorder: Recorder | None = None,
        session_id: str | None = None,
        replay: bool = False,
    ) -> None:
        self.config = config
        self.bus = bus
        self.now_ns = now_ns
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.started_wall = dt.datetime.now(dt.UTC)
        self.replay = replay
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
        self.stage = stage
        self.recorder = recorder
        if recorder is not None:
            stage.item_sinks.append(recorder.item)
        stage.sample_sinks.append(self._on_samples)
        stage.status_sinks.append(self._on_status)
        stage.command_sinks.append(self._on_command)
        #: Every published event also goes here (the recorder, replay's output...).
        self.event_sinks: list[Callable[[Any], None]] = []
        #: Each participant's pipeline output (events and the detector's grid), for loaders.
        self.output_sinks: list[Callable[[str, PipelineOutput], None]] = []
        #: Further sections of :meth:`health` (e.g. ``"mqtt"``: the publisher's counters).
        self.health_providers: dict[str, Callable[[], Any]] = {}
        self._markers: list[ev.Marker] = []
        self._ticker: asyncio.Task[None] | None = None
        self.pipeline_errors = 0

    # -- running --------------------------------------------------------------------------

    def start(self) -> None:
        self.stage.start()
        if not self.replay:
            self._ticker = asyncio.create_task(self._tick(), name="status-ticker")

    async def close(self, *, reason: str = "stopped") -> None:
        """Stop streams, drain what was received, close open episodes, finish dyads, and end
        the recording (flushed to disk before this returns)."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.stage.close()
        for pid, pipe in self.pipelines.items():
            self._publish_output(pid, pipe.flush())
        for dyad in self.dyads:
            for event in dyad.finish():
                self.publish(event)
        if not self.replay:
            self._publish_statuses()
        if self.recorder is not None:
            duration = self.now_ns()
            await asyncio.to_thread(self.recorder.close, duration_ns=duration, reason=reason)

    def publish(self, event: Any) -> None:
        """Publish one event to the bus (websocket clients) and every event sink."""
        self.bus.publish(event)
        if self.recorder is not None:
            self.recorder.event(event.TYPE, ev.dumps(event))
        for sink in self.event_sinks:
            sink(event)

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
        for sink in self.output_sinks:
            sink(pid, output)
        for event in output.events:
            self.publish(event)
        for dyad in self.dyads:
            if pid in dyad.members:
                for event in dyad.feed(pid, output):
                    self.publish(event)

    def _on_status(self, status: LinkStatus) -> None:
        view = self._views[status.sensor]
        view.state, view.reason, view.reconnects = status.state, status.reason, status.reconnects
        self.publish(self._status_event(view, status.at_ns))

    def _status_event(self, view: _SensorView, at_ns: int | None = None) -> ev.SensorStatus:
        stats = self.stage.decoders[view.sensor].stats
        return ev.SensorStatus(
            view.sensor,
            view.kind.value,
            view.state.value,
            (self.now_ns() if at_ns is None else at_ns) / NS,
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
            samples = self.stage.decoders[view.sensor].stats.samples
            view.last_rate_hz = round((samples - view.samples_at_tick) / interval, 2)
            view.samples_at_tick = samples
            self.publish(self._status_event(view))

    # -- control (sensorhub.server.control.HubControl) ------------------------------------

    def hello(self) -> ev.Hello:
        return ev.Hello(
            self.session_id,
            self.participants(),
            self.sensors(),
            [list(d.members) for d in self.dyads],
            self.config.angle_rate_hz,
            self.replay,
        )

    def session_info(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "name": self.config.session_name,
            "started": self.started_wall.isoformat(),
            "elapsed_s": round(self.now_ns() / NS, 3),
            "software": f"sensorhub {__version__}",
            "recording": self.recorder is not None and self.recorder.recording,
            "store": None if self.recorder is None else str(self.recorder.path),
            "replay": self.replay,
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
        if len(label) > ev.MAX_MARKER_LABEL_CHARS:
            raise ConfigError(f"a marker label is at most {ev.MAX_MARKER_LABEL_CHARS} characters")
        now = self.now_ns()
        self.stage.put(Command("", now, "marker", {"label": label, "source": source}))
        return ev.Marker(now / NS, label, source)

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        if participant not in self.pipelines:
            raise ConfigError(f"unknown participant {participant!r}")
        if step not in ("upright", "forward", "reset"):
            raise ConfigError(f"calibration step must be upright, forward or reset, not {step!r}")
        sensor = next(p.sensor for p in self.config.participants if p.id == participant)
        self.stage.put(
            Command(sensor, self.now_ns(), "calibrate", {"participant": participant, "step": step})
        )
        return {"participant": participant, "step": step, "status": "queued"}

    def _on_command(self, command: Command) -> None:
        """Apply an operator command at its place in the data stream (live and replay)."""
        if command.name == "marker":
            marker = ev.Marker(
                command.t_ns / NS, str(command.args["label"]), str(command.args["source"])
            )
            self._markers.append(marker)
            self.publish(marker)
        elif command.name == "calibrate":
            participant = str(command.args["participant"])
            try:
                result = self.pipelines[participant].calibrate(str(command.args["step"]))
            except ConfigError as exc:
                self.publish(ev.ErrorEvent("calibration", str(exc), command.t_ns / NS))
            else:
                log.info("calibration step: %s", result)
        else:
            log.warning("unknown command %r ignored", command.name)

    def set_recording(self, on: bool) -> dict[str, Any]:
        if self.recorder is None:
            raise SensorhubError("recording is not available: this session has no store")
        self.recorder.recording = on
        return {"recording": on, "store": str(self.recorder.path)}

    def store_failed(self, message: str) -> None:
        """The disk refused a write: say so loudly; the live view goes on (rows are retried)."""
        log.error("%s", message)
        self.publish(ev.ErrorEvent("store", message, self.now_ns() / NS))

    def _store_health(self) -> dict[str, Any] | None:
        rec = self.recorder
        if rec is None:
            return None
        return {
            "path": str(rec.path),
            "recording": rec.recording,
            "items_written": rec.written_items,
            "events_written": rec.written_events,
            "dropped": rec.dropped,
            "error": rec.error,
        }

    def health(self) -> dict[str, Any]:
        return {
            "decode_queue": self.stage.queue_depth,
            "store": self._store_health(),
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
                for dec in [self.stage.decoders[name]]
            },
        } | {name: provider() for name, provider in self.health_providers.items()}
