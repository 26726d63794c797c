"""Trunk motion and sensor model: plan + time grid -> true angles and accelerometer samples.

Angles are the *projected* sagittal/lateral angles of lean-detection-methods.md §1.2, with the
sign conventions of :mod:`sensorhub.dsp.inclination`: with body axes forward f, right
r = f x up and up v, world-up seen in the body frame is
``u ∝ v - tan(forward) f - tan(lateral) r``, so ``forward = atan2(-u.f, u.v)`` (positive
forward) and ``lateral = atan2(-u.r, u.v)`` (positive toward the wearer's right) hold exactly.
Internally the body frame is stored as (forward, left, up), a right-handed frame.
Every angle component has analytic first and second derivatives, which give the linear
acceleration of a sensor ``pivot_radius_m`` above the hip pivot (tangential ``r * angle''``,
centripetal ``-r * angle'^2``), so a lean also shakes the sensor the way a real one does.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensorhub.sim.config import SimConfig
from sensorhub.sim.plan import Burst, PostureShift, TruthEpisode

__all__ = ["Background", "Mount", "body_kinematics", "draw_background", "draw_mount"]

F64 = NDArray[np.float64]
G0 = 9.80665  # m/s^2 per g
DEG = math.pi / 180.0

# Longest event: bounds the search back in time for events overlapping a block.
_MAX_GESTURE_S = 10.0


@dataclass(frozen=True, slots=True)
class Mount:
    """How one sensor sits on its wearer.

    ``rotation`` maps body (forward, left, up) coordinates to device coordinates (its
    columns are the body axes seen by the device); ``up``/``forward`` are the columns a
    calibration must recover. ``bias_g`` is the per-axis zero-g offset.
    """

    rotation: F64
    bias_g: F64

    @property
    def forward(self) -> F64:
        return np.ascontiguousarray(self.rotation[:, 0])

    @property
    def up(self) -> F64:
        return np.ascontiguousarray(self.rotation[:, 2])


def _rot(axis: int, deg: float) -> F64:
    c, s = math.cos(deg * DEG), math.sin(deg * DEG)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


#: Nominal strap mounting, body (forward, left, up) -> device. Assumption, unverified for the
#: H10 (ble-protocols.md §1.9 says only that Z is roughly normal to the chest): device +z
#: points out of the chest (forward) and +y up, so (right-handed) +x points to the wearer's left.
NOMINAL_STRAP = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def draw_mount(config: SimConfig, rng: np.random.Generator) -> Mount:
    if config.mounting == "random":
        q = rng.normal(size=4)
        w, x, y, z = q / np.linalg.norm(q)
        rotation = np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
    else:
        tilt = float(rng.uniform(*config.mount_tilt_deg))  # about the body's left axis
        twist = float(rng.uniform(*config.mount_twist_deg))  # about the chest normal
        yaw = float(rng.uniform(*config.mount_yaw_deg))  # about the body's up axis
        # Perturb in body coordinates, then express in device axes.
        rotation = NOMINAL_STRAP @ _rot(2, yaw) @ _rot(0, twist) @ _rot(1, tilt)
    bias = rng.normal(0.0, config.bias_mg_sd / 1000.0, size=3)
    return Mount(rotation=np.asarray(rotation, dtype=np.float64), bias_g=bias)


@dataclass(frozen=True, slots=True)
class Background:
    """Per-participant continuous components: breathing and slow postural wander."""

    breath_hz: float
    breath_deg: float
    breath_phase: float
    wander: tuple[tuple[float, float, float, int], ...]  # (amp deg, hz, phase, 0=fwd 1=lat)


def draw_background(config: SimConfig, rng: np.random.Generator) -> Background:
    wander = []
    for axis in (0, 1):
        for _ in range(3):
            amp = config.wander_deg / 3.0 * float(rng.uniform(0.5, 1.5))
            hz = float(rng.uniform(0.003, 0.03))
            wander.append((amp, hz, float(rng.uniform(0.0, 2 * math.pi)), axis))
    return Background(
        breath_hz=float(rng.uniform(*config.breath_hz)),
        breath_deg=float(rng.uniform(*config.breath_deg)),
        breath_phase=float(rng.uniform(0.0, 2 * math.pi)),
        wander=tuple(wander),
    )


class _Angle:
    """Accumulates an angle (deg) and its first two time derivatives on a time grid."""

    def __init__(self, n: int) -> None:
        self.x, self.dx, self.ddx = np.zeros(n), np.zeros(n), np.zeros(n)

    def add_sine(
        self, t: F64, amp: float, hz: float, phase: float, mask: slice = slice(None)
    ) -> None:
        w = 2 * math.pi * hz
        arg = w * t[mask] + phase
        s, c = np.sin(arg), np.cos(arg)
        self.x[mask] += amp * s
        self.dx[mask] += amp * w * c
        self.ddx[mask] -= amp * w * w * s


def _step(u: F64, dur: float) -> tuple[F64, F64, F64]:
    """Raised-cosine step on u in [0, 1] (clipped), with d/dt and d2/dt2 for duration dur."""
    inside = (u > 0) & (u < 1)
    uc = np.clip(u, 0.0, 1.0)
    s = 0.5 - 0.5 * np.cos(math.pi * uc)
    k = math.pi / dur
    ds = np.where(inside, 0.5 * k * np.sin(math.pi * uc), 0.0)
    dds = np.where(inside, 0.5 * k * k * np.cos(math.pi * uc), 0.0)
    return s, ds, dds


def _add_episode(fwd: _Angle, lat: _Angle, t: F64, ep: TruthEpisode) -> None:
    lo = int(np.searchsorted(t, ep.onset_begin_s, "left"))
    hi = int(np.searchsorted(t, ep.offset_end_s, "right"))
    if hi <= lo:
        return
    tt = t[lo:hi]
    up, dup, ddup = _step((tt - ep.onset_begin_s) / ep.ramp_in_s, ep.ramp_in_s)
    off_begin = ep.offset_end_s - ep.ramp_out_s
    dn, ddn, dddn = _step((tt - off_begin) / ep.ramp_out_s, ep.ramp_out_s)
    env, denv, ddenv = up - dn, dup - ddn, ddup - dddn
    w = 2 * math.pi * ep.sway_hz
    arg = w * (tt - ep.onset_begin_s) + ep.sway_phase
    sway = math.copysign(ep.sway_deg, ep.depth_deg) * np.sin(arg)
    dsway = math.copysign(ep.sway_deg, ep.depth_deg) * w * np.cos(arg)
    val = ep.depth_deg + sway
    sl = slice(lo, hi)
    fwd.x[sl] += env * val
    fwd.dx[sl] += denv * val + env * dsway
    fwd.ddx[sl] += ddenv * val + 2 * denv * dsway - env * w * w * sway
    lat.x[sl] += env * ep.lateral_deg
    lat.dx[sl] += denv * ep.lateral_deg
    lat.ddx[sl] += ddenv * ep.lateral_deg


def _add_shifts(fwd: _Angle, lat: _Angle, t: F64, shifts: Sequence[PostureShift]) -> None:
    if not shifts:
        return
    starts = np.array([s.begin_s for s in shifts])
    idx = np.searchsorted(starts, t, "right") - 1
    for k in np.unique(idx[idx >= 0]):
        sh = shifts[int(k)]
        mask = idx == k
        s, ds, dds = _step((t[mask] - sh.begin_s) / sh.duration_s, sh.duration_s)
        for ang, a, b in (
            (fwd, sh.forward_before, sh.forward_after),
            (lat, sh.lateral_before, sh.lateral_after),
        ):
            ang.x[mask] += a + (b - a) * s
            ang.dx[mask] += (b - a) * ds
            ang.ddx[mask] += (b - a) * dds


def _add_bursts(acc: F64, t: F64, bursts: Sequence[Burst]) -> None:
    for b in bursts:
        lo = int(np.searchsorted(t, b.begin_s, "left"))
        hi = int(np.searchsorted(t, b.begin_s + b.duration_s, "right"))
        if hi <= lo:
            continue
        u = (t[lo:hi] - b.begin_s) / b.duration_s
        window = np.sin(math.pi * np.clip(u, 0.0, 1.0)) ** 2
        osc = b.amp_g * window * np.sin(2 * math.pi * b.freq_hz * (t[lo:hi] - b.begin_s) + b.phase)
        acc[lo:hi] += osc[:, None] * np.asarray(b.direction)[None, :]


def _overlapping(bursts: Sequence[Burst], t0: float, t1: float) -> list[Burst]:
    # Bursts are sorted by begin and last at most _MAX_GESTURE_S.
    lo = _bisect_begin(bursts, t0 - _MAX_GESTURE_S)
    out = []
    for b in bursts[lo:]:
        if b.begin_s > t1:
            break
        if b.begin_s + b.duration_s >= t0:
            out.append(b)
    return out


def _bisect_begin(bursts: Sequence[Burst], t: float) -> int:
    lo, hi = 0, len(bursts)
    while lo < hi:
        mid = (lo + hi) // 2
        if bursts[mid].begin_s < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def body_kinematics(
    config: SimConfig,
    t: F64,
    background: Background,
    episodes: Sequence[TruthEpisode],
    shifts: Sequence[PostureShift],
    gestures: Sequence[Burst],
) -> tuple[F64, F64, F64]:
    """True forward and lateral angles (deg) and specific force in body axes (g, (N, 3)).

    ``t`` is sorted session time in seconds; the event lists must cover ``t`` (the planner
    guarantees it) and may contain events outside it.
    """
    n = t.shape[0]
    fwd, lat = _Angle(n), _Angle(n)
    bg = background
    fwd.add_sine(t, bg.breath_deg, bg.breath_hz, bg.breath_phase)
    lat.add_sine(t, 0.15 * bg.breath_deg, bg.breath_hz, bg.breath_phase)
    for amp, hz, phase, axis in bg.wander:
        (fwd if axis == 0 else lat).add_sine(t, amp, hz, phase)
    t0, t1 = float(t[0]), float(t[-1])
    # Event lists grow without bound in a stream: only look at the events near this block.
    # A participant's episodes are disjoint and sorted, so their ends are sorted too.
    first = bisect.bisect_left(episodes, t0, key=lambda e: e.offset_end_s)
    for ep in itertools.islice(episodes, first, None):
        if ep.onset_begin_s > t1:
            break
        _add_episode(fwd, lat, t, ep)
    # Shifts are sequential: the one in force at t0 carries the baseline reached before it.
    lo = max(bisect.bisect_right(shifts, t0, key=lambda s: s.begin_s) - 1, 0)
    near = shifts[lo : bisect.bisect_right(shifts, t1, key=lambda s: s.begin_s)]
    _add_shifts(fwd, lat, t, near)

    # Specific force = gravity reaction (world up in body axes) + linear acceleration.
    force = np.empty((n, 3))
    force[:, 0] = -np.tan(fwd.x * DEG)
    force[:, 1] = np.tan(lat.x * DEG)  # left component; lateral is positive to the right
    force[:, 2] = 1.0
    force /= np.linalg.norm(force, axis=1)[:, None]
    r = config.pivot_radius_m / G0
    force[:, 0] += r * fwd.ddx * DEG
    force[:, 1] -= r * lat.ddx * DEG
    force[:, 2] -= r * ((fwd.dx * DEG) ** 2 + (lat.dx * DEG) ** 2)
    _add_bursts(force, t, _overlapping(gestures, t0, t1))
    _add_bursts(force, t, [s.burst for s in near])
    return fwd.x, lat.x, force
