"""SensorDecoder.feed_many gives exactly what feed() gives frame by frame."""

from __future__ import annotations

import numpy as np

from sensorhub.ingest import SensorDecoder, SensorSamples
from sensorhub.protocols import gatt, polar_pmd
from sensorhub.sources.base import RawFrame, SensorKind

H10 = "Polar H10 00000001"


def h10_stream(n_frames: int, seed: int) -> list[RawFrame]:
    rng = np.random.default_rng(seed)
    t0 = 599_616_000_000_000_000
    frames = []
    for k in range(n_frames):
        if k % 13 == 7:  # a lost frame
            continue
        samples = rng.integers(-2000, 2000, size=(36, 3)).astype(np.int16)
        last = t0 + ((k + 1) * 36 - 1) * 4_990_000  # the sensor runs 0.2 % fast
        payload = polar_pmd.encode_data_frame(samples, timestamp_ns=last)
        receive = (k + 1) * 180_000_000 + int(rng.uniform(2e6, 30e6))
        frames.append(RawFrame(H10, polar_pmd.PMD_DATA_UUID, payload, receive))
        if k % 17 == 3:  # a repeated notification
            frames.append(frames[-1])
        if k % 19 == 5:  # a corrupted one
            frames.append(RawFrame(H10, polar_pmd.PMD_DATA_UUID, payload[:-3], receive + 1))
        if k % 23 == 0:  # heart rate and battery in between
            frames.append(
                RawFrame(H10, gatt.HEART_RATE_MEASUREMENT_UUID, b"\x10\x48\x2b\x03", receive)
            )
            frames.append(RawFrame(H10, gatt.BATTERY_LEVEL_UUID, b"\x4b", receive))
    return frames


def flatten(blocks: list[SensorSamples]) -> tuple[list[int], list[float]]:
    return (
        [int(x) for b in blocks for x in b.t_ns],
        [float(x) for b in blocks for x in b.acc_g.ravel()],
    )


def test_feed_many_equals_feed_for_any_split() -> None:
    frames = h10_stream(600, seed=2)
    single = SensorDecoder(H10, SensorKind.POLAR_H10)
    expected = flatten([s for f in frames for s in single.feed(f)])
    rng = np.random.default_rng(3)
    for _ in range(5):
        batched = SensorDecoder(H10, SensorKind.POLAR_H10)
        out: list[SensorSamples] = []
        i = 0
        while i < len(frames):
            k = int(rng.integers(1, 120))
            gaps_before = len(batched.stats.gap_list)
            blocks = batched.feed_many(frames[i : i + k])
            # One merged block per call (or none), carrying the first gap found in the call.
            assert len(blocks) <= 1
            new_gaps = batched.stats.gap_list[gaps_before:]
            if blocks:
                assert blocks[0].gap == (new_gaps[0] if new_gaps else None)
            out += blocks
            i += k
        assert flatten(out) == expected
        assert batched.stats == single.stats  # every gap, duplicate and malformed frame
    assert single.stats.gaps > 10
    assert single.stats.duplicates > 10
    assert single.stats.malformed > 10
    assert single.stats.battery_pct == 75


def test_feed_many_of_pmd_frames_only_equals_feed() -> None:
    """Nothing but ACC frames of one size (a replay's common case, decoded without per-frame
    checks): lost, repeated and late frames still count and place exactly as one by one."""
    frames = [f for f in h10_stream(900, seed=4) if f.characteristic == polar_pmd.PMD_DATA_UUID]
    frames = [f for f in frames if len(f.payload) == len(frames[0].payload)]
    frames.insert(500, frames[480])  # arrives late: out of order
    single = SensorDecoder(H10, SensorKind.POLAR_H10)
    expected = flatten([s for f in frames for s in single.feed(f)])
    for size in (2, 7, 64, len(frames)):
        batched = SensorDecoder(H10, SensorKind.POLAR_H10)
        out: list[SensorSamples] = []
        for i in range(0, len(frames), size):
            out += batched.feed_many(frames[i : i + size])
        assert flatten(out) == expected
        assert batched.stats == single.stats
    assert single.stats.gaps > 10
    assert single.stats.duplicates > 10
    assert single.stats.out_of_order == 1
    assert single.stats.malformed == 0
