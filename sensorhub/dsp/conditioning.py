"""Input conditioning: radio timestamps in, a uniform causal grid out, gaps as explicit breaks.

Real BLE links deliver samples with jittery timestamps, exact repeats, the odd out-of-order
sample and gaps. :class:`Resampler` turns that into a uniform grid at ``rate_hz`` so that the
filters downstream see the sampling rate they were designed for:

* a sample whose timestamp is not later than every earlier one is dropped (``duplicate_time``
  if equal to the latest, ``out_of_order`` if earlier): without a look-ahead buffer a causal
  stage cannot reinsert it, and the clock stage upstream owns re-ordering;
* the first sample whose three values are bit-identical to the previous one is not used as an
  interpolation knot (``repeated_value``, on by default). BLE stacks re-send a stale reading
  with a fresh receive time (about 6 % of the UMAFall samples, nearly all single repeats);
  keeping it would put an old value at a new time. Further repeats in a run are kept: a
  quantised sensor lying still genuinely repeats its reading, and dropping the whole run would
  hold back the output until the value changes. A dropped repeat still counts as a sign of
  life for the gap test;
* samples with a non-finite value are dropped (``non_finite``);
* consecutive accepted samples further apart than ``max_gap_s`` are a **break**: no grid point
  is interpolated across, a :class:`Break` is reported, and the next grid sample is flagged as a
  segment start so every downstream stage resets its state there;
* otherwise the grid point ``T = t0 + k * period`` (integer nanoseconds, ``t0`` the first sample
  of the segment) is linearly interpolated between the accepted samples bracketing it. A grid
  point is emitted as soon as a sample at or after it has arrived, so the stage is causal with at
  most one input interval of latency.

Each grid value depends only on its two bracketing samples and its own time, computed by one
fixed formula, so the output is bit-identical for any chunking of the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["Break", "ConditionedChunk", "ConditioningStats", "Resampler"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Break:
    """A gap longer than the limit: nothing is interpolated between these two sample times."""

    last_before_ns: int
    first_after_ns: int

    @property
    def duration_s(self) -> float:
        return (self.first_after_ns - self.last_before_ns) / 1e9


@dataclass
class ConditioningStats:
    """Counts of input samples dropped, by reason, and of breaks."""

    accepted: int = 0
    duplicate_time: int = 0
    out_of_order: int = 0
    repeated_value: int = 0
    non_finite: int = 0
    breaks: int = 0


@dataclass(frozen=True)
class ConditionedChunk:
    """Uniform-grid output of one :meth:`Resampler.process` call."""

    t_ns: IntArray
    acc: FloatArray
    segment_start: BoolArray
    breaks: list[Break] = field(default_factory=list)


class Resampler:
    """Causal resampling of irregular ``(t_ns, acc)`` samples onto a uniform grid."""

    def __init__(
        self, rate_hz: float, *, max_gap_s: float = 1.0, drop_repeated_values: bool = True
    ) -> None:
        if not rate_hz > 0:
            raise ValueError(f"rate must be positive, got {rate_hz}")
        self.rate_hz = rate_hz
        self.period_ns = round(1e9 / rate_hz)
        self.max_gap_ns = round(max_gap_s * 1e9)
        if self.max_gap_ns < self.period_ns:
            raise ValueError("max_gap_s must be at least one sampling period")
        self.drop_repeated_values = drop_repeated_values
        self.stats = ConditioningStats()
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new stream); the next sample starts a new segment."""
        self._last_t: int | None = None  # last interpolation knot (fresh sample)
        self._last_a: FloatArray | None = None
        self._alive_t: int | None = None  # latest accepted time, repeats included
        self._gap_pending = False  # a gap among accepted samples since the last knot
        self._last_was_repeat = False
        self._next_grid = 0

    def process(self, t_ns: IntArray, acc: FloatArray) -> ConditionedChunk:
        """Condition one chunk; ``t_ns`` int64 ``(N,)``, ``acc`` float ``(N, 3)``."""
        t, a, new_seg, breaks = self._accept(
            np.asarray(t_ns, dtype=np.int64), np.asarray(acc, dtype=np.float64)
        )
        if t.size == 0:
            return _empty_chunk(breaks)
        # Work on the knots with the carried previous knot prepended.
        if self._last_t is None or self._last_a is None:
            ts, av, seg_at = t, a, np.flatnonzero(new_seg)
        else:
            ts = np.concatenate(([self._last_t], t))
            av = np.concatenate((self._last_a[None, :], a))
            seg_at = np.flatnonzero(new_seg) + 1
        starts = np.concatenate(([0], seg_at[seg_at > 0]))
        ends = np.concatenate((starts[1:], [ts.size]))
        pieces_t: list[IntArray] = []
        pieces_a: list[FloatArray] = []
        pieces_s: list[BoolArray] = []
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            new_segment = lo in seg_at
            if new_segment:
                self._next_grid = int(ts[lo])
            grid_t, grid_a = self._interpolate(ts[lo:hi], av[lo:hi])
            seg = np.zeros(grid_t.size, dtype=np.bool_)
            if new_segment and grid_t.size:
                seg[0] = True
            pieces_t.append(grid_t)
            pieces_a.append(grid_a)
            pieces_s.append(seg)
        self._last_t = int(ts[-1])
        self._last_a = av[-1].copy()
        return ConditionedChunk(
            np.concatenate(pieces_t), np.concatenate(pieces_a), np.concatenate(pieces_s), breaks
        )

    def _accept(
        self, t: IntArray, a: FloatArray
    ) -> tuple[IntArray, FloatArray, BoolArray, list[Break]]:
        """Drop late, duplicate-time, non-finite and repeated samples; find gaps.

        Returns the interpolation knots, a flag per knot that starts a new segment, and the
        breaks. Gaps are measured between all time-accepted samples, repeats included: a
        repeated delivery still proves that the link was alive.
        """
        if t.ndim != 1 or a.ndim != 2 or a.shape != (t.size, 3):
            raise ValueError(f"expected t (N,) and acc (N, 3), got {t.shape} and {a.shape}")
        # Fast paths: the masks are built always, the copies only when something is dropped.
        finite = np.isfinite(a[:, 0] + a[:, 1] + a[:, 2])  # NaN and inf propagate
        n_bad = t.size - int(np.count_nonzero(finite))
        if n_bad:
            self.stats.non_finite += n_bad
            t, a = np.compress(finite, t), np.compress(finite, a, axis=0)
        no_seg = np.zeros(0, dtype=np.bool_)
        if t.size == 0:
            return t, a, no_seg, []
        first_ever = self._alive_t is None
        start = np.iinfo(np.int64).min if self._alive_t is None else self._alive_t
        if t[0] <= start or np.any(t[1:] <= t[:-1]):
            prev_max = np.maximum.accumulate(t)
            before = np.empty_like(t)
            before[0] = start
            before[1:] = np.maximum(prev_max[:-1], start)
            keep = t > before
            self.stats.duplicate_time += int(np.count_nonzero(t == before))
            self.stats.out_of_order += int(np.count_nonzero(t < before))
            t, a = np.compress(keep, t), np.compress(keep, a, axis=0)
            if t.size == 0:
                return t, a, no_seg, []
        # Gaps between consecutive accepted samples (the first one against the carried time).
        gap_pos = np.flatnonzero(np.diff(t) > self.max_gap_ns) + 1
        if self._alive_t is not None and t[0] - self._alive_t > self.max_gap_ns:
            gap_pos = np.concatenate(([0], gap_pos))
        breaks = [Break(int(t[i - 1]) if i else int(start), int(t[i])) for i in gap_pos.tolist()]
        self.stats.breaks += len(breaks)
        self._alive_t = int(t[-1])
        fresh = self._fresh(a)
        n_knots = t.size if fresh is None else int(np.count_nonzero(fresh))
        if not breaks and not self._gap_pending:
            new_seg = np.zeros(n_knots, dtype=np.bool_)
        else:  # rare: a knot starts a segment if a gap occurred since the previous knot
            gap = np.zeros(t.size, dtype=np.int64)
            gap[gap_pos] = 1
            gaps_so_far = np.cumsum(gap) + int(self._gap_pending)
            knot_gaps = gaps_so_far if fresh is None else gaps_so_far[fresh]
            new_seg = np.empty(n_knots, dtype=np.bool_)
            if n_knots:
                new_seg[0] = knot_gaps[0] > 0
                new_seg[1:] = knot_gaps[1:] > knot_gaps[:-1]
                last_knot = t.size - 1 if fresh is None else int(np.flatnonzero(fresh)[-1])
                self._gap_pending = bool(gap[last_knot + 1 :].any())
            else:
                self._gap_pending = True
        if first_ever and n_knots:
            new_seg[0] = True
        self.stats.accepted += n_knots
        if fresh is None:
            return t, a, new_seg, breaks
        # np.compress is several times faster than boolean fancy indexing on (N, 3).
        return np.compress(fresh, t), np.compress(fresh, a, axis=0), new_seg, breaks

    def _fresh(self, a: FloatArray) -> BoolArray | None:
        """Knot mask (``None``: all are knots): drops the first repeat of each run."""
        if not self.drop_repeated_values:
            return None
        repeat = np.empty(a.shape[0], dtype=np.bool_)
        repeat[0] = self._last_a is not None and bool(np.all(a[0] == self._last_a))
        repeat[1:] = (a[1:, 0] == a[:-1, 0]) & (a[1:, 1] == a[:-1, 1]) & (a[1:, 2] == a[:-1, 2])
        if not repeat.any():
            self._last_was_repeat = False
            return None
        # Only the first repeat of a run is a stale delivery; later ones are kept.
        prev_repeat = np.empty_like(repeat)
        prev_repeat[0] = self._last_was_repeat
        prev_repeat[1:] = repeat[:-1]
        self._last_was_repeat = bool(repeat[-1])
        fresh: BoolArray = ~repeat | prev_repeat
        self.stats.repeated_value += a.shape[0] - int(np.count_nonzero(fresh))
        return fresh

    def _interpolate(self, ts: IntArray, av: FloatArray) -> tuple[IntArray, FloatArray]:
        """Grid points in ``[next_grid, ts[-1]]`` from the samples of one segment."""
        first = self._next_grid
        if ts[-1] < first:
            return np.empty(0, dtype=np.int64), np.empty((0, 3), dtype=np.float64)
        n = (int(ts[-1]) - first) // self.period_ns + 1
        grid = first + self.period_ns * np.arange(n, dtype=np.int64)
        self._next_grid = first + n * self.period_ns
        # Bracketing sample: ts[i] <= T < ts[i + 1]; a grid point on a sample takes it exactly.
        i = np.searchsorted(ts, grid, side="right") - 1
        j = np.minimum(i + 1, ts.size - 1)
        t_i = np.take(ts, i)
        span = np.take(ts, j) - t_i
        w = (grid - t_i) / np.where(span > 0, span, 1)
        a_i = np.take(av, i, axis=0)
        out = np.take(av, j, axis=0)
        out -= a_i
        out *= w[:, None]
        out += a_i
        return grid, out


def _empty_chunk(breaks: list[Break]) -> ConditionedChunk:
    return ConditionedChunk(
        np.empty(0, dtype=np.int64),
        np.empty((0, 3), dtype=np.float64),
        np.empty(0, dtype=np.bool_),
        breaks,
    )
