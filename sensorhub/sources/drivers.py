"""How to recognise, start and stop each supported sensor over a live link.

A driver holds the protocol's *conversation* (which characteristics to subscribe to, which
commands to write, which responses to wait for); the bytes themselves come from the sans-I/O
codecs in :mod:`sensorhub.protocols`. Drivers are created fresh for every connection attempt
state-wise (:meth:`start` resets them), so a reconnect never inherits a half-finished exchange.

Every notification, control responses included, is recorded as a RawFrame by the supervisor
before the driver sees it; values the driver *reads* (battery level) are recorded too via
:meth:`SensorLink.record`, so a replay sees everything the live run saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from sensorhub.errors import (
    ConfigError,
    ControlPointError,
    DecodeError,
    LinkError,
    LinkTimeoutError,
    ProtocolError,
)
from sensorhub.protocols import gatt, leanfw, movesense, polar_pmd
from sensorhub.sources.base import SensorKind
from sensorhub.sources.ble import SensorDriver, SensorLink

__all__ = [
    "DRIVERS",
    "LeanfwDriver",
    "MovesenseDriver",
    "PolarH10Driver",
    "driver_for",
    "identify",
]

log = logging.getLogger(__name__)

#: A control request unanswered after this long means the link is stuck; the supervisor
#: then reconnects. Real sensors answer within a few connection intervals (< 0.5 s).
CONTROL_TIMEOUT_S = 5.0


async def _read_battery(link: SensorLink) -> None:
    """Read Battery Level once and record it; sensors without the service are fine."""
    try:
        await link.record_read(gatt.BATTERY_LEVEL_UUID)
    except LinkError as exc:
        log.info("battery level not readable: %s", exc)


class PolarH10Driver:
    """Polar H10: PMD accelerometer (raw int16, mG) plus Heart Rate and Battery.

    Start sequence (firmware_specs/polar-h10-pmd.md): control-point indications, then data
    notifications, then GET settings and START with *all* settings, consuming every response.
    ``ALREADY_IN_STATE`` on START (a stream left running by a dropped link) is answered with
    STOP then START.
    """

    kind = SensorKind.POLAR_H10

    def __init__(self, *, sample_rate: int = 200, range_g: int = 8) -> None:
        self.sample_rate = sample_rate
        self.range_g = range_g
        self._assembler = polar_pmd.CpResponseAssembler()
        self._responses: asyncio.Queue[polar_pmd.CpResponse] = asyncio.Queue()
        self.device_stopped = 0

    def matches(self, name: str, service_uuids: Collection[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return name.startswith("Polar H10") or polar_pmd.PMD_SERVICE_UUID in uuids

    async def start(self, link: SensorLink) -> None:
        self._assembler.reset()
        self._responses = asyncio.Queue()
        await link.subscribe(polar_pmd.PMD_CONTROL_POINT_UUID)
        await link.subscribe(polar_pmd.PMD_DATA_UUID)
        acc = polar_pmd.MeasurementType.ACC
        offered = await self._request(link, polar_pmd.get_settings_request(acc))
        chosen = polar_pmd.select_start_settings(
            offered.settings or polar_pmd.PmdSettings(),
            sample_rate=self.sample_rate,
            measurement_range=self.range_g,
        )
        start = polar_pmd.start_request(acc, chosen)
        try:
            await self._request(link, start)
        except ControlPointError as exc:
            if exc.code != polar_pmd.ErrorCode.ALREADY_IN_STATE:
                raise
            await self._request(link, polar_pmd.stop_request(acc))
            await self._request(link, start)
        await link.subscribe(gatt.HEART_RATE_MEASUREMENT_UUID)
        await _read_battery(link)

    async def stop(self, link: SensorLink) -> None:
        try:
            await self._request(link, polar_pmd.stop_request(polar_pmd.MeasurementType.ACC))
        except ControlPointError as exc:
            if exc.code != polar_pmd.ErrorCode.ALREADY_IN_STATE:  # stopped already: fine
                raise

    async def _request(self, link: SensorLink, request: bytes) -> polar_pmd.CpResponse:
        await link.write(polar_pmd.PMD_CONTROL_POINT_UUID, request)
        while True:
            try:
                response = await asyncio.wait_for(self._responses.get(), CONTROL_TIMEOUT_S)
            except TimeoutError as exc:
                raise LinkTimeoutError(f"PMD request {request.hex()} unanswered") from exc
            if response.opcode == request[0]:
                return response.raise_for_status()
            log.warning("PMD: ignoring response to opcode %d", response.opcode)

    def on_payload(self, uuid: str, payload: bytes) -> None:
        if uuid != polar_pmd.PMD_CONTROL_POINT_UUID:
            return
        try:
            message = self._assembler.feed(payload)
        except (DecodeError, ProtocolError) as exc:
            log.warning("PMD control point: %s", exc)
            return
        if isinstance(message, polar_pmd.CpResponse):
            self._responses.put_nowait(message)
        elif isinstance(message, polar_pmd.MeasurementStopped):
            # The watchdog notices the silence and reconnects, which restarts the stream.
            self.device_stopped += 1
            log.warning("H10 stopped measurement(s) %s itself", message.measurement_types)


class MovesenseDriver:
    """Movesense with the GATT Sensor-data Protocol: subscribe ``/Meas/Acc/<rate>``.

    The sensor drops every subscription on disconnect, so each connection subscribes anew
    (with a fresh client reference). A successful SUBSCRIBE has no acknowledgement: data
    simply starts; an error arrives as a COMMAND_RESULT.
    """

    kind = SensorKind.MOVESENSE
    REF = 0x63

    def __init__(self, *, sample_rate: int = 52) -> None:
        if sample_rate not in movesense.ACC_RATES_HZ:
            raise ValueError(f"Movesense rate {sample_rate} not in {movesense.ACC_RATES_HZ}")
        self.sample_rate = sample_rate
        self.errors: list[int] = []

    def matches(self, name: str, service_uuids: Collection[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return name.startswith("Movesense") or movesense.GSP_SERVICE_UUID in uuids

    async def start(self, link: SensorLink) -> None:
        await link.subscribe(movesense.GSP_DATA_UUID)
        path = f"/Meas/Acc/{self.sample_rate}"
        await link.write(movesense.GSP_COMMAND_UUID, movesense.encode_subscribe(self.REF, path))
        await _read_battery(link)

    async def stop(self, link: SensorLink) -> None:
        await link.write(movesense.GSP_COMMAND_UUID, movesense.encode_unsubscribe(self.REF))

    def on_payload(self, uuid: str, payload: bytes) -> None:
        if uuid != movesense.GSP_DATA_UUID or not payload or payload[0] != 1:
            return
        try:
            result = movesense.parse_command_result(payload)
        except DecodeError as exc:
            log.warning("Movesense command result: %s", exc)
            return
        if not result.ok:
            self.errors.append(result.status or 0)
            log.warning("Movesense refused a command: status %s", result.status)


class LeanfwDriver:
    """The lab's own firmware (firmware_specs/leanfw-v1.md): check the profile once, then
    GET_CONFIG, SET_RANGE, SET_RATE and START on every connection."""

    kind = SensorKind.LEANFW

    def __init__(self, *, sample_rate: int = 100, range_g: int = 4) -> None:
        leanfw.rate_code(sample_rate)  # validates: raises for unsupported rates
        leanfw.range_code(range_g)
        self.sample_rate = sample_rate
        self.range_g = range_g
        self._responses: asyncio.Queue[leanfw.ControlResponse] = asyncio.Queue()
        self._profile_checked = False

    def matches(self, name: str, service_uuids: Collection[str]) -> bool:
        uuids = {u.lower() for u in service_uuids}
        return name.startswith(leanfw.NAME_PREFIX) or leanfw.SERVICE_UUID in uuids

    async def start(self, link: SensorLink) -> None:
        """The reconnect sequence of leanfw-v1.md section 9, in its order."""
        self._responses = asyncio.Queue()
        if not self._profile_checked:
            revision = gatt.parse_device_info_string(
                await link.record_read(gatt.FIRMWARE_REVISION_UUID)
            )
            if not revision.startswith(f"leanfw-v{leanfw.PROFILE_VERSION}/"):
                raise ProtocolError(
                    f"firmware revision {revision!r} is not leanfw-v{leanfw.PROFILE_VERSION}"
                )
            self._profile_checked = True
        await link.subscribe(leanfw.CONTROL_UUID)
        await link.subscribe(leanfw.DATA_UUID)
        await self._request(link, leanfw.encode_get_config())
        await self._request(link, leanfw.encode_set_range(self.range_g))
        await self._request(link, leanfw.encode_set_rate(self.sample_rate))
        await self._request(link, leanfw.encode_start())
        await _read_battery(link)

    async def stop(self, link: SensorLink) -> None:
        try:
            await self._request(link, leanfw.encode_stop())
        except ControlPointError as exc:
            if exc.code != leanfw.Status.ALREADY_IN_STATE:  # already stopped: that is fine
                raise

    async def _request(self, link: SensorLink, request: bytes) -> leanfw.ControlResponse:
        await link.write(leanfw.CONTROL_UUID, request)
        try:
            response = await asyncio.wait_for(self._responses.get(), CONTROL_TIMEOUT_S)
        except TimeoutError as exc:
            raise LinkTimeoutError(f"leanfw request {request.hex()} unanswered") from exc
        response.raise_for_status()
        return response

    def on_payload(self, uuid: str, payload: bytes) -> None:
        if uuid != leanfw.CONTROL_UUID:
            return
        try:
            message = leanfw.parse_control(payload)
        except DecodeError as exc:
            log.warning("leanfw control: %s", exc)
            return
        if isinstance(message, leanfw.ControlResponse):
            self._responses.put_nowait(message)
        else:
            log.warning("leanfw event: %s", message)


DriverFactory = Callable[[], SensorDriver]

#: Every supported kind and how to build its driver with default settings.
DRIVERS: dict[SensorKind, DriverFactory] = {
    SensorKind.POLAR_H10: PolarH10Driver,
    SensorKind.MOVESENSE: MovesenseDriver,
    SensorKind.LEANFW: LeanfwDriver,
}


def driver_for(kind: SensorKind | str) -> SensorDriver:
    """A fresh driver for ``kind`` with default settings.

    :class:`ConfigError` for ``imported``: those samples come from a file, never a radio.
    """
    kind = SensorKind(kind)
    if kind is SensorKind.IMPORTED:
        raise ConfigError(
            "sensor kind 'imported' is data imported from a file (sensorhub import); it has no "
            "radio link to connect to: replay or export that session instead"
        )
    return DRIVERS[kind]()


def identify(name: str, service_uuids: Collection[str]) -> SensorKind | None:
    """The kind of an advertising device, or None if it is not a sensor we support."""
    for kind, factory in DRIVERS.items():
        if factory().matches(name, service_uuids):
            return kind
    return None
