"""Readers for acceleration CSV files that labs already have (used by ``sensorhub detect``).

Two layouts are recognised from the header line, without flags:

* **unit-named columns** (comma, semicolon or tab separated): a time column ``t_s`` or
  ``t_ms`` and acceleration columns ``ax_g,ay_g,az_g``, ``ax_mg,ay_mg,az_mg`` or
  ``ax_ms2,ay_ms2,az_ms2``; other columns are ignored;
* **Polar Sensor Logger ACC exports**: ``Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];
  Z [mg]``. The sensor timestamp (ns since 2000-01-01) is read as an exact integer (it does
  not fit a float64 exactly).

Every problem with a file is a :class:`~sensorhub.errors.DecodeError` whose message starts
with the file name and says what is wrong.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import DecodeError

__all__ = ["Recording", "read_acc_csv"]

G0 = 9.80665  # standard gravity, m/s^2 per g
_TIME_SCALE = {"t_s": 1e9, "t_ms": 1e6}
_ACC_SCALE = {"g": 1.0, "mg": 1e-3, "ms2": 1.0 / G0}


@dataclass(frozen=True)
class Recording:
    """Samples of one file: ``t_ns`` int64 ``(N,)``, ``acc_g`` float64 ``(N, 3)``."""

    path: str
    t_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]
    layout: str


def read_acc_csv(path: str | Path) -> Recording:
    """Read one file in either layout; raises :class:`DecodeError` naming file and reason."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DecodeError(f"{name}: cannot read: {exc}") from exc
    header, _, body = text.partition("\n")
    header = header.strip()
    if not header:
        raise DecodeError(f"{name}: empty file")
    delim = max((";", ",", "\t"), key=header.count)
    cols = [c.strip() for c in header.split(delim)]
    lowered = [c.lower() for c in cols]
    if "sensor timestamp [ns]" in lowered:
        t_ns, acc = _read_polar(name, body, delim, lowered)
        layout = "polar-sensor-logger"
    else:
        t_ns, acc = _read_unit_columns(name, body, delim, lowered)
        layout = "unit-columns"
    if t_ns.size < 2:
        raise DecodeError(f"{name}: needs at least 2 samples, found {t_ns.size}")
    if not np.all(np.isfinite(acc)):
        raise DecodeError(f"{name}: non-finite acceleration values")
    return Recording(name, t_ns, acc, layout)


def _column(name: str, lowered: list[str], wanted: str) -> int:
    try:
        return lowered.index(wanted)
    except ValueError:
        raise DecodeError(f"{name}: no {wanted!r} column in header") from None


def _read_polar(
    name: str, body: str, delim: str, lowered: list[str]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    it = _column(name, lowered, "sensor timestamp [ns]")
    ia = [_column(name, lowered, f"{axis} [mg]") for axis in ("x", "y", "z")]
    t: NDArray[np.int64] = _load(name, body, delim, [it], np.int64).reshape(-1)
    acc: NDArray[np.float64] = _load(name, body, delim, ia, np.float64).reshape(-1, 3) * 1e-3
    return t, acc


def _read_unit_columns(
    name: str, body: str, delim: str, lowered: list[str]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    tcol = next((c for c in _TIME_SCALE if c in lowered), None)
    unit = next((u for u in _ACC_SCALE if all(f"a{a}_{u}" in lowered for a in "xyz")), None)
    if tcol is None or unit is None:
        raise DecodeError(
            f"{name}: unrecognised header {','.join(lowered)!r}: expected a t_s or t_ms column "
            "and ax_g/ay_g/az_g, ax_mg/... or ax_ms2/... columns, or a Polar Sensor Logger "
            "ACC export"
        )
    it = lowered.index(tcol)
    ia = [lowered.index(f"a{a}_{unit}") for a in "xyz"]
    t: NDArray[np.float64] = _load(name, body, delim, [it], np.float64).reshape(-1)
    if not np.all(np.isfinite(t)):
        raise DecodeError(f"{name}: non-finite time values")
    t_ns = np.rint(t * _TIME_SCALE[tcol]).astype(np.int64)
    acc: NDArray[np.float64] = _load(name, body, delim, ia, np.float64).reshape(-1, 3)
    return t_ns, acc * _ACC_SCALE[unit]


def _load(name: str, body: str, delim: str, cols: list[int], dtype: type[np.generic]) -> Any:
    try:
        out = np.loadtxt(io.StringIO(body), delimiter=delim, usecols=cols, dtype=dtype, ndmin=2)
    except ValueError as exc:
        raise DecodeError(f"{name}: bad value: {exc}") from exc
    return out
