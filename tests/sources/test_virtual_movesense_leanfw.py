"""The virtual Movesense (GSP) and leanfw-v1 sensors through bleak."""

from __future__ import annotations

import numpy as np
from bleak import BleakClient

from sensorhub.protocols import leanfw as lf
from sensorhub.protocols import movesense as gsp
from sensorhub.protocols.base import STANDARD_GRAVITY
from sensorhub.sources.virtual.leanfw import LOW_BATTERY_PERCENT, LeanSensor
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
    await wait_until(lambda: sum(g[0] == gsp.Response.COMMAND_RESULT for g in got) == 3)
    results = [g for g in got if g[0] == gsp.Response.COMMAND_RESULT]
    assert results == [b"\x01\x01\x01\xf5", b"\x01\x02\x01\x94", b"\x01\x07\x01\xfb"]
    assert len(ms.subscriptions) == 4
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
        lf.Status.BUSY,
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
        await client.write_gatt_char(lf.CONTROL_UUID, lf.encode_start(), response=True)
        await lean.set_battery(LOW_BATTERY_PERCENT - 1)
        await client.write_gatt_char(lf.CONTROL_UUID, lf.encode_start(), response=True)
        await wait_until(lambda: len(control) == 3)
    messages = [lf.parse_control(c) for c in control]
    assert messages[1] == lf.ControlEvent(lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY)
    assert isinstance(messages[2], lf.ControlResponse)
    assert messages[2].status is lf.Status.LOW_BATTERY
