"""Episode state machine: hysteresis, minimum duration and gap merging, per threshold level.

A :class:`LevelTracker` follows one level (for example forward 20/15 degrees) over a signal in
degrees that grows with the lean (the forward angle, minus the forward angle for a backward
level, a lying score for the lying state). Per sample it is vectorised:

1. hysteresis: the state turns on at ``signal >= enter`` and off at ``signal < exit``; it is
   held in between, and also held on ``hold`` samples (dynamic motion). ``block`` samples cannot
   turn it on; ``force_off`` samples turn it off. The state is a forward fill of the last
   decisive sample (``np.maximum.accumulate``), so there is no per-sample Python loop.
2. the runs of the state (found with ``np.flatnonzero`` on its changes) go through a small
   candidate machine in Python, one step per change, not per sample: a run starting within
   ``merge_gap_s`` of the previous run's end continues the same candidate; a candidate is
   confirmed (:class:`EpisodeStart`) once it has been on for ``min_duration_s`` of *valid*
   samples (on and not held: time in dynamic motion is no evidence of a lean, so it does not
   count toward the minimum duration), and finished (:class:`Episode`) when it has stayed off
   for longer than ``merge_gap_s``. A candidate that never reached the minimum duration is dropped.

Times are integer nanoseconds of the samples, sums are exact integers (angles quantised to a
micro-degree), so every decision and every reported number is identical whatever the chunking.

Each episode reports the raw threshold crossing (first sample at or above ``enter``), a
latency-corrected onset, the exit crossing (first sample below ``exit`` after the last run), a
latency-corrected end, and the peak and mean signal over crossing..exit. The corrected onset is
the last time within ``lookback_s`` before the crossing that the signal was below half the
enter threshold (the start of the departure, found retrospectively in a carried history) minus
the low-pass filter's group delay; the corrected end is the exit crossing minus that delay.
An episode cut by a data break or by :meth:`LevelTracker.finish` is marked ``truncated`` and
ends at its last sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["Episode", "EpisodeStart", "LevelResult", "LevelSpec", "LevelTracker"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_Q = 1e6  # sums in micro-degrees: exact and associative


@dataclass(frozen=True)
class LevelSpec:
    """One threshold level. ``direction`` names what the signal measures."""

    name: str
    direction: str  # "forward", "backward" or "lying"
    enter_deg: float
    exit_deg: float
    min_duration_s: float = 2.0
    merge_gap_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.exit_deg <= self.enter_deg:
            raise ValueError(
                f"level {self.name}: exit {self.exit_deg} above enter {self.enter_deg}"
            )
        if self.min_duration_s < 0 or self.merge_gap_s < 0:
            raise ValueError(f"level {self.name}: durations must be >= 0")


@dataclass(frozen=True)
class EpisodeStart:
    """A candidate became an episode (decided at ``confirmed_ns``)."""

    level: str
    direction: str
    crossing_ns: int
    onset_ns: int
    confirmed_ns: int


@dataclass(frozen=True)
class Episode:
    """A finished episode; angles are in the level's signal (degrees, positive = deeper)."""

    level: str
    direction: str
    crossing_ns: int
    onset_ns: int
    exit_ns: int
    end_ns: int
    peak_deg: float
    mean_deg: float
    truncated: bool = False


@dataclass(frozen=True)
class LevelResult:
    state: BoolArray
    started: list[EpisodeStart]
    ended: list[Episode]


@dataclass
class _Candidate:
    crossing_ns: int
    onset_ns: int
    on: bool = True
    confirmed: bool = False
    valid: int = 0
    q_sum: int = 0
    count: int = 0
    peak: float = -np.inf
    fall_ns: int = 0
    gap_q: int = 0
    gap_count: int = 0


class LevelTracker:
    """Streaming episode detection for one level (see the module docstring)."""

    def __init__(
        self, spec: LevelSpec, fs_hz: float, *, delay_s: float = 0.0, lookback_s: float = 5.0
    ) -> None:
        self.spec = spec
        self._min_n = max(1, round(spec.min_duration_s * fs_hz))
        self._gap_ns = round(spec.merge_gap_s * 1e9)
        self._delay_ns = round(delay_s * 1e9)
        self._lookback = max(1, round(lookback_s * fs_hz))
        self.reset()

    def reset(self) -> None:
        self._state = False
        self._cand: _Candidate | None = None
        self._hist_t = np.empty(0, dtype=np.int64)
        self._hist_x = np.empty(0, dtype=np.float64)
        self._last_t: int | None = None

    def process(
        self,
        t: IntArray,
        x: FloatArray,
        *,
        hold: BoolArray | None = None,
        block: BoolArray | None = None,
        force_off: BoolArray | None = None,
    ) -> LevelResult:
        """One chunk of uniformly sampled signal ``x`` (degrees) at times ``t`` (ns)."""
        n = t.size
        on = x >= self.spec.enter_deg
        if hold is not None:
            on &= ~hold
        if block is not None:
            on &= ~block
        if force_off is not None:
            on &= ~force_off
        if not self._state and self._cand is None and not on.any():
            # Fast path (most chunks of most levels): off, nothing pending, nothing turns on.
            if n:
                self._last_t = int(t[-1])
                self._remember(t, x)
            return LevelResult(np.zeros(n, dtype=np.bool_), [], [])
        off = x < self.spec.exit_deg
        if hold is not None:
            off &= ~hold
        if force_off is not None:
            off |= force_off
        valid = np.ones(n, dtype=np.bool_) if hold is None else ~hold
        decisive = on | off
        pos = np.maximum.accumulate(np.where(decisive, np.arange(n), -1)) if n else np.empty(0, int)
        state = np.where(pos >= 0, on[np.maximum(pos, 0)], self._state)
        started: list[EpisodeStart] = []
        ended: list[Episode] = []
        if n:
            prev = np.empty(n, dtype=np.bool_)
            prev[0] = self._state
            prev[1:] = state[:-1]
            changes = np.flatnonzero(state != prev).tolist()
            cursor = 0
            for i in [*changes, n]:
                self._advance(t, x, valid, cursor, i, started, ended)
                if i < n:
                    self._toggle(t, x, i, bool(state[i]), ended)
                cursor = i
            self._state = bool(state[-1])
            self._last_t = int(t[-1])
            self._remember(t, x)
        return LevelResult(state, started, ended)

    def finish(self) -> list[Episode]:
        """End of data or a break: close any candidate (truncated if on) and reset."""
        ended: list[Episode] = []
        c = self._cand
        if c is not None and c.confirmed and self._last_t is not None:
            if c.on:
                ended.append(self._episode(c, self._last_t, self._last_t, truncated=True))
            else:
                ended.append(self._episode(c, c.fall_ns, c.fall_ns - self._delay_ns))
        self.reset()
        return ended

    # -- candidate machine: one step per state change ---------------------------------------

    def _advance(
        self,
        t: IntArray,
        x: FloatArray,
        valid: BoolArray,
        a: int,
        b: int,
        started: list[EpisodeStart],
        ended: list[Episode],
    ) -> None:
        """Account samples ``[a, b)`` (all in the current state) to the open candidate."""
        c = self._cand
        if c is None or a >= b:
            return
        if c.on:
            c.q_sum += int(np.rint(x[a:b] * _Q).astype(np.int64).sum())
            c.count += b - a
            c.peak = max(c.peak, float(x[a:b].max()))
            if not c.confirmed:
                counts = c.valid + np.cumsum(valid[a:b])
                k = int(np.searchsorted(counts, self._min_n, side="left"))
                c.valid = int(counts[-1])
                if k < b - a:
                    c.confirmed = True
                    started.append(
                        EpisodeStart(
                            self.spec.name,
                            self.spec.direction,
                            c.crossing_ns,
                            c.onset_ns,
                            int(t[a + k]),
                        )
                    )
            return
        deadline = c.fall_ns + self._gap_ns
        k = a + int(np.searchsorted(t[a:b], deadline, side="right"))
        if k < b:  # off for longer than the merge gap: finished
            if c.confirmed:
                ended.append(self._episode(c, c.fall_ns, c.fall_ns - self._delay_ns))
            self._cand = None
            return
        c.gap_q += int(np.rint(x[a:b] * _Q).astype(np.int64).sum())
        c.gap_count += b - a

    def _toggle(
        self, t: IntArray, x: FloatArray, i: int, now_on: bool, ended: list[Episode]
    ) -> None:
        c = self._cand
        if now_on:
            if c is not None and not c.on and int(t[i]) - c.fall_ns > self._gap_ns:
                if c.confirmed:  # the gap ran out exactly at this sample
                    ended.append(self._episode(c, c.fall_ns, c.fall_ns - self._delay_ns))
                c = self._cand = None
            if c is not None and not c.on:  # within the merge gap: same candidate
                c.on = True
                c.q_sum += c.gap_q
                c.count += c.gap_count
                c.gap_q = c.gap_count = 0
                return
            crossing = int(t[i])
            self._cand = _Candidate(crossing, self._departure(t, x, i) - self._delay_ns)
        elif c is not None:
            c.on = False
            c.fall_ns = int(t[i])
            c.gap_q = c.gap_count = 0

    def _departure(self, t: IntArray, x: FloatArray, i: int) -> int:
        """Last time within the lookback before sample ``i`` with signal below half of enter."""
        half = 0.5 * self.spec.enter_deg
        lo = max(0, i - self._lookback)
        below = np.flatnonzero(x[lo:i] < half)
        if below.size:
            return int(t[lo + below[-1]])
        need = self._lookback - (i - lo)
        if need > 0 and self._hist_x.size:
            hx, ht = self._hist_x[-need:], self._hist_t[-need:]
            below = np.flatnonzero(hx < half)
            if below.size:
                return int(ht[below[-1]])
        return int(t[i])

    def _remember(self, t: IntArray, x: FloatArray) -> None:
        keep = self._lookback
        if t.size >= keep:
            self._hist_t, self._hist_x = t[-keep:].copy(), x[-keep:].copy()
        else:
            self._hist_t = np.concatenate((self._hist_t, t))[-keep:]
            self._hist_x = np.concatenate((self._hist_x, x))[-keep:]

    def _episode(
        self, c: _Candidate, exit_ns: int, end_ns: int, *, truncated: bool = False
    ) -> Episode:
        mean = c.q_sum / c.count / _Q if c.count else float("nan")
        return Episode(
            self.spec.name,
            self.spec.direction,
            c.crossing_ns,
            c.onset_ns,
            exit_ns,
            end_ns,
            c.peak,
            mean,
            truncated,
        )
