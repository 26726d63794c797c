"""The per-participant streaming lean detector: conditioning -> gravity -> angles -> episodes.

:class:`LeanDetector` composes the stages and holds all their state. ``process(t_ns, acc_g)``
takes any chunk of raw samples (int64 ns, float64 g ``(N, 3)`` in device axes) and returns a
:class:`DetectorChunk`; ``flush()`` closes open episodes at the end of the data; ``reset()``
forgets everything (a reconnect). Offline analysis is :func:`detect` = one ``process`` over the
whole arrays plus ``flush`` -- the same code, so the chunking invariant covers it.

Per uniform-grid sample: ``forward``, ``lateral``, ``inclination`` (degrees), ``dynamic``
(motion gate) and ``lying``. Episode levels (see :class:`DetectorConfig`): the primary forward
level, a backward level and any extra levels run in parallel; the lying state is a level of its
own on the inclination when the tilt is not forward-dominant (lying back or on a side), so
it is never a forward lean. While lying,
forward and backward levels cannot start and open ones end. A data gap longer than the
conditioning limit is a break: open episodes end there (``truncated``) and every stage restarts.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub.dsp.conditioning import Break, ConditioningStats, Resampler
from sensorhub.dsp.episodes import Episode, EpisodeStart, LevelSpec, LevelTracker
from sensorhub.dsp.filters import SosFilter, butter_lowpass, low_frequency_delay_s
from sensorhub.dsp.inclination import Calibration, angles_deg
from sensorhub.dsp.motion import MotionConfig, MotionGate

__all__ = [
    "DEFAULT_LEVELS",
    "LYING_LEVEL",
    "DetectorChunk",
    "DetectorConfig",
    "LeanDetector",
    "detect",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Primary forward lean (methods review 6.E: 5 degree band ~ 1-2x the quasi-static angle error)
#: and a backward lean level; extra levels such as ``LevelSpec("subtle", "forward", 10, 6)``
#: can be added.
DEFAULT_LEVELS = (
    LevelSpec("forward", "forward", 20.0, 15.0),
    LevelSpec("backward", "backward", 10.0, 6.0),
)
#: Lying: > 60 degrees backward or sideways (hip/trunk lying cut-points in use are 45-65).
LYING_LEVEL = LevelSpec("lying", "lying", 60.0, 50.0, min_duration_s=2.0, merge_gap_s=1.0)


@dataclass(frozen=True)
class DetectorConfig:
    """Everything the chain needs besides the calibration; defaults documented in the README."""

    rate_hz: float = 50.0
    max_gap_s: float = 1.0
    lowpass_order: int = 4
    lowpass_hz: float = 1.0
    levels: tuple[LevelSpec, ...] = DEFAULT_LEVELS
    lying: LevelSpec = LYING_LEVEL
    motion: MotionConfig = field(default_factory=MotionConfig)
    lookback_s: float = 5.0


@dataclass(frozen=True)
class DetectorChunk:
    t_ns: IntArray
    forward: FloatArray
    lateral: FloatArray
    inclination: FloatArray
    dynamic: BoolArray
    lying: BoolArray
    started: list[EpisodeStart]
    ended: list[Episode]
    breaks: list[Break]

    @staticmethod
    def concat(chunks: list[DetectorChunk]) -> DetectorChunk:
        def cat(name: str) -> Any:
            return np.concatenate([getattr(c, name) for c in chunks])

        return DetectorChunk(
            cat("t_ns"),
            cat("forward"),
            cat("lateral"),
            cat("inclination"),
            cat("dynamic"),
            cat("lying"),
            [e for c in chunks for e in c.started],
            [e for c in chunks for e in c.ended],
            [b for c in chunks for b in c.breaks],
        )


class LeanDetector:
    """All per-participant state for lean detection (see the module docstring)."""

    def __init__(self, calibration: Calibration, config: DetectorConfig | None = None) -> None:
        self.config = cfg = config or DetectorConfig()
        self.calibration = calibration
        names = [lv.name for lv in cfg.levels]
        if len(set(names)) != len(names) or cfg.lying.name in names:
            raise ValueError(f"level names must be unique, got {[*names, cfg.lying.name]}")
        for lv in cfg.levels:
            if lv.direction not in ("forward", "backward"):
                raise ValueError(f"level {lv.name}: direction must be forward or backward")
        sos = butter_lowpass(cfg.lowpass_order, cfg.lowpass_hz, cfg.rate_hz)
        self.delay_s = low_frequency_delay_s(sos, cfg.rate_hz)
        self._resampler = Resampler(cfg.rate_hz, max_gap_s=cfg.max_gap_s)
        self._lowpass = SosFilter(sos, 3)
        self._motion = MotionGate(cfg.motion, cfg.rate_hz)
        kw = {"delay_s": self.delay_s, "lookback_s": cfg.lookback_s}
        self._lying = LevelTracker(cfg.lying, cfg.rate_hz, **kw)
        self._levels = [LevelTracker(lv, cfg.rate_hz, **kw) for lv in cfg.levels]
        self._started_any = False

    @property
    def conditioning_stats(self) -> ConditioningStats:
        return self._resampler.stats

    def reset(self) -> None:
        """Forget all state (new stream or reconnect); pending episodes are discarded."""
        self._resampler = Resampler(self.config.rate_hz, max_gap_s=self.config.max_gap_s)
        self._restart()
        self._started_any = False

    def process(self, t_ns: IntArray, acc_g: FloatArray) -> DetectorChunk:
        """Feed raw samples; returns angles on the uniform grid and episode events."""
        cond = self._resampler.process(t_ns, acc_g)
        cuts = np.flatnonzero(cond.segment_start).tolist()
        bounds = [0, *[c for c in cuts if c > 0], cond.t_ns.size]
        parts: list[DetectorChunk] = []
        for lo, hi in itertools.pairwise(bounds):
            ended: list[Episode] = []
            if cond.segment_start.size and cond.segment_start[lo] and self._started_any:
                ended = self._close_all()
                self._restart()
            self._started_any = True
            part = self._segment(cond.t_ns[lo:hi], cond.acc[lo:hi])
            parts.append(_with_ended(part, ended))
        if not parts:
            parts.append(self._segment(cond.t_ns, cond.acc))
        out = DetectorChunk.concat(parts)
        return _with_breaks(out, cond.breaks)

    def flush(self) -> DetectorChunk:
        """End of data: finish open episodes (open ones are marked truncated)."""
        empty = self._segment(np.empty(0, dtype=np.int64), np.empty((0, 3)))
        return _with_ended(empty, self._close_all())

    def _restart(self) -> None:
        self._lowpass.reset()
        self._motion.reset()
        self._lying.reset()
        for lv in self._levels:
            lv.reset()

    def _close_all(self) -> list[Episode]:
        ended = self._lying.finish()
        for lv in self._levels:
            ended.extend(lv.finish())
        return ended

    def _segment(self, t: IntArray, acc: FloatArray) -> DetectorChunk:
        gravity = self._lowpass.process(acc)
        ang = angles_deg(gravity, self.calibration)
        motion = self._motion.process(acc)
        lying_score = np.where(ang.tilt_forward, 0.0, ang.inclination)
        lying = self._lying.process(t, lying_score)
        timeout = motion.run > self._motion.max_open
        force_off = lying.state | timeout
        started = list(lying.started)
        ended = list(lying.ended)
        for lv in self._levels:
            x = ang.forward if lv.spec.direction == "forward" else -ang.forward
            res = lv.process(t, x, hold=motion.dynamic, block=lying.state, force_off=force_off)
            started.extend(res.started)
            ended.extend(res.ended)
        return DetectorChunk(
            t,
            ang.forward,
            ang.lateral,
            ang.inclination,
            motion.dynamic,
            lying.state,
            started,
            ended,
            [],
        )


def detect(
    t_ns: IntArray,
    acc_g: FloatArray,
    calibration: Calibration,
    config: DetectorConfig | None = None,
) -> DetectorChunk:
    """Offline analysis: the streaming detector fed the whole arrays, then flushed."""
    det = LeanDetector(calibration, config)
    return DetectorChunk.concat([det.process(t_ns, acc_g), det.flush()])


def _with_ended(chunk: DetectorChunk, ended: list[Episode]) -> DetectorChunk:
    if not ended:
        return chunk
    return DetectorChunk(
        chunk.t_ns,
        chunk.forward,
        chunk.lateral,
        chunk.inclination,
        chunk.dynamic,
        chunk.lying,
        chunk.started,
        [*ended, *chunk.ended],
        chunk.breaks,
    )


def _with_breaks(chunk: DetectorChunk, breaks: list[Break]) -> DetectorChunk:
    return DetectorChunk(
        chunk.t_ns,
        chunk.forward,
        chunk.lateral,
        chunk.inclination,
        chunk.dynamic,
        chunk.lying,
        chunk.started,
        chunk.ended,
        breaks,
    )
