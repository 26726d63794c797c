"""How fast the virtual radio delivers notifications to bleak callbacks, and what each costs.

Everything runs in this one process on one asyncio loop (virtual sensors, emulated controllers,
the central's bumble host, the bleak backend and the callback), so "CPU per notification" is
the whole simulated path on both sides. Three scenarios:

* ``burst``: one peripheral notifies as fast as flow control lets it (back-pressure via
  ``Connection.drain`` every 32 notifications), 20-byte and 226-byte payloads (226 = an H10
  frame at MTU 232). Once with the default radio (15 ms interval, 4 packets per event: the
  *radio* limits, ~267 notifications/s) and once with an unthrottled radio (1 ms, 64 packets:
  the CPU cost shows; the rate is still bounded by draining every 32 notifications and by
  the event loop's ~1 ms timer granularity, so read its CPU column, not its rate).
* ``h10``: N virtual Polar H10s streaming ACC at 200 Hz through bleak's public API and the
  PMD control point, sped up by ``--time-scale`` to load the radio; every frame is accounted
  for (sent by the sensors vs received by the callbacks).

Usage: ``.venv/bin/python bench/bench_virtual_radio.py [--seconds 3] [--sensors 1 8 32]
[--time-scale 10]``. Figures vary with the machine; compare runs on the same one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bleak import BleakClient
from bumble.core import AdvertisingData
from bumble.gatt import Characteristic, Service

from sensorhub.protocols import polar_pmd as pmd
from sensorhub.sources.virtual import PolarH10, RadioConfig, VirtualRadio

SERVICE = "a0b40001-7c3e-4f7e-9a55-1d2c3b4a5f60"
NOTIFY = "a0b40003-7c3e-4f7e-9a55-1d2c3b4a5f60"
UNTHROTTLED = RadioConfig(connection_interval_s=0.001, packets_per_event=64)


class Flood:
    """A peripheral that notifies as fast as the host's flow control allows."""

    name = "FLOOD"

    def __init__(self, payload_size: int) -> None:
        self.payload = bytes(payload_size)
        self.device: Any = None

    async def attach(self, radio: VirtualRadio, device: Any, controller: Any) -> None:
        self.device = device
        device.gatt_server.max_mtu = 232
        self.char: Characteristic[bytes] = Characteristic(
            NOTIFY, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        device.add_service(Service(SERVICE, [self.char]))
        adv = AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())])
        await device.start_advertising(
            advertising_data=bytes(adv), advertising_interval_min=20, advertising_interval_max=20
        )

    async def run(self, seconds: float) -> int:
        connection = next(iter(self.device.connections.values()))
        sent = 0
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            await self.device.notify_subscriber(connection, self.char, self.payload)
            sent += 1
            if sent % 32 == 0:
                await connection.drain()
        await connection.drain()
        return sent

    async def close(self) -> None:
        await self.device.stop_advertising()


async def burst(payload_size: int, config: RadioConfig, seconds: float) -> tuple[float, float]:
    """(notifications/s received, CPU µs per notification)."""
    async with VirtualRadio(config) as radio:
        flood = await radio.add(Flood(payload_size))
        address = flood.device.public_address.to_string(False)
        received = 0

        def on_value(_c: Any, _d: bytearray) -> None:
            nonlocal received
            received += 1

        async with BleakClient(address, **radio.client_kwargs) as client:
            await client.start_notify(NOTIFY, on_value)
            cpu0, t0 = time.process_time(), time.perf_counter()
            sent = await flood.run(seconds)
            while received < sent:
                await asyncio.sleep(0.001)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return received / wall, cpu / received * 1e6


async def h10s(n: int, seconds: float, time_scale: float) -> tuple[float, float, int, int, float]:
    """(notifications/s, CPU µs per notification, frames sent, frames received, setup s)."""
    async with VirtualRadio() as radio:
        sensors = [
            await radio.add(PolarH10(serial=f"{i:08X}", time_scale=time_scale)) for i in range(n)
        ]
        received = 0

        def on_frame(_c: Any, _d: bytearray) -> None:
            nonlocal received
            received += 1

        clients = [BleakClient(s.address, **radio.client_kwargs) for s in sensors]

        async def connect(client: BleakClient) -> None:
            await client.connect()
            await client.start_notify(pmd.PMD_CONTROL_POINT_UUID, lambda _c, _d: None)
            await client.start_notify(pmd.PMD_DATA_UUID, on_frame)

        setup0 = time.perf_counter()
        await asyncio.gather(*(connect(c) for c in clients))  # links one by one, GATT overlaps
        setup_s = time.perf_counter() - setup0
        for client in clients:
            await client.write_gatt_char(
                pmd.PMD_CONTROL_POINT_UUID, pmd.acc_start_request(), response=True
            )
        await asyncio.sleep(0.5)  # warm-up
        received0, cpu0, t0 = received, time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        got = received - received0
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        for client in clients:
            await client.write_gatt_char(
                pmd.PMD_CONTROL_POINT_UUID, pmd.stop_request(pmd.MeasurementType.ACC), response=True
            )
        for client in clients:
            await client.read_gatt_char(pmd.PMD_CONTROL_POINT_UUID)  # nothing left in flight
        sent = sum(s.stats.frames_sent for s in sensors)
        total = received
        for client in clients:
            await client.disconnect()
    return got / wall, cpu / max(got, 1) * 1e6, sent, total, setup_s


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sensors", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--time-scale", type=float, default=10.0)
    args = parser.parse_args()

    print("burst: one peripheral, flow-controlled flood")
    print(f"{'payload':>8} {'radio':>12} {'notif/s':>9} {'CPU us/notif':>13}")
    for size in (20, 226):
        for label, config in (("default", RadioConfig()), ("unthrottled", UNTHROTTLED)):
            rate, cpu = await burst(size, config, args.seconds)
            print(f"{size:>7}B {label:>12} {rate:>9.0f} {cpu:>13.0f}")

    print(f"\nh10: N Polar H10 at 200 Hz ACC, time scale x{args.time_scale:g}, default radio")
    print(
        f"{'sensors':>8} {'notif/s':>9} {'CPU us/notif':>13} {'sent':>7} {'received':>9}"
        f" {'connect+subscribe all':>22}"
    )
    for n in args.sensors:
        rate, cpu, sent, got, setup_s = await h10s(n, args.seconds, args.time_scale)
        print(f"{n:>8} {rate:>9.0f} {cpu:>13.0f} {sent:>7} {got:>9} {setup_s:>20.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
