"""Put every sample of every sensor on one session clock.

Two problems are solved here, per sensor, without any I/O:

1. **Which device time does each sample have, and was anything lost?**
   :class:`DeviceTimeline` turns a frame's *anchor* timestamp (Polar stamps the last sample,
   Movesense and leanfw-v1 the first) and its sample count into per-sample device times. The
   sample period is *measured* from consecutive contiguous frames (sensor rates are off their
   nominal value by up to ~1 %), never assumed. Lost frames are detected by sequence number
   where the protocol has one (leanfw-v1) and otherwise from timestamps (a jump larger than
   1.5 frame lengths), and reported as a :class:`Gap` of known length. Samples are *never*
   smeared over a gap: a frame after a gap is anchored at its own timestamp with the measured
   period, which is exactly where the Polar SDK's ``(T - T_prev) / N`` rule goes wrong.
   Repeated or out-of-order frames are recognised and dropped (and counted by the caller).

2. **Where is device time on the session clock?**
   :class:`ClockMapper` fits ``session = offset + (1 + drift) * device`` from frame arrivals.
   Each arrival gives an *upper bound* on where the frame's anchor sample lies on the session
   clock (a sample cannot be received before it was measured), and BLE latency only ever adds
   to it. So the fit follows the *lower envelope* of ``receive - device``: the minimum of each
   time bin, and a least-squares line through the recent bin minima gives the drift (crystals
   drift up to ±20 ppm, ~72 ms/hour, too much to ignore over a session). Between refits the
   offset is lowered at once whenever an arrival proves it too high (causality).

:class:`SensorClock` composes both for one sensor stream. On every (re)connect or stream start
the caller calls :meth:`SensorClock.restart`: a Polar H10 clock restarts at 2019-01-01 after a
power cycle, so device time may jump backwards between connections, and the old mapping would
be wrong. The gap across a reconnect is still reported, measured on the session clock.

Everything is deterministic in its inputs, so replaying the recorded frames with their
recorded receive times reproduces the live session times bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "ClockMapper",
    "DeviceTimeline",
    "FrameOutcome",
    "Gap",
    "SensorClock",
    "TimedRun",
    "TimedSamples",
]

NS_PER_S = 1_000_000_000

#: A jump of more than this many frame lengths between consecutive frames is a loss. 1.5 leaves
#: room for the measured period being slightly off, yet a single lost frame (2x) is caught.
GAP_FACTOR = 1.5
#: Weight of the newest frame in the running period estimate: slow enough that BLE jitter does
#: not matter (device timestamps do not jitter much anyway), fast enough to settle in ~10 s.
PERIOD_EMA_ALPHA = 0.05
#: A measured period further than this from nominal is rejected as a glitch (real sensors are
#: within ~1-2 % of nominal; 20 % leaves room for firmware that reports a coarse nominal rate).
PERIOD_TOLERANCE = 0.2
#: Lower-envelope bin length on the device clock. Long enough that each bin holds at least one
#: arrival with near-minimal latency, short enough that drift inside a bin is negligible.
BIN_NS = 5 * NS_PER_S
#: Bins kept for the drift fit: two minutes of history resolves 20 ppm to well under 1 ms.
MAX_BINS = 24
#: A device clock that jumps back by more than this restarted (H10 power cycle): start over.
RESTART_JUMP_NS = 10 * NS_PER_S
#: Bins needed before drift is estimated at all; before that the slope is taken as zero.
MIN_BINS_FOR_DRIFT = 4
#: No real crystal drifts more than this; a larger fitted slope means bad data, so clamp.
MAX_DRIFT = 500e-6


@functools.lru_cache(maxsize=64)
def _ramp(n: int) -> NDArray[np.float64]:
    """0, 1, ..., n - 1 as floats, cached per frame size (read-only)."""
    out = np.arange(n, dtype=np.float64)
    out.setflags(write=False)
    return out


class FrameOutcome(Enum):
    """What became of a frame."""

    OK = "ok"
    DUPLICATE = "duplicate"  # same anchor or sequence number as the previous frame: dropped
    OUT_OF_ORDER = "out_of_order"  # older than the previous frame: dropped


@dataclass(frozen=True, slots=True)
class Gap:
    """Samples known to be missing between two accepted frames.

    ``start_ns``/``end_ns`` are the times of the last sample before and the first sample after
    the gap (device clock from :class:`DeviceTimeline`, session clock from
    :class:`SensorClock`). ``missing_samples`` is the estimated count lost between them;
    ``frames_lost`` is exact where the protocol has sequence numbers, else ``None``.
    ``reason`` is ``"loss"`` (frames lost on a live link) or ``"reconnect"`` (the link or the
    device clock restarted; the length is then measured on the session clock).
    """

    start_ns: int
    end_ns: int
    missing_samples: int
    frames_lost: int | None = None
    reason: Literal["loss", "reconnect"] = "loss"

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def _empty() -> NDArray[np.int64]:
    return np.empty(0, np.int64)


_EMPTY = _empty()


@dataclass(frozen=True, slots=True)
class TimedFrame:
    """Per-sample device times for one accepted frame, or why it was dropped."""

    outcome: FrameOutcome
    t_device_ns: NDArray[np.int64] = field(default_factory=_empty)
    gap: Gap | None = None


class DeviceTimeline:
    """Per-sample device times, gaps and duplicates for one sensor stream (device clock).

    ``anchor`` says which sample the frame timestamp belongs to; ``seq_modulo`` is the
    sequence-number range (65536 for a 16-bit counter) or ``None`` without one.
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        *,
        anchor: Literal["first", "last"],
        seq_modulo: int | None = None,
    ) -> None:
        if not nominal_rate_hz > 0:
            raise ValueError(f"nominal rate must be positive, got {nominal_rate_hz}")
        self.nominal_period_ns = NS_PER_S / nominal_rate_hz
        self.anchor = anchor
        self._last_anchored = anchor == "last"
        self.seq_modulo = seq_modulo
        self.period_ns = self.nominal_period_ns
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame (stream stop, disconnect, device clock restart).

        The measured period is kept: it belongs to the sensor's crystal, not to the link.
        """
        self._last_anchor: int | None = None
        self._last_sample: int = 0
        self._last_n: int = 0
        self._last_seq: int | None = None

    def push(self, anchor_ns: int, n_samples: int, seq: int | None = None) -> TimedFrame:
        """Accept a frame of ``n_samples`` whose anchor sample has device time ``anchor_ns``."""
        outcome, gap = self.step(anchor_ns, n_samples, seq)
        if outcome is not FrameOutcome.OK:
            return TimedFrame(outcome)
        return TimedFrame(FrameOutcome.OK, self._sample_times(anchor_ns, n_samples), gap)

    def step(
        self, anchor_ns: int, n_samples: int, seq: int | None = None
    ) -> tuple[FrameOutcome, Gap | None]:
        """:meth:`push` without building the sample times: the outcome and any gap.

        After an OK step, :attr:`period_ns` is the period the frame's samples are spaced by
        and :attr:`last_sample` the device time of its last sample.
        """
        frames_lost = None if seq is None else self._frames_lost(seq)
        if isinstance(frames_lost, FrameOutcome):
            return frames_lost, None
        last_anchored = self._last_anchored
        last = self._last_anchor
        lost = 0
        if last is not None:
            if anchor_ns == last and frames_lost is None:
                return FrameOutcome.DUPLICATE, None
            if anchor_ns <= last:
                return FrameOutcome.OUT_OF_ORDER, None
            # Samples separating the two anchors if nothing was lost in between.
            between = n_samples if last_anchored else self._last_n
            advance = anchor_ns - last
            lost = frames_lost if frames_lost is not None else 0
            if frames_lost is None and advance > GAP_FACTOR * between * self.period_ns:
                lost = -1  # lost, count unknown
            if lost == 0:
                self._learn_period(advance / between)
        # The same rounding as _sample_times' last offset, without building the array.
        span = round((n_samples - 1) * self.period_ns)
        first = anchor_ns - span if last_anchored else anchor_ns
        gap: Gap | None = None
        if last is not None and lost != 0:
            missing = max(round((first - self._last_sample) / self.period_ns) - 1, 1)
            gap = Gap(self._last_sample, first, missing, frames_lost if frames_lost else None)
        self._last_anchor = anchor_ns
        self._last_sample = anchor_ns if last_anchored else anchor_ns + span
        self._last_n = n_samples
        if seq is not None:
            self._last_seq = seq
        return FrameOutcome.OK, gap

    @property
    def last_sample(self) -> int:
        """Device time of the last sample of the last accepted frame."""
        return self._last_sample

    @property
    def last_anchor(self) -> int | None:
        """Anchor time of the last accepted frame, ``None`` after a reset."""
        return self._last_anchor

    def _frames_lost(self, seq: int | None) -> int | FrameOutcome | None:
        """Frames lost before this one by sequence number, or a verdict to drop it."""
        if seq is None or self.seq_modulo is None or self._last_seq is None:
            return None
        step = (seq - self._last_seq) % self.seq_modulo
        if step == 0:
            return FrameOutcome.DUPLICATE
        if step > self.seq_modulo // 2:
            return FrameOutcome.OUT_OF_ORDER
        return step - 1

    def _learn_period(self, measured: float) -> None:
        if abs(measured - self.nominal_period_ns) <= PERIOD_TOLERANCE * self.nominal_period_ns:
            self.period_ns += PERIOD_EMA_ALPHA * (measured - self.period_ns)

    def _sample_times(self, anchor_ns: int, n: int) -> NDArray[np.int64]:
        offsets = np.rint(_ramp(n) * self.period_ns).astype(np.int64)
        if self.anchor == "first":
            return np.int64(anchor_ns) + offsets
        return np.int64(anchor_ns) - offsets[::-1]


class ClockMapper:
    """Map one sensor's device clock onto the session clock (lower-envelope drift fit).

    The line is ``session = device + offset + drift * (device - ref)`` with ``ref`` the first
    device time seen. Large device times (Polar counts ns since 2000, ~6e17) stay in int64;
    only the small differences are floats, so nothing is lost to float64 rounding.
    """

    def __init__(self) -> None:
        # The last MAX_BINS bin minima as float rows (x: device - ref, y: receive - device),
        # oldest first; kept as an array so a refit builds none (it runs every bin).
        self._xy = np.empty((2, MAX_BINS), np.float64)
        self.reset()

    def reset(self) -> None:
        self.offset_ns: float | None = None  # session - device at ``_ref``
        self.drift = 0.0
        self._ref = 0
        self._bin_start = 0
        self._bin_min: tuple[int, int] | None = None  # (device - ref, receive - device)
        self._n_bins = 0

    @property
    def ready(self) -> bool:
        return self.offset_ns is not None

    @property
    def ref(self) -> int:
        """The device time the line is expressed around (the first one observed)."""
        return self._ref

    def observe(self, device_ns: int, receive_ns: int) -> None:
        """An arrival: the sample at ``device_ns`` had been measured by ``receive_ns``."""
        if self.offset_ns is None:
            self._ref = self._bin_start = device_ns
        rel = device_ns - self._ref
        delta = receive_ns - device_ns
        if device_ns - self._bin_start >= BIN_NS and self._bin_min is not None:
            self._close_bin(device_ns)
        if self._bin_min is None or delta < self._bin_min[1]:
            self._bin_min = (rel, delta)
        # Causality: the line must never put a sample after its own arrival.
        if self.offset_ns is None or delta < self.offset_ns + self.drift * rel:
            self.offset_ns = delta - self.drift * rel

    def _close_bin(self, device_ns: int) -> None:
        assert self._bin_min is not None
        xy, k = self._xy, self._n_bins
        if k == MAX_BINS:
            xy[:, :-1] = xy[:, 1:]  # the oldest bin drops out
        else:
            k = self._n_bins = k + 1
        xy[:, k - 1] = self._bin_min
        self._bin_min = None
        self._bin_start = device_ns
        if k >= MIN_BINS_FOR_DRIFT:
            x, y = xy[0, :k], xy[1, :k]
            # Least-squares slope in closed form (a straight line needs no general solver).
            # sum / k is what ndarray.mean computes, without its Python-level wrapper.
            dx = x - x.sum() / k
            slope = float(min(max((dx @ (y - y.sum() / k)) / (dx @ dx), -MAX_DRIFT), MAX_DRIFT))
            self.drift = slope
            # Lower envelope: the line lies on or under every bin minimum.
            self.offset_ns = float((y - slope * x).min())

    def map(self, device_ns: NDArray[np.int64]) -> NDArray[np.int64]:
        """Session times of the given device times, by the current line."""
        if self.offset_ns is None:
            raise RuntimeError("ClockMapper.map before any observe()")
        rel = (device_ns - np.int64(self._ref)).astype(np.float64)
        return device_ns + np.rint(self.offset_ns + self.drift * rel).astype(np.int64)


@dataclass(frozen=True, slots=True)
class TimedSamples:
    """A frame's samples placed on the session clock (empty if the frame was dropped)."""

    outcome: FrameOutcome
    t_session_ns: NDArray[np.int64] = field(default_factory=_empty)
    t_device_ns: NDArray[np.int64] = field(default_factory=_empty)
    gap: Gap | None = None  # on the session clock


_EMPTY_ROWS = np.empty(0, np.intp)
_NO_BOUNDS = np.zeros(1, np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class TimedRun:
    """A run of frames placed on the session clock, as columns (:meth:`SensorClock.push_run`).

    ``outcomes`` has one entry per frame pushed; ``accepted`` the indices of the OK ones, in
    order. Their samples are concatenated in ``t_session_ns``/``t_device_ns``: accepted frame
    ``r``'s are ``[bounds[r]:bounds[r + 1]]``. ``gaps`` lists ``(r, gap on the session
    clock)`` for the accepted frames that follow one.
    """

    outcomes: list[FrameOutcome]
    accepted: NDArray[np.intp]
    t_session_ns: NDArray[np.int64]
    t_device_ns: NDArray[np.int64]
    bounds: NDArray[np.int64]
    gaps: list[tuple[int, Gap]]


class SensorClock:
    """Device timeline + clock mapping for one sensor stream; session times out.

    Session times handed out are strictly increasing: should a refit move the line back by
    a fraction of a millisecond, the next frame is shifted forward just enough, rather than
    letting time run backwards downstream.
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        *,
        anchor: Literal["first", "last"],
        seq_modulo: int | None = None,
    ) -> None:
        self.timeline = DeviceTimeline(nominal_rate_hz, anchor=anchor, seq_modulo=seq_modulo)
        self.mapper = ClockMapper()
        self._last_session: int | None = None
        self._restarted = False

    def restart(self) -> None:
        """Call on every (re)connect and stream start: the device clock may have restarted."""
        self.timeline.reset()
        self.mapper.reset()
        self._restarted = self._last_session is not None

    def push(
        self, anchor_ns: int, n_samples: int, receive_ns: int, seq: int | None = None
    ) -> TimedSamples:
        """Place a frame received at session time ``receive_ns`` on the session clock."""
        return self.push_many([anchor_ns], [n_samples], [receive_ns], [seq])[0]

    def push_many(
        self,
        anchors: Sequence[int],
        counts: Sequence[int],
        receives: Sequence[int],
        seqs: Sequence[int | None] | None = None,
    ) -> list[TimedSamples]:
        """:meth:`push` for a run of frames, in order, with exactly the same results.

        One :class:`TimedSamples` per frame; :meth:`push_run` gives the same as columns.
        """
        run = self.push_run(anchors, counts, receives, seqs)
        out = [TimedSamples(o) for o in run.outcomes]
        bounds = run.bounds.tolist()
        gaps = dict(run.gaps)
        for row, i in enumerate(run.accepted.tolist()):
            lo, hi = bounds[row], bounds[row + 1]
            out[i] = TimedSamples(
                FrameOutcome.OK, run.t_session_ns[lo:hi], run.t_device_ns[lo:hi], gaps.get(row)
            )
        return out

    def push_run(
        self,
        anchors: Sequence[int],
        counts: Sequence[int],
        receives: Sequence[int],
        seqs: Sequence[int | None] | None = None,
    ) -> TimedRun:
        """:meth:`push_many` as columns: no Python object per frame beyond the bookkeeping.

        The per-frame bookkeeping (timeline, drift fit) is scalar Python; the sample times of
        all accepted frames are then built in one vectorised step, with the very same float
        operations :meth:`push` applies to one frame, and the never-backwards shift is a
        running maximum. Live sessions push one or a few frames at a time, a replay
        thousands: both get bit-identical times.

        The bookkeeping has a fast lane for the common frame (no sequence numbers, newer than
        the previous one, no gap, no bin boundary, no restart): :meth:`DeviceTimeline.step`
        and :meth:`ClockMapper.observe` inlined on local variables, with the same expressions
        in the same order. Any other frame writes the state back and takes those methods.
        """
        outcomes = [FrameOutcome.OK] * len(anchors)
        dropped: list[int] = []  # frames not accepted (rare)
        period: list[float] = []  # per accepted frame
        offset: list[float] = []
        # (first accepted frame, drift, ref): the line changes only where a bin closes or
        # the slow lane runs, so it is kept per stretch of frames, not per frame.
        lines: list[tuple[int, float, int]] = []
        # (row, device gap, restarted) for the accepted frames with either: the rare ones.
        marks: list[tuple[int, Gap | None, bool]] = []
        timeline, mapper = self.timeline, self.mapper
        placed = self._last_session is not None
        restarted = self._restarted
        fast = seqs is None
        last_anchored = timeline._last_anchored
        nominal = timeline.nominal_period_ns
        tolerance = PERIOD_TOLERANCE * nominal
        la, ls, ln = timeline._last_anchor, timeline._last_sample, timeline._last_n
        p = timeline.period_ns
        o, d, r = mapper.offset_ns, mapper.drift, mapper._ref
        bin_start, bin_min = mapper._bin_start, mapper._bin_min
        lines.append((0, d, r))
        for i, anchor in enumerate(anchors):
            n = counts[i]
            receive = receives[i]
            if (
                fast
                and la is not None
                and o is not None
                and anchor > la
                and not restarted
                and not anchor - la > GAP_FACTOR * (n if last_anchored else ln) * p
            ):
                # DeviceTimeline.step of a contiguous newer frame (no gap, no sequence number).
                between = n if last_anchored else ln
                measured = (anchor - la) / between
                if abs(measured - nominal) <= tolerance:
                    p += PERIOD_EMA_ALPHA * (measured - p)
                ls = anchor if last_anchored else anchor + round((n - 1) * p)
                la = anchor
                ln = n
                # ClockMapper.observe(ls, receive) inside the current bin.
                rel = ls - r
                delta = receive - ls
                if ls - bin_start >= BIN_NS and bin_min is not None:
                    mapper.offset_ns, mapper.drift = o, d
                    mapper._bin_start, mapper._bin_min = bin_start, bin_min
                    mapper.observe(ls, receive)
                    o, d = mapper.offset_ns, mapper.drift
                    bin_start, bin_min = mapper._bin_start, mapper._bin_min
                    lines.append((len(period), d, r))
                else:
                    if bin_min is None or delta < bin_min[1]:
                        bin_min = (rel, delta)
                    if delta < o + d * rel:
                        o = delta - d * rel
                period.append(p)
                offset.append(o or 0.0)
                continue
            # Anything else: the state goes back to the objects, their methods decide.
            timeline._last_anchor, timeline._last_sample, timeline._last_n = la, ls, ln
            timeline.period_ns = p
            mapper.offset_ns, mapper.drift, mapper._ref = o, d, r
            mapper._bin_start, mapper._bin_min = bin_start, bin_min
            last_anchor = timeline._last_anchor
            if last_anchor is not None and anchor < last_anchor - RESTART_JUMP_NS:
                # The device clock went back by far more than any reordering: it restarted.
                timeline.reset()
                mapper.reset()
                restarted = placed
            outcome, gap = timeline.step(anchor, n, None if seqs is None else seqs[i])
            if outcome is not FrameOutcome.OK:
                outcomes[i] = outcome
                dropped.append(i)
            else:
                mapper.observe(timeline._last_sample, receive)
                if gap is not None or restarted:
                    marks.append((len(period), gap, restarted))
                lines.append((len(period), mapper.drift, mapper._ref))
                period.append(timeline.period_ns)
                offset.append(mapper.offset_ns or 0.0)
                restarted = False
                placed = True
            la, ls, ln = timeline._last_anchor, timeline._last_sample, timeline._last_n
            p = timeline.period_ns
            o, d, r = mapper.offset_ns, mapper.drift, mapper._ref
            bin_start, bin_min = mapper._bin_start, mapper._bin_min
        timeline._last_anchor, timeline._last_sample, timeline._last_n = la, ls, ln
        timeline.period_ns = p
        mapper.offset_ns, mapper.drift, mapper._ref = o, d, r
        mapper._bin_start, mapper._bin_min = bin_start, bin_min
        self._restarted = restarted
        if not period:
            return TimedRun(outcomes, _EMPTY_ROWS, _EMPTY, _EMPTY, _NO_BOUNDS, [])
        rows = np.arange(len(anchors), dtype=np.intp)
        a_ok, n_ok = np.array(anchors, np.int64), np.array(counts, np.int64)
        if dropped:
            rows = np.delete(rows, dropped)
            a_ok, n_ok = a_ok[rows], n_ok[rows]
        bounds = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(n_ok, out=bounds[1:])
        ends = [line[0] for line in lines[1:]] + [len(period)]
        stretch = [end - line[0] for line, end in zip(lines, ends, strict=True)]
        drift = np.repeat(np.array([line[1] for line in lines], np.float64), stretch)
        ref = np.repeat(np.array([line[2] for line in lines], np.int64), stretch)
        device, session = self._sample_times(a_ok, n_ok, period, offset, drift, ref)
        # Never backwards: a frame starting at or before the previous frame's last sample is
        # moved to start right after it. With C the samples' cumulative span (span + 1 per
        # frame) the shifted starts are C + running max(start - C): one pass, no loop.
        first, last = session[bounds[:-1]], session[bounds[1:] - 1]
        step = np.zeros(len(rows), np.int64)
        np.cumsum(last[:-1] - first[:-1] + 1, out=step[1:])
        floor = first - step
        if self._last_session is not None:
            floor[0] = max(int(floor[0]), self._last_session + 1)
        shift = np.maximum.accumulate(floor) + step - first
        if shift.any():
            session += np.repeat(shift, np.diff(bounds))
            first = first + shift
            last = last + shift
        gaps: list[tuple[int, Gap]] = []
        for row, device_gap, was_restarted in marks:
            previous = self._last_session if row == 0 else int(last[row - 1])
            if previous is None:
                continue
            gap_out = _session_gap(
                previous, device_gap, int(first[row]), was_restarted, period[row]
            )
            if gap_out is not None:
                gaps.append((row, gap_out))
        self._last_session = int(last[-1])
        return TimedRun(outcomes, rows, session, device, bounds, gaps)

    def _sample_times(
        self,
        anchors: NDArray[np.int64],
        counts: NDArray[np.int64],
        period: list[float],
        offset: list[float],
        drift: NDArray[np.float64],
        ref: NDArray[np.int64],
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Device and session times of accepted frames, flat, by the very operations
        :meth:`DeviceTimeline.push` and :meth:`ClockMapper.map` apply to one frame: sample k
        of a frame lies ``rint(k * period)`` from its anchor, and is mapped by the line the
        fit had when the frame arrived."""
        first = self.timeline.anchor == "first"
        cols = [np.array(period), np.array(offset), drift, ref]
        a = anchors
        if bool((counts == counts[0]).all()):  # one frame size (the common case)
            per, off, dri, ref0 = (c[:, None] for c in cols)
            k = _ramp(int(counts[0]))[None, :]
            if not first:
                k = k[:, ::-1]
            steps = np.rint(k * per).astype(np.int64)
            dev = a[:, None] + steps if first else a[:, None] - steps
        else:
            sizes = counts
            per, off, dri, ref0 = (np.repeat(c, sizes) for c in cols)
            j = np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(
                np.cumsum(sizes) - sizes, sizes
            )
            if not first:
                j = np.repeat(sizes - 1, sizes) - j
            steps = np.rint(j.astype(np.float64) * per).astype(np.int64)
            rep = np.repeat(a, sizes)
            dev = rep + steps if first else rep - steps
        rel = (dev - ref0).astype(np.float64)
        ses = dev + np.rint(off + dri * rel).astype(np.int64)
        return dev.ravel(), ses.ravel()


def _session_gap(
    previous: int, device_gap: Gap | None, first: int, restarted: bool, period: float
) -> Gap | None:
    """The gap between a frame's first sample at ``first`` and the previous frame's last."""
    span = first - previous
    if restarted:
        if span <= GAP_FACTOR * period:
            return None
        missing = max(round(span / period) - 1, 1)
        return Gap(previous, first, missing, None, "reconnect")
    if device_gap is None:
        return None
    return Gap(previous, first, device_gap.missing_samples, device_gap.frames_lost)
