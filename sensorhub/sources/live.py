"""Run a set of sensors: one supervisor and one decoder each, with a sample callback.

:class:`LiveSensors` is the composition ``sensorhub stream`` uses and the hub builds on:
supervisors hand raw frames to :meth:`LiveSensors.on_frame` (a store can tap them first via
``frame_sinks``), each sensor's :class:`~sensorhub.ingest.SensorDecoder` turns them into
samples on the session clock, and ``sample_sinks`` receive those. A decoder is restarted
whenever its link (re)starts, so protocol and clock state never leak across connections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sensorhub.ingest import SensorDecoder, SensorSamples
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.ble import BackendClasses, ReconnectPolicy, SensorSupervisor
from sensorhub.sources.drivers import driver_for

__all__ = ["LiveSensors", "monotonic_session_clock"]

log = logging.getLogger(__name__)


def monotonic_session_clock() -> Callable[[], int]:
    """ns since this call, on the monotonic clock: the session clock of a live run."""
    t0 = time.monotonic_ns()
    return lambda: time.monotonic_ns() - t0


class LiveSensors:
    """Supervisors + decoders for ``targets`` (name or address, kind)."""

    def __init__(
        self,
        targets: Sequence[tuple[str, SensorKind]],
        *,
        backends: BackendClasses,
        now_ns: Callable[[], int],
        watchdog_s: float = 3.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        self.now_ns = now_ns
        self.frame_sinks: list[Callable[[RawFrame], None]] = []
        self.sample_sinks: list[Callable[[SensorSamples], None]] = []
        self.status_sinks: list[Callable[[LinkStatus], None]] = []
        self.decoders = {name: SensorDecoder(name, kind) for name, kind in targets}
        self.supervisors = [
            SensorSupervisor(
                name,
                driver_for(kind),
                on_frame=self.on_frame,
                on_status=self.on_status,
                now_ns=now_ns,
                backends=backends,
                policy=policy,
                watchdog_s=watchdog_s,
                seed=i,
            )
            for i, (name, kind) in enumerate(targets)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def on_frame(self, frame: RawFrame) -> None:
        for sink in self.frame_sinks:
            sink(frame)
        for samples in self.decoders[frame.sensor].feed(frame):
            for sample_sink in self.sample_sinks:
                sample_sink(samples)

    def on_status(self, status: LinkStatus) -> None:
        if status.state is LinkState.STARTING:
            self.decoders[status.sensor].restart()
        for sink in self.status_sinks:
            sink(status)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(s.run(), name=f"sensor:{s.target}") for s in self.supervisors
        ]

    async def close(self) -> None:
        """Stop every stream (stop commands first), disconnect, and wait for the supervisors."""
        await asyncio.gather(*(s.close() for s in self.supervisors))
        for result in await asyncio.gather(*self._tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("sensor supervisor ended with %r", result)
