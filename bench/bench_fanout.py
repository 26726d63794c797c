"""Websocket fan-out: delivery latency and server CPU per client, beside two baselines.

The server (this process) runs :func:`sensorhub.server.create_app` with a minimal in-memory
hub publishing 4 participants x 10 Hz ``angle`` events (staggered, one every 25 ms) plus an
``episode_start`` / ``episode_end`` every 5 s. The clients run in a second process (one
event loop, N aiohttp websocket clients on 127.0.0.1). Each event carries its publish time
(``time.monotonic()``, system-wide on Linux) in ``t`` / ``confirmed`` / ``end``; a client
stamps arrival with the same clock, so the latency is publish -> parsed in the client,
including the client process's own scheduling.

Scenarios, in one run:

* ``sensorhub, 1 client``    -- the floor of our own path;
* ``sensorhub, N clients``   -- the goal (issue 5): p99 < 50 ms at N = 100;
* ``bare broadcast, N``      -- aiohttp with a naive ``for ws in clients: await
  ws.send_str(text)`` loop (one encode, no queues, no policy): what the bus costs.

CPU per client = server-process CPU seconds / wall seconds / clients (publisher included).

Usage: ``.venv/bin/python bench/bench_fanout.py [--clients 100] [--seconds 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from sensorhub.bus import EventBus
from sensorhub.events import Angle, EpisodeEnded, EpisodeStarted, Hello, Marker, dumps
from sensorhub.server import ServerSettings, create_app, start_server

PARTICIPANTS = ("p1", "p2", "p3", "p4")
TICK_S = 0.025  # 4 participants x 10 Hz, staggered
EPISODE_EVERY_S = 5.0


class BenchHub:
    """The smallest HubControl: static answers; the bench publishes directly to the bus."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def hello(self) -> Hello:
        parts = [{"id": p} for p in PARTICIPANTS]
        return Hello("bench", parts, [], [["p1", "p2"], ["p3", "p4"]])

    def session_info(self) -> dict[str, Any]:
        return {"session": "bench"}

    def participants(self) -> list[dict[str, Any]]:
        return [{"id": p} for p in PARTICIPANTS]

    def sensors(self) -> list[dict[str, Any]]:
        return []

    def markers(self) -> list[Marker]:
        return []

    def add_marker(self, label: str, source: str) -> Marker:
        marker = Marker(time.monotonic(), label, source)
        self.bus.publish(marker)
        return marker

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        return {}

    def set_recording(self, on: bool) -> dict[str, Any]:
        return {"recording": on}

    def health(self) -> dict[str, Any]:
        return {}


# -- clients (second process) ---------------------------------------------------------------


def client_main(url: str, n: int, conn: Connection) -> None:
    asyncio.run(_clients(url, n, conn))


async def _clients(url: str, n: int, conn: Connection) -> None:
    lat: list[float] = []
    counts = {"angle": 0, "episode": 0}
    measuring = False

    async def one(session: aiohttp.ClientSession, ready: asyncio.Event) -> None:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            ready.set()
            async for msg in ws:
                now = time.monotonic()
                obj = json.loads(msg.data)
                kind = obj["type"]
                if kind == "angle":
                    sent = obj["t"]
                elif kind == "episode_start":
                    sent = obj["confirmed"]
                elif kind == "episode_end":
                    sent = obj["end"]
                else:
                    continue
                if measuring:
                    lat.append(now - sent)
                    counts["angle" if kind == "angle" else "episode"] += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        readies = [asyncio.Event() for _ in range(n)]
        tasks = [asyncio.create_task(one(session, r)) for r in readies]
        await asyncio.gather(*(r.wait() for r in readies))
        loop = asyncio.get_running_loop()
        conn.send("ready")
        await loop.run_in_executor(None, conn.recv)  # "start"
        measuring = True
        conn.send("measuring")
        cpu0 = time.process_time()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        measuring = False
        cpu = time.process_time() - cpu0
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    conn.send((np.asarray(lat).tobytes(), counts, cpu))


# -- server side ----------------------------------------------------------------------------


class Publisher:
    """Angle and episode events with their publish time in the time fields."""

    def __init__(self, send: Any) -> None:
        self.send = send
        self.sent = 0

    async def run(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_episode = start + EPISODE_EVERY_S / 2
        onset = None
        i = 0
        while (now := loop.time()) < start + seconds:
            t = time.monotonic()
            p = PARTICIPANTS[i % len(PARTICIPANTS)]
            await self.send(Angle(p, t, 10.0 + (i % 50) * 0.3, -1.0))
            self.sent += 1
            if now >= next_episode:
                if onset is None:
                    onset = t
                    await self.send(EpisodeStarted("p1", "forward", "forward", t, t, t))
                else:
                    await self.send(
                        EpisodeEnded("p1", "forward", "forward", onset, t, onset, t, 20.0, 15.0)
                    )
                    onset = None
                self.sent += 1
                next_episode += EPISODE_EVERY_S
            i += 1
            await asyncio.sleep(max(0.0, start + i * TICK_S - loop.time()))


async def _measure(url: str, n: int, seconds: float, publish: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=client_main, args=(url, n, child), daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, parent.recv) == "ready"
    await asyncio.sleep(0.5)  # hellos delivered, connections settled
    parent.send("start")
    assert await loop.run_in_executor(None, parent.recv) == "measuring"
    publisher = Publisher(publish)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await publisher.run(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await asyncio.sleep(0.5)  # let the last events arrive
    parent.send("stop")
    raw, counts, client_cpu = await loop.run_in_executor(None, parent.recv)
    proc.join(10)
    lat = np.frombuffer(raw) * 1e3
    return {
        "n": n,
        "expected": publisher.sent * n,
        "received": int(lat.size),
        "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "max": float(lat.max()) if lat.size else float("nan"),
        "cpu_per_client_pct": 100 * cpu / wall / n,
        "server_cpu_pct": 100 * cpu / wall,
        "client_cpu_pct": 100 * client_cpu / wall,
        "counts": counts,
    }


async def sensorhub_scenario(n: int, seconds: float) -> dict[str, Any]:
    bus = EventBus()
    app = create_app(BenchHub(bus), bus, ServerSettings(port=0, max_clients=max(200, n)))
    handle = await start_server(app, "127.0.0.1", 0)

    async def publish(event: Any) -> None:
        bus.publish(event)

    try:
        result = await _measure(f"{handle.url}ws", n, seconds, publish)
        result["coalesced"] = bus.angles_coalesced
        result["overflows"] = bus.overflow_disconnects
        return result
    finally:
        await handle.stop()


async def bare_scenario(n: int, seconds: float) -> dict[str, Any]:
    """aiohttp, naive broadcast: encode once, ``await send_str`` to each client in turn."""
    clients: set[web.WebSocketResponse] = set()

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        clients.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            clients.discard(ws)
        return ws

    async def close_all(app: web.Application) -> None:
        for ws in list(clients):
            await ws.close(code=aiohttp.WSCloseCode.GOING_AWAY)

    app = web.Application()
    app.add_routes([web.get("/ws", ws_handler)])
    app.on_shutdown.append(close_all)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    async def publish(event: Any) -> None:
        text = dumps(event)
        for ws in list(clients):
            await ws.send_str(text)

    try:
        result = await _measure(f"http://127.0.0.1:{port}/ws", n, seconds, publish)
        result["coalesced"] = result["overflows"] = 0
        return result
    finally:
        await runner.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()

    async def run_all() -> list[tuple[str, dict[str, Any]]]:
        return [
            ("sensorhub, 1 client", await sensorhub_scenario(1, args.seconds)),
            (
                f"sensorhub, {args.clients} clients",
                await sensorhub_scenario(args.clients, args.seconds),
            ),
            (f"bare broadcast, {args.clients}", await bare_scenario(args.clients, args.seconds)),
        ]

    load = os.getloadavg()[0]
    rows = asyncio.run(run_all())
    print(
        f"{len(PARTICIPANTS)} participants x 10 Hz angles + an episode event every "
        f"{EPISODE_EVERY_S:g} s; {args.seconds:g} s per scenario; loopback; "
        f"{os.cpu_count()} CPUs, load {load:.1f} at start"
    )
    head = f"{'':26}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'recv/expected':>16}"
    print(head + f"{'CPU/client':>11}{'server CPU':>11}{'coalesced':>10}")
    for label, r in rows:
        got = f"{r['received']}/{r['expected']}"
        print(
            f"{label:<26}{r['p50']:>8.2f}{r['p99']:>8.2f}{r['max']:>8.1f}{got:>16}"
            f"{r['cpu_per_client_pct']:>10.3f}%{r['server_cpu_pct']:>10.1f}%{r['coalesced']:>10}"
        )
    ours = rows[1][1]
    verdict = "met" if ours["p99"] < 50 else "NOT met"
    print(
        f"goal p99 < 50 ms at {args.clients} clients: {verdict} ({ours['p99']:.1f} ms); "
        f"client process CPU {ours['client_cpu_pct']:.0f}% (shares the machine)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
