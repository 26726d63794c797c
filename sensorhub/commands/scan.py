"""``sensorhub scan``: list the supported sensors in range (kind, name, address, RSSI)."""

from __future__ import annotations

import argparse
import asyncio
import json

from sensorhub.sources.ble import BackendClasses, FoundSensor, scan_sensors
from sensorhub.sources.drivers import identify
from sensorhub.sources.environment import open_environment

__all__ = ["add_virtual_arguments", "register", "scan"]


async def scan(backends: BackendClasses, seconds: float) -> list[FoundSensor]:
    """Supported sensors in range, strongest first."""
    return await scan_sensors(backends, seconds, identify)


async def _run(args: argparse.Namespace) -> int:
    async with open_environment(args.virtual, kinds=args.virtual_kinds) as env:
        sensors = await scan(env.backends, args.seconds)
    if args.format == "json":
        rows = [
            {"kind": s.kind.value, "name": s.name, "address": s.address, "rssi": s.rssi}
            for s in sensors
        ]
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'KIND':<10} {'NAME':<28} {'ADDRESS':<20} RSSI")
        for s in sensors:
            print(f"{s.kind.value:<10} {s.name:<28} {s.address:<20} {s.rssi}")
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
