"""Dyad measures: pure functions, event semantics, chunk invariance and surrogate baselines."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorhub.dsp.dyad import (
    CoLeanEnded,
    CoLeanStarted,
    DyadConfig,
    DyadEvent,
    DyadTracker,
    OnsetFollowed,
    WindowCorrelation,
    analyze_dyad,
    colean_time,
    follow_counts,
    lagged_correlations,
)
from sensorhub.errors import ConfigError

S = 1_000_000_000  # ns per s
FAST = DyadConfig(n_surrogates=20)


def _grid(duration_s: float, hz: float = 50.0) -> np.ndarray:
    return np.arange(0, round(duration_s * S), round(S / hz), dtype=np.int64)


def _angles(t: np.ndarray, episodes: list[tuple[int, int]], rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(0.0, 1.0, t.size)
    for a, b in episodes:
        x[(t >= a) & (t < b)] += 20.0
    return x


def _random_episodes(rng: np.random.Generator, duration_s: float) -> list[tuple[int, int]]:
    out, t = [], 5.0
    while True:
        t += rng.uniform(5, 40)
        d = rng.uniform(2, 20)
        if t + d > duration_s - 5:
            return out
        out.append((round(t * S), round((t + d) * S)))
        t += d


def _follower(eps: list[tuple[int, int]], lag_s: float) -> list[tuple[int, int]]:
    return [(a + round(lag_s * S), b + round(lag_s * S) // 2) for a, b in eps]


# --- pure functions ---------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(st.tuples(st.integers(0, 95), st.integers(1, 5)), max_size=8),
    b=st.lists(st.tuples(st.integers(0, 95), st.integers(1, 5)), max_size=8),
)
def test_colean_time_equals_counting_on_a_grid(
    a: list[tuple[int, int]], b: list[tuple[int, int]]
) -> None:
    def disjoint(raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
        mask = np.zeros(100, bool)
        for s, d in raw:
            mask[s : s + d] = True
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
        return [(int(s), int(e)) for s, e in edges.reshape(-1, 2)]

    ia, ib = disjoint(a), disjoint(b)
    ma, mb = np.zeros(100, bool), np.zeros(100, bool)
    for s, e in ia:
        ma[s:e] = True
    for s, e in ib:
        mb[s:e] = True
    assert colean_time(ia, ib) == int(np.sum(ma & mb))


@settings(max_examples=100, deadline=None)
@given(
    lead=st.lists(st.integers(0, 60), max_size=10, unique=True),
    follow=st.lists(st.integers(0, 60), max_size=10, unique=True),
)
def test_follow_counts_equals_brute_force(lead: list[int], follow: list[int]) -> None:
    lo, hi = 1, 10  # in ns-like integer units
    want = []
    for o in sorted(lead):
        later = [f for f in sorted(follow) if f >= o + lo]
        if later and later[0] - o <= hi:
            want.append(later[0] - o)
    got = follow_counts(np.array(sorted(lead), np.int64), np.array(follow, np.int64), lo, hi)
    assert got.tolist() == want


def test_lagged_correlation_finds_the_shift_and_ignores_nan() -> None:
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.normal(size=400))
    x = z[100:200].copy()
    y = z[100 - 10 + 3 : 200 + 10 + 3].copy()  # y[t + 3] == x[t]... y leads x by 3 here
    r = lagged_correlations(x, y, 10, 10)
    assert int(np.nanargmax(r)) - 10 == -3
    assert np.nanmax(r) == pytest.approx(1.0)
    x[::7] = np.nan
    r2 = lagged_correlations(x, y, 10, 10)
    assert int(np.nanargmax(r2)) - 10 == -3
    assert np.isnan(lagged_correlations(np.full(100, 1.0), y, 10, 10)).all()  # constant x


def test_gap_free_fast_path_agrees_with_the_general_path() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=300), rng.normal(size=400) + 30.0
    fast = lagged_correlations(x, y, 50, 10)
    y_gap = y.copy()
    y_gap[0] = np.nan  # only lag -50 sees the gap; the rest goes the general way
    general = lagged_correlations(x, y_gap, 50, 10)
    np.testing.assert_allclose(fast[1:], general[1:], rtol=0, atol=1e-12)


# --- event semantics --------------------------------------------------------------------------


def _feed(
    episodes: tuple[list[tuple[int, int]], list[tuple[int, int]]], dur_s: float
) -> list[DyadEvent]:
    t = _grid(dur_s, 10.0)
    x = np.zeros(t.size)
    _, events = analyze_dyad((t, t), (x, x), episodes, FAST)
    return [e for e in events if not isinstance(e, WindowCorrelation)]


def test_colean_and_following_events() -> None:
    events = _feed(([(10 * S, 20 * S)], [(12 * S, 25 * S)]), 60.0)
    assert events == [
        OnsetFollowed(12 * S, leader=0, follower=1, leader_onset_ns=10 * S, lag_ns=2 * S),
        CoLeanStarted(12 * S, leader=0, lag_ns=2 * S),
        CoLeanEnded(20 * S, start_ns=12 * S, leader=0, lag_ns=2 * S, ended_by=0),
    ]


def test_simultaneous_onsets_have_no_leader_and_late_follow_is_not_following() -> None:
    events = _feed(([(10 * S, 20 * S), (40 * S, 45 * S)], [(10 * S, 15 * S), (46 * S, 50 * S)]), 60)
    assert events[0] == CoLeanStarted(10 * S, leader=None, lag_ns=0)
    assert not any(isinstance(e, OnsetFollowed) for e in events)  # lag 0 and lag 6 s


def test_late_events_are_counted() -> None:
    tr = DyadTracker(DyadConfig(reorder_s=1.0))
    t = _grid(30.0)
    tr.angles(0, t, np.zeros(t.size))
    tr.angles(1, t, np.zeros(t.size))
    tr.episode_started(0, 10 * S)  # released at once: 10 s < 30 s - 1 s
    tr.episode_started(1, 5 * S)  # earlier than what was already processed
    assert tr.late_events == 1


# --- chunk invariance -------------------------------------------------------------------------


def _live_run(
    t: np.ndarray,
    x: tuple[np.ndarray, np.ndarray],
    episodes: tuple[list[tuple[int, int]], list[tuple[int, int]]],
    cfg: DyadConfig,
    rng: np.random.Generator,
    max_chunk: int,
) -> tuple[DyadTracker, list[DyadEvent]]:
    """Feed like a live hub: interleaved random chunks, episodes reported after a delay."""
    tracker = DyadTracker(cfg)
    pending = []
    for who in (0, 1):
        for a, b in episodes[who]:
            for kind, when in (("start", a), ("end", b)):
                delay = int(rng.uniform(0, cfg.reorder_s - 0.5) * S)
                pending.append((when + delay, who, kind, when))
    pending.sort()
    pos = [0, 0]
    events: list[DyadEvent] = []
    while pos[0] < t.size or pos[1] < t.size:
        who = int(rng.integers(2)) if pos[0] < t.size and pos[1] < t.size else int(pos[1] < t.size)
        n = int(rng.integers(1, max_chunk + 1))
        sl = slice(pos[who], min(pos[who] + n, t.size))
        now = int(t[sl.stop - 1])
        # A pipeline reports the episode events found in a chunk together with its angles,
        # and they are handed on first.
        mine = [p for p in pending if p[1] == who and p[0] <= now]
        for p in mine:
            pending.remove(p)
            _, w, kind, when = p
            events += (
                tracker.episode_started(w, when)
                if kind == "start"
                else tracker.episode_ended(w, when)
            )
        events += tracker.angles(who, t[sl], x[who][sl])
        pos[who] = sl.stop
    for _, w, kind, when in pending:
        events += (
            tracker.episode_started(w, when) if kind == "start" else tracker.episode_ended(w, when)
        )
    events += tracker.finish()
    return tracker, events


def _split(events: list[DyadEvent]) -> tuple[list[DyadEvent], list[DyadEvent]]:
    win = [e for e in events if isinstance(e, WindowCorrelation)]
    return win, [e for e in events if not isinstance(e, WindowCorrelation)]


@pytest.fixture(scope="module")
def coupled() -> tuple[
    np.ndarray, tuple[np.ndarray, np.ndarray], tuple[list[tuple[int, int]], ...]
]:
    rng = np.random.default_rng(42)
    dur = 400.0
    t = _grid(dur)
    ea = _random_episodes(rng, dur)
    eb = _follower(ea, 1.5)
    return t, (_angles(t, ea, rng), _angles(t, eb, rng)), (ea, eb)


INVARIANCE = DyadConfig(n_surrogates=4)


@pytest.fixture(scope="module")
def offline(coupled):  # type: ignore[no-untyped-def]
    t, x, eps = coupled
    return analyze_dyad((t, t), x, eps, INVARIANCE, seed=1)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_chunk=st.sampled_from([4, 36, 500, 30000]))
def test_any_chunking_gives_the_offline_result(coupled, offline, seed: int, max_chunk: int) -> None:  # type: ignore[no-untyped-def]
    t, x, eps = coupled
    offline_summary, offline_events = offline
    tracker, live_events = _live_run(t, x, eps, INVARIANCE, np.random.default_rng(seed), max_chunk)
    assert tracker.late_events == 0
    assert _split(live_events) == _split(offline_events)
    assert repr(tracker.summary(seed=1)) == repr(offline_summary)


def test_chunks_of_one_sample_give_the_offline_result(coupled) -> None:  # type: ignore[no-untyped-def]
    t, x, eps = coupled
    n = 4000  # 80 s keeps this quick
    cut = ([e for e in eps[0] if e[1] < t[n - 1]], [e for e in eps[1] if e[1] < t[n - 1]])
    xs = (x[0][:n], x[1][:n])
    want_summary, want = analyze_dyad((t[:n], t[:n]), xs, cut, INVARIANCE, seed=2)
    tracker, got = _live_run(t[:n], xs, cut, INVARIANCE, np.random.default_rng(0), 1)
    assert _split(got) == _split(want)
    assert repr(tracker.summary(seed=2)) == repr(want_summary)


# --- measures against known coupling ------------------------------------------------------------


def test_coupled_partners_beat_surrogates_and_a_leads(coupled) -> None:  # type: ignore[no-untyped-def]
    t, x, eps = coupled
    summary, events = analyze_dyad((t, t), x, eps, DyadConfig(n_surrogates=60), seed=3)
    n = len(eps[0])
    assert summary.onsets == (n, n)
    assert summary.followed[0].observed == n
    assert summary.followed[0].p_value < 0.05
    assert summary.followed[1].observed == 0
    assert summary.direction_index.observed == 1.0
    assert summary.median_follow_lag_s[0] == pytest.approx(1.5)
    assert summary.colean_fraction.observed > summary.colean_fraction.surrogate_mean
    assert summary.colean_ratio > 1.5
    assert summary.wcc_mean_peak_z.p_value < 0.05
    assert summary.wcc_mean_lag_s == pytest.approx(1.5, abs=0.5)
    assert all(e.leader == 0 for e in events if isinstance(e, CoLeanStarted))


def test_independent_partners_look_like_chance() -> None:
    rng = np.random.default_rng(9)
    ratios, p_values = [], []
    for _ in range(5):
        t = _grid(600.0, 10.0)
        ea, eb = _random_episodes(rng, 600.0), _random_episodes(rng, 600.0)
        x = (_angles(t, ea, rng), _angles(t, eb, rng))
        s, _ = analyze_dyad((t, t), x, (ea, eb), DyadConfig(n_surrogates=40), seed=0)
        ratios.append(s.colean_ratio)
        p_values += [s.colean_fraction.p_value, s.followed[0].p_value, s.wcc_mean_peak_z.p_value]
    assert 0.6 < float(np.median(ratios)) < 1.4
    assert float(np.median(p_values)) > 0.2  # uniform under the null; small if coupled


def test_summary_is_seeded() -> None:
    rng = np.random.default_rng(1)
    t = _grid(300.0, 10.0)
    ea, eb = _random_episodes(rng, 300), _random_episodes(rng, 300)
    x = (_angles(t, ea, rng), _angles(t, eb, rng))
    a, _ = analyze_dyad((t, t), x, (ea, eb), FAST, seed=5)
    b, _ = analyze_dyad((t, t), x, (ea, eb), FAST, seed=5)
    c, _ = analyze_dyad((t, t), x, (ea, eb), FAST, seed=6)
    assert repr(a) == repr(b)
    assert repr(a) != repr(c)


def test_open_episode_counts_to_the_end_and_no_overlap_is_an_error() -> None:
    tr = DyadTracker(FAST)
    t = _grid(100.0, 10.0)
    tr.episode_started(0, 50 * S)
    tr.angles(0, t, np.zeros(t.size))
    tr.angles(1, t, np.zeros(t.size))
    tr.finish()
    s = tr.summary()
    assert s.lean_fraction[0] == pytest.approx(0.5, abs=0.01)
    other = DyadTracker(FAST)
    other.angles(0, t[:10], np.zeros(10))
    other.angles(1, t[50:], np.zeros(t.size - 50))
    with pytest.raises(ConfigError, match="overlap"):
        other.summary()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"window_s": 0.0}, "window_s"),
        ({"follow_min_s": 6.0}, "follow_min_s"),
        ({"min_valid": 0.0}, "min_valid"),
    ],
)
def test_bad_config(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DyadConfig(**kwargs)  # type: ignore[arg-type]


def test_nan_angles_make_windows_invalid_not_wrong() -> None:
    t = _grid(120.0, 10.0)
    x = np.sin(t / S)
    y = x.copy()
    y[: 60 * 10] = np.nan
    _, events = analyze_dyad((t, t), (x, y), ([], []), FAST)
    wins = [e for e in events if isinstance(e, WindowCorrelation)]
    assert wins
    assert all(e.t_ns >= 55 * S for e in wins)
    assert all(math.isclose(e.peak_r, 1.0, abs_tol=1e-9) for e in wins)


def test_baseline_p_values() -> None:
    from sensorhub.dsp.dyad import Baseline

    sur = [-0.5, -0.2, 0.0, 0.1, 0.3, 0.6]
    assert Baseline.of(0.4, sur).p_value == pytest.approx(2 / 7)  # one-sided: only 0.6
    assert Baseline.of(-0.4, sur, two_sided=True).p_value == pytest.approx(3 / 7)  # -0.5, 0.6
    assert math.isnan(Baseline.of(1.0, []).p_value)
    assert Baseline.of(0.4, sur).z == pytest.approx((0.4 - np.mean(sur)) / np.std(sur))


def test_angles_before_t0_are_refused() -> None:
    tr = DyadTracker(DyadConfig(t0_ns=10 * S))
    with pytest.raises(ValueError, match="before t0_ns"):
        tr.angles(0, np.array([5 * S], np.int64), np.array([1.0]))


def test_public_surface_is_pinned() -> None:
    import sensorhub.dsp.dyad as dyad

    assert sorted(dyad.__all__) == [
        "Baseline",
        "CoLeanEnded",
        "CoLeanStarted",
        "DyadConfig",
        "DyadEvent",
        "DyadSummary",
        "DyadTracker",
        "OnsetFollowed",
        "WindowCorrelation",
        "analyze_dyad",
        "colean_time",
        "follow_counts",
        "lagged_correlations",
    ]
    assert all(hasattr(dyad, name) for name in dyad.__all__)


def test_live_detector_feed_matches_offline_and_nothing_arrives_late() -> None:
    """Sim -> LeanDetector in 36-sample frames -> DyadTracker equals the offline analysis.

    Pins that the default re-order window covers the detector's real reporting delay.
    """
    from sensorhub.dsp.detector import DetectorConfig, LeanDetector, detect
    from sensorhub.dsp.episodes import LevelSpec
    from sensorhub.dsp.inclination import calibrate_mounting
    from sensorhub.sim import SimConfig, simulate_session

    # Seed 8 has reports that arrive out of order by more than 3 s (late with reorder_s <= 3).
    session = simulate_session(SimConfig(duration_s=240.0), seed=8)
    det_cfg = DetectorConfig(levels=(LevelSpec("subtle", "forward", 10.0, 6.0),))
    people = session.participants
    cals = [calibrate_mounting(p.up.tolist(), p.forward.tolist()) for p in people]
    detectors = [LeanDetector(c, det_cfg) for c in cals]
    tracker = DyadTracker(FAST)
    live: list[DyadEvent] = []
    frame = 36
    for i in range(0, max(p.t_true_ns.size for p in people), frame):
        for who, (p, d) in enumerate(zip(people, detectors, strict=True)):
            out = d.process(p.t_true_ns[i : i + frame], p.acc_g[i : i + frame])
            for s in out.started:
                live += tracker.episode_started(who, s.onset_ns)
            for e in out.ended:
                live += tracker.episode_ended(who, e.end_ns)
            live += tracker.angles(who, out.t_ns, out.forward)
    for who, d in enumerate(detectors):
        for e in d.flush().ended:
            live += tracker.episode_ended(who, e.end_ns)
    live += tracker.finish()

    whole = [detect(p.t_true_ns, p.acc_g, c, det_cfg) for p, c in zip(people, cals, strict=True)]
    eps = tuple([(e.onset_ns, e.end_ns) for e in w.ended] for w in whole)
    summary, offline = analyze_dyad(
        (whole[0].t_ns, whole[1].t_ns), (whole[0].forward, whole[1].forward), eps, FAST
    )
    assert tracker.late_events == 0
    assert tracker.anomalies == 0
    assert sum(len(e) for e in eps) >= 8
    assert _split(live) == _split(offline)
    assert repr(tracker.summary()) == repr(summary)
