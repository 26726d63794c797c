"""Sample blocks: acceleration that came from a file, stored as frames on a pseudo characteristic.

Imported data (``sensorhub import``) never came over a radio, so there are no notification
bytes to keep. It is stored in the same item stream as live frames, as
:class:`~sensorhub.sources.base.RawFrame` items on the pseudo characteristic
:data:`SAMPLES_UUID` whose payload is one *sample block*: samples already on the session
clock, in g, device axes. Replay decodes them with :func:`decode_block` and hands them on with
their own times (no device-clock mapping).

Layout, version 1, little-endian, ``4 + 32 * n`` bytes::

    0        u32        n            number of samples, >= 1
    4        int64[n]   t_ns         session time of each sample, ns
    4 + 8n   float64[3n] acc_g       x, y, z of sample 0, then of sample 1, ... (g)

Acceleration must be finite. A later layout gets a new pseudo characteristic (the
characteristic is the frame's type tag), so version-1 recordings always decode as they are.
Sans-I/O: bytes in, arrays out; malformed payloads raise
:class:`~sensorhub.errors.DecodeError`, arguments the layout cannot hold raise ``ValueError``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensorhub.errors import DecodeError

__all__ = [
    "HEADER_LEN",
    "MAX_SAMPLES",
    "SAMPLES_UUID",
    "SampleBlock",
    "decode_block",
    "encode_block",
]

#: The pseudo characteristic imported sample blocks are stored on (not a BLE UUID).
SAMPLES_UUID = "sensorhub:samples"
HEADER_LEN = 4
_BYTES_PER_SAMPLE = 8 + 3 * 8
#: Samples one block may hold: keeps a payload under ~32 MB and n within a u32.
MAX_SAMPLES = 1_000_000
_T = np.dtype("<i8")
_ACC = np.dtype("<f8")


@dataclass(frozen=True, slots=True, eq=False)
class SampleBlock:
    """``t_ns``: int64 ``(n,)`` on the session clock; ``acc_g``: float64 ``(n, 3)``, g."""

    t_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])


def encode_block(t_ns: ArrayLike, acc_g: ArrayLike) -> bytes:
    """One block's payload; ``ValueError`` for shapes, sizes or values it cannot hold."""
    t = np.asarray(t_ns)
    acc = np.asarray(acc_g, dtype=np.float64)
    if t.ndim != 1 or acc.shape != (t.shape[0], 3):
        raise ValueError(f"need t (n,) and acc (n, 3), got {t.shape} and {acc.shape}")
    n = t.shape[0]
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"a block holds 1..{MAX_SAMPLES} samples, got {n}")
    if not np.issubdtype(t.dtype, np.integer):
        raise ValueError(f"times must be integer ns, got {t.dtype}")
    if not np.all(np.isfinite(acc)):
        raise ValueError("acceleration must be finite")
    return struct.pack("<I", n) + t.astype(_T).tobytes() + acc.astype(_ACC).tobytes()


def decode_block(payload: bytes) -> SampleBlock:
    """Parse one block; :class:`DecodeError` naming what is wrong with a malformed one."""
    if len(payload) < HEADER_LEN:
        raise DecodeError(f"sample block: {len(payload)} bytes, shorter than its 4-byte header")
    (n,) = struct.unpack_from("<I", payload)
    if not 1 <= n <= MAX_SAMPLES:
        raise DecodeError(f"sample block: sample count {n} outside 1..{MAX_SAMPLES}")
    expected = HEADER_LEN + n * _BYTES_PER_SAMPLE
    if len(payload) != expected:
        raise DecodeError(
            f"sample block: {n} samples need {expected} bytes, payload has {len(payload)}"
        )
    t = np.frombuffer(payload, dtype=_T, count=n, offset=HEADER_LEN).astype(np.int64)
    acc = (
        np.frombuffer(payload, dtype=_ACC, count=3 * n, offset=HEADER_LEN + 8 * n)
        .astype(np.float64)
        .reshape(n, 3)
    )
    if not np.all(np.isfinite(acc)):
        raise DecodeError("sample block: non-finite acceleration")
    return SampleBlock(t, acc)
