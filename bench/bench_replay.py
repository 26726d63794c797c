"""Replay speed of a one-hour, two-participant, 200 Hz recording, beside its parts.

Builds a recording the way a live session writes it: a simulated conversation
(sensorhub.sim) encoded as Polar H10 PMD frames (36 int16 samples each) with plausible BLE
receive times, recorded through the store's Recorder. Then, in the same run:

* ``replay --speed max``: the whole path (SQLite read, decode, session clock, lean pipeline,
  dyad measures, event encoding), as ``sensorhub replay`` runs it;
* ``decode only``: the same frames through the decoders and session clock alone;
* ``bare sosfilt``: scipy.signal.sosfilt over the same samples (the floor of any filtering).

Printed: samples/s and times real time for each, and the recording's overhead: CPU per frame
written and database size per sensor-hour.

Usage: ``.venv/bin/python bench/bench_replay.py [--minutes 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import signal

from sensorhub.config import config_to_json, demo_config
from sensorhub.ingest import SensorDecoder
from sensorhub.protocols import polar_pmd
from sensorhub.sim import SimConfig, simulate_session
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.replay import replay_session
from sensorhub.store.sqlite import Recorder

PER_FRAME = 36


def build_frames(minutes: float, seed: int = 1) -> tuple[list[RawFrame | LinkStatus], int]:
    sim = simulate_session(SimConfig(n_participants=2, duration_s=minutes * 60), seed)
    rng = np.random.default_rng(seed)
    items: list[tuple[int, int, RawFrame | LinkStatus]] = []
    samples = 0
    for p in sim.participants:
        sensor = f"Polar H10 {p.index:08X}"
        for state in (LinkState.CONNECTING, LinkState.STARTING, LinkState.STREAMING):
            items.append((0, len(items), LinkStatus(sensor, SensorKind.POLAR_H10, state, 0)))
        mg = np.rint(p.acc_g * 1000).astype(np.int16)
        n = (mg.shape[0] // PER_FRAME) * PER_FRAME
        samples += n
        for k in range(0, n, PER_FRAME):
            payload = polar_pmd.encode_data_frame(
                mg[k : k + PER_FRAME], timestamp_ns=int(p.t_device_ns[k + PER_FRAME - 1])
            )
            receive = int(p.t_true_ns[k + PER_FRAME - 1]) + int(rng.uniform(4e6, 25e6))
            frame = RawFrame(sensor, polar_pmd.PMD_DATA_UUID, payload, receive)
            items.append((receive, len(items), frame))
    items.sort(key=lambda x: (x[0], x[1]))
    return [item for _, _, item in items], samples


def record(path: Path, items: list[RawFrame | LinkStatus]) -> tuple[str, float]:
    sensors = sorted({i.sensor for i in items})
    config = demo_config(sensors, [SensorKind.POLAR_H10] * len(sensors))
    participants = [
        {"id": p.id, "sensor": p.sensor, "kind": "polar_h10", "attributes": {}}
        for p in config.participants
    ]
    cpu0 = time.process_time()
    rec = Recorder(
        path,
        session_id="bench",
        name="bench",
        started_wall=dt.datetime.now(dt.UTC),
        software="bench",
        config=config_to_json(config),
        participants=participants,
    )
    for item in items:
        rec.item(item)
    last = items[-1]
    rec.close(duration_ns=last.receive_ns if isinstance(last, RawFrame) else 0)
    frames = sum(isinstance(i, RawFrame) for i in items)
    return "bench", (time.process_time() - cpu0) / frames * 1e6


def decode_only(items: list[RawFrame | LinkStatus]) -> float:
    """The same frames through each sensor's decoder and session clock, as runs (what a
    replay's decode stage does), and nothing else."""
    runs: dict[str, list[RawFrame]] = {}
    for item in items:
        if isinstance(item, RawFrame):
            runs.setdefault(item.sensor, []).append(item)
    t0 = time.perf_counter()
    for sensor, frames in runs.items():
        SensorDecoder(sensor, SensorKind.POLAR_H10).feed_many(frames)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    items, n_samples = build_frames(args.minutes)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        sid, cpu_per_frame = record(db, items)
        size = db.stat().st_size + sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite-*"))
        events = 0

        def count(_: object) -> None:
            nonlocal events
            events += 1

        t0 = time.perf_counter()
        result = asyncio.run(replay_session(db, sid, on_event=count))
        replay_s = time.perf_counter() - t0
    assert result.complete
    decode_s = decode_only(items)
    x = np.random.default_rng(0).normal(size=(n_samples, 3))
    sos = signal.butter(4, 1.0, fs=200.0, output="sos")
    t0 = time.perf_counter()
    signal.sosfilt(sos, x, axis=0)
    sos_s = time.perf_counter() - t0
    print(f"recording: {args.minutes:g} min, 2 participants, {n_samples} samples, "
          f"{result.frames} frames, {events} events on replay")  # fmt: skip
    print(f"{'path':<22} {'seconds':>8} {'samples/s':>12} {'x real time':>12}")
    for name, s in (("replay --speed max", replay_s), ("decode + clock only", decode_s),
                    ("bare sosfilt", sos_s)):  # fmt: skip
        print(f"{name:<22} {s:8.2f} {n_samples / s:12.3g} {seconds / s:12.0f}")
    hours = 2 * seconds / 3600
    print(f"recording overhead: {cpu_per_frame:.1f} us CPU per frame written; "
          f"{size / hours / 2**20:.1f} MiB per sensor-hour")  # fmt: skip


if __name__ == "__main__":
    main()
