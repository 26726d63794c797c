"""``sensorhub stream``: connect to sensors and print, once a second, how each is doing.

The command an assistant runs before a session: per sensor, samples received in the last
second, the measured rate, gaps and missing samples so far, malformed/duplicate frames,
battery and link state. ``--format jsonl`` prints one JSON object per sensor per second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from dataclasses import dataclass
from typing import Any

from sensorhub.commands.scan import add_virtual_arguments, scan
from sensorhub.errors import ConfigError
from sensorhub.ingest import SensorSamples
from sensorhub.sources.base import LinkState, LinkStatus, SensorKind
from sensorhub.sources.ble import Device
from sensorhub.sources.environment import SensorEnvironment, open_environment
from sensorhub.sources.live import LiveSensors, monotonic_session_clock

__all__ = ["register"]


@dataclass(slots=True)
class _Tally:
    samples_total: int = 0
    samples_at_last_report: int = 0
    first_t: int | None = None
    last_t: int | None = None
    state: LinkState = LinkState.DISCONNECTED


async def _targets(
    args: argparse.Namespace, env: SensorEnvironment
) -> tuple[list[tuple[str, SensorKind]], dict[str, Device]]:
    """Which sensors to stream (those named, else all in range) and their scanned devices."""
    found = await scan(env.backends, args.scan_seconds)
    devices = {s.name: s.device for s in found}
    if not args.sensors:
        if not found:
            raise ConfigError("no supported sensor in range (is it on, and not held by a phone?)")
        return [(s.name, s.kind) for s in found], devices
    by_key = {s.name.lower(): s for s in found} | {s.address.lower(): s for s in found}
    targets = []
    for wanted in args.sensors:
        hit = by_key.get(wanted.lower())
        if hit is None:
            raise ConfigError(f"sensor {wanted!r} not found in a {args.scan_seconds:g} s scan")
        targets.append((hit.name, hit.kind))
    return targets, devices


def _report(live: LiveSensors, tallies: dict[str, _Tally], as_json: bool) -> None:
    for name, dec in live.decoders.items():
        t = tallies[name]
        got = t.samples_total - t.samples_at_last_report
        t.samples_at_last_report = t.samples_total
        rate = 0.0
        if t.first_t is not None and t.last_t is not None and t.last_t > t.first_t:
            rate = (t.samples_total - 1) / ((t.last_t - t.first_t) / 1e9)
        s = dec.stats
        row: dict[str, Any] = {
            "sensor": name,
            "kind": dec.kind.value,
            "state": t.state.value,
            "samples_last_s": got,
            "rate_hz": round(rate, 2),
            "gaps": s.gaps,
            "missing_samples": s.missing_samples,
            "malformed": s.malformed,
            "duplicates": s.duplicates,
            "battery_pct": s.battery_pct,
        }
        if as_json:
            print(json.dumps(row), flush=True)
        else:
            battery = "?" if s.battery_pct is None else f"{s.battery_pct}%"
            print(
                f"{name:<26} {t.state.value:<12} {got:>5} samples/s  rate {rate:7.2f} Hz  "
                f"gaps {s.gaps} ({s.missing_samples} missing)  bad {s.malformed}  "
                f"dup {s.duplicates}  battery {battery}",
                flush=True,
            )


async def _run(args: argparse.Namespace) -> int:
    async with open_environment(args.virtual, kinds=args.virtual_kinds) as env:
        targets, devices = await _targets(args, env)
        live = LiveSensors(
            targets, backends=env.backends, now_ns=monotonic_session_clock(), devices=devices
        )
        tallies = {name: _Tally() for name, _ in targets}

        def on_samples(block: SensorSamples) -> None:
            t = tallies[block.sensor]
            t.samples_total += block.t_ns.size
            t.first_t = int(block.t_ns[0]) if t.first_t is None else t.first_t
            t.last_t = int(block.t_ns[-1])

        def on_status(status: LinkStatus) -> None:
            tallies[status.sensor].state = status.state

        live.sample_sinks.append(on_samples)
        live.status_sinks.append(on_status)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        live.start()
        elapsed = 0
        try:
            while args.seconds is None or elapsed < args.seconds:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    break
                elapsed += 1
                _report(live, tallies, args.format == "jsonl")
        finally:
            await live.close()
    if args.format == "text":
        print("stopped; every stream was stopped before disconnecting", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stream", help="connect to sensors and print their data rate, gaps and battery each second"
    )
    p.add_argument("sensors", nargs="*", metavar="NAME|ADDRESS", help="default: all in range")
    p.add_argument(
        "--seconds", type=int, default=None, help="stop after S seconds (default: Ctrl-C)"
    )
    p.add_argument("--format", choices=["text", "jsonl"], default="text")
    p.add_argument(
        "--scan-seconds", type=float, default=3.0, help="how long to scan first (default 3)"
    )
    add_virtual_arguments(p)
    p.set_defaults(handler=lambda args: asyncio.run(_run(args)))
