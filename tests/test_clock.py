"""Session clock: per-sample device times, loss and duplicate detection, drift mapping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sensorhub.clock import NS_PER_S, DeviceTimeline, FrameOutcome, Gap, SensorClock

H10_EPOCH_2019 = 599_616_000_000_000_000  # unset H10 clock: 2019-01-01 in ns since 2000


def pmd_anchors(rate_hz: float, n_frames: int, per_frame: int = 36) -> list[int]:
    """Last-sample timestamps of consecutive PMD frames at a true rate."""
    period = NS_PER_S / rate_hz
    return [H10_EPOCH_2019 + round(((k + 1) * per_frame - 1) * period) for k in range(n_frames)]


def test_last_anchored_frames_get_contiguous_sample_times() -> None:
    tl = DeviceTimeline(200.0, anchor="last")
    out = [tl.push(a, 36) for a in pmd_anchors(200.0, 5)]
    assert all(f.outcome is FrameOutcome.OK and f.gap is None for f in out)
    times = np.concatenate([f.t_device_ns for f in out])
    assert times.size == 180
    np.testing.assert_array_equal(np.diff(times), np.full(179, 5_000_000))
    assert times[-1] == pmd_anchors(200.0, 5)[-1]


def test_period_is_measured_not_assumed() -> None:
    # The sensor really runs 1 % fast; after a while the spacing follows the real rate.
    tl = DeviceTimeline(200.0, anchor="last")
    frames = [tl.push(a, 36) for a in pmd_anchors(202.0, 400)]
    assert tl.period_ns == pytest.approx(NS_PER_S / 202.0, rel=1e-4)
    assert all(f.gap is None for f in frames)


def test_lost_pmd_frame_is_a_gap_of_known_length_not_smeared() -> None:
    anchors = pmd_anchors(200.0, 6)
    tl = DeviceTimeline(200.0, anchor="last")
    out = [tl.push(a, 36) for i, a in enumerate(anchors) if i != 3]
    gaps = [f.gap for f in out if f.gap is not None]
    assert len(gaps) == 1
    assert gaps[0].missing_samples == 36
    assert gaps[0].frames_lost is None
    # the frame after the gap keeps the normal spacing, anchored at its own timestamp
    np.testing.assert_array_equal(np.diff(out[3].t_device_ns), np.full(35, 5_000_000))


def test_repeated_and_older_frames_are_dropped() -> None:
    anchors = pmd_anchors(200.0, 4)
    tl = DeviceTimeline(200.0, anchor="last")
    assert tl.push(anchors[0], 36).outcome is FrameOutcome.OK
    assert tl.push(anchors[1], 36).outcome is FrameOutcome.OK
    assert tl.push(anchors[1], 36).outcome is FrameOutcome.DUPLICATE
    assert tl.push(anchors[0], 36).outcome is FrameOutcome.OUT_OF_ORDER
    assert tl.push(anchors[2], 36).gap is None


def test_sequence_numbers_give_exact_frame_loss_across_wraparound() -> None:
    tl = DeviceTimeline(100.0, anchor="first", seq_modulo=65536)
    n = 20
    seqs = [65533, 65534, 65535, 2, 3]  # 0 and 1 lost across the wrap
    idx = [0, 1, 2, 5, 6]
    out = [tl.push(10**9 + i * n * 10_000_000, n, seq=s) for i, s in zip(idx, seqs, strict=True)]
    gaps = [f.gap for f in out if f.gap is not None]
    assert gaps == [Gap(gaps[0].start_ns, gaps[0].end_ns, 40, 2)]
    assert tl.push(10**9 + 6 * n * 10_000_000, n, seq=3).outcome is FrameOutcome.DUPLICATE


def simulate_link(
    drift_ppm: float, seconds: float, seed: int
) -> tuple[list[tuple[int, int]], float, int]:
    """(anchor, receive) pairs for PMD frames over a jittery BLE link; true mapping params."""
    rng = np.random.default_rng(seed)
    rate = 200.0
    anchors = pmd_anchors(rate, int(seconds * rate / 36))
    true_offset = 3_210_000_000  # session ns at device anchor 0 (relative to the first)
    frames = []
    for a in anchors:
        true_session = true_offset + (a - anchors[0]) * (1 + drift_ppm * 1e-6)
        latency = 1_500_000 + rng.exponential(8e6) + (rng.random() < 0.01) * 2e8
        frames.append((a, round(true_session + latency)))
    return frames, drift_ppm * 1e-6, true_offset


@pytest.mark.parametrize("drift_ppm", [20.0, -20.0, 0.0])
def test_drift_over_an_hour_keeps_per_sample_error_under_5_ms(drift_ppm: float) -> None:
    frames, drift, offset = simulate_link(drift_ppm, 3600.0, seed=7)
    clock = SensorClock(200.0, anchor="last")
    first = frames[0][0]
    worst = 0.0
    for k, (anchor, receive) in enumerate(frames):
        res = clock.push(anchor, 36, receive)
        assert res.outcome is FrameOutcome.OK
        assert res.gap is None
        truth = offset + (res.t_device_ns - first) * (1 + drift)
        if k > 200:  # after ~40 s of settling
            worst = max(worst, float(np.max(np.abs(res.t_session_ns - truth))))
    assert worst < 5e6, f"worst per-sample error {worst / 1e6:.2f} ms"
    assert clock.mapper.drift == pytest.approx(drift, abs=2e-6)


def test_session_times_never_run_backwards() -> None:
    frames, _, _ = simulate_link(20.0, 600.0, seed=3)
    clock = SensorClock(200.0, anchor="last")
    ts = np.concatenate([clock.push(a, 36, r).t_session_ns for a, r in frames])
    assert np.all(np.diff(ts) > 0)


def test_reconnect_with_device_clock_restart_reports_session_gap() -> None:
    clock = SensorClock(200.0, anchor="last")
    period = 5_000_000
    for k in range(10):
        last = clock.push(H10_EPOCH_2019 + 10**12 + (k + 1) * 36 * period, 36, 10**9 + k * 180e6)
    assert last.gap is None
    end_before = int(last.t_session_ns[-1])
    # Power cycle: the device clock starts again at 2019-01-01, 3 s of session time later.
    clock.restart()
    res = clock.push(H10_EPOCH_2019 + 36 * period, 36, int(last.t_session_ns[-1]) + 3 * NS_PER_S)
    assert res.gap is not None
    assert res.gap.reason == "reconnect"
    assert res.gap.start_ns == end_before
    assert res.gap.duration_ns == pytest.approx(3 * NS_PER_S - 35 * period, abs=2 * period)


def test_backward_device_jump_without_restart_call_restarts_mapping() -> None:
    clock = SensorClock(200.0, anchor="last")
    base = H10_EPOCH_2019 + 10**13
    clock.push(base, 36, 10**9)
    clock.push(base + 180_000_000, 36, 10**9 + 180_000_000)
    res = clock.push(H10_EPOCH_2019 + 180_000_000, 36, 10**9 + 500_000_000)
    assert res.outcome is FrameOutcome.OK
    assert res.gap is not None
    assert res.gap.reason == "reconnect"


def test_same_inputs_give_bit_identical_session_times() -> None:
    frames, _, _ = simulate_link(15.0, 120.0, seed=11)

    def run() -> np.ndarray:
        clock = SensorClock(200.0, anchor="last")
        return np.concatenate([clock.push(a, 36, r).t_session_ns for a, r in frames])

    np.testing.assert_array_equal(run(), run())


def test_push_many_equals_frame_by_frame_pushes_in_any_split() -> None:
    """A replay pushes thousands of frames at once, a live link one: identical results."""
    rng = np.random.default_rng(5)
    frames, _, _ = simulate_link(20.0, 300.0, seed=9)
    items = list(frames)
    # Damage the stream: drop some frames, repeat some, and restart the device clock once.
    items = [f for k, f in enumerate(items) if k % 97 != 50]
    items.insert(300, items[299])
    restart_at = 900
    items = items[:restart_at] + [(a - 10**13, r) for a, r in items[restart_at:]]

    def run(split: list[int]) -> list[tuple[str, list[int], object]]:
        clock = SensorClock(200.0, anchor="last")
        out = []
        bounds = [0, *np.cumsum(split).tolist()]
        for lo, hi in itertools.pairwise(bounds):
            chunk = items[lo:hi]
            res = clock.push_many([a for a, _ in chunk], [36] * len(chunk), [r for _, r in chunk])
            out += [(t.outcome.value, t.t_session_ns.tolist(), t.gap) for t in res]
        return out

    one_by_one = run([1] * len(items))
    whole = run([len(items)])
    sizes = rng.integers(1, 200, size=len(items))
    split, total = [], 0
    for s in sizes:
        if total >= len(items):
            break
        split.append(int(min(s, len(items) - total)))
        total += split[-1]
    assert whole == one_by_one
    assert run(split) == one_by_one
    outcomes = [o for o, _, _ in one_by_one]
    assert "duplicate" in outcomes
    assert sum(g is not None for _, _, g in one_by_one) >= 3  # losses and the restart


def test_push_run_of_mixed_sizes_equals_pushes_and_never_runs_backwards() -> None:
    """First-anchored frames of varying sizes (Movesense, leanfw), latency dropping at once:
    the line is lowered, so later frames are shifted to start right after earlier ones."""
    rng = np.random.default_rng(21)
    period = 1e9 / 52
    frames: list[tuple[int, int, int]] = []  # anchor, count, receive
    first_sample = 10**12
    for k in range(400):
        n = int(rng.integers(4, 12))
        if k % 61 == 30:
            first_sample += 3 * n * round(period)  # frames lost
        latency = 250_000_000 if k % 100 < 50 else 1_000_000
        receive = first_sample - 10**12 + (n - 1) * round(period) + latency
        frames.append((first_sample, n, receive))
        first_sample += n * round(period)
    frames.insert(77, frames[76])  # a repeated frame

    def run(split: list[int]) -> list[tuple[str, list[int], object]]:
        clock = SensorClock(52.0, anchor="first")
        out = []
        bounds = [0, *np.cumsum(split).tolist()]
        for lo, hi in itertools.pairwise(bounds):
            chunk = frames[lo:hi]
            res = clock.push_many([a for a, _, _ in chunk], [n for _, n, _ in chunk],
                                  [r for _, _, r in chunk])  # fmt: skip
            out += [(t.outcome.value, t.t_session_ns.tolist(), t.gap) for t in res]
        return out

    one_by_one = run([1] * len(frames))
    assert run([len(frames)]) == one_by_one
    assert run([37, 1, 200, 2, len(frames) - 240]) == one_by_one
    times = [t for _, ts, _ in one_by_one for t in ts]
    assert all(b > a for a, b in itertools.pairwise(times))
    ok = [ts for o, ts, _ in one_by_one if o == "ok"]
    assert any(b[0] == a[-1] + 1 for a, b in itertools.pairwise(ok))  # a shifted frame
    assert sum(g is not None for _, _, g in one_by_one) >= 5
    assert "duplicate" in [o for o, _, _ in one_by_one]

    clock = SensorClock(52.0, anchor="first")
    columns = clock.push_run([a for a, _, _ in frames], [n for _, n, _ in frames],
                             [r for _, _, r in frames])  # fmt: skip
    accepted = [k for k, (o, _, _) in enumerate(one_by_one) if o == "ok"]
    assert columns.accepted.tolist() == accepted
    assert columns.t_session_ns.tolist() == times
    assert [g for _, g in columns.gaps] == [g for _, _, g in one_by_one if g is not None]


@pytest.mark.parametrize("anchor", ["last", "first"])
def test_push_run_fast_lane_equals_the_step_and_observe_methods(anchor: str) -> None:
    """push_run inlines the common frame (no sequence numbers) and hands any other frame to
    DeviceTimeline.step / ClockMapper.observe; sequence numbers that are all None take the
    methods for every frame. Both must give the same times, gaps and state, across bin
    refits, losses, repeats, late frames, a device clock jump back and a restart() call."""
    rng = np.random.default_rng(3)
    anchors = pmd_anchors(201.3, 2200)  # off nominal: the period estimate keeps moving
    latency = 1_500_000 + rng.exponential(8e6, size=len(anchors))
    frames = [
        (a, round(3.2e9 + (a - anchors[0]) * (1 + 20e-6) + lat))
        for a, lat in zip(anchors, latency, strict=True)
    ]
    items = [f for k, f in enumerate(frames) if k % 131 != 70]  # losses
    items.insert(500, items[499])  # a repeat
    items.insert(800, items[795])  # a late frame
    items = items[:1500] + [(a - 10**13, r) for a, r in items[1500:]]  # device clock restart
    offset = 35 * NS_PER_S // 200 if anchor == "first" else 0  # anchors on the first sample
    items = [(a - offset, r) for a, r in items]
    bounds = sorted({0, len(items), *rng.integers(1, len(items), size=12).tolist()})

    def run(with_seqs: bool) -> list[object]:
        clock = SensorClock(200.0, anchor="last" if anchor == "last" else "first")
        out: list[object] = []
        for lo, hi in itertools.pairwise(bounds):
            if lo == bounds[6]:
                clock.restart()
            chunk = items[lo:hi]
            res = clock.push_run(
                [a for a, _ in chunk],
                [36] * len(chunk),
                [r for _, r in chunk],
                [None] * len(chunk) if with_seqs else None,
            )
            out.append(
                (
                    [o.value for o in res.outcomes],
                    res.accepted.tolist(),
                    res.t_session_ns.tolist(),
                    res.t_device_ns.tolist(),
                    res.gaps,
                )
            )
            tl, mapper = clock.timeline, clock.mapper
            out.append((tl.period_ns, tl.last_anchor, tl.last_sample, mapper.offset_ns))
            out.append((mapper.drift, mapper.ref))
        return out

    fast, methods = run(False), run(True)
    assert fast == methods
    gaps = [g for chunk in fast[::3] for g in chunk[4]]  # type: ignore[index]
    assert len(gaps) >= 4
    assert any(g.reason == "reconnect" for _, g in gaps)
