"""Dyad measures: co-lean, onset contingency (who leads) and windowed cross-lagged correlation.

Measures follow lean-detection-methods.md §7 (per dyad 1-3), each against a time-shift
surrogate baseline: one partner's episodes or angle series are circularly shifted by random
offsets of at least ``min_shift_s`` within the common observation span, which keeps each
person's own rhythm and destroys only the alignment between them.

Partners are ``0`` (A) and ``1`` (B). Lags are positive when A leads: B's onset comes after
A's, or B's angle series matches A's at a later time.

:class:`DyadTracker` is streaming and chunk-invariant, and offline analysis is the same object
fed whole arrays (:func:`analyze_dyad`). Inputs are deliberately small:

* forward angle per partner on a uniform grid (``t_ns``, ``deg``; any rate, any chunking),
  averaged into bins of ``1 / grid_hz`` anchored at ``t0_ns`` — a bin's mean is computed once
  from all its samples, so it is bit-identical for any chunking;
* episode starts and ends as ``(who, time_ns)`` calls. A detector reports an onset some
  seconds after it happened (minimum duration, retrospective onset), and the two partners'
  detectors run at different paces, so episode events are held in a re-order buffer and
  processed in time order once both partners' angle streams have passed their time by
  ``reorder_s``. Events arriving later than that are processed at once and counted in
  ``late_events`` (the only way chunking could then matter).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import ConfigError

__all__ = [
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

F64 = NDArray[np.float64]
Interval = tuple[int, int]


@dataclass(frozen=True, slots=True)
class DyadConfig:
    """Dyad-measure parameters (defaults from lean-detection-methods.md §7)."""

    grid_hz: float = 10.0  # angle bins for the correlation (§7: resample to 5-10 Hz)
    window_s: float = 30.0
    step_s: float = 10.0
    max_lag_s: float = 5.0
    min_valid: float = 0.8  # fraction of a window's bin pairs that must hold data
    follow_min_s: float = 0.5  # a partner onset counts as following within [min, max]
    follow_max_s: float = 5.0
    #: Longer than the detector's reporting delay: min duration 2 s + retrospective onset
    #: <= 5 s. Measured on simulated sessions (bench/eval_sim.py sessions, default levels plus
    #: 10/6): onset reported a median 2.7 s, at most 6.9 s after it; ends at most 1.6 s after.
    reorder_s: float = 8.0
    n_surrogates: int = 200
    min_shift_s: float = 30.0
    t0_ns: int = 0

    def __post_init__(self) -> None:
        for name in ("grid_hz", "window_s", "step_s", "follow_max_s", "min_shift_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DyadConfig.{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.follow_min_s < self.follow_max_s:
            raise ConfigError("DyadConfig.follow_min_s must be in [0, follow_max_s)")
        if self.max_lag_s < 0 or self.reorder_s < 0 or self.n_surrogates < 0:
            raise ConfigError("DyadConfig.max_lag_s, reorder_s and n_surrogates must be >= 0")
        if not 0 < self.min_valid <= 1:
            raise ConfigError("DyadConfig.min_valid must be in (0, 1]")
        if self.bins(self.window_s) < 3:
            raise ConfigError("DyadConfig.window_s must span at least 3 grid bins")

    def bins(self, seconds: float) -> int:
        """``seconds`` in correlation grid bins (window, lag, step and shift lengths)."""
        return round(seconds * self.grid_hz)

    @property
    def min_valid_pairs(self) -> int:
        """Bin pairs with data a window needs for a correlation (``min_valid``, at least 3)."""
        return max(3, math.ceil(self.min_valid * self.bins(self.window_s)))


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoLeanStarted:
    """Both partners now lean: ``leader`` was leaning first by ``lag_ns`` (None if tied)."""

    t_ns: int
    leader: int | None
    lag_ns: int


@dataclass(frozen=True, slots=True)
class CoLeanEnded:
    t_ns: int
    start_ns: int
    leader: int | None
    lag_ns: int
    ended_by: int


@dataclass(frozen=True, slots=True)
class OnsetFollowed:
    """``follower`` started leaning ``lag_ns`` after ``leader``'s onset at ``leader_onset_ns``."""

    t_ns: int
    leader: int
    follower: int
    leader_onset_ns: int
    lag_ns: int


@dataclass(frozen=True, slots=True)
class WindowCorrelation:
    """Cross-lagged correlation of the forward angles over ``[t_ns, end_ns)`` (A's window).

    ``peak_lag_s`` is the lag of the highest r, positive when A leads; NaN values mean the
    window lacked data (fewer than ``min_valid`` of its bins) or one angle was constant.
    """

    t_ns: int
    end_ns: int
    peak_r: float
    peak_z: float
    peak_lag_s: float
    r_zero: float


DyadEvent = CoLeanStarted | CoLeanEnded | OnsetFollowed | WindowCorrelation


# --- pure measures (used for the observed value and for every surrogate) --------------------


def colean_time(a: Sequence[Interval], b: Sequence[Interval]) -> int:
    """Total overlap (ns) of two lists of disjoint, sorted intervals."""
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        total += max(0, hi - lo)
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def follow_counts(
    leader: NDArray[np.int64], follower: NDArray[np.int64], lo_ns: int, hi_ns: int
) -> NDArray[np.int64]:
    """Lags (ns) of the leader onsets followed by a follower onset within ``[lo, hi]`` ns.

    For each leader onset only the first follower onset at or after ``onset + lo`` counts;
    its length is the number of followed leader onsets.
    """
    f = np.sort(follower)
    idx = np.searchsorted(f, leader + lo_ns, "left")
    ok = idx < f.size
    lags = f[np.minimum(idx, max(f.size - 1, 0))] - leader if f.size else leader * 0
    hit = ok & (lags <= hi_ns)
    return np.asarray(lags[hit], dtype=np.int64)


def lagged_correlations(x: F64, y: F64, max_lag: int, min_n: int) -> F64:
    """r between ``x[t]`` and ``y[t + lag]`` for lag in ``[-max_lag, max_lag]`` (NaN-aware).

    ``y`` holds ``len(x) + 2 * max_lag`` values starting ``max_lag`` before ``x``. A lag with
    fewer than ``min_n`` finite pairs or zero variance gives NaN.
    """
    w = x.size
    if np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
        return _lagged_correlations_finite(x, y, w)
    ys = np.lib.stride_tricks.sliding_window_view(y, w)  # (2L+1, w)
    valid = np.isfinite(x)[None, :] & np.isfinite(ys)
    n = valid.sum(axis=1)
    xv = np.where(valid, x[None, :], 0.0)
    yv = np.where(valid, ys, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xv.sum(axis=1) / n
        my = yv.sum(axis=1) / n
        dx = np.where(valid, xv - mx[:, None], 0.0)
        dy = np.where(valid, yv - my[:, None], 0.0)
        r = (dx * dy).sum(axis=1) / np.sqrt((dx * dx).sum(axis=1) * (dy * dy).sum(axis=1))
    r[(n < min_n) | ~np.isfinite(r)] = np.nan
    return np.asarray(r[: 2 * max_lag + 1], dtype=np.float64)


def _lagged_correlations_finite(x: F64, y: F64, w: int) -> F64:
    """Fast path without gaps: one cross-correlation plus running sums of B."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    num = np.correlate(y, xc, "valid")  # sum_t xc[t] * y[t + k]; sum(xc) = 0 removes B's mean
    yc = y - y.mean()  # centring first keeps the running sums well conditioned
    c1 = np.concatenate(([0.0], np.cumsum(yc)))
    c2 = np.concatenate(([0.0], np.cumsum(yc * yc)))
    s1, s2 = c1[w:] - c1[:-w], c2[w:] - c2[:-w]
    syy = s2 - s1 * s1 / w
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / np.sqrt(sxx * syy)
    r[(syy <= 1e-9 * np.maximum(s2, 1e-300)) | ~np.isfinite(r) | (sxx <= 0)] = np.nan
    return np.asarray(r, dtype=np.float64)


def _peak(r: F64, max_lag: int, grid_hz: float) -> tuple[float, float, float]:
    if not np.any(np.isfinite(r)):
        return math.nan, math.nan, math.nan
    k = int(np.nanargmax(r))
    peak = float(r[k])
    z = math.atanh(min(max(peak, -0.999999), 0.999999))
    return peak, z, (k - max_lag) / grid_hz


def _wrap(intervals: Sequence[Interval], span: Interval, shift: int) -> list[Interval]:
    """Circularly shift intervals within ``span`` (splitting any that wrap), sorted."""
    s0, s1 = span
    length = s1 - s0
    out: list[Interval] = []
    for lo, hi in intervals:
        a = s0 + (lo - s0 + shift) % length
        b = a + (hi - lo)
        if b <= s1:
            out.append((a, b))
        else:
            out += [(a, s1), (s0, s0 + b - s1)]
    return sorted(out)


def _clip(intervals: Iterable[Interval], span: Interval) -> list[Interval]:
    return [(max(a, span[0]), min(b, span[1])) for a, b in intervals if b > span[0] and a < span[1]]


def _window_r(x_win: F64, y_ext: F64, cfg: DyadConfig) -> F64:
    """Lagged correlations of one A window against B's window extended by the lag range."""
    return lagged_correlations(x_win, y_ext, cfg.bins(cfg.max_lag_s), cfg.min_valid_pairs)


# --- summary ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Baseline:
    """An observed value against its time-shift surrogate distribution.

    ``p_value`` is one-sided, ``(1 + #{surrogate >= observed}) / (1 + n)``, except for the
    direction index, where it is two-sided (``|surrogate| >= |observed|``).
    """

    observed: float
    surrogate_mean: float
    surrogate_sd: float
    p_value: float

    @classmethod
    def of(cls, observed: float, surrogates: Sequence[float], two_sided: bool = False) -> Baseline:
        """``two_sided``: p from ``|surrogate| >= |observed|`` (for signed indices around 0)."""
        s = np.asarray(surrogates, dtype=np.float64)
        s = s[np.isfinite(s)]
        if s.size == 0 or not math.isfinite(observed):
            return cls(observed, math.nan, math.nan, math.nan)
        beyond = np.abs(s) >= abs(observed) if two_sided else s >= observed
        p = (1 + int(np.sum(beyond))) / (1 + s.size)
        return cls(observed, float(s.mean()), float(s.std()), p)

    @property
    def z(self) -> float:
        """(observed - surrogate mean) / surrogate SD; NaN if undefined."""
        if not self.surrogate_sd > 0:
            return math.nan
        return (self.observed - self.surrogate_mean) / self.surrogate_sd


@dataclass(frozen=True, slots=True)
class DyadSummary:
    """Whole-session dyad measures; tuples are indexed by partner (A, B).

    ``followed[0]``: A onsets followed by B within the window (A leads); ``followed[1]`` the
    reverse. ``direction_index`` = (A->B - B->A) / (A->B + B->A), positive when A leads.
    ``colean_ratio`` = P(both) / (P(A) * P(B)), the co-lean ratio to independent chance.
    """

    span_s: float
    lean_fraction: tuple[float, float]
    colean_s: float
    colean_fraction: Baseline
    colean_ratio: float
    onsets: tuple[int, int]
    followed: tuple[Baseline, Baseline]
    median_follow_lag_s: tuple[float, float]
    direction_index: Baseline
    wcc_windows: int
    wcc_mean_peak_z: Baseline
    wcc_mean_peak_r: float
    wcc_mean_lag_s: float
    wcc_sd_lag_s: float
    late_events: int


def _direction(ab: int, ba: int) -> float:
    return (ab - ba) / (ab + ba) if ab + ba else math.nan


# --- the streaming tracker -------------------------------------------------------------------


class DyadTracker:
    """Streaming dyad measures for partners A (0) and B (1); see the module docstring.

    Every input method returns the events it caused. Per processed chunk of a partner's
    pipeline, hand on its episode starts/ends *before* its angles (the angles move the
    re-order watermark). Call :meth:`finish` at the end, then :meth:`summary` for
    whole-session measures with surrogate baselines (a summary before ``finish`` covers the
    events released so far and counts open episodes up to the current end).
    Memory grows with the session (10 bin values per second per partner, one record per
    episode and window): fine for sessions of hours, not for weeks.
    """

    def __init__(self, config: DyadConfig | None = None) -> None:
        self.config = cfg = config or DyadConfig()
        self._bin_ns = round(1e9 / cfg.grid_hz)
        self._series: list[list[float]] = [[], []]  # completed bin means from bin 0
        #: Samples of bins not yet closed (values, bin ids), per partner.
        self._open_v: list[list[F64]] = [[], []]
        self._open_b: list[list[NDArray[np.int64]]] = [[], []]
        self._first: list[int | None] = [None, None]
        self._last: list[int | None] = [None, None]
        self._heap: list[tuple[int, int, int]] = []  # (t_ns, 0 = end / 1 = start, who)
        self._released = -(2**63)
        self._open: list[int | None] = [None, None]
        self._colean: tuple[int, int | None, int] | None = None
        self.episodes: list[list[Interval]] = [[], []]
        self.onsets: list[list[int]] = [[], []]
        self._followed: list[list[bool]] = [[], []]
        self.coleans: list[CoLeanEnded] = []
        self.windows: list[WindowCorrelation] = []
        self._next_window = cfg.bins(cfg.max_lag_s)
        self.late_events = 0
        self.anomalies = 0  # an end without a start, or a second start while open
        self._finished = False

    # --- inputs ---

    def angles(self, who: int, t_ns: NDArray[np.int64], deg: F64) -> list[DyadEvent]:
        """Forward angles (deg) of partner ``who`` at increasing times ``t_ns``."""
        t = np.asarray(t_ns, dtype=np.int64)
        x = np.asarray(deg, dtype=np.float64)
        if t.shape != x.shape or t.ndim != 1:
            raise ValueError(f"angles: shapes differ: t {t.shape}, deg {x.shape}")
        if t.size == 0:
            return []
        last = self._last[who]
        if (last is not None and t[0] <= last) or np.any(np.diff(t) <= 0):
            raise ValueError("angles: times must increase strictly across calls")
        if t[0] < self.config.t0_ns:
            raise ValueError(f"angles: time {int(t[0])} ns is before t0_ns {self.config.t0_ns}")
        bins = (t - self.config.t0_ns) // self._bin_ns
        self._open_v[who].append(x)
        self._open_b[who].append(bins)
        self._close_bins(who, before=int(bins[-1]))
        if self._first[who] is None:
            self._first[who] = int(t[0])
        return self.advance(who, int(t[-1]))

    def advance(self, who: int, t_ns: int) -> list[DyadEvent]:
        """Declare that partner ``who``'s data has reached ``t_ns`` (no samples needed)."""
        if self._first[who] is None:
            self._first[who] = t_ns
        self._last[who] = max(t_ns, self._last[who] or t_ns)
        return self._release() + self._emit_windows()

    def episode_started(self, who: int, t_ns: int) -> list[DyadEvent]:
        return self._push(t_ns, 1, who)

    def episode_ended(self, who: int, t_ns: int) -> list[DyadEvent]:
        return self._push(t_ns, 0, who)

    def finish(self) -> list[DyadEvent]:
        """Complete the last bins, process every held event and the remaining windows."""
        for who in (0, 1):
            self._close_bins(who, before=2**62)
        self._finished = True
        return self._release() + self._emit_windows()

    # --- binning and windows ---

    def _close_bins(self, who: int, before: int) -> None:
        """Close every open bin with an id below ``before``: mean of its finite samples.

        All closed bins of a call are computed together from the open samples as one array,
        so a bin's mean is the same whichever chunks its samples arrived in.
        """
        if not self._open_v[who]:
            return
        v = np.concatenate(self._open_v[who])
        b = np.concatenate(self._open_b[who])
        k = int(np.searchsorted(b, before))
        if k == 0:
            self._open_v[who], self._open_b[who] = [v], [b]
            return
        vv, bb = v[:k], b[:k]
        starts = np.r_[0, np.flatnonzero(np.diff(bb)) + 1]
        finite = np.isfinite(vv)
        sums = np.add.reduceat(np.where(finite, vv, 0.0), starts)
        counts = np.add.reduceat(finite.astype(np.int64), starts)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(counts > 0, sums / np.maximum(counts, 1), math.nan)
        ids = bb[starts]
        series = self._series[who]
        new = np.full(int(ids[-1]) + 1 - len(series), math.nan)
        new[ids - len(series)] = means
        series.extend(new.tolist())
        self._open_v[who], self._open_b[who] = ([v[k:]], [b[k:]]) if k < v.size else ([], [])

    def _emit_windows(self) -> list[DyadEvent]:
        cfg = self.config
        w, lag, step = cfg.bins(cfg.window_s), cfg.bins(cfg.max_lag_s), cfg.bins(cfg.step_s)
        have = min(len(s) for s in self._series)
        out: list[DyadEvent] = []
        while self._next_window + w + lag <= have:
            s = self._next_window
            x = np.asarray(self._series[0][s : s + w])
            y = np.asarray(self._series[1][s - lag : s + w + lag])
            r = _window_r(x, y, cfg)
            self._next_window += max(step, 1)
            peak, z, lag_s = _peak(r, lag, cfg.grid_hz)
            if math.isfinite(peak):
                t = cfg.t0_ns + s * self._bin_ns
                ev = WindowCorrelation(t, t + w * self._bin_ns, peak, z, lag_s, float(r[lag]))
                self.windows.append(ev)
                out.append(ev)
        return out

    # --- episode events ---

    def _push(self, t_ns: int, kind: int, who: int) -> list[DyadEvent]:
        if t_ns < self._released:
            self.late_events += 1
        heapq.heappush(self._heap, (t_ns, kind, who))
        return self._release()

    def _release(self) -> list[DyadEvent]:
        if self._finished:
            limit = 2**63 - 1
        elif self._last[0] is None or self._last[1] is None:
            return []
        else:
            limit = min(self._last[0], self._last[1]) - round(self.config.reorder_s * 1e9)
        out: list[DyadEvent] = []
        while self._heap and (self._heap[0][0] < limit or self._heap[0][0] < self._released):
            t, kind, who = heapq.heappop(self._heap)
            self._released = max(self._released, t)
            out += self._start(who, t) if kind == 1 else self._end(who, t)
        return out

    def _start(self, who: int, t: int) -> list[DyadEvent]:
        if self._open[who] is not None:
            self.anomalies += 1
            return []
        cfg, other = self.config, 1 - who
        out: list[DyadEvent] = []
        lo, hi = round(cfg.follow_min_s * 1e9), round(cfg.follow_max_s * 1e9)
        onsets, followed = self.onsets[other], self._followed[other]
        i = len(onsets) - 1
        while i >= 0 and t - onsets[i] <= hi:
            if t - onsets[i] >= lo and not followed[i]:
                followed[i] = True
                out.append(OnsetFollowed(t, other, who, onsets[i], t - onsets[i]))
            i -= 1
        out.reverse()
        self._open[who] = t
        self.onsets[who].append(t)
        self._followed[who].append(False)
        partner_since = self._open[other]
        if partner_since is not None:
            lag = t - partner_since
            leader = other if lag > 0 else None
            self._colean = (t, leader, lag)
            out.append(CoLeanStarted(t, leader, lag))
        return out

    def _end(self, who: int, t: int) -> list[DyadEvent]:
        since = self._open[who]
        if since is None:
            self.anomalies += 1
            return []
        out: list[DyadEvent] = []
        if self._colean is not None:
            start, leader, lag = self._colean
            ev = CoLeanEnded(t, start, leader, lag, who)
            self.coleans.append(ev)
            out.append(ev)
            self._colean = None
        self.episodes[who].append((since, t))
        self._open[who] = None
        return out

    # --- whole-session summary ---

    def span(self) -> Interval:
        """Common observation span: from the later first sample to the earlier last one."""
        f0, f1, l0, l1 = (*self._first, *self._last)
        if f0 is None or f1 is None or l0 is None or l1 is None:
            raise ConfigError("dyad summary: both partners need angles (or advance) first")
        return (max(f0, f1), min(l0, l1))

    def summary(self, seed: int = 0) -> DyadSummary:
        """Whole-session measures with surrogate baselines (seeded, deterministic)."""
        cfg = self.config
        span = self.span()
        length = span[1] - span[0]
        if length <= 0:
            raise ConfigError("dyad summary: the partners' data do not overlap in time")
        eps = [self._closed_episodes(who, span) for who in (0, 1)]
        on = [
            np.asarray([o for o in self.onsets[w] if span[0] <= o < span[1]], np.int64)
            for w in (0, 1)
        ]
        rng = np.random.default_rng([seed, 7])
        min_shift = min(round(cfg.min_shift_s * 1e9), length // 2)
        shifts = [
            int(rng.integers(min_shift, length - min_shift + 1)) for _ in range(cfg.n_surrogates)
        ]

        both, frac, colean = _colean_measures(eps, span, shifts)
        followed, lags_ns, direction = _contingency_measures(on, span, shifts, cfg)
        peak_z = np.array([w.peak_z for w in self.windows])
        lags = np.array([w.peak_lag_s for w in self.windows])
        return DyadSummary(
            span_s=length / 1e9,
            lean_fraction=frac,
            colean_s=both / 1e9,
            colean_fraction=colean,
            colean_ratio=both / length / (frac[0] * frac[1]) if frac[0] * frac[1] else math.nan,
            onsets=(int(on[0].size), int(on[1].size)),
            followed=followed,
            median_follow_lag_s=(_median_s(lags_ns[0]), _median_s(lags_ns[1])),
            direction_index=direction,
            wcc_windows=len(self.windows),
            wcc_mean_peak_z=Baseline.of(_mean(peak_z), self._surrogate_wcc(rng, cfg)),
            wcc_mean_peak_r=_mean(np.array([w.peak_r for w in self.windows])),
            wcc_mean_lag_s=_mean(lags),
            wcc_sd_lag_s=float(lags.std()) if lags.size else math.nan,
            late_events=self.late_events,
        )

    def _closed_episodes(self, who: int, span: Interval) -> list[Interval]:
        eps = list(self.episodes[who])
        since = self._open[who]
        if since is not None:
            eps.append((since, span[1]))  # still leaning at the end: count it up to the end
        return _clip(eps, span)

    def _surrogate_wcc(self, rng: np.random.Generator, cfg: DyadConfig) -> list[float]:
        """Mean peak z of the same windows with B's bin series circularly shifted."""
        n = min(len(s) for s in self._series)
        w, lag = cfg.bins(cfg.window_s), cfg.bins(cfg.max_lag_s)
        starts = [round((w_.t_ns - cfg.t0_ns) / self._bin_ns) for w_ in self.windows]
        if not starts or n <= 2 * cfg.bins(cfg.min_shift_s):
            return []
        x = np.asarray(self._series[0][:n])
        y0 = np.asarray(self._series[1][:n])
        min_shift = cfg.bins(cfg.min_shift_s)
        out = []
        for _ in range(cfg.n_surrogates):
            y = np.roll(y0, int(rng.integers(min_shift, n - min_shift + 1)))
            zs = [
                _peak(_window_r(x[s : s + w], y[s - lag : s + w + lag], cfg), lag, 1.0)[1]
                for s in starts
            ]
            out.append(_mean(np.asarray(zs)))
        return out


def _colean_measures(
    eps: list[list[Interval]], span: Interval, shifts: list[int]
) -> tuple[int, tuple[float, float], Baseline]:
    """Co-lean time (ns), each partner's lean fraction, and the co-lean fraction vs surrogates."""
    length = span[1] - span[0]
    both = colean_time(eps[0], eps[1])
    frac = (sum(b - a for a, b in eps[0]) / length, sum(b - a for a, b in eps[1]) / length)
    surrogates = [colean_time(eps[0], _wrap(eps[1], span, d)) / length for d in shifts]
    return both, frac, Baseline.of(both / length, surrogates)


def _contingency_measures(
    on: list[NDArray[np.int64]], span: Interval, shifts: list[int], cfg: DyadConfig
) -> tuple[tuple[Baseline, Baseline], tuple[NDArray[np.int64], NDArray[np.int64]], Baseline]:
    """Followed onsets A->B and B->A, their lags (ns), and the direction index, vs surrogates."""
    lo, hi = round(cfg.follow_min_s * 1e9), round(cfg.follow_max_s * 1e9)
    ab, ba = follow_counts(on[0], on[1], lo, hi), follow_counts(on[1], on[0], lo, hi)
    sur_ab, sur_ba, sur_dir = [], [], []
    for d in shifts:
        b_shift = span[0] + (on[1] - span[0] + d) % (span[1] - span[0])
        n_ab = follow_counts(on[0], b_shift, lo, hi).size
        n_ba = follow_counts(b_shift, on[0], lo, hi).size
        sur_ab.append(float(n_ab))
        sur_ba.append(float(n_ba))
        sur_dir.append(_direction(n_ab, n_ba))
    followed = (Baseline.of(float(ab.size), sur_ab), Baseline.of(float(ba.size), sur_ba))
    direction = Baseline.of(_direction(ab.size, ba.size), sur_dir, two_sided=True)
    return followed, (ab, ba), direction


def _mean(x: F64) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _median_s(lags_ns: NDArray[np.int64]) -> float:
    return float(np.median(lags_ns)) / 1e9 if lags_ns.size else math.nan


def analyze_dyad(
    t_ns: tuple[NDArray[np.int64], NDArray[np.int64]],
    forward_deg: tuple[F64, F64],
    episodes: tuple[Sequence[Interval], Sequence[Interval]],
    config: DyadConfig | None = None,
    seed: int = 0,
) -> tuple[DyadSummary, list[DyadEvent]]:
    """Offline: the streaming :class:`DyadTracker` fed whole arrays, then its summary.

    ``episodes`` per partner are ``(start_ns, end_ns)`` pairs on the same clock as ``t_ns``.
    """
    tracker = DyadTracker(config)
    events: list[DyadEvent] = []
    # Episodes first: they wait in the re-order buffer until the angles move the watermark,
    # then are released in time order, exactly as in a live run.
    for who in (0, 1):
        for start, end in episodes[who]:
            events += tracker.episode_started(who, start)
            events += tracker.episode_ended(who, end)
    for who in (0, 1):
        events += tracker.angles(who, t_ns[who], forward_deg[who])
    events += tracker.finish()
    return tracker.summary(seed), events
