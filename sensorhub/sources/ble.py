"""Live BLE ingestion: one supervisor per sensor, keeping its link alive.

This is the only module (besides the virtual radio backend) that imports bleak. It uses
bleak's public API only, so the same code drives a real adapter (BlueZ, CoreBluetooth, WinRT)
and the virtual radio; the only difference is the ``backend=`` classes passed in.

A :class:`SensorSupervisor` loops: find the sensor, connect, run the sensor driver's start
sequence, hand every notification on as a :class:`~sensorhub.sources.base.RawFrame`, and when
the link is lost, wait a backoff chosen by *why* it was lost (:class:`ReconnectPolicy`), then
try again. A watchdog treats a link that stays connected but goes silent as lost. Every state
change is reported as a :class:`~sensorhub.sources.base.LinkStatus`. A deliberate
:meth:`SensorSupervisor.close` stops the sensor's streams *before* disconnecting (an H10 left
streaming can stay awake until its battery is flat).

The notification callback only stamps the receive time and hands the bytes on: no decoding,
no filtering, no JSON in the callback (DESIGN principle 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from typing import Protocol

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError

from sensorhub.errors import (
    DeviceNotFoundError,
    LinkError,
    LinkSilentError,
    LinkTimeoutError,
    ProtocolError,
    SensorhubError,
)
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind

__all__ = [
    "BackendClasses",
    "Device",
    "FoundSensor",
    "ReconnectPolicy",
    "SensorDriver",
    "SensorLink",
    "SensorSupervisor",
    "map_bleak_error",
    "scan_sensors",
]

log = logging.getLogger(__name__)

NowNs = Callable[[], int]
FrameSink = Callable[[RawFrame], None]
StatusSink = Callable[[LinkStatus], None]

#: How long one scan for the sensor may take before the attempt counts as "not found".
#: Sensors advertise every 0.1-1 s; 10 s covers a slow advertiser and a busy adapter.
SCAN_TIMEOUT_S = 10.0
#: Connect + service discovery. BlueZ's own default is 10 s; H10s sometimes need longer
#: while they negotiate connection parameters.
CONNECT_TIMEOUT_S = 15.0


#: What a scan finds and a connect takes (bleak's type; re-exported so no other module
#: needs to import bleak).
Device = BLEDevice


def map_bleak_error(exc: BaseException) -> LinkError:
    """The one place where bleak / OS errors become sensorhub :class:`LinkError` classes."""
    if isinstance(exc, LinkError):
        return exc
    if isinstance(exc, BleakDeviceNotFoundError):
        return DeviceNotFoundError(f"sensor not found: {exc}")
    if isinstance(exc, TimeoutError):
        return LinkTimeoutError(f"timed out: {exc}" if str(exc) else "timed out")
    return LinkError(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff for one error class: ``first * factor**n`` capped at ``cap``."""

    first_s: float
    factor: float
    cap_s: float

    def delay(self, attempt: int) -> float:
        return float(min(self.cap_s, self.first_s * self.factor ** max(attempt - 1, 0)))


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Backoff by error class; each value says why it is what it is.

    A jitter of up to ``jitter`` (fraction) is added so that several sensors dropped by the
    same event (someone walked between the sensors and the adapter) do not retry in lockstep.
    """

    #: A link that was streaming just dropped: the sensor was there a moment ago, so the first
    #: retry is almost immediate.
    after_drop: Backoff = Backoff(0.2, 2.0, 5.0)
    #: Not advertising: it is off, out of range, or held by a phone. Retrying fast only keeps
    #: the adapter scanning and slows the other links down.
    not_found: Backoff = Backoff(2.0, 2.0, 30.0)
    #: Connect or GATT timeout: often a busy adapter; back off moderately.
    timeout: Backoff = Backoff(1.0, 2.0, 15.0)
    #: The sensor refused the start sequence (e.g. low battery, invalid state): give it time.
    protocol: Backoff = Backoff(2.0, 2.0, 30.0)
    #: Anything else the stack reported.
    other: Backoff = Backoff(1.0, 2.0, 20.0)
    jitter: float = 0.1

    def delay(self, error: BaseException, attempt: int, rng: random.Random) -> float:
        if isinstance(error, LinkSilentError):
            backoff = self.after_drop
        elif isinstance(error, DeviceNotFoundError):
            backoff = self.not_found
        elif isinstance(error, LinkTimeoutError):
            backoff = self.timeout
        elif isinstance(error, ProtocolError):
            backoff = self.protocol
        elif isinstance(error, _Dropped):
            backoff = self.after_drop
        else:
            backoff = self.other
        base = backoff.delay(attempt)
        return base * (1.0 + self.jitter * rng.random())


class _Dropped(LinkError):
    """The peer or the radio ended a link that was streaming."""


@dataclass(frozen=True, slots=True)
class BackendClasses:
    """bleak backend classes to use (``None``: the platform's real backend)."""

    scanner: type[BaseBleakScanner] | None = None
    client: type[BaseBleakClient] | None = None


class SensorLink:
    """What a driver gets to run its start/stop sequence on one connected sensor.

    ``subscribe`` registers a notification handler that records every payload as a
    :class:`RawFrame`; handlers of an older connection are inert, so a reconnect never doubles
    callbacks.
    """

    def __init__(self, client: BleakClient, on_payload: Callable[[str, bytearray], None]) -> None:
        self.client = client
        self._on_payload = on_payload

    @property
    def mtu(self) -> int:
        return int(self.client.mtu_size)

    async def subscribe(self, uuid: str) -> None:
        """Enable notifications/indications on ``uuid``; every payload becomes a RawFrame."""
        key = uuid.lower()

        def callback(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            self._on_payload(key, data)

        try:
            await self.client.start_notify(uuid, callback)
        except (BleakError, OSError) as exc:
            raise map_bleak_error(exc) from exc

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        try:
            await self.client.write_gatt_char(uuid, data, response=response)
        except (BleakError, OSError) as exc:
            raise map_bleak_error(exc) from exc

    async def record_read(self, uuid: str) -> bytes:
        """Read ``uuid`` and hand the value on like a notification, so it is recorded."""
        try:
            data = await self.client.read_gatt_char(uuid)
        except (BleakError, OSError) as exc:
            raise map_bleak_error(exc) from exc
        self._on_payload(uuid.lower(), data)
        return bytes(data)


class SensorDriver(Protocol):
    """A sensor profile's connection behaviour (see :mod:`sensorhub.sources.drivers`)."""

    kind: SensorKind

    def matches(self, name: str, service_uuids: Collection[str]) -> bool:
        """Whether an advertisement (local name, service UUIDs) is a sensor of this kind."""
        ...

    async def start(self, link: SensorLink) -> None:
        """Subscribe to the data (and control) characteristics and start streaming."""
        ...

    async def stop(self, link: SensorLink) -> None:
        """Stop streaming (sent before any deliberate disconnect)."""
        ...

    def on_payload(self, uuid: str, payload: bytes) -> None:
        """Every payload of this connection, after it was recorded (control responses)."""
        ...


class SensorSupervisor:
    """Keeps one sensor connected and streaming until :meth:`close`.

    ``target`` is the sensor's address or advertised name. ``now_ns`` is the session clock
    (injected, so tests and replay control time).
    """

    def __init__(
        self,
        target: str,
        driver: SensorDriver,
        *,
        on_frame: FrameSink,
        on_status: StatusSink,
        now_ns: NowNs,
        backends: BackendClasses | None = None,
        policy: ReconnectPolicy | None = None,
        watchdog_s: float = 3.0,
        scan_timeout_s: float = SCAN_TIMEOUT_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        seed: int = 0,
        device: BLEDevice | None = None,
    ) -> None:
        self.target = target
        #: The device to connect to, from a shared scan (one scan for all sensors costs far
        #: less than one scanner per sensor) or our own last scan. Forgotten when a connect
        #: fails, so the next attempt scans afresh.
        self._device = device
        self.driver = driver
        self._on_frame = on_frame
        self._on_status = on_status
        self._now_ns = now_ns
        self._backends = backends or BackendClasses()
        self._policy = policy or ReconnectPolicy()
        self._watchdog_s = watchdog_s
        self._scan_timeout_s = scan_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._rng = random.Random(seed)
        self._closing = asyncio.Event()
        self._lost: asyncio.Event = asyncio.Event()
        self._generation = 0
        self._last_frame_ns = 0
        self._client: BleakClient | None = None
        self.sensor_id = target
        self.status = LinkStatus(target, driver.kind, LinkState.DISCONNECTED, now_ns())
        self.stale_callbacks = 0
        self.sink_errors = 0
        self._streamed_before = False
        self.address: str | None = None

    # -- status ---------------------------------------------------------------------------

    def _set(
        self,
        state: LinkState,
        reason: str = "",
        *,
        attempts: int | None = None,
        reconnects: int | None = None,
    ) -> None:
        self.status = replace(
            self.status,
            state=state,
            at_ns=self._now_ns(),
            reason=reason,
            attempts=self.status.attempts if attempts is None else attempts,
            reconnects=self.status.reconnects if reconnects is None else reconnects,
        )
        self._on_status(self.status)

    # -- the loop -------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect and stream until :meth:`close`; never raises for link failures."""
        attempt = 0
        while not self._closing.is_set():
            attempt += 1
            self._set(LinkState.CONNECTING, attempts=attempt)
            error: SensorhubError
            try:
                await self._connect_and_stream()
                error = _Dropped("link lost")
            except (SensorhubError, BleakError, TimeoutError, OSError) as exc:
                error = exc if isinstance(exc, SensorhubError) else map_bleak_error(exc)
                if self.status.state is LinkState.CONNECTING:
                    self._device = None  # connect failed: the cached device may be stale
            finally:
                await self._teardown()
            if self._closing.is_set():
                break
            if self.status.state is LinkState.STREAMING or isinstance(error, _Dropped):
                attempt = 1
            delay = self._policy.delay(error, attempt, self._rng)
            log.warning("%s: %s; retrying in %.1f s", self.target, error, delay)
            self._set(LinkState.RECONNECTING, reason=str(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), timeout=delay)
        self._set(LinkState.STOPPED, reason="closed")

    async def _connect_and_stream(self) -> None:
        if self._device is None:
            self._device = await self._find()
        device = self._device
        self._generation += 1
        generation = self._generation
        self._lost = asyncio.Event()
        client = BleakClient(
            device,
            disconnected_callback=lambda _c: self._on_disconnect(generation),
            backend=self._backends.client,
        )
        self._client = client
        await client.connect(timeout=self._connect_timeout_s)
        self.address = client.address
        self._set(LinkState.STARTING)
        link = SensorLink(client, lambda uuid, data: self._on_payload(generation, uuid, data))
        self._last_frame_ns = self._now_ns()
        await self.driver.start(link)
        reconnects = self.status.reconnects + (1 if self._streamed_before else 0)
        self._streamed_before = True
        self._set(LinkState.STREAMING, attempts=0, reconnects=reconnects)
        await self._watch()

    async def _find(self) -> BLEDevice:
        def match(device: BLEDevice, adv: AdvertisementData) -> bool:
            wanted = self.target.lower()
            name = adv.local_name or device.name or ""
            is_target = device.address.lower() == wanted or name.lower() == wanted
            return is_target and self.driver.matches(name, adv.service_uuids)

        scanner = self._backends.scanner
        if scanner is None:
            device = await BleakScanner.find_device_by_filter(match, timeout=self._scan_timeout_s)
        else:
            device = await BleakScanner.find_device_by_filter(
                match, timeout=self._scan_timeout_s, backend=scanner
            )
        if device is None:
            raise DeviceNotFoundError(
                f"{self.driver.kind.value} sensor {self.target!r} not advertising "
                f"within {self._scan_timeout_s:g} s"
            )
        return device

    async def _watch(self) -> None:
        """Return when the link drops; raise LinkSilentError if it goes quiet."""
        period_ns = int(self._watchdog_s * 1e9)
        while not self._closing.is_set():
            silent_for = self._now_ns() - self._last_frame_ns
            remaining = max(period_ns - silent_for, 0) / 1e9
            if remaining <= 0:
                raise LinkSilentError(f"no data for {self._watchdog_s:g} s")
            lost = asyncio.create_task(self._lost.wait())
            closing = asyncio.create_task(self._closing.wait())
            done, pending = await asyncio.wait(
                {lost, closing}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if lost in done:
                return

    async def _teardown(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        if client.is_connected and self._closing.is_set():
            self._set(LinkState.STOPPING, reason="closing")
            with contextlib.suppress(SensorhubError, BleakError, TimeoutError, OSError):
                await asyncio.wait_for(self.driver.stop(SensorLink(client, _ignore)), 5.0)
        with contextlib.suppress(BleakError, TimeoutError, OSError):
            await asyncio.wait_for(client.disconnect(), 5.0)

    # -- callbacks (keep trivial) ---------------------------------------------------------

    def _on_payload(self, generation: int, uuid: str, data: bytearray) -> None:
        now = self._now_ns()
        if generation != self._generation:
            self.stale_callbacks += 1
            return
        payload = bytes(data)
        self._last_frame_ns = now
        self.status = replace(self.status, frames=self.status.frames + 1)
        try:
            self._on_frame(RawFrame(self.sensor_id, uuid, payload, now))
        except Exception:
            # A failing consumer must not take the link down with it (nor lose the driver's
            # view of control responses); it is logged loudly and counted.
            self.sink_errors += 1
            log.exception("%s: frame consumer failed", self.target)
        self.driver.on_payload(uuid, payload)

    def _on_disconnect(self, generation: int) -> None:
        if generation == self._generation:
            self._lost.set()

    async def close(self) -> None:
        """Stop streams, disconnect, and end :meth:`run` (idempotent)."""
        self._closing.set()


def _ignore(_uuid: str, _data: bytearray) -> None:
    return None


async def run_until_closed(supervisors: list[SensorSupervisor], stop: Awaitable[None]) -> None:
    """Run supervisors until ``stop`` completes, then close them all (streams stopped first)."""
    tasks = [asyncio.create_task(s.run(), name=f"supervisor:{s.target}") for s in supervisors]
    try:
        await stop
    finally:
        for s in supervisors:
            await s.close()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class FoundSensor:
    """A supported sensor seen advertising."""

    kind: SensorKind
    name: str
    address: str
    rssi: int
    device: Device


async def scan_sensors(
    backends: BackendClasses,
    seconds: float,
    identify: Callable[[str, Collection[str]], SensorKind | None],
) -> list[FoundSensor]:
    """Scan for ``seconds``; the supported sensors seen (``identify`` says which), strongest
    first. One scan serves every supervisor, which then connect without scanning."""
    try:
        if backends.scanner is None:
            found = await BleakScanner.discover(timeout=seconds, return_adv=True)
        else:
            found = await BleakScanner.discover(
                timeout=seconds, return_adv=True, backend=backends.scanner
            )
    except (BleakError, OSError) as exc:
        raise map_bleak_error(exc) from exc
    sensors = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        kind = identify(name, adv.service_uuids)
        if kind is not None:
            sensors.append(FoundSensor(kind, name, device.address, adv.rssi, device))
    return sorted(sensors, key=lambda s: (-s.rssi, s.name))
