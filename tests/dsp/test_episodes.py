"""LevelTracker: hysteresis, minimum duration, gap merging, gating, chunking."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.dsp.episodes import Episode, EpisodeStart, LevelSpec, LevelTracker

FS = 50.0
PERIOD = 20_000_000
SPEC = LevelSpec("forward", "forward", 20.0, 15.0, min_duration_s=2.0, merge_gap_s=1.0)


def _signal(*pieces: tuple[float, float]) -> np.ndarray:
    """Concatenate (seconds, degrees) plateaus."""
    return np.concatenate([np.full(round(s * FS), d, dtype=float) for s, d in pieces])


def _run(
    x: np.ndarray, spec: LevelSpec = SPEC, cuts: list[int] | None = None, **masks: np.ndarray
) -> tuple[list[EpisodeStart], list[Episode]]:
    t = np.arange(x.size, dtype=np.int64) * PERIOD
    tr = LevelTracker(spec, FS, delay_s=0.4)
    bounds = [0, *sorted(set(cuts or [])), x.size]
    started: list[EpisodeStart] = []
    ended: list[Episode] = []
    for a, b in itertools.pairwise(bounds):
        res = tr.process(t[a:b], x[a:b], **{k: v[a:b] for k, v in masks.items()})
        started += res.started
        ended += res.ended
    ended += tr.finish()
    return started, ended


def test_plateau_gives_one_episode_with_crossings_peak_and_mean() -> None:
    x = _signal((3, 0), (3, 30), (3, 0))
    started, ended = _run(x)
    assert len(started) == len(ended) == 1
    e = ended[0]
    assert e.crossing_ns == 3 * 10**9
    assert e.exit_ns == 6 * 10**9
    assert e.end_ns == 6 * 10**9 - 400_000_000
    assert e.onset_ns == 3 * 10**9 - PERIOD - 400_000_000  # last sample below 10 deg, minus delay
    assert (e.peak_deg, e.mean_deg, e.truncated) == (30.0, 30.0, False)
    # Confirmed once 2 s of samples have been on.
    assert started[0].confirmed_ns == 3 * 10**9 + 99 * PERIOD


def test_shorter_than_minimum_duration_is_dropped() -> None:
    assert _run(_signal((3, 0), (1.9, 30), (3, 0))) == ([], [])
    spec = LevelSpec("f", "forward", 20.0, 15.0, min_duration_s=1.0)
    assert len(_run(_signal((3, 0), (1.9, 30), (3, 0)), spec)[1]) == 1


def test_hysteresis_band_keeps_the_episode_on() -> None:
    x = _signal((2, 0), (1, 25), (2, 16), (1, 25), (2, 0))
    _, ended = _run(x)
    assert len(ended) == 1
    assert ended[0].exit_ns == 6 * 10**9


def test_gaps_up_to_merge_gap_are_merged() -> None:
    merged = _run(_signal((2, 0), (1.5, 30), (0.8, 5), (1.5, 30), (3, 0)))[1]
    assert len(merged) == 1
    assert merged[0].mean_deg == pytest.approx((1.5 * 30 * 2 + 0.8 * 5) / 3.8)
    split = _run(_signal((2, 0), (2.5, 30), (1.5, 5), (2.5, 30), (3, 0)))[1]
    assert len(split) == 2


def test_hold_blocks_starting_and_does_not_count_toward_minimum() -> None:
    x = _signal((2, 0), (3, 30), (2, 0))
    hold = np.zeros(x.size, dtype=bool)
    hold[100:200] = True  # dynamic for the first 2 s of the plateau
    assert _run(x, hold=hold) == ([], [])  # only 1 s valid on-time remains
    hold[:] = False
    hold[150:200] = True  # dynamic inside an open episode: held, not ended
    started, ended = _run(x, hold=hold)
    assert len(ended) == 1
    assert started[0].confirmed_ns == (100 + 149) * PERIOD


def test_force_off_ends_and_block_prevents_start() -> None:
    x = _signal((2, 0), (4, 30), (2, 0))
    force = np.zeros(x.size, dtype=bool)
    force[250:] = True
    _, ended = _run(x, block=force, force_off=force)
    assert len(ended) == 1
    assert ended[0].exit_ns == 250 * PERIOD


def test_finish_truncates_an_open_episode() -> None:
    _, ended = _run(_signal((2, 0), (4, 30)))
    assert len(ended) == 1
    assert ended[0].truncated
    assert ended[0].exit_ns == (6 * 50 - 1) * PERIOD


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="exit"):
        LevelSpec("x", "forward", 10.0, 15.0)


@given(st.integers(0, 2**31), st.lists(st.integers(0, 3000), max_size=25))
def test_chunking_does_not_matter(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(scale=1.5, size=3000)) % 60 - 10
    hold = rng.random(3000) < 0.05
    whole = _run(x, hold=hold)
    assert _run(x, cuts=cuts, hold=hold) == whole
