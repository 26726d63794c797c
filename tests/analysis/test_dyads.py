"""Per-dyad metrics: constructed partners with a known leader and lag; same as the live run."""

from __future__ import annotations

import numpy as np
import pytest

from sensorhub.analysis.dyads import binned_series, dyad_metrics, lag_time_map
from sensorhub.store.model import SessionData
from tests.analysis.conftest import NS, RATE_HZ, episode, grid, participant

LAG_S = 2.0
DURATION_S = 600.0


def _smooth_noise(n: int, seed: int) -> np.ndarray:
    """Random angle-like series (deg): white noise smoothed over 3 s, about 10 deg SD."""
    x = np.random.default_rng(seed).standard_normal(n)
    k = int(3 * RATE_HZ)
    y = np.convolve(x, np.ones(k) / k, "same")
    return np.asarray(10.0 * y / y.std(), dtype=np.float64)


@pytest.fixture(scope="module")
def leader_follower() -> tuple:
    """B copies A's angle 2 s later, and starts each of A's 10-s leans 2 s after A."""
    n = int(DURATION_S * RATE_HZ)
    shift = int(LAG_S * RATE_HZ)
    base = _smooth_noise(n + shift, 5)
    fa, fb = base[shift:], base[:n]  # fb[t] = fa[t - LAG]
    onsets = np.arange(30.0, DURATION_S - 30, 60.0)
    ea = [episode("a", o, o + 10) for o in onsets]
    eb = [episode("b", o + LAG_S, o + LAG_S + 10) for o in onsets]
    return participant("a", fa, episodes=ea), participant("b", fb, episodes=eb), len(onsets)


def test_known_leader_lag_and_colean(leader_follower: tuple) -> None:
    a, b, n = leader_follower
    row, summary, _ = dyad_metrics(a, b, "forward", session="s")
    assert (row.a, row.b, row.session) == ("a", "b", "s")
    assert row.onsets_a == row.onsets_b == n
    assert (row.a_leads, row.b_leads) == (n, 0)
    assert row.lag_a_leads_median_s == pytest.approx(LAG_S, abs=1e-6)
    assert row.direction_index == 1.0
    assert row.leader == "a"
    assert row.colean_s == pytest.approx(n * (10 - LAG_S), abs=1e-3)
    assert row.colean_ratio > 3  # 1/6 of the time each, overlapping 80 %: far above chance
    assert row.colean_p < 0.05
    assert row.a_leads_p < 0.05
    assert row.wcc_lag_mean_s == pytest.approx(LAG_S, abs=0.1)
    assert row.wcc_peak_r > 0.99
    assert row.wcc_peak_z > row.wcc_peak_z_chance
    assert row.wcc_p < 0.05
    assert row.wcc_windows == summary.wcc_windows > 50


def test_swapping_partners_flips_the_leader(leader_follower: tuple) -> None:
    a, b, n = leader_follower
    row, _, _ = dyad_metrics(b, a, "forward")
    assert (row.a_leads, row.b_leads) == (0, n)
    assert row.direction_index == -1.0
    assert row.leader == "a"  # the id of the partner who leads, whichever position it has
    assert row.wcc_lag_mean_s == pytest.approx(-LAG_S, abs=0.1)


def test_lag_time_map_peaks_at_the_known_lag(leader_follower: tuple) -> None:
    a, b, _ = leader_follower
    m = lag_time_map(a, b, step_s=2.0)
    assert m.r.shape == (m.t_s.size, m.lag_s.size) == (m.t_s.size, 101)
    assert m.lag_s[0] == -5.0
    assert m.lag_s[-1] == 5.0
    peaks = m.lag_s[np.nanargmax(m.r, axis=1)]
    assert np.median(peaks) == pytest.approx(LAG_S)
    assert np.mean(np.abs(peaks - LAG_S) < 0.15) > 0.95
    assert m.t_s[0] == pytest.approx(5.0 + 15.0)  # first window after the lag margin, centred
    assert np.all(np.diff(m.t_s) == pytest.approx(2.0))


def test_binned_series_means_per_bin_with_gaps() -> None:
    t = grid(20)  # 50 Hz: 5 samples per 10 Hz bin
    x = np.arange(20, dtype=np.float64)
    x[7] = np.nan
    t[15:] += NS // 5  # skip two bins
    out = binned_series(t, x, 10.0)
    assert out.size == 6
    assert out[0] == pytest.approx(2.0)
    assert out[1] == pytest.approx(np.mean([5, 6, 8, 9]))
    assert out[2] == pytest.approx(12.0)
    assert np.isnan(out[3])
    assert np.isnan(out[4])
    assert out[5] == pytest.approx(17.0)


def test_offline_dyad_measures_equal_the_live_dyad_events(
    sim_sessions: list[SessionData],
) -> None:
    """The analysis feeds the live tracker the same inputs: the same correlation windows."""
    s = sim_sessions[0]
    (a_id, b_id) = s.dyads[0]
    _, _, events = dyad_metrics(s.participant(a_id), s.participant(b_id), "forward")
    live = [e for e in s.dyad_events if e.kind == "correlation"]
    offline = [e for e in events if type(e).__name__ == "WindowCorrelation"]
    assert len(live) == len(offline) > 10
    for lv, off in zip(live, offline, strict=True):
        assert lv.t == pytest.approx(off.t_ns / NS)
        assert lv.r == pytest.approx(off.peak_r)
        assert lv.lag_s == pytest.approx(off.peak_lag_s)
    n_live = sum(e.kind == "onset_followed" for e in s.dyad_events)
    n_off = sum(type(e).__name__ == "OnsetFollowed" for e in events)
    assert n_live == n_off
