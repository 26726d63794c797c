"""Streaming IIR filtering with explicit state.

:class:`SosFilter` wraps :func:`scipy.signal.sosfilt` so the filter delays (``zi``) are always
passed in and carried out. Because ``sosfilt`` is a strictly sequential recursion, carrying the
final delays of one chunk into the next gives bit-identical output to one call over the whole
array, whatever the chunk sizes (pinned by ``tests/dsp/test_filters.py``).

The state is initialised lazily from the first sample as the step-response steady state
(``sosfilt_zi(sos) * x0``), so the output starts at the first input value instead of ringing up
from zero; :meth:`SosFilter.reset` forgets the state (used after a data break or a reconnect)
and the next sample initialises it again in the same way.

Fast path: the public ``sosfilt`` spends ~40 us per call validating and reshaping, which is
most of the cost of a live 36-sample chunk. When SciPy's compiled kernel (the private
``scipy.signal._sosfilt._sosfilt`` that ``sosfilt`` itself calls) is importable and gives
bit-identical results to the public function on a self-test at import, it is called directly
with the state kept in its native layout; otherwise the public function is used. Either way
the output is the same bits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

__all__ = ["SosFilter", "butter_lowpass", "low_frequency_delay_s"]

FloatArray = NDArray[np.float64]

try:  # see the module docstring: used only if it passes the self-test below
    from scipy.signal._sosfilt import _sosfilt as _kernel
except ImportError:  # pragma: no cover - depends on the SciPy build
    _kernel = None


def _kernel_matches_public() -> bool:
    if _kernel is None:
        return False
    try:
        rng = np.random.default_rng(0)
        sos = np.asarray(signal.butter(4, 0.05, output="sos"), dtype=np.float64)
        x = rng.normal(size=(257, 3))
        zi = rng.normal(size=(sos.shape[0], 2, 3))
        y_pub, zf_pub = signal.sosfilt(sos, x, axis=0, zi=zi)
        xc = np.array(x.T, dtype=np.float64, order="C")
        zc = np.ascontiguousarray(zi.transpose(2, 0, 1))
        _kernel(sos, xc, zc)
        return bool(np.array_equal(xc.T, y_pub) and np.array_equal(zc.transpose(1, 2, 0), zf_pub))
    except Exception:  # pragma: no cover - any surprise means: use the public function
        return False


_FAST = _kernel_matches_public()


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
        self._zi: FloatArray | None = None  # (n_sections, 2, C), or (C, n_sections, 2) if fast
        self.fast = _FAST

    @property
    def sos(self) -> FloatArray:
        return self._sos

    @property
    def state(self) -> FloatArray | None:
        """The current delays, shape ``(n_sections, 2, C)``; ``None`` before the first sample."""
        if self._zi is None:
            return None
        out: FloatArray = self._zi.transpose(1, 2, 0).copy() if self.fast else self._zi.copy()
        return out

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
            zi = self._zi_unit[:, :, None] * np.asarray(x[0], dtype=np.float64)[None, None, :]
            self._zi = np.ascontiguousarray(zi.transpose(2, 0, 1)) if self.fast else zi
        if self.fast:
            xc = np.array(x.T, dtype=np.float64, order="C")  # a copy: filtered in place
            _kernel(self._sos, xc, self._zi)
            fast_out: FloatArray = xc.T
            return fast_out
        y, zf = signal.sosfilt(self._sos, x, axis=0, zi=self._zi)
        self._zi = zf
        out: FloatArray = y
        return out
