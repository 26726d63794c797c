"""``sensorhub scan``: list the supported sensors in range (kind, name, address, RSSI)."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict, dataclass

from bleak import BleakScanner

from sensorhub.sources.ble import BackendClasses
from sensorhub.sources.drivers import identify
from sensorhub.sources.environment import open_environment

__all__ = ["FoundSensor", "register", "scan"]


@dataclass(frozen=True, slots=True)
class FoundSensor:
    kind: str
    name: str
    address: str
    rssi: int


async def scan(backends: BackendClasses, seconds: float) -> list[FoundSensor]:
    """Scan for ``seconds``; return the supported sensors seen, strongest first."""
    if backends.scanner is None:
        found = await BleakScanner.discover(timeout=seconds, return_adv=True)
    else:
        found = await BleakScanner.discover(
            timeout=seconds, return_adv=True, backend=backends.scanner
        )
    sensors = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        kind = identify(name, adv.service_uuids)
        if kind is not None:
            sensors.append(FoundSensor(kind.value, name, device.address, adv.rssi))
    return sorted(sensors, key=lambda s: (-s.rssi, s.name))


async def _run(args: argparse.Namespace) -> int:
    async with open_environment(args.virtual, kinds=args.virtual_kinds) as env:
        sensors = await scan(env.backends, args.seconds)
    if args.format == "json":
        print(json.dumps([asdict(s) for s in sensors], indent=2))
    else:
        print(f"{'KIND':<10} {'NAME':<28} {'ADDRESS':<20} RSSI")
        for s in sensors:
            print(f"{s.kind:<10} {s.name:<28} {s.address:<20} {s.rssi}")
        print(f"{len(sensors)} supported sensor(s) found in {args.seconds:g} s")
    return 0


def add_virtual_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--virtual",
        type=int,
        metavar="N",
        help="use N virtual sensors on the in-process virtual radio instead of Bluetooth",
    )
    parser.add_argument(
        "--virtual-kinds",
        type=lambda s: [k.strip() for k in s.split(",") if k.strip()],
        metavar="KIND,...",
        help="kinds of the virtual sensors, in turn (polar_h10, movesense, leanfw); "
        "default: Polar H10s worn in a simulated conversation",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("scan", help="list supported sensors in range")
    p.add_argument("--seconds", type=float, default=5.0, help="scan duration (default 5)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    add_virtual_arguments(p)
    p.set_defaults(handler=lambda args: asyncio.run(_run(args)))
