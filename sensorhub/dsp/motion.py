"""Motion gating: flag stretches of strong dynamic acceleration, causally and chunk-invariantly.

During walking, jogging, hopping or fidgeting the low-pass "gravity" estimate is shaken by the
body's own acceleration, so the angles are unreliable. The gate measures the **step-band
energy of the acceleration magnitude**: ``|a|`` is high-passed at ``band_hz`` (2nd-order
Butterworth, 2 Hz by default: twice the gravity filter's cut-off, so the posture band the
gravity filter keeps is ignored and the gait band -- step frequencies 1.6-3 Hz and their
harmonics -- is seen), squared, averaged with a first-order exponential window (time constant
``tau_s``), and divided by the same average of ``|a|``:

    ratio = sqrt(EMA(HP(|a|)^2)) / EMA(|a|)

Using ``|a|`` makes the gate blind to rotation itself (a lean or a bend does not flag itself);
the high-pass keeps the centripetal and tangential acceleration of a brisk 1-s bend (mostly
below 1 Hz) out. Dividing by the mean makes it a ratio, free of the sensor's scale: real
sensors misreport their range for seconds after start-up (a quarter-scale reading opens many
UMAFall trials) while the direction, which is all the angles need, stays right. At 1 g the
ratio is the step-band RMS in g. On the UMAFall chest recordings (90th percentile per trial,
median over trials): bending 0.08, walking 0.15-0.17, stairs 0.2-0.3, jogging 0.7, hopping 0.9.
The default threshold is the methods review's 0.10 g (section 6.D: quiet sitting 0.01-0.02 g,
walking about 0.2 g). All filters carry their state, so the flags are bit-identical for any
chunking.

A sample is ``dynamic`` if ``ratio > threshold``, and stays dynamic for ``hold_s`` after the
last such sample (``hold_s`` = 0.5 s, about the 1 Hz gravity filter's 0.42 s group delay) so
the gravity estimate settles before angles are trusted again.

Effect on episodes (implemented in :mod:`sensorhub.dsp.episodes` via the detector): a dynamic
sample never starts an episode and never ends one (the state is held), and dynamic time does
not count toward an episode's minimum duration (motion is no evidence of a lean); an episode
that is open when motion begins survives up to ``max_open_s`` of continuous dynamic time and
is ended at that moment if motion goes on (its end is then the time the allowance ran out).
``MotionChunk.run`` gives the length of the current dynamic stretch for this purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from sensorhub.dsp.filters import SosFilter

__all__ = ["MotionChunk", "MotionConfig", "MotionGate"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
_NEVER = np.iinfo(np.int64).min // 2


@dataclass(frozen=True)
class MotionConfig:
    """Motion-gate parameters; defaults from the methods review (section 6.D)."""

    threshold: float = 0.10
    band_hz: float = 2.0
    tau_s: float = 0.5
    hold_s: float = 0.5
    max_open_s: float = 2.0


@dataclass(frozen=True)
class MotionChunk:
    ratio: FloatArray
    dynamic: BoolArray
    run: IntArray  # samples in the current dynamic stretch (0 when not dynamic)


class MotionGate:
    """Per-sample dynamic-motion flags from raw acceleration and the gravity estimate."""

    def __init__(self, config: MotionConfig, fs_hz: float) -> None:
        self.config = config
        alpha = 1.0 - math.exp(-1.0 / (config.tau_s * fs_hz))
        # y[n] = y[n-1] + alpha (x[n] - y[n-1]) as one first-order section.
        sos = np.array([[alpha, 0.0, 0.0, 1.0, alpha - 1.0, 0.0]])
        self._ema = SosFilter(sos, 2)
        hp = signal.butter(2, config.band_hz, "highpass", fs=fs_hz, output="sos")
        self._highpass = SosFilter(np.asarray(hp, dtype=np.float64), 1)
        self._hold = round(config.hold_s * fs_hz)
        self.max_open = round(config.max_open_s * fs_hz)
        self.reset()

    def reset(self) -> None:
        self._ema.reset()
        self._highpass.reset()
        self._n = 0
        self._last_dyn = _NEVER
        self._last_quiet = -1

    def process(self, acc: FloatArray) -> MotionChunk:
        n = acc.shape[0]
        x, y, z = acc[:, 0], acc[:, 1], acc[:, 2]  # element-wise: no BLAS rounding
        mag = np.sqrt(x * x + y * y + z * z)
        band = self._highpass.process(mag[:, None])[:, 0]
        moments = self._ema.process(np.stack([band * band, mag], axis=1))
        tiny = np.finfo(np.float64).tiny
        ratio = np.sqrt(moments[:, 0]) / np.maximum(moments[:, 1], tiny)
        raw = ratio > self.config.threshold
        gi = self._n + np.arange(n, dtype=np.int64)
        last_dyn = np.maximum.accumulate(np.where(raw, gi, _NEVER))
        np.maximum(last_dyn, self._last_dyn, out=last_dyn)
        dynamic = gi - last_dyn <= self._hold
        last_quiet = np.maximum.accumulate(np.where(dynamic, -1, gi))
        np.maximum(last_quiet, self._last_quiet, out=last_quiet)
        run = gi - last_quiet
        if n:
            self._last_dyn = int(last_dyn[-1])
            self._last_quiet = int(last_quiet[-1])
        self._n += n
        return MotionChunk(ratio, dynamic, run)
