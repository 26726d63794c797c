"""Several hubs, one broker, one aggregator: throughput, end-to-end latency and loss.

On this machine, as a lab with several rooms would run it:

* one Mosquitto broker on a free loopback port (Debian's ``mosquitto``);
* ``--hubs`` hub processes, each ``sensorhub serve --virtual N --mqtt URL --hub-id benchK``:
  N virtual Polar H10s on its own virtual radio, the full live pipeline, the SQLite store and
  the MQTT outbox;
* one aggregator process, ``sensorhub serve --from-mqtt URL``;
* this process: a websocket client of the aggregator (what a dashboard receives) and, as the
  baseline in the same run, a plain MQTT subscriber to the same broker (the broker hop alone).

Latency is measured on ``angle`` events (10 Hz per participant, nearly all the traffic): from
the envelope's ``ts`` (Unix time at which the hub's pipeline produced the event, synchronously
with decoding the sensor frame that completed it) to its arrival here, same machine, same
clock. The websocket carries no envelope (and the aggregator moves each hub's ``t`` onto its
own time axis by a fixed offset), so the k-th angle of a participant on the websocket is
paired with the k-th on the subscriber; the pairing checks itself: ``t`` on the websocket
minus ``t`` in the envelope must be the same offset for every pair.

Loss, counted after the hubs stop cleanly (SIGTERM: their outboxes drain): every hub session's
sequence numbers 1..last must have reached the subscriber and the aggregator (its ``hub``
events count what it received, de-duplicated by event id, and the gaps it saw).

Goal (issue 7): zero loss, p99 under 100 ms.

Usage: ``.venv/bin/python bench/bench_hubs.py [--hubs 3] [--sensors 8] [--seconds 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sensorhub.mqtt.protocol import MqttSettings, decode_message, subscription  # noqa: E402
from tests.mqtt_broker import Mosquitto  # noqa: E402
from tests.serve_process import ServeProcess, start_serve  # noqa: E402


@dataclass
class Observed:
    """What one observer saw."""

    events: int = 0
    #: Arrival minus envelope ts, ms (subscriber only; the websocket's are paired later).
    latency_ms: list[float] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: participant (as the aggregator names it, ``hub/p``) -> [(t, ts or arrival, in window)].
    angles: dict[str, list[tuple[float, float, bool]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: (hub, hub_session) -> sequence numbers seen (subscriber only).
    seqs: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    #: hub -> its newest ``hub`` event on the aggregator's websocket.
    hub_status: dict[str, dict[str, Any]] = field(default_factory=dict)


async def subscribe(url: str, seen: Observed, measuring: Callable[[], bool]) -> None:
    """The baseline: a plain MQTT subscriber (QoS 1) to every hub."""
    settings = MqttSettings.from_url(url)
    async with aiomqtt.Client(settings.host, settings.port, identifier="bench-subscriber") as c:
        await c.subscribe(subscription(), qos=1)
        async for message in c.messages:
            arrived = time.time()
            event, env = decode_message(bytes(message.payload))  # type: ignore[arg-type]
            if env is None:
                continue
            seqs = seen.seqs[(env.hub, env.hub_session)]
            if env.seq in seqs:
                continue  # a QoS 1 redelivery or a retained copy: counted once
            seqs.add(env.seq)
            seen.events += 1
            seen.by_type[event.TYPE] += 1
            if event.TYPE == "angle":
                pid = f"{env.hub}/{event.participant}"
                seen.angles[pid].append((event.t, env.ts, measuring()))
                if measuring():
                    seen.latency_ms.append((arrived - env.ts) * 1e3)


async def watch(aggregator: str, seen: Observed, measuring: Callable[[], bool]) -> None:
    """What a dashboard receives: the aggregator's websocket."""
    async with aiohttp.ClientSession() as http, http.ws_connect(aggregator + "ws") as ws:
        async for msg in ws:
            arrived = time.time()
            obj = json.loads(msg.data)
            kind = obj.get("type")
            seen.events += 1
            seen.by_type[kind] += 1
            if kind == "hub":
                seen.hub_status[obj["hub"]] = obj
            elif kind == "angle":
                seen.angles[obj["participant"]].append((obj["t"], arrived, measuring()))


def pair_latencies(direct: Observed, via: Observed) -> tuple[list[float], int, int]:
    """Websocket arrival minus envelope ts of the k-th angle of each participant, for angles
    that reached the websocket in the window; also the number of participants whose pairing
    failed its check and the number of angles the websocket did not get."""
    latencies: list[float] = []
    misaligned = 0
    short = 0
    for pid, sent in direct.angles.items():
        got = via.angles.get(pid, [])
        short += max(0, len(sent) - len(got))
        n = min(len(sent), len(got))
        if n == 0:
            continue
        offsets = np.array([got[k][0] - sent[k][0] for k in range(n)])
        if np.ptp(offsets) > 1e-3:  # not the same event pairwise: say so, measure nothing
            misaligned += 1
            continue
        latencies += [(got[k][1] - sent[k][1]) * 1e3 for k in range(n) if got[k][2]]
    return latencies, misaligned, short


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-hubs-"))
    broker = Mosquitto(work / "broker")
    broker.start()
    procs: list[ServeProcess] = []
    try:
        (work / "agg").mkdir()
        aggregator = start_serve(work / "agg", "--from-mqtt", broker.url)
        procs.append(aggregator)
        window = {"on": False}

        def measuring() -> bool:
            return window["on"]

        direct, via = Observed(), Observed()
        tasks = [
            asyncio.create_task(subscribe(broker.url, direct, measuring)),
            asyncio.create_task(watch(aggregator.url, via, measuring)),
        ]
        await asyncio.sleep(1.0)
        hubs = []
        for k in range(args.hubs):
            (work / f"hub{k}").mkdir()
            hub = await asyncio.to_thread(
                start_serve,
                work / f"hub{k}",
                "--virtual", str(args.sensors), "--seed", str(k + 1),
                "--mqtt", broker.url, "--hub-id", f"bench{k}",
            )  # fmt: skip
            hubs.append(hub)
            procs.append(hub)
        print(f"{args.hubs} hubs x {args.sensors} virtual sensors -> {broker.url} -> aggregator")
        await asyncio.sleep(args.warmup)
        direct_before, via_before = direct.events, via.events
        window["on"] = True
        started = time.monotonic()
        await asyncio.sleep(args.seconds)
        window["on"] = False
        elapsed = time.monotonic() - started
        rate_direct = (direct.events - direct_before) / elapsed
        rate_via = (via.events - via_before) / elapsed
        for hub in hubs:  # a clean stop: each outbox drains, then the hub says offline
            hub.proc.send_signal(signal.SIGTERM)
        for hub in hubs:
            await asyncio.to_thread(hub.proc.wait, 60)
        await asyncio.sleep(args.settle)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for p in procs:
            p.stop()
        broker.stop()

    published = {key: max(s) for key, s in direct.seqs.items() if s}
    lost_direct = sum(last - len(direct.seqs[key]) for key, last in published.items())
    agg_events = sum(int(h.get("events", 0)) for h in via.hub_status.values())
    agg_missing = sum(int(h.get("missing", 0)) for h in via.hub_status.values())
    agg_dupes = sum(int(h.get("duplicates", 0)) for h in via.hub_status.values())
    total = sum(published.values())
    offline = sorted(h for h, s in via.hub_status.items() if s.get("state") == "offline")

    print(f"measured {elapsed:.1f} s; events published by the hubs in all: {total}")
    print()
    print(f"{'path':<34}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>7}")
    via_latency, misaligned, short = pair_latencies(direct, via)
    rows = [
        ("MQTT subscriber (broker hop only)", rate_direct, direct.latency_ms, lost_direct),
        ("aggregator websocket (end to end)", rate_via, via_latency, total - agg_events),
    ]
    for name, rate, lat, lost in rows:
        print(
            f"{name:<34}{rate:>10.0f}{pct(lat, 50):>9.1f}{pct(lat, 99):>9.1f}"
            f"{max(lat, default=float('nan')):>9.1f}{lost:>7d}"
        )
    print()
    print(
        f"aggregator: {agg_events} unique events, {agg_dupes} duplicates dropped, "
        f"{agg_missing} missing seqs; hubs seen offline at the end: {offline}"
    )
    print(
        f"latency samples: {len(direct.latency_ms)} (subscriber), {len(via_latency)} (websocket); "
        f"angles the websocket did not get: {short}; participants not paired: {misaligned}"
    )
    ok = lost_direct == 0 and total == agg_events and agg_missing == 0 and misaligned == 0
    ok = ok and pct(via_latency, 99) < 100.0
    print(f"goal (zero loss, p99 < 100 ms): {'met' if ok else 'NOT met'}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hubs", type=int, default=3)
    ap.add_argument("--sensors", type=int, default=8, help="virtual sensors per hub")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    ap.add_argument("--warmup", type=float, default=12.0, help="seconds for sensors to connect")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after the hubs stop")
    return asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
