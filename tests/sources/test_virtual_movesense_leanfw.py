"""The virtual Movesense (GSP) and leanfw-v1 sensors through bleak."""

from __future__ import annotations

import numpy as np
import pytest
from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError

from sensorhub.protocols import leanfw as lf
from sensorhub.protocols import movesense as gsp
from sensorhub.protocols.base import STANDARD_GRAVITY
from sensorhub.sources.virtual.leanfw import LOW_BATTERY_STOP_PERCENT, LeanSensor
from sensorhub.sources.virtual.motion import ConstantPosture
from sensorhub.sources.virtual.movesense import Movesense
from sensorhub.sources.virtual.world import VirtualRadio

from .helpers import wait_until


async def _command(client: BleakClient, data: bytes) -> None:
    await client.write_gatt_char(gsp.GSP_COMMAND_UUID, data, response=True)


async def test_movesense_hello_subscribe_data(radio: VirtualRadio) -> None:
    ms = await radio.add(Movesense(motion=ConstantPosture.leaning(0.0), time_scale=4.0))
    got: list[bytes] = []
    async with BleakClient(ms.address, **radio.client_kwargs) as client:
        assert client.mtu_size == 158
        await client.start_notify(gsp.GSP_DATA_UUID, lambda _c, d: got.append(bytes(d)))
        await _command(client, gsp.encode_hello(7))
        await wait_until(lambda: len(got) == 1)
        assert got[0] == b"\x01\x07Hello"
        await _command(client, gsp.encode_subscribe(99, "/Meas/Acc/52"))
        await wait_until(lambda: len(got) >= 4)
        await _command(client, gsp.encode_unsubscribe(99))
        await client.read_gatt_char(gsp.GSP_DATA_UUID)  # round trip
        n = len(got)
        assert ms.subscriptions == {}
    data = got[1:n]
    assert len(data) == ms.stats.frames_sent
    accs = [gsp.parse_acc_payload(d[2:]) for d in data]
    assert all(d[:2] == b"\x02\x63" for d in data)
    assert all(len(a.samples) == 8 for a in accs)
    np.testing.assert_allclose(accs[0].samples[0], [STANDARD_GRAVITY, 0, 0], rtol=1e-6)
    stamps = np.array([a.timestamp_ms for a in accs])
    assert np.all(np.abs(np.diff(stamps) - 8000 / 52) <= 1)  # first-sample ms, 8 per message


async def test_movesense_splits_long_values_into_data_part2(radio: VirtualRadio) -> None:
    ms = await radio.add(Movesense(samples_per_message=16, time_scale=4.0))
    got: list[bytes] = []
    async with BleakClient(ms.address, **radio.client_kwargs) as client:
        await client.start_notify(gsp.GSP_DATA_UUID, lambda _c, d: got.append(bytes(d)))
        await _command(client, gsp.encode_subscribe(5, "/Meas/Acc/104"))
        await wait_until(lambda: len(got) >= 4)
    kinds = [g[0] for g in got[:4]]
    assert kinds == [gsp.Response.DATA, gsp.Response.DATA_PART2] * 2
    assembler = gsp.GspReassembler(two_part_refs=(5,))
    events = [e for g in got[:4] for e in assembler.feed(g)]
    assert [type(e) for e in events] == [gsp.GspData, gsp.GspData]
    values = [gsp.parse_acc_payload(e.payload) for e in events if isinstance(e, gsp.GspData)]
    assert [v.n_samples for v in values] == [16, 16]


async def test_movesense_errors_and_subscriptions_dropped_on_disconnect(
    radio: VirtualRadio,
) -> None:
    ms = await radio.add(Movesense(time_scale=4.0))
    got: list[bytes] = []
    client = BleakClient(ms.address, **radio.client_kwargs)
    await client.connect()
    await client.start_notify(gsp.GSP_DATA_UUID, lambda _c, d: got.append(bytes(d)))
    await _command(client, gsp.encode_subscribe(1, "/Meas/Acc/50"))  # not a Movesense rate
    await _command(client, gsp.encode_unsubscribe(2))  # never subscribed
    for ref in (3, 4, 5, 6):
        await _command(client, gsp.encode_subscribe(ref, "/Meas/Acc/13"))
    await _command(client, gsp.encode_subscribe(7, "/Meas/Acc/13"))  # a fifth
    await wait_until(lambda: any(g[0] == gsp.Response.COMMAND_RESULT for g in got))
    await _command(client, gsp.encode_hello(8))  # a round trip after the fifth subscribe
    await wait_until(lambda: got[-1] == b"\x01\x08Hello")
    results = [g for g in got if g[0] == gsp.Response.COMMAND_RESULT]
    # Only the fifth subscription is answered (507, big-endian); failures are silent.
    assert results == [b"\x01\x07\x01\xfb", b"\x01\x08Hello"]
    assert sorted(ms.subscriptions) == [3, 4, 5, 6]
    assert all(g[1] in (3, 4, 5, 6, 7, 8) for g in got)
    await client.disconnect()
    assert ms.subscriptions == {}
    await client.connect()
    got.clear()
    await client.start_notify(gsp.GSP_DATA_UUID, lambda _c, d: got.append(bytes(d)))
    await _command(client, gsp.encode_hello(9))
    await wait_until(lambda: len(got) == 1)
    assert got == [b"\x01\x09Hello"]  # no data: subscriptions did not survive
    await client.disconnect()


async def test_leanfw_control_and_sequenced_frames(radio: VirtualRadio) -> None:
    lean = await radio.add(LeanSensor(rate_hz=200, time_scale=4.0))
    control: list[bytes] = []
    frames: list[bytes] = []
    async with BleakClient(lean.address, **radio.client_kwargs) as client:
        await client.start_notify(lf.CONTROL_UUID, lambda _c, d: control.append(bytes(d)))
        await client.start_notify(lf.DATA_UUID, lambda _c, d: frames.append(bytes(d)))
        requests = [
            lf.encode_get_config(),
            lf.encode_start(),
            lf.encode_start(),
            lf.encode_set_rate(100),
            b"\x7f",
        ]
        for request in requests:
            await client.write_gatt_char(lf.CONTROL_UUID, request, response=True)
        await wait_until(lambda: len(frames) >= 3)
        await client.write_gatt_char(lf.CONTROL_UUID, lf.encode_stop(), response=True)
        await wait_until(lambda: len(control) == len(requests) + 1)
        await client.read_gatt_char(lf.DATA_UUID)  # round trip
    responses = [lf.parse_control(c) for c in control]
    statuses = [r.status for r in responses if isinstance(r, lf.ControlResponse)]
    assert statuses == [
        lf.Status.OK,
        lf.Status.OK,
        lf.Status.ALREADY_IN_STATE,
        lf.Status.INVALID_STATE,
        lf.Status.UNKNOWN_OPCODE,
        lf.Status.OK,
    ]
    config = responses[0].config  # type: ignore[union-attr]
    assert config is not None
    assert config.max_samples == lf.max_samples_per_frame(247)
    parsed = [lf.parse_frame(f) for f in frames]
    assert [p.seq for p in parsed] == list(range(len(parsed)))
    assert len(parsed) == lean.stats.frames_sent
    t = np.array([p.t_first_us for p in parsed])
    assert np.all(np.diff(t) == config.max_samples * 5000)  # 200 Hz: 5 ms per sample


async def test_leanfw_low_battery_stops_and_refuses(radio: VirtualRadio) -> None:
    lean = await radio.add(LeanSensor(time_scale=4.0))
    control: list[bytes] = []
    async with BleakClient(lean.address, **radio.client_kwargs) as client:
        await client.start_notify(lf.CONTROL_UUID, lambda _c, d: control.append(bytes(d)))
        await client.start_notify(lf.DATA_UUID, lambda _c, _d: None)
        await client.write_gatt_char(lf.CONTROL_UUID, lf.encode_start(), response=True)
        await lean.set_battery(LOW_BATTERY_STOP_PERCENT)
        await client.write_gatt_char(lf.CONTROL_UUID, lf.encode_start(), response=True)
        await wait_until(lambda: len(control) == 3)
    messages = [lf.parse_control(c) for c in control]
    assert messages[1] == lf.ControlEvent(lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY)
    assert isinstance(messages[2], lf.ControlResponse)
    assert messages[2].status is lf.Status.LOW_BATTERY


def test_leanfw_advertising_matches_the_spec_example() -> None:
    lean = LeanSensor(serial="D4A1F03B9E27", battery_percent=90)
    assert lean.name == "LEAN-9E27"
    assert bytes(lean.advertising_data()) == bytes.fromhex(
        "020106 1107bfba2ad9fd73359b574f7b980100d994 020a00"
    )
    assert bytes(lean.scan_response_data()) == bytes.fromhex("0a094c45414e2d39453237 04160f185a")


async def test_leanfw_spec_exchange_and_write_rules(radio: VirtualRadio) -> None:
    lean = await radio.add(LeanSensor(time_scale=4.0))
    control: list[bytes] = []
    async with BleakClient(lean.address, **radio.client_kwargs) as client:
        revision = await client.read_gatt_char("00002a26-0000-1000-8000-00805f9b34fb")
        assert revision.decode().startswith("leanfw-v1/")
        await client.start_notify(lf.CONTROL_UUID, lambda _c, d: control.append(bytes(d)))

        async def exchange(request: str) -> bytes:
            n = len(control)
            await client.write_gatt_char(lf.CONTROL_UUID, bytes.fromhex(request), response=True)
            await wait_until(lambda: len(control) > n)
            return control[n]

        config = await exchange("05")
        assert config[:7] == bytes.fromhex("80050000020226")  # IDLE, 50 Hz, 4 g, 38 samples
        assert await exchange("01") == bytes.fromhex("800104")  # data notifications off
        await client.start_notify(lf.DATA_UUID, lambda _c, _d: None)
        for request, answer in (
            ("0401", "800400"),
            ("0303", "800300"),
            ("01", "800100"),
            ("0304", "800304"),
            ("02", "800200"),
            ("02", "800205"),
            ("07", "800701"),
        ):
            assert await exchange(request) == bytes.fromhex(answer), request
        with pytest.raises(BleakGATTProtocolError) as info:
            await client.write_gatt_char(lf.CONTROL_UUID, bytes(21), response=True)
        assert info.value.code == 0x0D
        await exchange("01")
        await client.stop_notify(lf.DATA_UUID)  # turning notifications off stops the stream
        await wait_until(lambda: not lean.streaming_acc)


async def test_leanfw_refuses_pairing(radio: VirtualRadio) -> None:
    lean = await radio.add(LeanSensor(serial="D4A1F03B0002"))
    with pytest.raises(BleakError):
        await BleakClient(lean.address, pair=True, **radio.client_kwargs).connect()
    async with BleakClient(lean.address, **radio.client_kwargs) as client:  # unpaired is fine
        assert client.is_connected
