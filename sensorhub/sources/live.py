"""Run a set of sensors: one supervisor and one decoder each, with a sample callback.

:class:`LiveSensors` is the composition ``sensorhub stream`` uses and the hub builds on:
supervisors hand raw frames to :meth:`LiveSensors.on_frame` (a store can tap them first via
``frame_sinks``), which queues them and returns, so the BLE stack is never held up by the
pipeline. A consumer task decodes them in arrival order: each sensor's
:class:`~sensorhub.ingest.SensorDecoder` turns them into samples on the session clock, and
``sample_sinks`` receive those. A decoder is restarted
whenever its link (re)starts, so protocol and clock state never leak across connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from sensorhub.ingest import SensorDecoder, SensorSamples
from sensorhub.sources.base import Command, Item, LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.ble import BackendClasses, Device, ReconnectPolicy, SensorSupervisor
from sensorhub.sources.drivers import driver_for

__all__ = ["DecodeStage", "LiveSensors", "monotonic_session_clock"]

log = logging.getLogger(__name__)


def monotonic_session_clock() -> Callable[[], int]:
    """ns since this call, on the monotonic clock: the session clock of a live run."""
    t0 = time.monotonic_ns()
    return lambda: time.monotonic_ns() - t0


class DecodeStage:
    """Decoders for a set of sensors behind one ordered queue, with sinks for the results.

    Sources put :data:`~sensorhub.sources.base.Item` objects in with :meth:`put` (frames,
    link changes, commands), in arrival order. ``item_sinks`` see every item as it is put
    (the recorder taps here, before anything can fail); the consumer task then decodes in
    order and calls ``sample_sinks``, ``status_sinks`` and ``command_sinks``. Live BLE
    (:class:`LiveSensors`) and replay (:mod:`sensorhub.sources.replay`) differ only in who
    calls :meth:`put`.
    """

    def __init__(self, targets: Sequence[tuple[str, SensorKind]], *, now_ns: Callable[[], int]):
        self.now_ns = now_ns
        self.item_sinks: list[Callable[[Item], None]] = []
        self.sample_sinks: list[Callable[[SensorSamples], None]] = []
        self.status_sinks: list[Callable[[LinkStatus], None]] = []
        self.command_sinks: list[Callable[[Command], None]] = []
        #: Called with each batch once it is fully processed (benchmarks time frames here).
        self.batch_sinks: list[Callable[[list[Item]], None]] = []
        self.decoders = {name: SensorDecoder(name, kind) for name, kind in targets}
        self._consumer: asyncio.Task[None] | None = None
        #: Unbounded on purpose: received data is never dropped; its depth is the backlog.
        self._queue: asyncio.Queue[Item | list[Item]] = asyncio.Queue()

    def put(self, item: Item) -> None:
        """Tap and queue one item; returns at once (safe to call from BLE callbacks)."""
        for sink in self.item_sinks:
            sink(item)
        self._queue.put_nowait(item)

    def put_many(self, items: list[Item]) -> None:
        """:meth:`put` for many items at once (a replay): one queue entry, same order."""
        if not items:
            return
        for sink in self.item_sinks:
            for item in items:
                sink(item)
        self._queue.put_nowait(items)

    def start(self) -> None:
        self._consumer = asyncio.create_task(self._consume(), name="decode")

    async def drain(self) -> None:
        """Wait until everything put so far has been processed."""
        await self._queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    @property
    def queue_depth(self) -> int:
        """Frames received but not yet decoded (the pipeline's backlog)."""
        return self._queue.qsize()

    async def _consume(self) -> None:
        """Decode queued frames in arrival order and hand samples to the sinks.

        Everything queued when the consumer wakes is handled as one batch, and each sensor's
        samples in it go to the sinks as one block: downstream stages are chunking-invariant,
        so this changes no result, only the per-call overhead under load.
        """
        while True:
            entries = [await self._queue.get()]
            while not self._queue.empty():
                entries.append(self._queue.get_nowait())
            batch: list[Item] = []
            for entry in entries:
                if isinstance(entry, list):
                    batch.extend(entry)
                else:
                    batch.append(entry)
            # Frames wait per sensor until something must follow them (a link change of that
            # sensor, any command, the end of the batch); then they are decoded as one run.
            pending: dict[str, list[RawFrame]] = {}
            for item in batch:
                try:
                    if isinstance(item, LinkStatus):
                        self._decode_and_emit(item.sensor, pending.pop(item.sensor, []))
                        self._apply_status(item)
                    elif isinstance(item, Command):
                        for sensor, frames in pending.items():  # everything before it, first
                            self._decode_and_emit(sensor, frames)
                        pending.clear()
                        for command_sink in self.command_sinks:
                            command_sink(item)
                    else:
                        pending.setdefault(item.sensor, []).append(item)
                except Exception:
                    log.exception("pipeline failed on %r", item)
            for sensor, frames in pending.items():
                try:
                    self._decode_and_emit(sensor, frames)
                except Exception:
                    log.exception("pipeline failed on %d frames of %s", len(frames), sensor)
            for batch_sink in self.batch_sinks:
                batch_sink(batch)
            for _ in entries:
                self._queue.task_done()

    def _decode_and_emit(self, sensor: str, frames: list[RawFrame]) -> None:
        if not frames:
            return
        for samples in self.decoders[sensor].feed_many(frames):  # at most one, merged
            for sink in self.sample_sinks:
                try:
                    sink(samples)
                except Exception:
                    log.exception("sample consumer failed for %s", samples.sensor)

    def _apply_status(self, status: LinkStatus) -> None:
        if status.state is LinkState.STARTING:
            self.decoders[status.sensor].restart()
        for sink in self.status_sinks:
            sink(status)


class LiveSensors(DecodeStage):
    """Supervisors for ``targets`` (name or address, kind) feeding a :class:`DecodeStage`."""

    def __init__(
        self,
        targets: Sequence[tuple[str, SensorKind]],
        *,
        backends: BackendClasses,
        now_ns: Callable[[], int],
        watchdog_s: float = 3.0,
        policy: ReconnectPolicy | None = None,
        devices: Mapping[str, Device] | None = None,
    ) -> None:
        super().__init__(targets, now_ns=now_ns)
        self.supervisors = [
            SensorSupervisor(
                name,
                driver_for(kind),
                on_frame=self.put,
                on_status=self.put,
                now_ns=now_ns,
                backends=backends,
                policy=policy,
                watchdog_s=watchdog_s,
                seed=i,
                device=(devices or {}).get(name),
            )
            for i, (name, kind) in enumerate(targets)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        super().start()
        self._tasks = [
            asyncio.create_task(s.run(), name=f"sensor:{s.target}") for s in self.supervisors
        ]

    async def close(self) -> None:
        """Stop every stream (stop commands first), disconnect, and wait for the supervisors;
        then decode everything received before returning."""
        await asyncio.gather(*(s.close() for s in self.supervisors))
        for result in await asyncio.gather(*self._tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                log.error("sensor supervisor ended with %r", result)
        await super().close()
