"""`VirtualSensor`: the base of every virtual peripheral (a real bumble GATT server).

A sensor owns a bumble Device on its own emulated controller. The base class provides what
every kind shares -- Battery Service, Device Information, legacy advertising checked against
the 31-byte limit, a drifting device clock, sample streams paced by that clock and fed by a
motion source, and faults on demand -- while a subclass adds its profile's services and
control logic (``polar_h10``, ``movesense``, ``leanfw``).

Faults (all on the sensor object, usable at any time)::

    await sensor.drop_link()          # peripheral terminates the link (reason 0x13)
    sensor.go_silent()                # stays connected, frames stop (watchdog material)
    sensor.send_malformed(n=1)        # next n data frames are corrupted (kind-specific)
    sensor.repeat_frames(n=1)         # next n data frames are sent twice
    sensor.set_drift_ppm(20.0)        # device clock runs 20 ppm fast from now on
    sensor.refuse_starts(n=1)         # next n stream starts are refused (kind-specific code)
    await sensor.set_battery(5)       # low battery, notified to subscribers
    sensor.vanish(); sensor.reappear()  # out of radio range: supervision timeout

``sensor.stats`` counts what was generated and sent, so a test can account for every frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from bumble import hci
from bumble.core import AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from sensorhub.errors import ConfigError
from sensorhub.protocols import gatt as gatt_codec

from .motion import ConstantPosture, MotionSource, as_motion_source
from .radio import LEGACY_ADV_MAX_BYTES, RadioController

if TYPE_CHECKING:
    from .world import VirtualRadio

__all__ = ["FrameBuilder", "SensorStats", "VirtualSensor"]

logger = logging.getLogger(__name__)

#: Builds the payloads for one frame from samples (n, 3) g and their device times (ns).
FrameBuilder = Callable[[NDArray[np.float64], NDArray[np.int64]], Sequence[bytes]]


@dataclass(slots=True)
class SensorStats:
    """What the sensor did, for accounting in tests and the bench."""

    frames_sent: int = 0  # notifications handed to the radio (repeats included)
    frames_repeated: int = 0
    frames_malformed: int = 0
    frames_silenced: int = 0  # generated while silent: never sent
    frames_overflowed: int = 0  # dropped because the radio queue was full
    samples_generated: int = 0
    starts_refused: int = 0
    connections: int = 0
    disconnections: int = 0


class DeviceClock:
    """The sensor's own clock: starts at ``epoch_ns`` at power-on, runs ``drift_ppm`` fast.

    ``time_scale`` > 1 runs the sensor (clock and sample production) faster than the host's
    loop clock, to rehearse an hour of drift in a minute.
    """

    def __init__(self, epoch_ns: int, drift_ppm: float, time_scale: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._anchor_loop = self._loop.time()
        self._anchor_ns = epoch_ns
        self._rate = (1.0 + drift_ppm * 1e-6) * time_scale
        self.time_scale = time_scale

    def now_ns(self) -> int:
        return self._anchor_ns + round((self._loop.time() - self._anchor_loop) * 1e9 * self._rate)

    def loop_time_of(self, device_ns: int) -> float:
        return self._anchor_loop + (device_ns - self._anchor_ns) / (1e9 * self._rate)

    def set_drift_ppm(self, drift_ppm: float) -> None:
        """Change the drift from now on (continuous: the clock does not jump)."""
        self._anchor_ns = self.now_ns()
        self._anchor_loop = self._loop.time()
        self._rate = (1.0 + drift_ppm * 1e-6) * self.time_scale


class VirtualSensor:
    """Base virtual peripheral; see the module docstring. Subclasses set the class constants."""

    kind: ClassVar[str] = "generic"
    default_rate_hz: ClassVar[float] = 50.0
    clock_epoch_ns: ClassVar[int] = 0
    manufacturer: ClassVar[str] = "sensorhub"
    model: ClassVar[str] = "virtual"
    firmware: ClassVar[str] = "1.0.0"
    hardware: ClassVar[str | None] = None
    #: Largest ATT MTU the sensor accepts (its GATT server's maximum).
    max_mtu: ClassVar[int] = 517

    def __init__(
        self,
        name: str,
        *,
        motion: object = None,
        rate_hz: float | None = None,
        drift_ppm: float = 0.0,
        time_scale: float = 1.0,
        battery_percent: int = 90,
        rssi: int | None = None,
        adv_interval_s: float = 0.05,
        tx_buffer_packets: int = 64,
        serial: str = "00000001",
    ) -> None:
        self.name = name
        self.motion: MotionSource = as_motion_source(motion or ConstantPosture())
        self.rate_hz = float(rate_hz or self.default_rate_hz)
        self.drift_ppm = drift_ppm
        self.time_scale = time_scale
        self.battery_percent = battery_percent
        self.rssi = rssi
        self.adv_interval_s = adv_interval_s
        self.tx_buffer_packets = tx_buffer_packets
        self.serial = serial
        self.stats = SensorStats()
        self.silent = False
        self._malformed_pending = 0
        self._repeat_pending = 0
        self._refuse_pending = 0
        self._streams: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._radio: VirtualRadio | None = None
        self._device: Device | None = None
        self._controller: RadioController | None = None
        self._clock: DeviceClock | None = None
        self.connection: Connection | None = None

    # -- wiring ---------------------------------------------------------------------------
    @property
    def device(self) -> Device:
        if self._device is None:
            raise RuntimeError(f"{self.name} is not on a radio (VirtualRadio.add)")
        return self._device

    @property
    def clock(self) -> DeviceClock:
        if self._clock is None:
            raise RuntimeError(f"{self.name} is not on a radio (VirtualRadio.add)")
        return self._clock

    @property
    def address(self) -> str:
        """The Bluetooth address, as bleak reports it (``BLEDevice.address``)."""
        return str(self.device.public_address.to_string(False))

    async def attach(
        self, radio: VirtualRadio, device: Device, controller: RadioController
    ) -> None:
        """Called by :meth:`VirtualRadio.add`: build services, start the clock, advertise."""
        self._radio, self._device, self._controller = radio, device, controller
        self._clock = DeviceClock(self.clock_epoch_ns, self.drift_ppm, self.time_scale)
        device.gatt_server.max_mtu = self.max_mtu
        self._battery_char: Characteristic[bytes] = Characteristic(
            gatt_codec.BATTERY_LEVEL_UUID,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            CharacteristicValue(
                read=lambda _c: gatt_codec.encode_battery_level(self.battery_percent)
            ),
        )
        device.add_services([*self._standard_services(), *self.build_services()])
        device.on("connection", self._on_connection)
        if self.rssi is not None:
            radio.link.set_rssi(controller, self.rssi)
        await self.start_advertising()

    def _standard_services(self) -> list[Service]:
        info = {
            gatt_codec.MANUFACTURER_NAME_UUID: self.manufacturer,
            gatt_codec.MODEL_NUMBER_UUID: self.model,
            gatt_codec.SERIAL_NUMBER_UUID: self.serial,
            gatt_codec.FIRMWARE_REVISION_UUID: self.firmware,
        }
        if self.hardware is not None:
            info[gatt_codec.HARDWARE_REVISION_UUID] = self.hardware
        info_chars: list[Characteristic[bytes]] = [
            Characteristic(
                uuid,
                Characteristic.Properties.READ,
                Characteristic.READABLE,
                gatt_codec.encode_device_info_string(text),
            )
            for uuid, text in info.items()
        ]
        return [
            Service(gatt_codec.BATTERY_SERVICE_UUID, [self._battery_char]),
            Service(gatt_codec.DEVICE_INFORMATION_SERVICE_UUID, info_chars),
        ]

    # -- subclass hooks -------------------------------------------------------------------
    def build_services(self) -> list[Service]:
        """The profile's own services (subclasses)."""
        return []

    def advertising_data(self) -> AdvertisingData:
        """ADV_IND payload; by default flags and the complete name."""
        return AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
            ]
        )

    def scan_response_data(self) -> AdvertisingData:
        return AdvertisingData([])

    def on_disconnected(self) -> None:
        """Reset the profile's per-connection state (subclasses)."""

    def malform(self, payload: bytes) -> bytes:
        """A corrupted version of ``payload`` (default: one byte short, at least one byte)."""
        return payload[:-1] if len(payload) > 1 else b"\xff\xff"

    # -- advertising ----------------------------------------------------------------------
    async def start_advertising(self) -> None:
        adv, scan_rsp = bytes(self.advertising_data()), bytes(self.scan_response_data())
        for label, data in (("advertising data", adv), ("scan response", scan_rsp)):
            if len(data) > LEGACY_ADV_MAX_BYTES:
                raise ConfigError(
                    f"{self.name}: {label} is {len(data)} bytes, legacy advertising allows "
                    f"{LEGACY_ADV_MAX_BYTES} (shorten the name?)"
                )
        interval_ms = self.adv_interval_s * 1000.0
        await self.device.start_advertising(
            advertising_data=adv,
            scan_response_data=scan_rsp,
            auto_restart=True,
            advertising_interval_min=interval_ms,
            advertising_interval_max=interval_ms,
        )

    # -- connection -----------------------------------------------------------------------
    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        self.stats.connections += 1
        connection.on("disconnection", lambda reason: self._on_disconnection(connection, reason))

    def _on_disconnection(self, connection: Connection, reason: int) -> None:
        if self.connection is connection:
            self.connection = None
        self.stats.disconnections += 1
        for key in list(self._streams):
            self.stop_stream(key)
        self.on_disconnected()

    @property
    def att_mtu(self) -> int:
        return int(self.connection.att_mtu) if self.connection is not None else 23

    def subscribed(self, characteristic: Characteristic[bytes]) -> bool:
        """Whether the connected central enabled notifications or indications on it."""
        if self.connection is None:
            return False
        cccds = self.device.gatt_server.subscribers.get(self.connection, {})
        cccd = cccds.get(characteristic.handle)
        return cccd is not None and len(cccd) > 0 and bool(cccd[0] & 0x03)

    # -- streams --------------------------------------------------------------------------
    def start_stream(
        self,
        key: str,
        characteristic: Characteristic[bytes],
        samples_per_frame: Callable[[], int],
        build: FrameBuilder,
        *,
        rate_hz: float | None = None,
    ) -> None:
        """Stream frames on ``characteristic`` until :meth:`stop_stream` or disconnection."""
        self.stop_stream(key)
        rate = rate_hz or self.rate_hz
        task = asyncio.get_running_loop().create_task(
            self._run_stream(characteristic, samples_per_frame, build, rate),
            name=f"{self.name}:{key}",
        )
        task.add_done_callback(self._log_failure)
        self._streams[key] = task

    def stop_stream(self, key: str) -> bool:
        task = self._streams.pop(key, None)
        if task is None:
            return False
        task.cancel()
        return True

    def streaming(self, key: str) -> bool:
        return key in self._streams

    async def _run_stream(
        self,
        characteristic: Characteristic[bytes],
        samples_per_frame: Callable[[], int],
        build: FrameBuilder,
        rate_hz: float,
    ) -> None:
        """Paced by the device clock: a frame leaves once its last sample has been taken."""
        loop = asyncio.get_running_loop()
        period_ns = round(1e9 / rate_hz)
        start_ns = self.clock.now_ns()
        k = 0
        while True:
            n = samples_per_frame()
            t_ns = start_ns + (k + np.arange(1, n + 1, dtype=np.int64)) * period_ns
            delay = self.clock.loop_time_of(int(t_ns[-1])) - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            acc = self.motion.next_samples(n)
            k += n
            self.stats.samples_generated += n
            for payload in build(acc, t_ns):
                await self.send_frame(characteristic, payload)

    async def send_frame(self, characteristic: Characteristic[bytes], payload: bytes) -> None:
        """Send one data frame through the fault filter; counts everything in ``stats``."""
        if self.silent:
            self.stats.frames_silenced += 1
            return
        connection = self.connection
        if connection is None or not self.subscribed(characteristic):
            return
        if len(payload) > connection.att_mtu - 3:  # bumble would truncate silently
            raise RuntimeError(
                f"{self.name}: {len(payload)}-byte frame over MTU {connection.att_mtu}"
            )
        queue = self.device.host.get_data_packet_queue(connection.handle)
        if queue is not None and queue.pending >= self.tx_buffer_packets:
            self.stats.frames_overflowed += 1
            return
        if self._malformed_pending:
            self._malformed_pending -= 1
            self.stats.frames_malformed += 1
            payload = self.malform(payload)
        copies = 1
        if self._repeat_pending:
            self._repeat_pending -= 1
            self.stats.frames_repeated += 1
            copies = 2
        for _ in range(copies):
            await self.device.notify_subscriber(connection, characteristic, payload)
            self.stats.frames_sent += 1

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` as a task the sensor owns (e.g. a response indication that must
        follow the write response); cancelled by :meth:`close`, failures logged."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        self._log_failure(task)

    def _log_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "%s: task %s failed", self.name, task.get_name(), exc_info=task.exception()
            )

    async def notify(self, characteristic: Characteristic[bytes], payload: bytes) -> None:
        """Notify a control reply (not a data frame: no faults, not counted) if subscribed."""
        if self.connection is not None and self.subscribed(characteristic):
            await self.device.notify_subscriber(self.connection, characteristic, payload)

    async def indicate(self, characteristic: Characteristic[bytes], payload: bytes) -> None:
        """Indicate ``payload`` if the central enabled it; otherwise it is lost, as on air."""
        if self.connection is not None and self.subscribed(characteristic):
            await self.device.indicate_subscriber(self.connection, characteristic, payload)

    # -- faults ---------------------------------------------------------------------------
    async def drop_link(
        self, reason: int = hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR
    ) -> None:
        """Peripheral-initiated disconnect; advertising restarts by itself."""
        if self.connection is not None:
            await self.connection.disconnect(reason)

    def go_silent(self, silent: bool = True) -> None:
        self.silent = silent

    def send_malformed(self, n: int = 1) -> None:
        self._malformed_pending += n

    def repeat_frames(self, n: int = 1) -> None:
        self._repeat_pending += n

    def refuse_starts(self, n: int = 1) -> None:
        self._refuse_pending += n

    def take_refusal(self) -> bool:
        """For subclasses: True (and counted) if this start must be refused."""
        if self._refuse_pending <= 0:
            return False
        self._refuse_pending -= 1
        self.stats.starts_refused += 1
        return True

    def set_drift_ppm(self, drift_ppm: float) -> None:
        self.drift_ppm = drift_ppm
        self.clock.set_drift_ppm(drift_ppm)

    async def set_battery(self, percent: int) -> None:
        self.battery_percent = percent
        if self.connection is not None and self.subscribed(self._battery_char):
            await self.device.notify_subscriber(
                self.connection, self._battery_char, gatt_codec.encode_battery_level(percent)
            )

    def vanish(self) -> None:
        """Leave radio range: links end by supervision timeout, advertising is not heard."""
        self._require_radio().link.set_in_range(self._require_controller(), False)

    def reappear(self) -> None:
        self._require_radio().link.set_in_range(self._require_controller(), True)

    def _require_radio(self) -> VirtualRadio:
        if self._radio is None:
            raise RuntimeError(f"{self.name} is not on a radio")
        return self._radio

    def _require_controller(self) -> RadioController:
        if self._controller is None:
            raise RuntimeError(f"{self.name} is not on a radio")
        return self._controller

    async def close(self) -> None:
        """Stop streams, background tasks and advertising (VirtualRadio.close calls this)."""
        tasks = [*self._streams.values(), *self._background]
        self._streams.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._device is not None:
            with contextlib.suppress(Exception):
                await self._device.stop_advertising()
