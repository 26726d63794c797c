"""Where a virtual sensor's acceleration comes from.

A motion source is anything with ``next_samples(n) -> (n, 3) float64 array in g`` (device
axes), called with consecutive sample counts at the sensor's rate; the sensor asks only for
what it sends, so a source sees exactly the stream of samples that went on air. Provided:

- :class:`ConstantPosture`: a fixed gravity direction, optionally with white noise (seeded);
  ``ConstantPosture.leaning(20)`` for a forward lean.
- :class:`CsvMotion`: a recording with columns ``t_ms,ax_g,ay_g,az_g`` (as in
  ``../shared/data/umafall_chest``), resampled to the sensor's rate and looped.
- :func:`as_motion_source`: accepts the simulator's per-sensor stream (``read(n)`` returning a
  chunk with ``acc_g``) or any object that already has ``next_samples``.

Axis convention of the helpers: x points up (reads +1 g upright), +z forward out of the chest,
so a forward lean moves the reading toward -z -- the UMAFall chest sensor's convention.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import ConfigError

__all__ = ["ConstantPosture", "CsvMotion", "MotionSource", "as_motion_source"]

F64 = NDArray[np.float64]


@runtime_checkable
class MotionSource(Protocol):
    """Consecutive accelerometer samples, ``(n, 3)`` float64 in g."""

    def next_samples(self, n: int) -> F64: ...


class ConstantPosture:
    """A still wearer: the same gravity vector every sample, plus optional white noise."""

    def __init__(
        self,
        gravity_g: tuple[float, float, float] = (1.0, 0.0, 0.0),
        *,
        noise_g: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.gravity = np.asarray(gravity_g, dtype=np.float64)
        if self.gravity.shape != (3,):
            raise ConfigError(f"gravity_g must have 3 components, got {gravity_g!r}")
        self.noise_g = noise_g
        self._rng = np.random.default_rng(seed)

    @classmethod
    def leaning(
        cls, forward_deg: float, lateral_deg: float = 0.0, *, noise_g: float = 0.0, seed: int = 0
    ) -> ConstantPosture:
        """Gravity for a trunk leaning ``forward_deg`` forward and ``lateral_deg`` sideways."""
        f, lat = math.radians(forward_deg), math.radians(lateral_deg)
        gravity = (math.cos(f) * math.cos(lat), math.sin(lat), -math.sin(f) * math.cos(lat))
        return cls(gravity, noise_g=noise_g, seed=seed)

    def next_samples(self, n: int) -> F64:
        out = np.broadcast_to(self.gravity, (n, 3)).copy()
        if self.noise_g > 0:
            out += self._rng.normal(0.0, self.noise_g, size=(n, 3))
        return out


class CsvMotion:
    """A recorded trial, resampled to ``rate_hz`` by linear interpolation and looped.

    The recordings' timestamps are as the BLE link delivered them (jittery, with exact
    repeats): repeats are dropped, keeping the first sample of each timestamp.
    """

    def __init__(self, path: str | Path, rate_hz: float, *, loop: bool = True) -> None:
        try:
            table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read motion CSV {path}: {exc}") from exc
        if table.shape[0] < 2 or table.shape[1] != 4:
            raise ConfigError(f"{path}: expected columns t_ms,ax_g,ay_g,az_g and >= 2 rows")
        t_ms, first = np.unique(table[:, 0], return_index=True)
        acc = table[first, 1:4]
        step_ms = 1000.0 / rate_hz
        grid = np.arange(t_ms[0], t_ms[-1], step_ms)
        self.samples: F64 = np.column_stack([np.interp(grid, t_ms, acc[:, i]) for i in range(3)])
        self.loop = loop
        self._pos = 0

    def next_samples(self, n: int) -> F64:
        total = self.samples.shape[0]
        if not self.loop and self._pos + n > total:
            raise ConfigError("motion recording exhausted (loop=False)")
        idx = (self._pos + np.arange(n)) % total
        self._pos = (self._pos + n) % total if self.loop else self._pos + n
        out: F64 = self.samples[idx]
        return out


class _ReadAdapter:
    """Adapts ``read(n) -> chunk with .acc_g`` (the simulator's SensorStream)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def next_samples(self, n: int) -> F64:
        return np.asarray(self._stream.read(n).acc_g, dtype=np.float64)


def as_motion_source(source: Any) -> MotionSource:
    """``source`` itself if it has ``next_samples``, else a wrapper around ``read(n).acc_g``."""
    if isinstance(source, MotionSource):
        return source
    if callable(getattr(source, "read", None)):
        return _ReadAdapter(source)
    raise ConfigError(
        f"{type(source).__name__} is not a motion source: it needs next_samples(n) or read(n)"
    )
