"""Soak: `serve --virtual 4` for a long session with websocket clients; is anything growing?

Starts a real ``sensorhub serve --virtual 4`` process on a free loopback port, connects
``--clients`` websocket clients that read everything, and every ``--sample-s`` seconds records
the server's resident memory (from /proc) and the bus's queue depths (``/api/health``).

Printed: RSS over time beside its value right after warm-up (the baseline of the same run),
growth after warm-up in percent (goal < 5 %), the largest client queue depth seen (must stay
small: no growing queues), and whether every client received the same, complete sequence of
episode events (every start has its end; nothing lost).

Usage: ``.venv/bin/python bench/bench_soak.py [--minutes 30] [--clients 5] [--sample-s 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def client(url: str, episodes: list[tuple[str, str, str, float]], stop: asyncio.Event) -> int:
    received = 0
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as ws:
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 1.0)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            received += 1
            if event["type"] in ("episode_start", "episode_end"):
                episodes.append(
                    (event["type"], event["participant"], event["level"], event["onset"])
                )
    return received


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--sample-s", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=120.0)
    args = parser.parse_args()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sensorhub.cli", "serve", "--virtual", "4", "--port", "0",
         "--log-level", "WARNING"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        match = re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line)
        if match:
            url = match.group(1)
            break
    stop = asyncio.Event()
    logs: list[list[tuple[str, str, str, float]]] = [[] for _ in range(args.clients)]
    tasks = [asyncio.create_task(client(url, logs[i], stop)) for i in range(args.clients)]
    samples: list[tuple[float, float, int]] = []
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    print(f"{'t (min)':>8} {'RSS MiB':>8} {'max queue':>9}", flush=True)
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < end:
            await asyncio.sleep(min(args.sample_s, max(end - time.monotonic(), 0)))
            async with http.get(url + "api/health") as resp:
                health: dict[str, Any] = await resp.json()
            depth = int(health["bus"]["queue_depth_max"])
            samples.append((time.monotonic() - t0, rss_mib(proc.pid), depth))
            print(f"{samples[-1][0] / 60:8.1f} {samples[-1][1]:8.1f} {depth:9d}", flush=True)
    stop.set()
    received = await asyncio.gather(*tasks)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    after = [s for s in samples if s[0] >= args.warmup_s] or samples
    base, last = after[0][1], after[-1][1]
    growth = (last - base) / base * 100
    same = all(log == logs[0] for log in logs)
    starts = {(p, lv, on) for kind, p, lv, on in logs[0] if kind == "episode_start"}
    ends = {(p, lv, on) for kind, p, lv, on in logs[0] if kind == "episode_end"}
    print(
        f"RSS after warm-up {base:.1f} MiB -> {last:.1f} MiB: growth {growth:+.1f} % (goal < 5 %)"
    )
    print(f"largest client queue depth: {max(s[2] for s in samples)}")
    print(f"messages per client: {received}")
    print(
        f"episode events: {len(logs[0])} per client, identical across clients: {same}, "
        f"starts without an end: {len(starts - ends)} (open at the last sample: at most 4)"
    )
    return 0 if growth < 5 and same else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
