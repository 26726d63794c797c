"""The virtual Polar H10 through bleak: control point as the real strap, MTU-sized frames."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest
from bleak import BleakClient

from sensorhub.protocols import gatt as gatt_codec
from sensorhub.protocols import polar_pmd as pmd
from sensorhub.sources.virtual.motion import ConstantPosture
from sensorhub.sources.virtual.polar_h10 import UNSET_CLOCK_NS, PolarH10
from sensorhub.sources.virtual.world import VirtualRadio

from .helpers import wait_until

CP, DATA = pmd.PMD_CONTROL_POINT_UUID, pmd.PMD_DATA_UUID
ACC = pmd.MeasurementType.ACC


class Hub:
    """A tiny PMD client: collects control point messages and data frames."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.cp: list[bytes] = []
        self.frames: list[bytes] = []

    async def subscribe(self) -> None:
        await self.client.start_notify(CP, lambda _c, d: self.cp.append(bytes(d)))
        await self.client.start_notify(DATA, lambda _c, d: self.frames.append(bytes(d)))

    async def request(self, data: bytes) -> pmd.CpMessage:
        n = len(self.cp)
        await self.client.write_gatt_char(CP, data, response=True)
        await wait_until(lambda: len(self.cp) > n)
        return pmd.parse_cp_message(self.cp[n])


@pytest.fixture
async def h10(radio: VirtualRadio) -> PolarH10:
    # time_scale 5: the strap's clock and sampling run 5x faster (a frame every 36 ms).
    return await radio.add(PolarH10(motion=ConstantPosture.leaning(30.0), time_scale=5.0))


@pytest.fixture
async def hub(radio: VirtualRadio, h10: PolarH10) -> AsyncIterator[Hub]:
    async with BleakClient(h10.address, **radio.client_kwargs) as client:
        hub = Hub(client)
        await hub.subscribe()
        yield hub


async def test_features_and_settings_query_match_the_strap(hub: Hub) -> None:
    assert await hub.client.read_gatt_char(CP) == bytearray.fromhex("0f0500")
    await hub.client.write_gatt_char(CP, pmd.get_settings_request(ACC), response=True)
    await wait_until(lambda: len(hub.cp) == 1)
    assert hub.cp[0] == bytes.fromhex(
        "f0010200000004190032006400c800010110000203020004000800"
    )  # the spec's H10 example, byte for byte


async def test_start_needs_every_setting_and_valid_values(hub: Hub) -> None:
    no_range = bytes.fromhex("0202") + pmd.encode_settings(
        pmd.PmdSettings(sample_rates=(200,), resolutions=(16,))
    )
    for request, expected in (
        (no_range, pmd.ErrorCode.INVALID_PARAMETER),
        (pmd.acc_start_request(sample_rate=150), pmd.ErrorCode.INVALID_SAMPLE_RATE),
        (pmd.acc_start_request(resolution=12), pmd.ErrorCode.INVALID_RESOLUTION),
        (pmd.acc_start_request(range_g=16), pmd.ErrorCode.INVALID_RANGE),
        (bytes.fromhex("0909"), pmd.ErrorCode.INVALID_OP_CODE),
        (pmd.stop_request(ACC), pmd.ErrorCode.ALREADY_IN_STATE),
    ):
        response = await hub.request(request)
        assert isinstance(response, pmd.CpResponse)
        assert response.status == expected, (request.hex(), response)
    assert hub.frames == []


async def test_start_stop_and_already_in_state(hub: Hub, h10: PolarH10) -> None:
    await hub.client.write_gatt_char(CP, pmd.acc_start_request(), response=True)
    await wait_until(lambda: len(hub.cp) == 1)
    assert hub.cp[0] == bytes.fromhex("f00202000001")  # as the spec's sequence diagram
    again = await hub.request(pmd.acc_start_request())
    assert isinstance(again, pmd.CpResponse)
    assert again.status == pmd.ErrorCode.ALREADY_IN_STATE
    await wait_until(lambda: len(hub.frames) >= 2)
    stop = await hub.request(pmd.stop_request(ACC))
    assert isinstance(stop, pmd.CpResponse)
    assert stop.ok
    await hub.client.read_gatt_char(CP)  # round trip: frames in flight have landed
    assert len(hub.frames) == h10.stats.frames_sent  # every frame accounted for
    assert h10.stats.samples_generated == 36 * len(hub.frames)


async def test_frames_fill_the_mtu_and_stamp_the_last_sample(hub: Hub) -> None:
    assert hub.client.mtu_size == 232  # the strap's maximum, though 517 was requested
    await hub.request(pmd.acc_start_request(sample_rate=200, range_g=8))
    await wait_until(lambda: len(hub.frames) >= 3)
    await hub.request(pmd.stop_request(ACC))
    frames = [pmd.parse_data_frame(f) for f in hub.frames]
    assert {len(f) for f in hub.frames} == {229 - 3}  # 10 header + 36 x 6 = MTU - 3 - 3
    assert all(len(f) == 36 for f in frames)
    stamps = np.array([f.timestamp_ns for f in frames])
    assert np.all(np.diff(stamps) == 36 * 5_000_000)  # nominal 200 Hz on its own clock
    assert UNSET_CLOCK_NS < stamps[0] < UNSET_CLOCK_NS + 600 * 10**9  # unset clock: 2019-01-01
    expected_mg = np.rint(np.array([np.cos(np.pi / 6), 0.0, -0.5]) * 1000)
    np.testing.assert_array_equal(frames[0].samples[0], expected_mg)


async def test_responses_are_lost_without_indications(radio: VirtualRadio, h10: PolarH10) -> None:
    got: list[bytes] = []
    async with BleakClient(h10.address, **radio.client_kwargs) as client:
        await client.start_notify(DATA, lambda _c, d: got.append(bytes(d)))
        await client.write_gatt_char(CP, pmd.acc_start_request(), response=True)
        await wait_until(lambda: len(got) >= 1)  # the strap started all the same
        await client.start_notify(CP, lambda _c, d: got.append(bytes(d)))
        assert not any(g.startswith(b"\xf0") for g in got)


async def test_device_initiated_stop(hub: Hub, h10: PolarH10) -> None:
    await hub.request(pmd.acc_start_request())
    await wait_until(lambda: len(hub.frames) >= 1)
    await h10.device_stop()
    await wait_until(lambda: len(hub.cp) == 2)
    assert pmd.parse_cp_message(hub.cp[1]) == pmd.MeasurementStopped((ACC,))
    assert h10.acc_settings is None
    restart = await hub.request(pmd.acc_start_request())
    assert isinstance(restart, pmd.CpResponse)
    assert restart.ok


async def test_refused_start_then_accepted(hub: Hub, h10: PolarH10) -> None:
    h10.refuse_starts(1)
    refused = await hub.request(pmd.acc_start_request())
    assert isinstance(refused, pmd.CpResponse)
    assert refused.status == pmd.ErrorCode.INVALID_STATE
    accepted = await hub.request(pmd.acc_start_request())
    assert isinstance(accepted, pmd.CpResponse)
    assert accepted.ok
    assert h10.stats.starts_refused == 1


async def test_stale_stream_after_drop_answers_already_in_state(radio: VirtualRadio) -> None:
    h10 = await radio.add(PolarH10(serial="00000002", stale_stream_after_drop=True))
    client = BleakClient(h10.address, **radio.client_kwargs)
    await client.connect()
    hub = Hub(client)
    await hub.subscribe()
    await hub.request(pmd.acc_start_request())
    await h10.drop_link()
    await wait_until(lambda: not client.is_connected)
    await client.connect()
    hub = Hub(client)
    await hub.subscribe()
    stale = await hub.request(pmd.acc_start_request())
    assert isinstance(stale, pmd.CpResponse)
    assert stale.status == pmd.ErrorCode.ALREADY_IN_STATE
    assert hub.frames == []  # "running", but nothing streams on the new link
    assert isinstance(stop := await hub.request(pmd.stop_request(ACC)), pmd.CpResponse)
    assert stop.ok
    assert isinstance(start := await hub.request(pmd.acc_start_request()), pmd.CpResponse)
    assert start.ok
    await client.disconnect()


async def test_heart_rate_with_rr(radio: VirtualRadio) -> None:
    h10 = await radio.add(PolarH10(serial="00000003", heart_rate_bpm=60, time_scale=50.0))
    got: list[bytes] = []
    async with BleakClient(h10.address, **radio.client_kwargs) as client:
        await client.start_notify(
            gatt_codec.HEART_RATE_MEASUREMENT_UUID, lambda _c, d: got.append(bytes(d))
        )
        await wait_until(lambda: len(got) >= 2)
        battery = await client.read_gatt_char(gatt_codec.BATTERY_LEVEL_UUID)
        model = await client.read_gatt_char(gatt_codec.MODEL_NUMBER_UUID)
    hr = gatt_codec.parse_heart_rate(got[0])
    assert hr.bpm == 60
    assert hr.rr_raw == (1024,)
    assert gatt_codec.parse_battery_level(battery) == 90
    assert gatt_codec.parse_device_info_string(model) == "Polar H10"
