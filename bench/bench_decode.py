"""Decode throughput: sensorhub's PMD decoder against polar-python's, on the same frames.

Two streams, both built from one synthetic but realistic chest-accelerometer signal (gravity
on a slowly swaying trunk, breathing, small gestures, sensor noise; int16 mG at 200 Hz):

- **raw**: H10 raw int16 ACC frames (type 0x01) of 36 samples, what an H10 sends at MTU 232;
- **delta**: compressed ACC frames (type 0x81) of 140 samples in chained blocks of 9-30
  samples, each block with its own narrowest bit width (so widths mix within a frame, as in
  Polar's nine-block example).

Both decoders run in the same process on the same ``bytes`` objects, alternating, best of
``--repeat`` runs each; their outputs are checked equal first. polar-python is installed only
for this bench (``make bench`` installs it). Run: ``.venv/bin/python bench/bench_decode.py``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from sensorhub.protocols import polar_pmd as pmd

RATE_HZ = 200
RAW_SAMPLES_PER_FRAME = pmd.raw_samples_per_frame(232)  # 36
DELTA_SAMPLES_PER_FRAME = 140
DELTA_BLOCKS = (9, 30, 10, 20, 10, 30, 10, 10, 10)  # Polar's nine-block layout: 139 deltas
START_NS = 599_616_000_000_000_000  # an unset H10 clock: 2019-01-01

GOAL = 10.0


def synth_signal(seconds: float, seed: int = 7) -> np.ndarray:
    """int16 mG (n, 3): gravity on a swaying trunk plus breathing, gestures and noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    lean = np.deg2rad(10 + 8 * np.sin(2 * np.pi * t / 40) + 2 * np.sin(2 * np.pi * 0.25 * t))
    gravity = np.stack([-np.sin(lean) * 1000, np.full(n, -990.0), np.cos(lean) * 1000], axis=1)
    gestures = np.cumsum(rng.normal(0, 2.0, (n, 3)), axis=0)
    gestures -= np.convolve(gestures[:, 0], np.ones(400) / 400, mode="same")[:, None]
    noise = rng.normal(0, 4.0, (n, 3))
    return np.clip(np.rint(gravity + gestures + noise), -32768, 32767).astype(np.int16)


def raw_frames(signal: np.ndarray) -> list[bytes]:
    out, step = [], RAW_SAMPLES_PER_FRAME
    for i in range(0, len(signal) - step + 1, step):
        ts = START_NS + (i + step - 1) * 1_000_000_000 // RATE_HZ
        out.append(pmd.encode_data_frame(signal[i : i + step], timestamp_ns=ts))
    return out


def delta_frames(signal: np.ndarray) -> list[bytes]:
    out, step = [], DELTA_SAMPLES_PER_FRAME
    for i in range(0, len(signal) - step + 1, step):
        chunk = signal[i : i + step].astype(np.int64)
        deltas = np.diff(chunk, axis=0)
        blocks, start = [], 0
        for count in DELTA_BLOCKS:
            block = deltas[start : start + count]
            blocks.append((max(1, _bits(block)), block))
            start += count
        ts = START_NS + (i + step - 1) * 1_000_000_000 // RATE_HZ
        header = pmd.encode_frame_header(pmd.MeasurementType.ACC, ts, 0x81)
        out.append(header + pmd.encode_delta_blocks(chunk[0], blocks, resolution=16))
    return out


def _bits(block: np.ndarray) -> int:
    lo, hi = int(block.min()), int(block.max())
    return max(hi.bit_length() + 1 if hi > 0 else 1, (-lo - 1).bit_length() + 1 if lo < 0 else 1)


def ours(frames: Sequence[bytes]) -> list[np.ndarray]:
    return [pmd.parse_data_frame(f).samples for f in frames]


def theirs_decoder() -> Callable[[Sequence[bytes]], list[list[tuple[int, int, int]]]] | None:
    try:
        from polar_python.parsers import parse_polar_data  # type: ignore[import-untyped]
    except ImportError:
        return None

    def no_factor(_measurement_type: object) -> None:
        return None  # polar-python then uses 1.0, as the H10 (no FACTOR) requires

    def decode(frames: Sequence[bytes]) -> list[list[tuple[int, int, int]]]:
        return [parse_polar_data(f, no_factor).data for f in frames]

    return decode


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="stream length (s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per decoder per round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; best counts")
    args = parser.parse_args(argv)

    signal = synth_signal(args.seconds)
    streams = {"raw int16 (0x01)": raw_frames(signal), "delta (0x81)": delta_frames(signal)}
    theirs = theirs_decoder()
    version = _polar_python_version()
    print(f"Python {platform.python_version()}, numpy {np.__version__}, polar-python {version}")
    runs = args.repeat * args.rounds
    print(f"stream: {args.seconds:g} s of 3-axis ACC at {RATE_HZ} Hz, best of {runs} runs\n")
    if theirs is None:
        print("polar-python is NOT installed: only sensorhub's figures are shown.")
        print("Install it for the comparison: .venv/bin/pip install polar-python (make bench)\n")

    header = f"{'stream':<18}{'frames':>7}{'samples':>9}  {'sensorhub':>14}  {'polar-python':>14}"
    print(header + f"  {'ratio':>7}")
    failed = False
    for name, frames in streams.items():
        n = sum(len(s) for s in ours(frames))
        widths = _width_summary(frames) if "delta" in name else ""
        t_ours = t_theirs = None
        if theirs is not None:
            _check_equal(ours(frames), theirs(frames), name)
        for _ in range(args.rounds):  # alternate, so both see the same load on a busy box
            t = best_time(lambda f=frames: ours(f), args.repeat)
            t_ours = t if t_ours is None else min(t_ours, t)
            if theirs is not None:
                t = best_time(lambda f=frames: theirs(f), args.repeat)
                t_theirs = t if t_theirs is None else min(t_theirs, t)
        assert t_ours is not None
        row = f"{name:<18}{len(frames):>7}{n:>9}  {n / t_ours:>10,.0f} S/s"
        if t_theirs is not None:
            ratio = t_theirs / t_ours
            failed |= ratio < GOAL
            row += f"  {n / t_theirs:>10,.0f} S/s  {ratio:>6.1f}x"
        print(row + (f"   {widths}" if widths else ""))
        per_frame = f"{t_ours / len(frames) * 1e6:.1f} us/frame"
        if t_theirs is not None:
            per_frame += f" vs {t_theirs / len(frames) * 1e6:.1f} us/frame"
        print(f"{'':<18}{per_frame}")
    if theirs is None:
        return 1
    print(
        f"\ngoal: sensorhub >= {GOAL:g}x polar-python on both streams: "
        f"{'MET' if not failed else 'NOT MET'}"
    )
    return 0


def _polar_python_version() -> str:
    try:
        from importlib.metadata import version

        return version("polar-python")
    except Exception:  # PackageNotFoundError, or a broken install
        return "(not installed)"


def _width_summary(frames: Sequence[bytes]) -> str:
    from sensorhub.protocols._pmd_delta import _walk_blocks

    widths = sorted({w for f in frames for w in _walk_blocks(f[10:], 6, 3)[0]})
    return f"block widths {widths[0]}-{widths[-1]} bits"


def _check_equal(a: list[np.ndarray], b: list[list[tuple[int, int, int]]], name: str) -> None:
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.tolist() != [list(t) for t in y]:
            sys.exit(f"{name}: decoders disagree on frame {i}")


if __name__ == "__main__":
    raise SystemExit(main())
