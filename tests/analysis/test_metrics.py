"""Per-participant metrics on constructed inputs with known answers, and on simulated truth."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sensorhub.analysis.metrics import participant_metrics, primary_levels
from sensorhub.dsp.detector import DetectorConfig
from sensorhub.dsp.episodes import LevelSpec
from sensorhub.store.model import SessionData
from tests.analysis.conftest import NS, episode, grid, participant

CFG = DetectorConfig()


def test_grid_fractions_count_only_valid_time_above_each_angle() -> None:
    # 1000 valid samples: 600 at 5 deg, 250 at 25 deg, 150 at 35 deg; plus 100 in motion and
    # 50 lying at 40 deg and 20 NaN, all of which must be left out of the fractions.
    fwd = np.r_[np.full(600, 5.0), np.full(250, 25.0), np.full(150, 35.0), np.full(170, 40.0)]
    fwd[-20:] = np.nan
    dynamic = np.zeros(fwd.size, bool)
    dynamic[1000:1100] = True
    lying = np.zeros(fwd.size, bool)
    lying[1100:1150] = True
    m = participant_metrics(participant("p", fwd, dynamic=dynamic, lying=lying), CFG)
    assert m.valid_s == pytest.approx(1000 / 50)
    assert m.fwd_frac_10 == pytest.approx(0.4)
    assert m.fwd_frac_20 == pytest.approx(0.4)
    assert m.fwd_frac_30 == pytest.approx(0.15)
    assert m.motion_frac == pytest.approx(100 / 1170)
    assert m.lying_frac == pytest.approx(50 / 1170)
    assert m.recorded_s == pytest.approx(1170 / 50)


def test_a_sine_has_the_analytic_fraction_above_each_angle() -> None:
    # 30 sin(phase) over whole periods is above a for phase in (asin(a/30), pi - asin(a/30)):
    # a share of (pi - 2 asin(a/30)) / (2 pi) = acos(a/30) / pi.
    t = np.arange(60_000) / 50.0
    fwd = 30.0 * np.sin(2 * np.pi * 0.01 * t)  # 12 periods of 5000 samples
    m = participant_metrics(participant("p", fwd), CFG)
    for thr, got in ((10, m.fwd_frac_10), (20, m.fwd_frac_20)):
        assert got == pytest.approx(math.acos(thr / 30) / math.pi, abs=1e-3)
    assert m.fwd_frac_30 == pytest.approx(0.0, abs=1e-3)


def test_episode_statistics() -> None:
    eps = [
        episode("p", 10.0, 12.0, peak=22.0, mean=21.0),
        episode("p", 20.0, 24.0, peak=30.0, mean=26.0),
        episode("p", 40.0, 46.0, peak=26.0, mean=24.0),
        episode("p", 60.0, 68.0, peak=40.0, mean=30.0),
        episode("p", 80.0, 83.0, peak=12.0, mean=11.0, level="backward"),
        episode("p", 90.0, 92.0, peak=70.0, mean=65.0, level="lying"),
    ]
    m = participant_metrics(participant("p", np.zeros(6000), episodes=eps), CFG)  # 120 s
    assert m.episode_level == "forward"
    assert m.episodes == 4
    assert m.episodes_per_min == pytest.approx(2.0)
    assert m.episode_s == pytest.approx(20.0)
    assert m.episode_frac == pytest.approx(20.0 / 120.0)
    assert (m.duration_mean_s, m.duration_median_s) == pytest.approx((5.0, 5.0))
    assert (m.duration_q25_s, m.duration_q75_s, m.duration_iqr_s) == pytest.approx((3.5, 6.5, 3.0))
    assert (m.peak_mean_deg, m.peak_median_deg, m.peak_max_deg) == pytest.approx((29.5, 28, 40))
    # mean angle weighted by duration: (21*2 + 26*4 + 24*6 + 30*8) / 20
    assert m.depth_mean_deg == pytest.approx(26.5)
    assert m.backward_episodes == 1
    assert m.backward_frac == pytest.approx(3.0 / 120.0)


def test_no_episodes_gives_undefined_statistics_not_zeros() -> None:
    m = participant_metrics(participant("p", np.zeros(500)), CFG)
    assert m.episodes == 0
    assert m.episodes_per_min == 0.0
    assert math.isnan(m.duration_median_s)
    assert math.isnan(m.peak_max_deg)
    assert math.isnan(m.depth_mean_deg)


def test_gaps_in_the_raw_samples_and_breaks_in_the_grid() -> None:
    raw = (np.arange(4000) * 5_000_000).astype(np.int64)  # 200 Hz
    raw[2000:] += 500_000_000  # one 0.5 s gap (bridged by the detector)
    raw[3000:] += 30_000_000  # one 35 ms interval: 7 periods, also a gap
    t = grid(1000)
    t[600:] += 3 * NS  # a 3 s break: the grid restarts
    m = participant_metrics(participant("p", np.zeros(1000), t_ns=t, raw_t_ns=raw), CFG)
    assert m.gaps == 2
    assert m.gap_s == pytest.approx(0.5 + 0.030)
    assert m.breaks == 1
    assert m.break_s == pytest.approx(3.0)
    assert m.samples == 4000
    assert m.recorded_s == pytest.approx(1000 / 50)


def test_primary_levels_follow_the_configuration() -> None:
    assert primary_levels(CFG) == ("forward", "backward")
    levels = (LevelSpec("deep", "forward", 30, 25), LevelSpec("forward", "forward", 20, 15))
    cfg = replace(CFG, levels=levels)
    assert primary_levels(cfg) == ("deep", None)
    fwd = np.zeros(3000)
    eps = [episode("p", 1, 3, level="deep"), episode("p", 5, 9), episode("p", 12, 20)]
    assert participant_metrics(participant("p", fwd, episodes=eps), cfg).episodes == 1


def test_simulated_sessions_agree_with_the_simulator_truth(
    sim_sessions: list[SessionData],
) -> None:
    """Grid fraction above 20 deg vs the true angle; episode counts vs the planned leans."""
    from sensorhub.sim import SimConfig, simulate_session

    s = sim_sessions[0]
    sim = simulate_session(SimConfig(n_participants=2, duration_s=240.0), 11)
    for p, truth in zip(s.participants, sim.participants, strict=True):
        m = participant_metrics(p, s.detection.detector, session=s.meta.id)
        true_frac = float(np.mean(truth.forward_deg > 20.0))
        assert m.fwd_frac_20 == pytest.approx(true_frac, abs=0.03)
        deep = [e for e in truth.forward_episodes if e.peak_deg >= 25]
        assert len(deep) <= m.episodes <= len(truth.forward_episodes) + 1
        assert m.rate_hz == pytest.approx(200.0, rel=1e-3)
        assert m.samples == truth.acc_g.shape[0]
