"""Helpers for the virtual-radio tests: a bare bumble peripheral and a guarded wait."""

from __future__ import annotations

import asyncio
from typing import Any

from bumble.core import UUID, AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service

from sensorhub.sources.virtual.world import VirtualRadio

SERVICE = "a0b40001-7c3e-4f7e-9a55-1d2c3b4a5f60"
NOTIFY = "a0b40003-7c3e-4f7e-9a55-1d2c3b4a5f60"
INDICATE = "a0b40004-7c3e-4f7e-9a55-1d2c3b4a5f60"
CONTROL = "a0b40002-7c3e-4f7e-9a55-1d2c3b4a5f60"

#: A generous guard for waits that normally finish in milliseconds (never a wall-clock check).
GUARD_S = 5.0


class BarePeripheral:
    """A minimal bumble GATT server: one notify, one indicate, one read/write characteristic."""

    def __init__(self, name: str, *, adv_interval_ms: float = 20.0) -> None:
        self.name = name
        self.adv_interval_ms = adv_interval_ms
        self.writes: list[bytes] = []
        self.device: Any = None
        self.controller: Any = None

    async def attach(self, radio: VirtualRadio, device: Any, controller: Any) -> None:
        self.device, self.controller = device, controller
        self.notify_char = Characteristic(
            NOTIFY, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        self.indicate_char = Characteristic(
            INDICATE, Characteristic.Properties.INDICATE, Characteristic.READABLE, b""
        )
        self.control_char = Characteristic(
            CONTROL,
            Characteristic.Properties.READ
            | Characteristic.Properties.WRITE
            | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(read=lambda _c: b"\x2a", write=self._on_write),
        )
        device.add_service(
            Service(SERVICE, [self.notify_char, self.indicate_char, self.control_char])
        )
        adv = AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(SERVICE).to_bytes(),
                ),
            ]
        )
        scan_rsp = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
        await device.start_advertising(
            advertising_data=bytes(adv),
            scan_response_data=bytes(scan_rsp),
            auto_restart=True,
            advertising_interval_min=self.adv_interval_ms,
            advertising_interval_max=self.adv_interval_ms,
        )

    def _on_write(self, _connection: Any, value: bytes) -> None:
        self.writes.append(bytes(value))

    @property
    def connection(self) -> Any:
        connections = list(self.device.connections.values())
        return connections[0] if connections else None

    async def notify(self, payload: bytes) -> None:
        await self.device.notify_subscriber(self.connection, self.notify_char, payload)

    async def close(self) -> None:
        await self.device.stop_advertising()


async def wait_until(predicate: Any, guard_s: float = GUARD_S) -> None:
    """Poll ``predicate`` on the loop until true; the guard only catches hangs."""
    async with asyncio.timeout(guard_s):
        while not predicate():
            await asyncio.sleep(0.002)
