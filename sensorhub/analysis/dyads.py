"""Per-dyad metrics and the lag-time correlation map (lean-detection-methods.md §7, per dyad).

The measures are those of :mod:`sensorhub.dsp.dyad` -- the streaming tracker the live
service runs, fed the whole session (:func:`~sensorhub.dsp.dyad.analyze_dyad`) with the same
inputs the live :class:`~sensorhub.pipeline.DyadPipeline` gets: each partner's forward angle
grid and the onsets/ends of their primary-level episodes. This module only flattens the
summary into a table row and computes the full lag-by-time correlation matrix for the figure
(the tracker keeps only each window's peak).

Partner A is the first of the pair, B the second. Lags are positive when A leads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub.dsp.dyad import (
    DyadConfig,
    DyadEvent,
    DyadSummary,
    analyze_dyad,
    lagged_correlations,
)
from sensorhub.store.model import ParticipantData

__all__ = [
    "DyadMetrics",
    "LagMap",
    "binned_series",
    "dyad_metrics",
    "episode_intervals",
    "lag_time_map",
]

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DyadMetrics:
    """One dyad's measures, flat for a table. ``*_chance`` is the surrogate mean, ``*_p`` the
    surrogate p-value (one-sided; two-sided for the direction index)."""

    session: str
    a: str
    b: str
    span_s: float
    lean_frac_a: float
    lean_frac_b: float
    colean_s: float
    colean_frac: float
    colean_chance: float
    colean_ratio: float
    colean_p: float
    onsets_a: int
    onsets_b: int
    a_leads: int
    a_leads_chance: float
    a_leads_p: float
    b_leads: int
    b_leads_chance: float
    b_leads_p: float
    lag_a_leads_median_s: float
    lag_b_leads_median_s: float
    direction_index: float
    direction_p: float
    leader: str
    wcc_windows: int
    wcc_peak_z: float
    wcc_peak_z_chance: float
    wcc_p: float
    wcc_peak_r: float
    wcc_lag_mean_s: float
    wcc_lag_sd_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def undefined(cls, session: str, a: str, b: str) -> DyadMetrics:
        """A row for a dyad without overlapping data: every measure undefined (NaN, 0)."""
        values: dict[str, Any] = {}
        for name, f in cls.__dataclass_fields__.items():
            values[name] = 0 if f.type == "int" else "" if f.type == "str" else math.nan
        values.update(session=session, a=a, b=b)
        return cls(**values)


def episode_intervals(p: ParticipantData, level: str) -> list[tuple[int, int]]:
    """``(onset_ns, end_ns)`` of a level's episodes, sorted (the dyad tracker's input)."""
    return sorted((round(e.onset * NS), round(e.end * NS)) for e in p.episodes_of(level))


def dyad_metrics(
    a: ParticipantData,
    b: ParticipantData,
    level: str,
    *,
    session: str = "",
    config: DyadConfig | None = None,
    seed: int = 0,
) -> tuple[DyadMetrics, DyadSummary, list[DyadEvent]]:
    """The dyad measures of partners ``a`` and ``b`` (seeded surrogates: deterministic)."""
    summary, events = analyze_dyad(
        (a.angles.t_ns, b.angles.t_ns),
        (a.angles.forward, b.angles.forward),
        (episode_intervals(a, level), episode_intervals(b, level)),
        config,
        seed=seed,
    )
    s = summary
    di = s.direction_index.observed
    leader = a.id if di > 0 else b.id if di < 0 else ""
    row = DyadMetrics(
        session=session,
        a=a.id,
        b=b.id,
        span_s=s.span_s,
        lean_frac_a=s.lean_fraction[0],
        lean_frac_b=s.lean_fraction[1],
        colean_s=s.colean_s,
        colean_frac=s.colean_fraction.observed,
        colean_chance=s.colean_fraction.surrogate_mean,
        colean_ratio=s.colean_ratio,
        colean_p=s.colean_fraction.p_value,
        onsets_a=s.onsets[0],
        onsets_b=s.onsets[1],
        a_leads=round(s.followed[0].observed),
        a_leads_chance=s.followed[0].surrogate_mean,
        a_leads_p=s.followed[0].p_value,
        b_leads=round(s.followed[1].observed),
        b_leads_chance=s.followed[1].surrogate_mean,
        b_leads_p=s.followed[1].p_value,
        lag_a_leads_median_s=s.median_follow_lag_s[0],
        lag_b_leads_median_s=s.median_follow_lag_s[1],
        direction_index=di,
        direction_p=s.direction_index.p_value,
        leader=leader if math.isfinite(di) else "",
        wcc_windows=s.wcc_windows,
        wcc_peak_z=s.wcc_mean_peak_z.observed,
        wcc_peak_z_chance=s.wcc_mean_peak_z.surrogate_mean,
        wcc_p=s.wcc_mean_peak_z.p_value,
        wcc_peak_r=s.wcc_mean_peak_r,
        wcc_lag_mean_s=s.wcc_mean_lag_s,
        wcc_lag_sd_s=s.wcc_sd_lag_s,
    )
    return row, summary, events


def binned_series(
    t_ns: NDArray[np.int64], x: NDArray[np.float64], grid_hz: float, t0_ns: int = 0
) -> NDArray[np.float64]:
    """Mean of the finite values per bin of ``1 / grid_hz`` from ``t0_ns``; NaN where empty.

    The same binning as :class:`~sensorhub.dsp.dyad.DyadTracker` (bin ``k`` covers
    ``[t0 + k / grid_hz, t0 + (k + 1) / grid_hz)``), so map and summary see the same series.
    """
    if t_ns.size == 0:
        return np.zeros(0)
    bins = (t_ns - t0_ns) // round(NS / grid_hz)
    n = int(bins[-1]) + 1
    ok = np.isfinite(x)
    sums = np.bincount(bins[ok], weights=x[ok], minlength=n)
    counts = np.bincount(bins[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts
    out[counts == 0] = np.nan
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class LagMap:
    """Windowed cross-lagged correlation: ``r[i, j]`` for window centre ``t_s[i]`` and lag
    ``lag_s[j]`` (positive: A leads); NaN where a window lacks data."""

    t_s: NDArray[np.float64]
    lag_s: NDArray[np.float64]
    r: NDArray[np.float64]


def lag_time_map(
    a: ParticipantData,
    b: ParticipantData,
    config: DyadConfig | None = None,
    step_s: float = 2.0,
) -> LagMap:
    """Full lagged-correlation matrix over sliding windows, for the lag-time figure.

    Window length, lag range and the valid-data rule are the tracker's; the step is finer
    (default 2 s instead of 10 s) only so the image is smooth. Boker et al. (2002) plot it so.
    """
    cfg = config or DyadConfig()
    x = binned_series(a.angles.t_ns, a.angles.forward, cfg.grid_hz, cfg.t0_ns)
    y = binned_series(b.angles.t_ns, b.angles.forward, cfg.grid_hz, cfg.t0_ns)
    n = min(x.size, y.size)
    w, lag = cfg.bins(cfg.window_s), cfg.bins(cfg.max_lag_s)
    step = max(1, cfg.bins(step_s))
    min_n = cfg.min_valid_pairs
    starts = list(range(lag, n - w - lag + 1, step))
    rows = [lagged_correlations(x[s : s + w], y[s - lag : s + w + lag], lag, min_n) for s in starts]
    r = np.array(rows) if rows else np.zeros((0, 2 * lag + 1))
    t_s = (np.array(starts, dtype=np.float64) + w / 2) / cfg.grid_hz + cfg.t0_ns / NS
    lags = np.arange(-lag, lag + 1) / cfg.grid_hz
    return LagMap(t_s, lags.astype(np.float64), r.astype(np.float64))
