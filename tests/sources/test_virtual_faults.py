"""Faults on demand, observed through bleak: every frame still accounted for."""

from __future__ import annotations

import asyncio

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakDeviceNotFoundError

from sensorhub.errors import ConfigError, DecodeError
from sensorhub.protocols import leanfw as lf
from sensorhub.sources.virtual import (
    LeanSensor,
    RadioConfig,
    VirtualRadio,
    conversation_sensors,
    make_sensors,
)
from sensorhub.sources.virtual.sensor import DeviceClock

from .helpers import wait_until


class LeanHub:
    """Connects to a leanfw sensor, starts it and keeps every frame (parsed or not)."""

    def __init__(self, radio: VirtualRadio, sensor: LeanSensor) -> None:
        self.radio, self.sensor = radio, sensor
        self.raw: list[bytes] = []
        self.drops = 0
        self.client = BleakClient(
            sensor.address, disconnected_callback=self._dropped, **radio.client_kwargs
        )

    def _dropped(self, _client: BleakClient) -> None:
        self.drops += 1

    async def start(self) -> None:
        await self.client.connect()
        await self.client.start_notify(lf.DATA_UUID, lambda _c, d: self.raw.append(bytes(d)))
        await self.client.start_notify(lf.CONTROL_UUID, lambda _c, _d: None)
        await self.client.write_gatt_char(lf.CONTROL_UUID, lf.encode_start(), response=True)

    async def settle(self) -> None:
        """Stop the sensor and wait for a round trip: nothing is left in flight."""
        await self.client.write_gatt_char(lf.CONTROL_UUID, lf.encode_stop(), response=True)
        await self.client.read_gatt_char(lf.DATA_UUID)

    def parsed(self) -> tuple[list[lf.AccFrame], int]:
        good, bad = [], 0
        for raw in self.raw:
            try:
                good.append(lf.parse_frame(raw))
            except DecodeError:
                bad += 1
        return good, bad


@pytest.fixture
async def lean(radio: VirtualRadio) -> LeanSensor:
    return await radio.add(LeanSensor(rate_hz=400, time_scale=4.0))


async def test_malformed_and_repeated_frames_are_counted_and_stream_goes_on(
    radio: VirtualRadio, lean: LeanSensor
) -> None:
    hub = LeanHub(radio, lean)
    await hub.start()
    await wait_until(lambda: len(hub.raw) >= 2)
    lean.send_malformed(2)
    await wait_until(lambda: lean.stats.frames_malformed == 2)
    lean.repeat_frames(1)
    await wait_until(lambda: lean.stats.frames_repeated == 1)
    await wait_until(lambda: len(hub.raw) >= 8)
    await hub.settle()
    frames, bad = hub.parsed()
    assert bad == lean.stats.frames_malformed == 2
    seqs = [f.seq for f in frames]
    assert len(seqs) - len(set(seqs)) == lean.stats.frames_repeated == 1
    assert len(hub.raw) == lean.stats.frames_sent
    await hub.client.disconnect()


async def test_silent_sensor_keeps_link_then_resumes(radio: VirtualRadio, lean: LeanSensor) -> None:
    hub = LeanHub(radio, lean)
    await hub.start()
    await wait_until(lambda: len(hub.raw) >= 2)
    lean.go_silent()
    await wait_until(lambda: lean.stats.frames_silenced >= 3)
    n_silent = len(hub.raw)
    await hub.client.read_gatt_char(lf.DATA_UUID)  # link alive, answers requests
    assert hub.client.is_connected
    lean.go_silent(False)
    await wait_until(lambda: len(hub.raw) > n_silent + 2)
    await hub.settle()
    frames, _ = hub.parsed()
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs))
    # Every generated frame was either received or silenced (a gap, never smeared over).
    assert lean.seq == len(seqs) + lean.stats.frames_silenced
    await hub.client.disconnect()


async def test_link_drop_calls_back_and_reconnect_restarts_sequence(
    radio: VirtualRadio, lean: LeanSensor
) -> None:
    hub = LeanHub(radio, lean)
    await hub.start()
    await wait_until(lambda: len(hub.raw) >= 2)
    await lean.drop_link()
    await wait_until(lambda: hub.drops == 1)
    assert not lean.streaming_acc  # the stream ended with the link
    before = len(hub.raw)
    await hub.start()
    await wait_until(lambda: len(hub.raw) >= before + 2)
    assert lf.parse_frame(hub.raw[before]).seq == 0
    await hub.client.disconnect()


async def test_vanish_times_out_and_reappear_allows_reconnect(
    radio: VirtualRadio, lean: LeanSensor
) -> None:
    hub = LeanHub(radio, lean)
    await hub.start()
    lean.vanish()
    await wait_until(lambda: hub.drops == 1)  # after the supervision timeout
    assert lean.connection is None
    with pytest.raises(BleakDeviceNotFoundError):  # out of range: not even advertising
        await BleakClient(lean.address, timeout=0.2, **radio.client_kwargs).connect()
    lean.reappear()
    await hub.start()
    assert hub.client.is_connected
    await hub.client.disconnect()


async def test_hub_gives_up_while_sensor_is_away_sensor_still_times_out(
    radio: VirtualRadio, lean: LeanSensor
) -> None:
    hub = LeanHub(radio, lean)
    await hub.start()
    lean.vanish()
    await hub.client.disconnect()  # the hub's side ends at once; the sensor hears nothing
    lean.reappear()  # back before its supervision timeout, but nobody is at the other end
    await wait_until(lambda: lean.connection is None)  # no half-open link left behind
    await hub.start()  # and it advertises again
    assert hub.client.is_connected
    await hub.client.disconnect()


@pytest.mark.parametrize("radio_config", [RadioConfig(packets_per_event=1)])
async def test_radio_backlog_overflows_the_sensor_buffer(radio: VirtualRadio) -> None:
    lean = await radio.add(LeanSensor(rate_hz=400, time_scale=20.0, tx_buffer_packets=4))
    hub = LeanHub(radio, lean)
    await hub.start()
    await wait_until(lambda: lean.stats.frames_overflowed >= 3)
    await hub.settle()
    frames, _ = hub.parsed()
    seqs = [f.seq for f in frames]
    assert seqs == sorted(set(seqs))
    assert lean.seq == len(seqs) + lean.stats.frames_overflowed  # each one a visible gap
    await hub.client.disconnect()


def test_device_clock_drift_is_continuous_and_proportional() -> None:
    async def check() -> None:
        clock = DeviceClock(epoch_ns=0, drift_ppm=100.0, time_scale=1.0)
        loop = asyncio.get_running_loop()
        now = clock.now_ns()
        # One device second takes 1/(1 + 100e-6) host seconds. Both ends are loop times of
        # the order of the machine's uptime, so their difference is good to ~1e-11 s, not to
        # 1e-12 relative; 1 ns is still 100 000 times finer than the 100 ppm being checked.
        ahead = clock.loop_time_of(now + 10**9) - clock.loop_time_of(now)
        assert ahead == pytest.approx(1 / 1.0001, abs=1e-9)
        clock.set_drift_ppm(-50.0)
        assert abs(clock.now_ns() - now) < 10**8  # no jump
        ahead = clock.loop_time_of(now + 10**9) - clock.loop_time_of(now)
        assert ahead == pytest.approx(1 / 0.99995, abs=1e-9)
        assert loop.time() > 0

    asyncio.run(check())


async def test_long_name_is_refused_by_the_advertising_limit(radio: VirtualRadio) -> None:
    with pytest.raises(ConfigError, match="31"):
        await radio.add(LeanSensor("LEAN-" + "X" * 30))


async def test_scan_recognises_every_kind(radio: VirtualRadio) -> None:
    sensors = make_sensors(["polar_h10", "polar_h10", "movesense", "leanfw"])
    for sensor in sensors:
        await radio.add(sensor)
    found = await BleakScanner.discover(timeout=0.3, return_adv=True, **radio.scanner_kwargs)
    names = {adv.local_name: adv for _, adv in found.values()}
    assert set(names) == {s.name for s in sensors}
    assert len({s.address for s in sensors}) == 4
    assert names["Polar H10 00000001"].manufacturer_data == {0x006B: b""}
    assert "0000180d-0000-1000-8000-00805f9b34fb" in names["Polar H10 00000002"].service_uuids
    assert names["LEAN-0001"].service_uuids == [lf.SERVICE_UUID]


def test_conversation_sensors_carry_the_simulator_drift() -> None:
    sensors, stream = conversation_sensors(3, seed=4)
    assert [s.drift_ppm for s in sensors] == [c.drift_ppm for c in stream.clocks]
    assert len({s.name for s in sensors}) == 3
    with pytest.raises(ConfigError):
        make_sensors(["toaster"])


async def test_teardown_with_streaming_sensors_leaves_no_tasks() -> None:
    before = asyncio.all_tasks()
    async with VirtualRadio(RadioConfig(connection_interval_s=0.0075)) as radio:
        sensors = make_sensors(["polar_h10", "leanfw"], time_scale=5.0)
        for sensor in sensors:
            await radio.add(sensor)
        lean = sensors[1]
        assert isinstance(lean, LeanSensor)
        hub = LeanHub(radio, lean)
        await hub.start()
        async with BleakClient(sensors[0].address, **radio.client_kwargs) as h10_client:
            await h10_client.start_notify(
                "00002a37-0000-1000-8000-00805f9b34fb", lambda _c, _d: None
            )
        await wait_until(lambda: len(hub.raw) >= 2)  # still streaming when the radio closes
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before == set()
