"""The simulator's event plan: lean episodes (with partner responses), posture shifts, gestures.

Planning is incremental and *horizon-independent*: events are drawn in time order from
dedicated random streams, so planning up to 100 s and then to 200 s gives exactly the plan of
planning to 200 s at once. That is what lets an unbounded stream and a finite session share
one code path and produce identical samples for the same seed.

Random streams (``numpy.random.default_rng`` seeded with ``[seed, tag, ...]``):
tag 1 lean onsets of all participants (one stream, consumed in global time order, because a
response couples two participants), tag 3 posture shifts and tag 4 gestures per participant.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from sensorhub.sim.config import SimConfig

__all__ = [
    "CALIBRATION_LEAN_S",
    "CALIBRATION_UPRIGHT_S",
    "Burst",
    "Planner",
    "PostureShift",
    "TruthEpisode",
    "partner_of",
]

Direction = Literal["forward", "backward", "calibration"]

#: Still windows (session s) of the optional calibration protocol: upright, then leaning.
CALIBRATION_UPRIGHT_S = (2.0, 9.5)
CALIBRATION_LEAN_S = (12.0, 17.0)

#: Plan this far beyond any requested time: a response may begin up to ~1 s *before* its
#: leader's onset ramp (the lag is measured between half-depth times), so a block must not
#: be synthesised before the leader has been planned.
PLAN_MARGIN_S = 10.0


def partner_of(participant: int, n_participants: int) -> int | None:
    """Dyad partner: (0, 1), (2, 3), ...; None for an unpaired last participant."""
    other = participant ^ 1
    return other if other < n_participants else None


@dataclass(frozen=True, slots=True)
class TruthEpisode:
    """One planned lean, on the session (true) clock, in seconds.

    ``start_s``/``end_s`` are the half-depth times of the onset and offset ramps (the
    natural reference for a threshold detector's latency-corrected onset); the movement
    itself spans ``onset_begin_s`` to ``offset_end_s``. ``depth_deg`` is signed (positive
    forward) and relative to the participant's current baseline; ``peak_deg`` is the peak
    of the true absolute angle in ``[start_s, end_s]`` (NaN until computed by the
    session/stream). ``response_to`` is ``(partner, partner_episode_index)`` when this lean
    answers the partner's, with ``lag_s`` between the two ``start_s``.
    """

    participant: int
    index: int
    direction: Direction
    onset_begin_s: float
    start_s: float
    end_s: float
    offset_end_s: float
    depth_deg: float
    lateral_deg: float
    sway_deg: float
    sway_hz: float
    sway_phase: float
    response_to: tuple[int, int] | None = None
    lag_s: float | None = None
    peak_deg: float = math.nan

    @property
    def ramp_in_s(self) -> float:
        return 2.0 * (self.start_s - self.onset_begin_s)

    @property
    def ramp_out_s(self) -> float:
        return 2.0 * (self.offset_end_s - self.end_s)

    @property
    def led_by(self) -> int | None:
        """The partner whose lean this one answered, if any."""
        return None if self.response_to is None else self.response_to[0]


@dataclass(frozen=True, slots=True)
class Burst:
    """A Hann-windowed oscillating linear acceleration (gesture, or the jolt of a shift)."""

    begin_s: float
    duration_s: float
    amp_g: float
    freq_hz: float
    phase: float
    direction: tuple[float, float, float]  # unit vector in body (forward, left, up) axes


@dataclass(frozen=True, slots=True)
class PostureShift:
    """A lasting change of baseline posture, reached by a raised-cosine transition."""

    begin_s: float
    duration_s: float
    forward_before: float
    lateral_before: float
    forward_after: float
    lateral_after: float
    burst: Burst


def _calibration_episode(p: int, depth: float) -> TruthEpisode:
    """The protocol's deliberate lean: ramps 10-11.5 s and 17.5-19 s, no sway."""
    return TruthEpisode(p, 0, "calibration", 10.0, 10.75, 18.25, 19.0, depth, 0.0, 0.0, 0.1, 0.0)


def _unit(rng: np.random.Generator, vertical_scale: float) -> tuple[float, float, float]:
    v = rng.normal(size=3) * np.array([1.0, 1.0, vertical_scale])
    v /= float(np.linalg.norm(v)) or 1.0
    return (float(v[0]), float(v[1]), float(v[2]))


class Planner:
    """Incrementally plans every participant's events; see the module docstring."""

    def __init__(self, config: SimConfig, seed: int) -> None:
        self.config = config
        n = config.n_participants
        self._lean_rng = np.random.default_rng([seed, 1])
        self._shift_rng = [np.random.default_rng([seed, 3, p]) for p in range(n)]
        self._gesture_rng = [np.random.default_rng([seed, 4, p]) for p in range(n)]
        self.episodes: list[list[TruthEpisode]] = [[] for _ in range(n)]
        self.shifts: list[list[PostureShift]] = [[] for _ in range(n)]
        self.gestures: list[list[Burst]] = [[] for _ in range(n)]
        self._queue: list[tuple[float, int, int]] = []  # (time, kind 0=fwd 1=back, p)
        if config.calibration_pose_deg > 0:
            for p in range(n):
                self.episodes[p].append(_calibration_episode(p, config.calibration_pose_deg))
        lo, hi = config.onset_interval_s
        for p in range(n):
            first = config.settle_s + float(self._lean_rng.uniform(0.0, hi - lo))
            heapq.heappush(self._queue, (first, 0, p))
            if config.backward_interval_s > 0:
                t = config.settle_s + float(self._lean_rng.exponential(config.backward_interval_s))
                heapq.heappush(self._queue, (t, 1, p))
        self._next_shift = [config.settle_s] * n
        self._next_gesture = [config.settle_s] * n
        self._planned_s = -math.inf

    def ensure(self, t_s: float) -> None:
        """Plan every event that can influence the signal up to time ``t_s``."""
        horizon = t_s + PLAN_MARGIN_S
        if horizon <= self._planned_s:
            return
        while self._queue and self._queue[0][0] <= horizon:
            t, kind, p = heapq.heappop(self._queue)
            if kind == 0:
                self._spontaneous_forward(t, p)
            else:
                self._backward(t, p)
        for p in range(self.config.n_participants):
            self._plan_shifts(p, horizon)
            self._plan_gestures(p, horizon)
        self._planned_s = horizon

    # --- lean episodes -------------------------------------------------------------------

    def _free_from(self, p: int) -> float:
        eps = self.episodes[p]
        return eps[-1].offset_end_s + self.config.min_gap_s if eps else -math.inf

    def _new_episode(
        self,
        p: int,
        onset_begin: float,
        direction: Direction,
        response_to: tuple[int, int] | None = None,
        lag: float | None = None,
        ramp_in: float | None = None,
    ) -> TruthEpisode:
        cfg, rng = self.config, self._lean_rng
        if direction == "forward":
            depth = float(rng.uniform(*cfg.lean_depth_deg))
            lo, hi = cfg.lean_duration_s
        else:
            depth = -float(rng.uniform(*cfg.backward_depth_deg))
            lo, hi = cfg.lean_duration_s[0], min(cfg.lean_duration_s[1], 20.0)
        r_in = float(rng.uniform(*cfg.ramp_s)) if ramp_in is None else ramp_in
        r_out = float(rng.uniform(*cfg.ramp_s))
        hold = math.exp(float(rng.uniform(math.log(lo), math.log(hi))))
        hold = max(hold, 0.5 * (r_in + r_out))
        start = onset_begin + 0.5 * r_in
        return TruthEpisode(
            participant=p,
            index=len(self.episodes[p]),
            direction=direction,
            onset_begin_s=onset_begin,
            start_s=start,
            end_s=start + hold,
            offset_end_s=start + hold + 0.5 * r_out,
            depth_deg=depth,
            lateral_deg=depth * float(rng.uniform(-0.15, 0.15)),
            sway_deg=float(rng.uniform(*cfg.sway_deg)),
            sway_hz=float(rng.uniform(*cfg.sway_hz)),
            sway_phase=float(rng.uniform(0.0, 2.0 * math.pi)),
            response_to=response_to,
            lag_s=lag,
        )

    def _spontaneous_forward(self, t: float, p: int) -> None:
        cfg, rng = self.config, self._lean_rng
        interval = float(rng.uniform(*cfg.onset_interval_s))
        ep = None
        if t >= self._free_from(p):
            ep = self._new_episode(p, t, "forward")
            self.episodes[p].append(ep)
            self._respond(ep)
        nxt = max(t + interval, self._free_from(p))
        heapq.heappush(self._queue, (nxt, 0, p))

    def _respond(self, leader: TruthEpisode) -> None:
        cfg, rng = self.config, self._lean_rng
        q = partner_of(leader.participant, cfg.n_participants)
        answer = float(rng.uniform())
        lag = float(rng.uniform(*cfg.response_lag_s))
        ramp_in = float(rng.uniform(*cfg.ramp_s))
        if q is None or answer >= cfg.response_prob:
            return
        onset_begin = leader.start_s + lag - 0.5 * ramp_in
        if onset_begin < self._free_from(q):
            return
        link = (leader.participant, leader.index)
        self.episodes[q].append(self._new_episode(q, onset_begin, "forward", link, lag, ramp_in))

    def _backward(self, t: float, p: int) -> None:
        nxt = t + float(self._lean_rng.exponential(self.config.backward_interval_s))
        if t >= self._free_from(p):
            self.episodes[p].append(self._new_episode(p, t, "backward"))
        heapq.heappush(self._queue, (max(nxt, self._free_from(p)), 1, p))

    # --- background ----------------------------------------------------------------------

    def _burst(self, rng: np.random.Generator, begin: float, dur: float, amp: float) -> Burst:
        return Burst(
            begin_s=begin,
            duration_s=dur,
            amp_g=amp,
            freq_hz=float(rng.uniform(*self.config.gesture_hz)),
            phase=float(rng.uniform(0.0, 2.0 * math.pi)),
            direction=_unit(rng, vertical_scale=0.5),
        )

    def _plan_shifts(self, p: int, horizon: float) -> None:
        cfg, rng = self.config, self._shift_rng[p]
        sd = cfg.shift_offset_deg_sd
        while self._next_shift[p] <= horizon:
            t = self._next_shift[p] + float(rng.exponential(cfg.shift_interval_s))
            dur = float(rng.uniform(*cfg.shift_s))
            fwd, lat = (float(np.clip(rng.normal(0.0, sd), -2 * sd, 2 * sd)) for _ in range(2))
            burst = self._burst(rng, t, dur, float(rng.uniform(*cfg.shift_acc_g)))
            prev = self.shifts[p][-1] if self.shifts[p] else None
            before = (prev.forward_after, prev.lateral_after) if prev else (0.0, 0.0)
            self.shifts[p].append(PostureShift(t, dur, *before, fwd, lat, burst))
            self._next_shift[p] = t + dur

    def _plan_gestures(self, p: int, horizon: float) -> None:
        cfg, rng = self.config, self._gesture_rng[p]
        if cfg.gesture_interval_s <= 0:
            return
        while self._next_gesture[p] <= horizon:
            t = self._next_gesture[p] + float(rng.exponential(cfg.gesture_interval_s))
            dur = float(rng.uniform(*cfg.gesture_s))
            self.gestures[p].append(
                self._burst(rng, t, dur, float(rng.uniform(*cfg.gesture_acc_g)))
            )
            self._next_gesture[p] = t
