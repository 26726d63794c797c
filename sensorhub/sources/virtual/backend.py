"""bleak backend over the virtual radio: `VirtualScanner` and `VirtualClient`.

Code above uses bleak's public API unchanged; only ``backend=`` (plus, optionally, ``radio=``,
which bleak forwards to the backend) differs::

    BleakScanner(backend=VirtualScanner, radio=radio)
    BleakClient(device, backend=VirtualClient, radio=radio)

Behaviour follows the platform backends where they agree: the disconnected callback fires for
every disconnection (BlueZ and CoreBluetooth do, although the base-class docstring says
"unsolicited"), GATT calls on a dead link raise ``BleakError("Not connected")``, ATT errors
become ``BleakGATTProtocolError``, a connect that does not complete within ``timeout`` (link
creation *and* discovery) raises ``TimeoutError`` and leaves the central able to connect again.
Extra ``BleakClient`` keyword arguments understood here: ``radio=``, ``mtu=`` (the ATT MTU to
request, default 517 like BlueZ/CoreBluetooth; 0 skips the exchange).
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bleak import BleakScanner
from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Peer

from .world import VirtualRadio, current_radio

__all__ = ["DEFAULT_MTU_REQUEST", "VirtualClient", "VirtualScanner", "advertisement_to_bleak"]

logger = logging.getLogger(__name__)

#: What BlueZ and CoreBluetooth request.
DEFAULT_MTU_REQUEST = 517

_T = TypeVar("_T")

_UUID_LIST_TYPES = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_SERVICE_DATA_TYPES = (
    AdvertisingData.SERVICE_DATA_16_BIT_UUID,
    AdvertisingData.SERVICE_DATA_32_BIT_UUID,
    AdvertisingData.SERVICE_DATA_128_BIT_UUID,
)


def uuid_to_str(value: core.UUID) -> str:
    """bumble UUID -> bleak's lower-case 128-bit string (``str()`` gives "UUID-16:2902")."""
    return str(uuid_module.UUID(bytes=bytes(value.to_bytes(force_128=True)[::-1])))


def _radio_from(kwargs: dict[str, Any]) -> VirtualRadio:
    radio = kwargs.get("radio")
    if radio is None:
        return current_radio()
    if not isinstance(radio, VirtualRadio):
        raise TypeError(f"radio= must be a VirtualRadio, not {type(radio).__name__}")
    return radio


def advertisement_to_bleak(advertisement: Advertisement) -> AdvertisementData:
    """A bumble ``Advertisement`` (ADV data merged with scan response) as bleak sees it."""
    data = advertisement.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    # get_all() is typed as a union over every AD type: narrow each field by its shape.
    service_uuids: list[str] = []
    for ad_type in _UUID_LIST_TYPES:
        for uuids in data.get_all(ad_type):
            for value in uuids if isinstance(uuids, list) else ():
                text = uuid_to_str(value)
                if text not in service_uuids:
                    service_uuids.append(text)
    service_data: dict[str, bytes] = {}
    for ad_type in _SERVICE_DATA_TYPES:
        for item in data.get_all(ad_type):
            if isinstance(item, tuple) and isinstance(item[0], core.UUID):
                service_data[uuid_to_str(item[0])] = bytes(item[1])
    manufacturer_data: dict[int, bytes] = {}
    for item in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA):
        if isinstance(item, tuple) and isinstance(item[1], bytes):
            manufacturer_data[int(item[0])] = item[1]
    tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
    return AdvertisementData(
        local_name=None if name is None else str(name),
        manufacturer_data=manufacturer_data,
        service_data=service_data,
        service_uuids=service_uuids,
        tx_power=None if tx_power is None else int(tx_power),
        rssi=int(advertisement.rssi),
        platform_data=(advertisement,),
    )


class VirtualScanner(BaseBleakScanner):
    """Scanning on the virtual radio; concurrent scanners share one scan of the central."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = _radio_from(kwargs)
        self._active = scanning_mode != "passive"
        self._scanning = False

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        adv = advertisement_to_bleak(advertisement)
        if not self.is_allowed_uuid(adv.service_uuids):
            return
        address = advertisement.address.to_string(False)
        device = self.create_or_update_device(
            address, address, adv.local_name, advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)

    async def start(self) -> None:
        if self._scanning:
            return
        self.seen_devices = {}
        self._radio.central.on("advertisement", self._on_advertisement)
        await self._radio.acquire_scan(self, active=self._active)
        self._scanning = True

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        self._radio.central.remove_listener("advertisement", self._on_advertisement)
        await self._radio.release_scan(self)


class VirtualClient(BaseBleakClient):
    """A GATT client on the virtual radio's central; see the module docstring."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._radio = _radio_from(kwargs)
        device = address_or_ble_device if isinstance(address_or_ble_device, BLEDevice) else None
        self._device_name: str | None = device.name if device else None
        self._peer_address: hci.Address | None = device.details if device else None
        services = kwargs.get("services")
        self._services_filter: set[str] | None = None if services is None else set(services)
        self._mtu_request = int(kwargs.get("mtu", DEFAULT_MTU_REQUEST))
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    # -- properties -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return int(self._connection.att_mtu) if self._connection else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # -- connection -----------------------------------------------------------------------
    async def _resolve_address(self) -> hci.Address:
        """bleak resolves a string address by scanning; so does this backend."""
        if self._peer_address is not None:
            return self._peer_address
        extra: dict[str, Any] = {"radio": self._radio}  # forwarded to VirtualScanner
        device = await BleakScanner.find_device_by_address(
            self.address, timeout=self._timeout, backend=VirtualScanner, **extra
        )
        if device is None:
            raise BleakDeviceNotFoundError(
                self.address, f"Device with address {self.address} was not found."
            )
        address: hci.Address = device.details
        self._device_name = device.name
        self._peer_address = address
        return address

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._connection is not None:
            return
        timeout = float(kwargs.get("timeout", self._timeout))
        address = await self._resolve_address()  # a scan with its own timeout, as in bleak
        async with asyncio.timeout(timeout):  # link creation *and* discovery
            async with self._radio.connect_lock:
                connection = await self._create_link(address)
            self._connection = connection
            connection.on("disconnection", self._on_disconnection)
            try:
                self._peer = Peer(connection)
                if self._mtu_request > att.ATT_DEFAULT_MTU:
                    await self._gatt(self._peer.request_mtu(self._mtu_request))
                if pair:
                    await self._gatt(connection.pair())
                self.services = await self._discover(self._peer)
            except BaseException:
                await self.disconnect()
                raise

    async def _create_link(self, address: hci.Address) -> Connection:
        central = self._radio.central
        try:
            return await central.connect(address)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_pending_connect(address))
            raise
        except core.BaseBumbleError as exc:
            raise BleakError(f"connect to {self.address} failed: {exc}") from exc

    async def _cancel_pending_connect(self, address: hci.Address) -> None:
        """Cancel a create-connection in progress, or drop the link if it just completed."""
        central = self._radio.central
        if self._radio.central_controller.pending_le_connection is not None:
            try:
                await central.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
            except Exception:  # a race with the connection completing; handled below
                logger.debug("create-connection cancel refused", exc_info=True)
        await asyncio.sleep(0)  # let a racing connection-complete event land
        orphan = central.find_connection_by_bd_addr(address)
        if orphan is not None:
            await orphan.disconnect()

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        await self._gatt(peer.discover_services())
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            service_uuid = uuid_to_str(service.uuid)
            if self._services_filter is not None and service_uuid not in self._services_filter:
                continue
            bleak_service = BleakGATTService(service, service.handle, service_uuid)
            collection.add_service(bleak_service)
            await self._gatt(service.discover_characteristics())
            for characteristic in service.characteristics:
                bleak_char = BleakGATTCharacteristic(
                    characteristic,
                    characteristic.handle,
                    uuid_to_str(characteristic.uuid),
                    _property_names(int(characteristic.properties)),
                    lambda: self.mtu_size - 3,
                    bleak_service,
                )
                collection.add_characteristic(bleak_char)
                await self._gatt(characteristic.discover_descriptors())
                for descriptor in characteristic.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor,
                            descriptor.handle,
                            uuid_to_str(descriptor.type),
                            bleak_char,
                        )
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s: disconnected, reason 0x%02X", self.address, reason)
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        self.services = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except Exception:  # already gone: the disconnection event has cleaned up
            logger.debug("%s: disconnect on a dead link", self.address, exc_info=True)
        if self._connection is connection:  # the disconnection event never came
            self._on_disconnection(hci.HCI_CONNECTION_TERMINATED_BY_LOCAL_HOST_ERROR)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._connection is None:
            raise BleakError("Not connected")
        await self._gatt(self._connection.pair())

    async def unpair(self) -> None:
        """Forget the bonding keys (and drop the link), as BlueZ's unpair does."""
        await self.disconnect()
        keystore = self._radio.central.keystore
        if keystore is None:
            return
        # SMP files keys under the identity address, with its type suffix ("…/P").
        for name, _keys in await keystore.get_all():
            if name.split("/")[0] == self.address.upper():
                await keystore.delete(name)

    # -- GATT -----------------------------------------------------------------------------
    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _gatt(self, operation: Awaitable[_T]) -> _T:
        """Run a bumble GATT request, translating bumble's failure modes into bleak's."""
        try:
            return await operation
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except asyncio.CancelledError:
            # bumble cancels the pending ATT response future when the link drops. Unless
            # somebody is cancelling *us*, report it the way the platform backends do.
            task = asyncio.current_task()
            if task is not None and task.cancelling() == 0 and self._connection is None:
                raise BleakError("Not connected (link lost during GATT operation)") from None
            raise
        except core.BaseBumbleError as exc:
            raise BleakError(str(exc)) from exc

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        cached = peer.gatt_client.cached_values.get(characteristic.handle)
        if use_cached and cached is not None:
            return bytearray(cached[1])
        return bytearray(await self._gatt(peer.read_value(characteristic.obj)))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        peer = self._require_peer()
        return bytearray(await self._gatt(peer.read_value(descriptor.obj)))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        peer = self._require_peer()
        await self._gatt(peer.write_value(characteristic.obj, bytes(data), with_response=response))

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        peer = self._require_peer()
        await self._gatt(peer.write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Notifications if the characteristic has both, else indications (bleak's rule)."""
        peer = self._require_peer()
        previous = self._subscribers.pop(characteristic.handle, None)
        if previous is not None:  # never two callbacks for one characteristic
            await self._gatt(peer.unsubscribe(characteristic.obj, previous))

        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = on_value
        await self._gatt(peer.subscribe(characteristic.obj, on_value, prefer_notify=True))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        subscriber = self._subscribers.pop(characteristic.handle, None)
        await self._gatt(peer.unsubscribe(characteristic.obj, subscriber))


def _property_names(bits: int) -> list[CharacteristicPropertyName]:
    return [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if bits & bit]
