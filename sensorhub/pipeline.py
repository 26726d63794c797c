"""One participant's pipeline: samples on the session clock in, events out. No I/O.

:class:`ParticipantPipeline` wraps the streaming :class:`~sensorhub.dsp.detector.LeanDetector`
and turns its output into schema events (:mod:`sensorhub.events`): angles decimated for
display, episode starts and ends. :class:`DyadPipeline` feeds two participants' angles and
episodes to a :class:`~sensorhub.dsp.dyad.DyadTracker` and emits dyad events.

Calibration, per the participant's configuration:

- ``mounting``: the configured axes, fixed.
- ``auto``: the sensor kind's nominal mounting until ``auto_calibration_s`` of samples have
  arrived, then the documented fallback (upright from the most common still posture,
  forward from the main tilt axis, signed by the nominal mounting) computed from exactly
  those samples. Because it depends only on the samples, a replay recalibrates at the same
  sample as the live run did.
- ``two-pose``: nominal mounting until the dashboard's *upright* and *forward* steps each
  capture a few seconds of data (:meth:`ParticipantPipeline.calibrate`).

Decimation picks the first detector sample at or after each multiple of the display period on
the session clock, so it does not depend on how samples were chunked.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub import events as ev
from sensorhub.config import NOMINAL_MOUNTING, DetectionConfig, ParticipantConfig
from sensorhub.dsp.detector import DetectorChunk, LeanDetector
from sensorhub.dsp.dyad import (
    CoLeanEnded,
    CoLeanStarted,
    DyadTracker,
    OnsetFollowed,
    WindowCorrelation,
)
from sensorhub.dsp.episodes import Episode, EpisodeStart
from sensorhub.dsp.inclination import (
    Calibration,
    calibrate_fallback,
    calibrate_mounting,
    calibrate_two_pose,
)
from sensorhub.errors import ConfigError
from sensorhub.sources.base import SensorKind

__all__ = ["DyadPipeline", "ParticipantPipeline", "PipelineOutput"]

NS = 1_000_000_000
#: Seconds of data a two-pose step captures (the pose must be held that long).
POSE_CAPTURE_S = 5.0


def _s(t_ns: int) -> float:
    return t_ns / NS


@dataclass(frozen=True, slots=True, eq=False)
class PipelineOutput:
    """Schema events (time order) and the detector's output on its uniform grid."""

    events: list[Any]
    chunk: DetectorChunk

    @property
    def t_ns(self) -> NDArray[np.int64]:
        return self.chunk.t_ns

    @property
    def forward(self) -> NDArray[np.float64]:
        return self.chunk.forward

    @staticmethod
    def concat(outputs: list[PipelineOutput]) -> PipelineOutput:
        return PipelineOutput(
            [e for o in outputs for e in o.events], DetectorChunk.concat([o.chunk for o in outputs])
        )


class ParticipantPipeline:
    """Samples of one participant's sensor in, schema events out."""

    def __init__(
        self,
        participant: ParticipantConfig,
        kind: SensorKind,
        detection: DetectionConfig,
        *,
        angle_rate_hz: float = 10.0,
    ) -> None:
        self.id = participant.id
        self.kind = kind
        self.detection = detection
        self.method = participant.calibration.method
        up, forward = NOMINAL_MOUNTING[kind]
        self.nominal = calibrate_mounting(up, forward)
        cal = participant.calibration
        if cal.method == "mounting" and cal.up is not None and cal.forward is not None:
            initial = calibrate_mounting(cal.up, cal.forward)
        else:
            initial = self.nominal
        self.detector = LeanDetector(initial, detection.detector)
        self._period_ns = round(NS / angle_rate_hz)
        self._next_angle_ns: int | None = None
        self._auto_t: list[NDArray[np.int64]] = []
        self._auto_acc: list[NDArray[np.float64]] = []
        self._auto_n = 0
        self._auto_cut_ns: int | None = None
        self._capture: tuple[str, list[NDArray[np.int64]], list[NDArray[np.float64]]] | None = None
        self._poses: dict[str, NDArray[np.float64]] = {}
        self._pose_fs: dict[str, float] = {}
        self.calibration_events: list[dict[str, Any]] = []

    @property
    def calibration(self) -> Calibration:
        return self.detector.calibration

    # -- data -----------------------------------------------------------------------------

    def process(self, t_ns: NDArray[np.int64], acc_g: NDArray[np.float64]) -> PipelineOutput:
        """Feed samples (session ns, g); returns events in time order and the angle grid."""
        if self._capture is not None:
            self._collect_pose(t_ns, acc_g)
        if self.method == "auto" and self._auto_n >= 0 and t_ns.size:
            # The new calibration applies from the first sample at or after the cut, however
            # the samples were chunked: feed the detector up to there, swap, feed the rest.
            if self._auto_cut_ns is None:
                self._auto_cut_ns = int(t_ns[0]) + round(self.detection.auto_calibration_s * NS)
            cut = int(np.searchsorted(t_ns, self._auto_cut_ns))
            self._auto_t.append(t_ns[:cut])
            self._auto_acc.append(acc_g[:cut])
            if cut < t_ns.size:
                before = self.detector.process(t_ns[:cut], acc_g[:cut])
                self._calibrate_auto()
                after = self.detector.process(t_ns[cut:], acc_g[cut:])
                chunk = DetectorChunk.concat([before, after])
                return PipelineOutput(self._events(chunk), chunk)
        chunk = self.detector.process(t_ns, acc_g)
        return PipelineOutput(self._events(chunk), chunk)

    def flush(self) -> PipelineOutput:
        """End of the session: close open episodes (marked truncated)."""
        chunk = self.detector.flush()
        return PipelineOutput(self._events(chunk), chunk)

    def reset(self) -> None:
        """The sensor reconnected: samples before and after are not continuous."""
        self.detector.reset()
        self._next_angle_ns = None

    def _events(self, chunk: DetectorChunk) -> list[Any]:
        angles: list[Any] = []
        t: list[float] = []
        picks = self._decimate(chunk.t_ns)
        if picks:
            # One conversion per column, not four numpy scalar reads per angle.
            t = (chunk.t_ns[picks] / NS).tolist()
            fwd = chunk.forward[picks].tolist()
            lat = chunk.lateral[picks].tolist()
            dyn = chunk.dynamic[picks].tolist()
            lie = chunk.lying[picks].tolist()
            angles = list(map(ev.Angle.fast, repeat(self.id, len(t)), t, fwd, lat, dyn, lie))
        if not chunk.started and not chunk.ended:
            return angles  # already in time order
        marks: list[tuple[float, Any]] = []
        marks.extend((e.confirmed_ns / NS, self._started(e)) for e in chunk.started)
        marks.extend((e.end_ns / NS, self._ended(e)) for e in chunk.ended)
        marks.sort(key=lambda pair: pair[0])  # stable: starts before ends at a tie
        # Angles are in time order: each episode event goes before the first angle at or
        # after its time (episode events before angles at a tie), merged without a sort.
        out: list[Any] = []
        done = 0
        for at, event in marks:
            upto = bisect.bisect_left(t, at, done)
            out += angles[done:upto]
            out.append(event)
            done = upto
        out += angles[done:]
        return out

    def _decimate(self, t_ns: NDArray[np.int64]) -> list[int]:
        """Indices of the first sample at or after each display tick (chunking-proof).

        A sample is picked when it is the first at or after the next pending tick; the tick
        after it is the next multiple of the period. Since ticks are multiples of the period,
        that is: among samples at or after the pending tick, the first of each period slot.
        """
        if t_ns.size == 0:
            return []
        period = self._period_ns
        if self._next_angle_ns is None:
            self._next_angle_ns = -(-int(t_ns[0]) // period) * period
        start = int(np.searchsorted(t_ns, self._next_angle_ns))
        if start >= t_ns.size:
            return []
        slot = t_ns[start:] // period
        picks = np.r_[0, np.flatnonzero(np.diff(slot)) + 1] + start
        self._next_angle_ns = (int(t_ns[picks[-1]]) // period + 1) * period
        out: list[int] = picks.tolist()
        return out

    def _started(self, e: EpisodeStart) -> ev.EpisodeStarted:
        return ev.EpisodeStarted(
            self.id, e.level, e.direction, _s(e.onset_ns), _s(e.crossing_ns), _s(e.confirmed_ns)
        )

    def _ended(self, e: Episode) -> ev.EpisodeEnded:
        return ev.EpisodeEnded(
            self.id,
            e.level,
            e.direction,
            _s(e.onset_ns),
            _s(e.end_ns),
            _s(e.crossing_ns),
            _s(e.exit_ns),
            float(e.peak_deg),
            float(e.mean_deg),
            e.truncated,
        )

    # -- calibration ----------------------------------------------------------------------

    def _calibrate_auto(self) -> None:
        t = np.concatenate(self._auto_t)
        acc = np.concatenate(self._auto_acc)
        self._auto_t, self._auto_acc, self._auto_n = [], [], -1  # done: stop collecting
        if t.size < 2:
            return
        fs = (t.size - 1) / ((t[-1] - t[0]) / NS)
        try:
            cal = calibrate_fallback(acc, fs, forward_hint=NOMINAL_MOUNTING[self.kind][1])
        except ConfigError as exc:
            self.calibration_events.append({"method": "fallback", "error": str(exc)})
        else:
            self.detector.calibration = cal
            self.calibration_events.append(cal.describe())

    def calibrate(self, step: str) -> dict[str, Any]:
        """A two-pose step from the dashboard: ``upright``, ``forward`` or ``reset``."""
        if step == "reset":
            self.detector.calibration = self.nominal
            self._poses.clear()
            self._capture = None
            return {"participant": self.id, "calibration": self.nominal.describe()}
        if step not in ("upright", "forward"):
            raise ConfigError(f"calibration step must be upright, forward or reset, not {step!r}")
        if step == "forward" and "upright" not in self._poses:
            raise ConfigError(f"{self.id}: capture the upright pose before the forward lean")
        self._capture = (step, [], [])
        return {"participant": self.id, "step": step, "capturing_s": POSE_CAPTURE_S}

    def _collect_pose(self, t_ns: NDArray[np.int64], acc_g: NDArray[np.float64]) -> None:
        assert self._capture is not None
        step, times, parts = self._capture
        times.append(t_ns)
        parts.append(acc_g)
        t = np.concatenate(times)
        if t.size < 2 or (t[-1] - t[0]) / NS < POSE_CAPTURE_S:
            return
        self._poses[step] = np.concatenate(parts)
        self._pose_fs[step] = (t.size - 1) / ((t[-1] - t[0]) / NS)
        self._capture = None
        if step == "forward":
            upright, lean = self._poses["upright"], self._poses["forward"]
            fs = self._pose_fs["upright"]
            try:
                cal = calibrate_two_pose(upright, lean, fs)
            except ConfigError as exc:
                self.calibration_events.append({"method": "two-pose", "error": str(exc)})
                return
            self.detector.calibration = cal
            self.method = "two-pose"
            self.calibration_events.append(cal.describe())


class DyadPipeline:
    """Two participants' angles and episodes in, dyad events out."""

    def __init__(self, a: str, b: str, *, primary_level: str = "forward") -> None:
        self.members = (a, b)
        self.tracker = DyadTracker()
        self.primary_level = primary_level

    def feed(self, who: str, output: PipelineOutput) -> list[ev.DyadEvent]:
        """One participant's pipeline output (its events and its forward-angle grid)."""
        idx = self.members.index(who)
        raw: list[Any] = []
        for e in output.events:
            if isinstance(e, ev.EpisodeStarted) and e.level == self.primary_level:
                raw.extend(self.tracker.episode_started(idx, round(e.onset * NS)))
            elif isinstance(e, ev.EpisodeEnded) and e.level == self.primary_level:
                raw.extend(self.tracker.episode_ended(idx, round(e.end * NS)))
        if output.t_ns.size:
            raw.extend(self.tracker.angles(idx, output.t_ns, output.forward))
        return [self._event(d) for d in raw]

    def finish(self) -> list[ev.DyadEvent]:
        return [self._event(d) for d in self.tracker.finish()]

    def _who(self, index: int | None) -> str | None:
        return None if index is None else self.members[index]

    def _event(self, d: Any) -> ev.DyadEvent:
        pair = list(self.members)
        if isinstance(d, CoLeanStarted):
            return ev.DyadEvent(
                pair, "colean_start", d.t_ns / NS, self._who(d.leader), d.lag_ns / NS
            )
        if isinstance(d, CoLeanEnded):
            return ev.DyadEvent(pair, "colean_end", d.t_ns / NS, self._who(d.leader), d.lag_ns / NS)
        if isinstance(d, OnsetFollowed):
            return ev.DyadEvent(
                pair, "onset_followed", d.t_ns / NS, self._who(d.leader), d.lag_ns / NS
            )
        assert isinstance(d, WindowCorrelation)
        r = None if math.isnan(d.peak_r) else float(d.peak_r)
        lag = None if math.isnan(d.peak_lag_s) else float(d.peak_lag_s)
        return ev.DyadEvent(pair, "correlation", d.t_ns / NS, lag_s=lag, r=r)
