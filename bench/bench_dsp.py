"""Throughput of the per-participant lean-detection chain, side by side with bare sosfilt.

Signal: an hour-long simulated session (:mod:`sensorhub.sim`, one participant, Polar H10-like
200 Hz ACC with noise, whole-mG quantisation and a drifting clock; seed 1), session-clock
timestamps, calibrated by the simulator's explicit mounting.

Prints, in one run:

* batch throughput of the full chain (:func:`sensorhub.dsp.detector.detect`: conditioning and
  resampling, low-pass, angles, motion gate, forward/backward/lying episode machines) at the
  default 50 Hz processing rate, and at 200 Hz (no down-sampling) for comparison;
* the same array through bare ``scipy.signal.sosfilt`` (4th-order 1 Hz Butterworth at the input
  rate, axis 0) -- the floor -- and the ratio chain / sosfilt;
* the per-chunk cost of the streaming path fed 36-sample chunks (one H10 PMD frame).

Timings are the best of several interleaved repeats (the machine may be shared). Goals
(issue 3): chain within 3x of bare sosfilt; >= 5 M samples/s per core in batch.

Usage: ``.venv/bin/python bench/bench_dsp.py [--seconds 3600] [--repeats 7]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from scipy import signal

from sensorhub.dsp.detector import DetectorConfig, LeanDetector, detect
from sensorhub.dsp.inclination import calibrate_mounting
from sensorhub.sim import SimConfig, simulate_session


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Interleaved repeats; the minimum wall time per function (s)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    sim = simulate_session(SimConfig(n_participants=1, duration_s=args.seconds), seed=1)
    p = sim.participants[0]
    t, acc = p.t_true_ns, p.acc_g
    n = t.size
    cal = calibrate_mounting(p.up.tolist(), p.forward.tolist())
    fs_in = sim.config.fs_hz
    sos = signal.butter(4, 1.0, fs=fs_in, output="sos")
    cfg50, cfg200 = DetectorConfig(rate_hz=50.0), DetectorConfig(rate_hz=fs_in)

    times = best_of(
        {
            "sosfilt": lambda: signal.sosfilt(sos, acc, axis=0),
            "chain50": lambda: detect(t, acc, cal, cfg50),
            "chain200": lambda: detect(t, acc, cal, cfg200),
        },
        args.repeats,
    )
    print(f"signal: {args.seconds / 3600:g} h simulated session, {n} samples at {fs_in:g} Hz")
    print(f"{'':34}{'time ms':>10}{'M samples/s':>13}{'x sosfilt':>11}")
    floor = times["sosfilt"]
    rows = [
        ("bare sosfilt (4th order, 3 axes)", floor),
        ("full chain, 50 Hz processing", times["chain50"]),
        ("full chain, 200 Hz processing", times["chain200"]),
    ]
    for label, sec in rows:
        print(f"{label:<34}{sec * 1e3:>10.1f}{n / sec / 1e6:>13.2f}{sec / floor:>11.2f}")

    chunk = 36
    det = LeanDetector(cal, cfg50)
    costs = []
    for i in range(0, n, chunk):
        t0 = time.perf_counter()
        det.process(t[i : i + chunk], acc[i : i + chunk])
        costs.append(time.perf_counter() - t0)
    det.flush()
    c = np.asarray(costs) * 1e6
    print(
        f"streaming, {chunk}-sample chunks (one H10 frame): median {np.median(c):.0f} us, "
        f"p99 {np.percentile(c, 99):.0f} us per chunk; {n / c.sum() * 1e6 / 1e6:.2f} M samples/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
