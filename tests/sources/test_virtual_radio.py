"""Radio realism: connection events with a packet budget, supervision timeout, ADV limits."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient
from bumble import hci

from sensorhub.sources.virtual.radio import RadioConfig
from sensorhub.sources.virtual.world import VirtualRadio

from .helpers import NOTIFY, BarePeripheral, wait_until


async def _connected(
    radio: VirtualRadio, name: str = "VS-A"
) -> tuple[BarePeripheral, BleakClient, list[bytes]]:
    p = await radio.add(BarePeripheral(name))
    dropped: list[bytes] = []
    client = BleakClient(
        p.device.public_address.to_string(False),
        disconnected_callback=lambda _c: dropped.append(b"x"),
        **radio.client_kwargs,
    )
    await client.connect()
    return p, client, dropped


@pytest.mark.parametrize("radio_config", [RadioConfig(packets_per_event=4)])
async def test_burst_queues_at_packet_budget_per_event(radio: VirtualRadio) -> None:
    p, client, _ = await _connected(radio)
    got: list[bytes] = []
    await client.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
    central_address = p.connection.peer_address
    _, sent_before, events_before = p.controller.air_stats(central_address)
    burst = [bytes([i]) * 200 for i in range(40)]
    for payload in burst:
        await p.notify(payload)

    def in_controller() -> int:
        queued, sent, _ = p.controller.air_stats(central_address)
        return queued + sent - sent_before

    await wait_until(lambda: in_controller() == len(burst))
    # The burst waits in the controller for connection events instead of arriving at once
    # (handing it over takes far less than the 9 event intervals it needs on air).
    queued_now, sent_now, events_now = p.controller.air_stats(central_address)
    assert queued_now >= 4
    assert sent_now - sent_before == 4 * (events_now - events_before)
    await wait_until(lambda: len(got) == len(burst))
    _, sent, events = p.controller.air_stats(central_address)
    assert got == burst
    assert sent - sent_before == 40
    assert events - events_before == 10  # 4 packets per event, no more
    await client.disconnect()


async def test_vanished_peer_times_out_with_reason_0x08(radio: VirtualRadio) -> None:
    p, client, dropped = await _connected(radio)
    reasons: list[int] = []
    p.connection.on("disconnection", reasons.append)
    got: list[bytes] = []
    await client.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
    radio.link.set_in_range(p.controller, False)
    await p.notify(b"lost")  # queued, never heard: no half-open link delivering it
    await wait_until(lambda: dropped == [b"x"])
    assert not client.is_connected
    assert reasons == [hci.HCI_CONNECTION_TIMEOUT_ERROR]  # the peripheral timed out too
    assert got == []


@pytest.mark.parametrize("radio_config", [RadioConfig(supervision_timeout_s=30.0)])
async def test_peer_back_within_timeout_keeps_link_and_data(radio: VirtualRadio) -> None:
    p, client, dropped = await _connected(radio)
    got: list[bytes] = []
    await client.start_notify(NOTIFY, lambda _c, data: got.append(bytes(data)))
    radio.link.set_in_range(p.controller, False)
    await p.notify(b"held")
    await asyncio.sleep(0.1)  # several connection events out of range
    assert got == []
    radio.link.set_in_range(p.controller, True)
    await wait_until(lambda: got == [b"held"])  # retransmitted, not lost
    assert client.is_connected
    assert dropped == []
    await client.disconnect()


async def test_removed_controller_times_out(radio: VirtualRadio) -> None:
    p, client, dropped = await _connected(radio)
    radio.link.remove_controller(p.controller)
    await wait_until(lambda: dropped == [b"x"])
    assert not client.is_connected


async def test_legacy_advertising_payload_limit_enforced(radio: VirtualRadio) -> None:
    p = await radio.add(BarePeripheral("VS-A"))
    await p.device.stop_advertising()
    await p.device.start_advertising(advertising_data=bytes(31), scan_response_data=bytes(31))
    await p.device.stop_advertising()
    with pytest.raises(hci.HCI_Error) as info:
        await p.device.start_advertising(advertising_data=bytes(32))
    assert info.value.error_code == hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
    with pytest.raises(hci.HCI_Error):
        await p.device.start_advertising(advertising_data=bytes(3), scan_response_data=bytes(32))


def test_radio_config_validates() -> None:
    with pytest.raises(ValueError, match="packets_per_event"):
        RadioConfig(packets_per_event=0)
    with pytest.raises(ValueError, match="positive"):
        RadioConfig(connection_interval_s=0)
