"""The bleak backend over the virtual radio, exercised only through bleak's public API."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att
from bumble.gatt import CharacteristicValue

from sensorhub.sources.virtual.world import VirtualRadio

from .helpers import CONTROL, INDICATE, NOTIFY, SERVICE, BarePeripheral, wait_until

HEART_RATE = "0000180d-0000-1000-8000-00805f9b34fb"


async def test_scan_finds_advertised_peripherals(radio: VirtualRadio) -> None:
    a = await radio.add(BarePeripheral("VS-A"))
    await radio.add(BarePeripheral("VS-B"))
    radio.link.set_rssi(a.controller, -71)
    found = await BleakScanner.discover(timeout=0.3, return_adv=True, **radio.scanner_kwargs)
    by_name = {adv.local_name: adv for _, adv in found.values()}
    assert set(by_name) == {"VS-A", "VS-B"}
    assert by_name["VS-A"].service_uuids == [SERVICE]
    assert by_name["VS-A"].rssi == -71
    assert by_name["VS-B"].rssi == radio.config.default_rssi
    filtered = await BleakScanner.discover(
        timeout=0.2, service_uuids=[HEART_RATE], **radio.scanner_kwargs
    )
    assert filtered == []


async def test_passive_scan_gets_no_scan_response(radio: VirtualRadio) -> None:
    await radio.add(BarePeripheral("VS-A"))
    found = await BleakScanner.discover(
        timeout=0.2, return_adv=True, scanning_mode="passive", **radio.scanner_kwargs
    )
    (adv,) = [adv for _, adv in found.values()]
    assert adv.local_name is None  # the name is only in the scan response
    assert adv.service_uuids == [SERVICE]


async def test_concurrent_scanners_share_the_scan(radio: VirtualRadio) -> None:
    await radio.add(BarePeripheral("VS-A"))
    async with (
        BleakScanner(**radio.scanner_kwargs) as s1,
        BleakScanner(**radio.scanner_kwargs) as s2,
    ):
        async with asyncio.timeout(2):
            async for _device, adv in s1.advertisement_data():
                assert adv.local_name == "VS-A"
                break
        await wait_until(lambda: len(s2.discovered_devices) == 1)
    assert not radio.central.is_scanning


async def test_connect_discover_notify_every_frame(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    device = await BleakScanner.find_device_by_name("VS-A", timeout=2, **radio.scanner_kwargs)
    assert device is not None
    got: list[bytes] = []
    async with BleakClient(device, **radio.client_kwargs) as client:
        assert client.is_connected
        assert client.mtu_size == 517
        service = client.services.get_service(SERVICE)
        assert service is not None
        assert {c.uuid for c in service.characteristics} == {NOTIFY, INDICATE, CONTROL}
        char = client.services.get_characteristic(NOTIFY)
        assert char is not None
        assert char.properties == ["notify"]
        assert char.descriptors[0].uuid == "00002902-0000-1000-8000-00805f9b34fb"
        await client.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
        sent = [i.to_bytes(2, "little") * 100 for i in range(50)]  # 200 B each
        for payload in sent:
            await p.notify(payload)
        await wait_until(lambda: len(got) == len(sent))
        assert got == sent
        await client.stop_notify(NOTIFY)
        await p.notify(b"after stop")
        await client.read_gatt_char(CONTROL)  # a round trip: anything in flight has landed
        assert got == sent
    assert not client.is_connected


async def test_indications(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    got: list[bytes] = []
    async with BleakClient(p.device.public_address.to_string(False), **radio.client_kwargs) as c:
        assert c.services.get_characteristic(INDICATE).properties == ["indicate"]
        await c.start_notify(INDICATE, lambda _c, data: got.append(bytes(data)))
        for i in range(3):
            # indicate_subscriber returns once the client confirmed
            await p.device.indicate_subscriber(p.connection, p.indicate_char, bytes([i]))
        assert got == [b"\x00", b"\x01", b"\x02"]


async def test_write_read_and_write_without_response(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    async with BleakClient(p.device.public_address.to_string(False), **radio.client_kwargs) as c:
        await c.write_gatt_char(CONTROL, b"\x01\x02", response=True)
        await c.write_gatt_char(CONTROL, b"\x03", response=False)
        assert await c.read_gatt_char(CONTROL) == bytearray(b"\x2a")  # after the write-cmd
        assert p.writes == [b"\x01\x02", b"\x03"]
        char = c.services.get_characteristic(CONTROL)
        assert char is not None
        assert char.max_write_without_response_size == c.mtu_size - 3


async def test_no_mtu_exchange_gives_default_mtu(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    got: list[bytes] = []
    address = p.device.public_address.to_string(False)
    async with BleakClient(address, mtu=0, **radio.client_kwargs) as c:
        assert c.mtu_size == 23
        await c.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
        await p.notify(bytes(100))
        await wait_until(lambda: len(got) == 1)
    # bumble's server truncates silently to ATT_MTU - 3: virtual sensors must size frames.
    assert len(got[0]) == 20


async def test_att_error_maps_to_gatt_protocol_error(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))

    def refuse(_connection: object, _value: bytes) -> None:
        raise att.ATT_Error(error_code=0x80)

    p.control_char.value = CharacteristicValue(read=lambda _c: b"", write=refuse)
    async with BleakClient(p.device.public_address.to_string(False), **radio.client_kwargs) as c:
        with pytest.raises(BleakGATTProtocolError) as info:
            await c.write_gatt_char(CONTROL, b"\x00", response=True)
        assert info.value.code == 0x80


async def test_peripheral_drop_calls_back_and_same_client_reconnects(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    dropped: list[BleakClient] = []
    client = BleakClient(
        p.device.public_address.to_string(False),
        disconnected_callback=dropped.append,
        **radio.client_kwargs,
    )
    await client.connect()
    await p.connection.disconnect()
    await wait_until(lambda: len(dropped) == 1)
    assert not client.is_connected
    with pytest.raises(BleakError):
        await client.write_gatt_char(CONTROL, b"\x00", response=True)
    await client.connect()  # advertising restarted by itself (auto_restart)
    got: list[bytes] = []
    await client.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
    await p.notify(b"again")
    await wait_until(lambda: got == [b"again"])
    await client.disconnect()
    assert len(dropped) == 2  # local disconnects call back too, as BlueZ and CoreBluetooth do
    await client.disconnect()  # no-op once gone


async def test_link_lost_during_write_raises_bleak_error(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))

    async def never_answers(_connection: object, _value: bytes) -> None:
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(p.connection.disconnect())
        )
        await asyncio.sleep(10)

    p.control_char.value = CharacteristicValue(read=lambda _c: b"", write=never_answers)
    client = BleakClient(p.device.public_address.to_string(False), **radio.client_kwargs)
    await client.connect()
    with pytest.raises(BleakError):
        await client.write_gatt_char(CONTROL, b"\x01", response=True)
    assert not client.is_connected


async def test_connect_timeout_cancels_and_next_connect_works(radio: VirtualRadio) -> None:
    a = await radio.add(BarePeripheral("VS-A"))
    b = await radio.add(BarePeripheral("VS-B"))
    device_a = await BleakScanner.find_device_by_name("VS-A", timeout=2, **radio.scanner_kwargs)
    await a.device.stop_advertising()
    with pytest.raises(TimeoutError):
        await BleakClient(device_a, timeout=0.2, **radio.client_kwargs).connect()
    assert radio.central_controller.pending_le_connection is None
    async with BleakClient(b.device.public_address.to_string(False), **radio.client_kwargs) as c:
        assert c.is_connected


async def test_unknown_address_is_not_found(radio: VirtualRadio) -> None:
    await radio.add(BarePeripheral("VS-A"))
    with pytest.raises(BleakDeviceNotFoundError):
        await BleakClient("D0:5E:00:00:99:99", timeout=0.2, **radio.client_kwargs).connect()


async def test_backend_found_without_radio_kwarg(radio: VirtualRadio) -> None:
    await radio.add(BarePeripheral("VS-A"))
    from sensorhub.sources.virtual.backend import VirtualClient, VirtualScanner

    device = await BleakScanner.find_device_by_name("VS-A", timeout=2, backend=VirtualScanner)
    assert device is not None
    async with BleakClient(device, backend=VirtualClient) as c:
        assert c.is_connected


async def test_teardown_leaves_no_tasks() -> None:
    before = asyncio.all_tasks()
    async with VirtualRadio() as radio:
        p = await radio.add(BarePeripheral("VS-A"))
        async with BleakClient(
            p.device.public_address.to_string(False), **radio.client_kwargs
        ) as c:
            await c.start_notify(NOTIFY, lambda _c, _d: None)
            await p.notify(b"x")
        async with BleakClient(p.device.public_address.to_string(False), **radio.client_kwargs):
            pass  # left connected: close() must disconnect it
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()


async def test_services_filter_and_pairing(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    address = p.device.public_address.to_string(False)
    async with BleakClient(address, services=[SERVICE], pair=True, **radio.client_kwargs) as c:
        assert [s.uuid for s in c.services] == [SERVICE]
        assert p.connection.is_encrypted  # SMP "just works" pairing ran
        assert await c.read_gatt_char(CONTROL) == bytearray(b"\x2a")
        assert await c.read_gatt_char(CONTROL, use_cached=True) == bytearray(b"\x2a")
        keystore = radio.central.keystore
        assert keystore is not None
        assert await keystore.get(address + "/P") is not None  # bonded
        await c.unpair()
        assert not c.is_connected
        assert await keystore.get(address + "/P") is None
