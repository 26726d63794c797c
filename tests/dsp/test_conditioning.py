"""Resampler: irregular radio timestamps to a uniform causal grid, gaps as breaks."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.dsp.conditioning import Break, ConditionedChunk, Resampler
from tests.conftest import SHARED_DATA

MS = 1_000_000


def _feed(r: Resampler, t: np.ndarray, a: np.ndarray, cuts: list[int]) -> ConditionedChunk:
    bounds = [0, *sorted(set(cuts)), t.size]
    parts = [r.process(t[x:y], a[x:y]) for x, y in itertools.pairwise(bounds)]
    return ConditionedChunk(
        np.concatenate([p.t_ns for p in parts]),
        np.concatenate([p.acc for p in parts]),
        np.concatenate([p.segment_start for p in parts]),
        [b for p in parts for b in p.breaks],
    )


def _jittery(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(1, 90, size=n)) * MS
    a = rng.normal(size=(n, 3))
    for i in np.flatnonzero(rng.random(n) < 0.1):  # stale repeats, some in long runs
        a[i : i + rng.integers(1, 30)] = a[i - 1]
    a[rng.random(n) < 0.05] = np.nan  # some non-finite samples
    t[rng.random(n) < 0.05] -= 200 * MS  # some late samples
    return t.astype(np.int64), a


def test_on_grid_input_passes_through_unchanged() -> None:
    t = np.arange(100, dtype=np.int64) * 20 * MS + 7
    a = np.random.default_rng(0).normal(size=(100, 3))
    out = Resampler(50.0).process(t, a)
    assert np.array_equal(out.t_ns, t)
    assert np.array_equal(out.acc, a)
    assert out.segment_start.tolist() == [True] + [False] * 99


def test_linear_signal_is_interpolated_exactly_on_uniform_grid() -> None:
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(5 * MS, 60 * MS, size=200)).astype(np.int64)
    a = np.stack([t / 1e9, 2 * t / 1e9, -t / 1e9], axis=1)
    out = Resampler(50.0).process(t, a)
    assert np.all(np.diff(out.t_ns) == 20 * MS)
    assert out.t_ns[0] == t[0]
    assert out.t_ns[-1] <= t[-1] < out.t_ns[-1] + 20 * MS
    np.testing.assert_allclose(out.acc[:, 1], 2 * out.t_ns / 1e9, rtol=1e-12)


def test_duplicates_out_of_order_and_repeats_are_dropped_and_counted() -> None:
    t = np.array([0, 10, 10, 5, 20, 30, 40], dtype=np.int64) * MS
    a = np.array([[0, 0, 1], [1, 0, 1], [9, 9, 9], [8, 8, 8], [1, 0, 1], [3, 0, 1], [4, 0, 1]])
    r = Resampler(100.0)
    out = r.process(t, a.astype(float))
    assert (r.stats.duplicate_time, r.stats.out_of_order, r.stats.repeated_value) == (1, 1, 1)
    assert r.stats.accepted == 4
    # 20 ms carried a repeated (stale) value; it is interpolated from 10 ms and 30 ms instead.
    assert out.acc[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_gap_is_a_break_without_interpolation() -> None:
    t = np.concatenate([np.arange(0, 1000, 20), np.arange(3010, 4000, 20)]).astype(np.int64) * MS
    a = np.random.default_rng(0).normal(size=(t.size, 3))
    out = Resampler(50.0, max_gap_s=1.0).process(t, a)
    assert len(out.breaks) == 1
    assert out.breaks[0] == Break(980 * MS, 3010 * MS)
    assert not np.any((out.t_ns > 980 * MS) & (out.t_ns < 3010 * MS))
    assert np.flatnonzero(out.segment_start).tolist() == [0, 50]
    assert out.t_ns[50] == 3010 * MS


@given(st.integers(0, 2**31), st.lists(st.integers(0, 400), max_size=40))
def test_chunking_does_not_matter(seed: int, cuts: list[int]) -> None:
    t, a = _jittery(seed)
    whole = Resampler(50.0, max_gap_s=0.08).process(t, a)
    parts = _feed(Resampler(50.0, max_gap_s=0.08), t, a, cuts)
    assert np.array_equal(parts.t_ns, whole.t_ns)
    assert np.array_equal(parts.acc, whole.acc)
    assert np.array_equal(parts.segment_start, whole.segment_start)
    assert parts.breaks == whole.breaks


def test_real_recording_gives_uniform_grid() -> None:
    path = SHARED_DATA / "umafall_chest/trials/S01_ADL_Bending_1_2016-06-13_20-25-34.csv"
    d = np.loadtxt(path, delimiter=",", skiprows=1)
    r = Resampler(20.0)
    out = r.process((d[:, 0] * MS).astype(np.int64), d[:, 1:])
    assert r.stats.repeated_value > 0
    assert np.all(np.diff(out.t_ns) == 50 * MS)
    assert out.acc.shape == (out.t_ns.size, 3)
    assert abs(out.t_ns.size - 20 * (d[-1, 0] - d[0, 0]) / 1000) <= 1


def test_constant_signal_is_not_a_break() -> None:
    """A quantised sensor lying still repeats its reading; the link is alive, no break."""
    t = np.arange(300, dtype=np.int64) * 20 * MS
    a = np.tile([0.0, 0.0, 1.0], (300, 1))
    a[150:] = [0.0, 0.001, 1.0]
    r = Resampler(50.0, max_gap_s=1.0)
    out = r.process(t, a)
    assert out.breaks == []
    assert out.t_ns.size == 300
    assert r.stats.repeated_value == 2  # only the first repeat of each run
