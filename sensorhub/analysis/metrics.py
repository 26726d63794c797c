"""Per-participant metrics of one session (lean-detection-methods.md §7, per participant).

Everything is computed from what the live detector produced (:class:`ParticipantData`): its
uniform angle grid and its episodes. Nothing is re-detected here.

Two kinds of "time leaning forward" are reported because they answer different questions:

* **grid fractions** at 10, 20 and 30 degrees: the share of *valid* grid time whose forward
  angle is above the angle. Valid means a finite angle that is neither in motion (the
  detector's dynamic gate: gestures and posture shifts bias an accelerometer angle) nor lying
  (a lying posture is not a lean). These are exposure-style measures with no hysteresis or
  minimum duration, comparable across studies that use other detectors;
* **episode time** of the primary level: the summed duration of the detector's episodes,
  the measure the live dashboard and the dyad measures use.

Denominators: grid fractions use valid grid time; episode, backward and lying fractions and
episodes per minute use the recorded time (grid samples times the grid period, i.e. without
breaks).

QC: ``gaps`` are raw inter-sample intervals longer than :data:`GAP_FACTOR` times the median
interval (lost packets; the detector interpolates over those shorter than its ``max_gap_s``),
``breaks`` are the gaps the detector did not bridge (the grid restarts after them).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub import events as ev
from sensorhub.dsp.detector import DetectorConfig
from sensorhub.store.model import ParticipantData

__all__ = [
    "GAP_FACTOR",
    "THRESHOLDS_DEG",
    "ParticipantMetrics",
    "participant_metrics",
    "primary_levels",
    "valid_mask",
]

#: The angles of the grid fractions (degrees forward); §7 suggests 10/20/30 as in ergonomic
#: exposure reporting (Acti4/ActiPASS report trunk inclination above 20, 30, 60 and 90).
THRESHOLDS_DEG = (10.0, 20.0, 30.0)
#: A raw interval longer than this many median intervals is a gap (at least two samples lost:
#: BLE jitter alone rarely stretches an interval beyond twice the nominal period).
GAP_FACTOR = 2.5

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ParticipantMetrics:
    """One participant's metrics; fractions are 0-1, times in seconds, angles in degrees."""

    session: str
    participant: str
    recorded_s: float
    valid_s: float
    fwd_frac_10: float
    fwd_frac_20: float
    fwd_frac_30: float
    episode_level: str
    episode_s: float
    episode_frac: float
    episodes: int
    episodes_per_min: float
    duration_mean_s: float
    duration_median_s: float
    duration_q25_s: float
    duration_q75_s: float
    duration_iqr_s: float
    peak_mean_deg: float
    peak_median_deg: float
    peak_max_deg: float
    depth_mean_deg: float
    backward_episodes: int
    backward_frac: float
    lying_frac: float
    motion_frac: float
    gaps: int
    gap_s: float
    breaks: int
    break_s: float
    samples: int
    rate_hz: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def primary_levels(config: DetectorConfig) -> tuple[str, str | None]:
    """Names of the primary forward level (the first forward one) and the first backward one."""
    forward = next((lv.name for lv in config.levels if lv.direction == "forward"), "forward")
    backward = next((lv.name for lv in config.levels if lv.direction == "backward"), None)
    return forward, backward


def valid_mask(p: ParticipantData) -> NDArray[np.bool_]:
    """Grid samples that count for the grid fractions: finite, not in motion, not lying."""
    a = p.angles
    ok = np.isfinite(a.forward) & ~a.dynamic.astype(bool) & ~a.lying.astype(bool)
    return np.asarray(ok, dtype=np.bool_)


def participant_metrics(
    p: ParticipantData, config: DetectorConfig, session: str = ""
) -> ParticipantMetrics:
    """All per-participant metrics of one participant (see the module docstring)."""
    a = p.angles
    period_s = 1.0 / config.rate_hz
    n_grid = int(a.t_ns.size)
    recorded_s = n_grid * period_s
    valid = valid_mask(p)
    n_valid = int(valid.sum())
    fwd = a.forward[valid]
    fracs = [_ratio(float(np.sum(fwd > thr)), n_valid) for thr in THRESHOLDS_DEG]

    level, back_level = primary_levels(config)
    eps = p.episodes_of(level)
    dur = np.array([e.end - e.onset for e in eps], dtype=np.float64)
    peaks = np.array([e.peak_deg for e in eps], dtype=np.float64)
    means = np.array([e.mean_deg for e in eps], dtype=np.float64)
    back = p.episodes_of(back_level) if back_level else []
    q25, q50, q75 = _quantiles(dur)
    gaps, gap_s = _raw_gaps(p.t_ns)
    breaks, break_s = _grid_breaks(a.t_ns, period_s)
    return ParticipantMetrics(
        session=session,
        participant=p.id,
        recorded_s=recorded_s,
        valid_s=n_valid * period_s,
        fwd_frac_10=fracs[0],
        fwd_frac_20=fracs[1],
        fwd_frac_30=fracs[2],
        episode_level=level,
        episode_s=float(dur.sum()),
        episode_frac=_ratio(float(dur.sum()), recorded_s),
        episodes=len(eps),
        episodes_per_min=_ratio(len(eps), recorded_s / 60.0),
        duration_mean_s=_mean(dur),
        duration_median_s=q50,
        duration_q25_s=q25,
        duration_q75_s=q75,
        duration_iqr_s=q75 - q25,
        peak_mean_deg=_mean(peaks),
        peak_median_deg=float(np.median(peaks)) if peaks.size else math.nan,
        peak_max_deg=float(peaks.max()) if peaks.size else math.nan,
        depth_mean_deg=_weighted_mean(means, dur),
        backward_episodes=len(back),
        backward_frac=_ratio(_total(back), recorded_s),
        lying_frac=_ratio(float(np.sum(a.lying)), n_grid),
        motion_frac=_ratio(float(np.sum(a.dynamic)), n_grid),
        gaps=gaps,
        gap_s=gap_s,
        breaks=breaks,
        break_s=break_s,
        samples=int(p.t_ns.size),
        rate_hz=float(p.sample_rate_hz),
    )


def _total(episodes: list[ev.EpisodeEnded]) -> float:
    return float(sum(e.end - e.onset for e in episodes))


def _ratio(num: float, den: float) -> float:
    return num / den if den > 0 else math.nan


def _mean(x: NDArray[np.float64]) -> float:
    return float(x.mean()) if x.size else math.nan


def _weighted_mean(x: NDArray[np.float64], w: NDArray[np.float64]) -> float:
    """Duration-weighted mean angle: a 40 s lean weighs more than a 2 s one."""
    return float(np.sum(x * w) / np.sum(w)) if x.size and np.sum(w) > 0 else math.nan


def _quantiles(x: NDArray[np.float64]) -> tuple[float, float, float]:
    if not x.size:
        return math.nan, math.nan, math.nan
    q = np.quantile(x, [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def _raw_gaps(t_ns: NDArray[np.int64]) -> tuple[int, float]:
    """Count and total length (s) of raw intervals beyond GAP_FACTOR x the median interval."""
    if t_ns.size < 3:
        return 0, 0.0
    d = np.diff(t_ns)
    med = float(np.median(d))
    if med <= 0:
        return 0, 0.0
    long = d[d > GAP_FACTOR * med]
    return int(long.size), float(np.sum(long - med)) / NS


def _grid_breaks(t_ns: NDArray[np.int64], period_s: float) -> tuple[int, float]:
    """Breaks the detector did not bridge: the grid is exactly periodic within a segment."""
    if t_ns.size < 2:
        return 0, 0.0
    d = np.diff(t_ns) / NS
    jump = d[d > 1.5 * period_s]
    return int(jump.size), float(np.sum(jump - period_s))
