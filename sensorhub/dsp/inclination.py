"""Calibration (upright and forward directions in device axes) and trunk angles in degrees.

A :class:`Calibration` holds, in device coordinates, the unit vector ``up`` (what the
accelerometer reads, normalised, when the wearer sits or stands upright) and the unit vector
``forward`` (out of the chest, orthogonal to ``up``), plus ``right = forward x up``. It records
which method produced it and its quality figures:

``two-pose``
    An upright pose and a deliberate forward lean (methods review, section 6.B): ``up`` is the
    mean gravity direction over the stillest stretch of the upright pose; ``forward`` is minus the
    part of the lean pose's gravity direction orthogonal to ``up``. Refused if the poses are less
    than 15 degrees apart (forward undefined); stillness and within-pose angle spread are recorded
    with warnings when above the review's limits (0.05 g summed 1-s SD, 1 degree).
``mounting``
    Explicit directions, as axis names (``+x``, ``-z``) or vectors (``0,0.7,0.7``). ``forward`` is
    made orthogonal to ``up``; refused if the two are within 60 degrees of each other.
``fallback``
    Neither is available. ``up`` is the most common still posture: the 1-s blocks that are still
    (summed per-axis SD < 0.05 g) are clustered by direction and the densest direction (most
    blocks within 3 degrees) is averaged. People spend most of a session in their baseline
    posture and lean in episodes, and they also hold still while leaning, so the single stillest
    stretch is not a safe choice. With a known forward axis, postures within 30 degrees of it
    (lying on the back or front) are not candidates; if no still block is left, moving blocks
    are. ``forward`` is the principal
    axis of the tilt excursions away from ``up`` (where the trunk moves most, which for a seated or
    bending wearer is the sagittal plane), signed by the device's known forward axis if given, else
    by the larger excursion (people lean forward further than backward). If the excursions are
    too small (< 5 degrees) or point more than 45 degrees away from the known axis, the known
    axis itself is used and the quality record says so.

Angles from a gravity estimate ``g`` (any scale; only directions matter), with
``cv = g.up``, ``cf = g.forward``, ``cr = g.right``:

* forward ``phi = atan2(-cf, cv)``: positive forward (leaning forward tips the measured up
  direction backward in body coordinates, hence the minus sign);
* lateral ``lam = atan2(-cr, cv)``: positive toward the wearer's right;
* inclination ``theta = atan2(hypot(cf, cr), cv)``: total tilt from upright, unsigned;
* ``tilt_forward``: the tilt's direction is within 45 degrees of straight forward
  (``-cf >= |cr|``), which tells a deep forward bend from lying back or on a side even past
  90 degrees, where the signs of ``phi`` and ``lam`` wrap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import ConfigError

__all__ = [
    "Angles",
    "Calibration",
    "angles_deg",
    "calibrate_fallback",
    "calibrate_mounting",
    "calibrate_two_pose",
    "parse_axis",
]

FloatArray = NDArray[np.float64]
Method = Literal["two-pose", "mounting", "fallback"]
_RAD2DEG = 180.0 / math.pi
_AXES = {"x": 0, "y": 1, "z": 2}
STILL_SD_G = 0.05  # summed per-axis 1-s SD below which a stretch counts as still (ActiPASS)
MIN_POSE_SEPARATION_DEG = 15.0
MAX_POSE_SPREAD_DEG = 1.0


@dataclass(frozen=True, eq=False)
class Calibration:
    """Upright and forward unit vectors in device coordinates, and how they were obtained."""

    up: FloatArray
    forward: FloatArray
    method: Method
    quality: Mapping[str, float | str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @cached_property
    def right(self) -> FloatArray:
        r: FloatArray = np.cross(self.forward, self.up)
        return r

    @cached_property
    def basis(self) -> FloatArray:
        """Rows ``up``, ``forward``, ``right``: ``g @ basis.T`` gives body-frame components."""
        return np.stack([self.up, self.forward, self.right])

    @cached_property
    def _basis_list(self) -> list[list[float]]:
        rows: list[list[float]] = self.basis.tolist()
        return rows

    def describe(self) -> dict[str, object]:
        """A JSON-friendly record (for logs, exports and the CLI's output)."""
        return {
            "method": self.method,
            "up": [round(float(v), 6) for v in self.up],
            "forward": [round(float(v), 6) for v in self.forward],
            "quality": dict(self.quality),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Angles:
    """Per-sample trunk angles in degrees."""

    forward: FloatArray
    lateral: FloatArray
    inclination: FloatArray
    #: the tilt points within 45 degrees of straight forward (``-cf >= |cr|``)
    tilt_forward: NDArray[np.bool_]


def angles_deg(gravity: FloatArray, cal: Calibration) -> Angles:
    """Forward, lateral and total inclination (degrees) of gravity estimates ``(N, 3)``."""
    # Element-wise products, not BLAS: a matrix product may round differently depending on
    # the array length (blocking, FMA), which would break the chunking invariant. Columns of
    # the Fortran-ordered sosfilt output are contiguous.
    x, y, z = gravity[:, 0], gravity[:, 1], gravity[:, 2]
    (v0, v1, v2), (f0, f1, f2), (r0, r1, r2) = cal._basis_list
    cv = x * v0 + y * v1 + z * v2
    cf = x * f0 + y * f1 + z * f2
    cr = x * r0 + y * r1 + z * r2
    forward = np.arctan2(-cf, cv)
    forward *= _RAD2DEG
    lateral = np.arctan2(-cr, cv)
    lateral *= _RAD2DEG
    inclination = np.arctan2(np.sqrt(cf * cf + cr * cr), cv)
    inclination *= _RAD2DEG
    return Angles(forward, lateral, inclination, -cf >= np.abs(cr))


def parse_axis(spec: str | Sequence[float], what: str = "axis") -> FloatArray:
    """``"+x"``, ``"-z"``, ``"y"`` or ``"x,y,z"`` numbers (or a sequence) -> unit vector."""
    if isinstance(spec, str):
        text = spec.strip().lower()
        m = re.fullmatch(r"([+-]?)([xyz])", text)
        if m:
            v = np.zeros(3)
            v[_AXES[m.group(2)]] = -1.0 if m.group(1) == "-" else 1.0
            return v
        try:
            values = [float(p) for p in text.split(",")]
        except ValueError:
            values = []
    else:
        values = [float(p) for p in spec]
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)) or np.linalg.norm(arr) == 0:
        raise ConfigError(
            f"{what} {spec!r}: expected an axis name like +x or -z, or three numbers x,y,z"
        )
    unit: FloatArray = arr / np.linalg.norm(arr)
    return unit


def calibrate_mounting(up: str | Sequence[float], forward: str | Sequence[float]) -> Calibration:
    """Explicit mounting: ``forward`` is orthogonalised against ``up``."""
    v = parse_axis(up, "up")
    f = parse_axis(forward, "forward")
    cos = float(v @ f)
    if abs(cos) > 0.5:
        raise ConfigError(
            f"forward {forward!r} is {math.degrees(math.acos(min(1.0, abs(cos)))):.0f} degrees "
            f"from up {up!r}; they must be at least 60 degrees apart"
        )
    f_orth = _unit(f - cos * v)
    return Calibration(v, f_orth, "mounting", {"up_forward_cos": round(cos, 6)})


def calibrate_two_pose(upright: FloatArray, lean: FloatArray, fs_hz: float) -> Calibration:
    """Two-pose calibration from raw acceleration of each pose (uniformly sampled at ``fs_hz``)."""
    v, up_sd = _still_direction(upright, fs_hz, 5.0, "upright pose")
    lean_dir, lean_sd = _still_direction(lean, fs_hz, 5.0, "lean pose")
    separation = math.degrees(math.acos(float(np.clip(v @ lean_dir, -1.0, 1.0))))
    if separation < MIN_POSE_SEPARATION_DEG:
        raise ConfigError(
            f"two-pose calibration: lean pose only {separation:.1f} degrees from upright "
            f"(need >= {MIN_POSE_SEPARATION_DEG:.0f})"
        )
    f = -_unit(lean_dir - (lean_dir @ v) * v)
    cal = Calibration(v, f, "two-pose")
    up_spread = float(np.std(angles_deg(upright, cal).forward))
    lean_spread = float(np.std(angles_deg(lean, cal).forward))
    warnings = []
    if max(up_sd, lean_sd) > STILL_SD_G:
        warnings.append(f"pose not still: summed 1-s SD {max(up_sd, lean_sd):.3f} g")
    if max(up_spread, lean_spread) > MAX_POSE_SPREAD_DEG:
        warnings.append(f"pose not held: forward angle SD {max(up_spread, lean_spread):.1f} deg")
    quality: dict[str, float | str] = {
        "separation_deg": round(separation, 3),
        "upright_still_sd_g": round(up_sd, 5),
        "lean_still_sd_g": round(lean_sd, 5),
        "upright_angle_sd_deg": round(up_spread, 3),
        "lean_angle_sd_deg": round(lean_spread, 3),
    }
    return Calibration(v, f, "two-pose", quality, tuple(warnings))


def calibrate_fallback(
    acc: FloatArray,
    fs_hz: float,
    *,
    up: str | Sequence[float] | None = None,
    forward_hint: str | Sequence[float] | None = None,
) -> Calibration:
    """Fallback calibration from unlabelled data (see the module docstring)."""
    quality: dict[str, float | str] = {}
    if up is not None:
        v = parse_axis(up, "up")
        quality["up_source"] = "given"
    else:
        known = None if forward_hint is None else parse_axis(forward_hint, "forward")
        v, share = _modal_still_direction(acc, fs_hz, known)
        quality["up_source"] = "most common still posture"
        quality["modal_share"] = round(share, 3)
    dirs = _block_directions(acc, fs_hz)
    h = dirs - np.outer(dirs @ v, v)
    eigval, eigvec = np.linalg.eigh(h.T @ h / max(1, h.shape[0]))
    p = eigvec[:, -1]
    p = p - (p @ v) * v
    excursion_deg = math.degrees(math.asin(min(1.0, math.sqrt(max(0.0, float(eigval[-1]))))))
    quality["tilt_excursion_rms_deg"] = round(excursion_deg, 3)
    hint = None if forward_hint is None else parse_axis(forward_hint, "forward")
    hint_h = None if hint is None else hint - (hint @ v) * v
    if hint_h is not None and np.linalg.norm(hint_h) < 0.5:
        raise ConfigError(f"forward {forward_hint!r} is within 60 degrees of up")
    use_hint = hint_h is not None and (
        excursion_deg < 5.0 or abs(_unit(p) @ _unit(hint_h)) < math.cos(math.radians(45))
    )
    if hint_h is not None and use_hint:
        f = _unit(hint_h)
        quality["forward_source"] = "known mounting (tilt excursions too small or off-axis)"
    else:
        p = _unit(p)
        if hint_h is not None:
            sign = 1.0 if p @ hint_h > 0 else -1.0
            quality["forward_source"] = "tilt principal axis, signed by known mounting"
        else:
            proj = h @ p  # forward leans move gravity toward -forward: larger excursion wins
            sign = 1.0 if -float(proj.min()) >= float(proj.max()) else -1.0
            quality["forward_source"] = "tilt principal axis, signed by larger excursion"
        f = sign * p
        if hint_h is not None:
            quality["axis_vs_mounting_deg"] = round(
                math.degrees(math.acos(float(np.clip(f @ _unit(hint_h), -1.0, 1.0)))), 3
            )
    return Calibration(v, f, "fallback", quality)


def _modal_still_direction(
    acc: FloatArray, fs_hz: float, forward: FloatArray | None
) -> tuple[FloatArray, float]:
    """Densest direction among still 1-s blocks, and the share of still blocks near it.

    With a known forward axis, postures within 30 degrees of it (lying on the back or front)
    cannot be upright and are left out, so a recording that is mostly lying still works; if no
    still block is left, the moving ones are used.
    """
    blocks = _blocks(np.asarray(acc, dtype=np.float64), fs_hz)
    still = blocks.std(axis=1).sum(axis=1) < STILL_SD_G
    dirs = _block_directions(acc, fs_hz)
    allowed = np.ones(dirs.shape[0], dtype=np.bool_)
    if forward is not None:
        allowed = np.abs(dirs @ forward) < math.cos(math.radians(30.0))
    if np.count_nonzero(still & allowed) >= 3:
        dirs = dirs[still & allowed]
    elif np.any(allowed):  # e.g. moving, then lying still: use the moving blocks
        dirs = dirs[allowed]
    else:
        raise ConfigError(
            "fallback calibration: every posture is within 30 degrees of the forward axis "
            "(lying throughout?); give --up"
        )
    step = max(1, dirs.shape[0] // 1500)  # bounds the pairwise matrix
    dirs = dirs[::step]
    near = (dirs @ dirs.T) > math.cos(math.radians(3.0))
    counts = near.sum(axis=1)
    best = int(np.argmax(counts))
    return _unit(dirs[near[best]].mean(axis=0)), float(counts[best]) / dirs.shape[0]


def _unit(v: FloatArray) -> FloatArray:
    n = float(np.linalg.norm(v))
    if n == 0.0 or not math.isfinite(n):
        raise ConfigError("calibration: direction is undefined (zero or non-finite vector)")
    out: FloatArray = v / n
    return out


def _blocks(acc: FloatArray, fs_hz: float) -> FloatArray:
    """Non-overlapping 1-s blocks, shape ``(n_blocks, block_len, 3)``."""
    n = max(1, round(fs_hz))
    k = acc.shape[0] // n
    if acc.ndim != 2 or acc.shape[1] != 3 or k == 0:
        raise ConfigError(f"calibration needs at least 1 s of (N, 3) data, got {acc.shape}")
    return acc[: k * n].reshape(k, n, 3)


def _block_directions(acc: FloatArray, fs_hz: float) -> FloatArray:
    means = _blocks(acc, fs_hz).mean(axis=1)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    out: FloatArray = means / np.where(norms > 0, norms, 1.0)
    return out


def _still_direction(
    acc: FloatArray, fs_hz: float, window_s: float, what: str
) -> tuple[FloatArray, float]:
    """Mean gravity direction over the stillest ``window_s`` (whole 1-s blocks) of ``acc``."""
    try:
        blocks = _blocks(np.asarray(acc, dtype=np.float64), fs_hz)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from exc
    sd = blocks.std(axis=1).sum(axis=1)
    w = max(1, min(blocks.shape[0], round(window_s)))
    run = np.convolve(sd, np.ones(w) / w, mode="valid")
    i = int(np.argmin(run))
    chosen = blocks[i : i + w].reshape(-1, 3)
    direction = _unit(chosen.mean(axis=0))
    return direction, float(sd[i : i + w].max())
