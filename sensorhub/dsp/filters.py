"""Streaming IIR filtering with explicit state.

:class:`SosFilter` wraps :func:`scipy.signal.sosfilt` so the filter delays (``zi``) are always
passed in and carried out. Because ``sosfilt`` is a strictly sequential recursion, carrying the
final delays of one chunk into the next gives bit-identical output to one call over the whole
array, whatever the chunk sizes (pinned by ``tests/dsp/test_filters.py``).

The state is initialised lazily from the first sample as the step-response steady state
(``sosfilt_zi(sos) * x0``), so the output starts at the first input value instead of ringing up
from zero; :meth:`SosFilter.reset` forgets the state (used after a data break or a reconnect)
and the next sample initialises it again in the same way.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

__all__ = ["SosFilter", "butter_lowpass", "low_frequency_delay_s"]

FloatArray = NDArray[np.float64]


def butter_lowpass(order: int, cutoff_hz: float, fs_hz: float) -> FloatArray:
    """Butterworth low-pass as second-order sections (the numerically safe form)."""
    if not 0 < cutoff_hz < fs_hz / 2:
        raise ValueError(f"cut-off {cutoff_hz} Hz must lie in (0, {fs_hz / 2}) Hz")
    sos: FloatArray = np.asarray(
        signal.butter(order, cutoff_hz, fs=fs_hz, output="sos"), dtype=np.float64
    )
    return sos


def low_frequency_delay_s(sos: FloatArray, fs_hz: float, freq_hz: float = 0.05) -> float:
    """Group delay (s) of ``sos`` at a low frequency: how late slow posture changes appear.

    Used to latency-correct episode onsets. For a 4th-order 1 Hz Butterworth this is ~0.42 s
    (see the methods review, section 1.1), independent of the sampling rate.
    """
    total = 0.0
    for section in np.asarray(sos, dtype=np.float64):
        _, gd = signal.group_delay((section[:3], section[3:]), w=[freq_hz], fs=fs_hz)
        total += float(gd[0])
    return total / fs_hz


class SosFilter:
    """A causal SOS filter over ``(N, C)`` arrays (filtering along axis 0) with carried state."""

    def __init__(self, sos: FloatArray, n_channels: int) -> None:
        self._sos = np.ascontiguousarray(sos, dtype=np.float64)
        if self._sos.ndim != 2 or self._sos.shape[1] != 6:
            raise ValueError(f"sos must have shape (n_sections, 6), got {self._sos.shape}")
        self._n_channels = n_channels
        # Steady-state delays for a unit step; scaled by the first sample on initialisation.
        self._zi_unit: FloatArray = np.asarray(signal.sosfilt_zi(self._sos), dtype=np.float64)
        self._zi: FloatArray | None = None

    @property
    def sos(self) -> FloatArray:
        return self._sos

    @property
    def state(self) -> FloatArray | None:
        """The current delays, shape ``(n_sections, 2, C)``; ``None`` before the first sample."""
        return None if self._zi is None else self._zi.copy()

    def reset(self) -> None:
        """Forget the state; the next sample re-initialises it as a steady state."""
        self._zi = None

    def process(self, x: FloatArray) -> FloatArray:
        """Filter one chunk ``x`` of shape ``(N, C)``; returns float64 ``(N, C)``."""
        if x.ndim != 2 or x.shape[1] != self._n_channels:
            raise ValueError(f"expected shape (N, {self._n_channels}), got {x.shape}")
        if x.shape[0] == 0:
            return np.empty((0, self._n_channels), dtype=np.float64)
        if self._zi is None:
            self._zi = self._zi_unit[:, :, None] * x[0][None, None, :]
        y, zf = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        self._zi = zf
        out: FloatArray = y
        return out
