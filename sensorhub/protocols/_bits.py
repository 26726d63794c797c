"""Vectorised bit and byte readers shared by the protocol codecs.

Everything here is little-endian and LSB-first, the convention of every BLE profile we
decode: bit *k* of a bit stream is bit ``k % 8`` of byte ``k // 8``, and the first bit read of
a field is its least-significant bit. Readers take bytes and return int64 numpy arrays; they
do **not** validate lengths (their callers know the frame layout and raise ``DecodeError``
with a message that names the field before calling them).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "MAX_FIELD_BITS",
    "pack_lsb_fields",
    "read_signed_le",
    "read_signed_lsb_fields",
    "sign_extend",
    "signed_bits_needed",
    "write_signed_le",
]

#: Widest field :func:`read_signed_lsb_fields` reads. A field starts at any bit of a byte (shift up
#: to 7), so a 64-bit window holds any field up to 57 bits; PMD needs at most 32.
MAX_FIELD_BITS = 57

_WINDOW = 8  # bytes read per field: one little-endian uint64


def read_signed_lsb_fields(
    buf: bytes | bytearray | memoryview,
    bit_offsets: NDArray[np.int64],
    widths: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Read signed (two's complement) fields of ``widths[i]`` bits at ``bit_offsets[i]``.

    One gather for all fields, whatever mix of widths: each field's first byte starts an
    8-byte little-endian window. Shifting the window left puts the field's top bit at bit 63;
    an arithmetic right shift then brings it down sign-extended, with no mask and no branch.
    The caller guarantees every field lies inside ``buf`` and ``1 <= width <= 57``.
    """
    padded = bytes(buf) + bytes(_WINDOW)
    windows = np.ndarray(
        (len(padded) - _WINDOW + 1, _WINDOW), dtype=np.uint8, buffer=padded, strides=(1, 1)
    )
    words = windows.take(bit_offsets >> 3, axis=0).view("<u8").reshape(-1)
    left = (64 - widths - (bit_offsets & 7)).astype(np.uint64)
    result: NDArray[np.int64] = (words << left).view(np.int64) >> (64 - widths)
    return result


def sign_extend(values: NDArray[np.int64], widths: NDArray[np.int64] | int) -> NDArray[np.int64]:
    """Two's complement: a ``width``-bit value with its top bit set becomes negative."""
    sign = np.left_shift(np.int64(1), np.asarray(widths, dtype=np.int64) - 1)
    result: NDArray[np.int64] = (values ^ sign) - sign
    return result


def read_signed_le(data: bytes | bytearray | memoryview, nbytes: int) -> NDArray[np.int64]:
    """Consecutive signed little-endian integers of ``nbytes`` (1..8) each, as int64.

    ``len(data)`` must be a multiple of ``nbytes``. Widths numpy has a dtype for use it
    directly (a view, no per-value work); 3-, 5-, 6- and 7-byte integers are assembled from
    their bytes and sign-extended.
    """
    if nbytes in (1, 2, 4, 8):
        return np.frombuffer(data, dtype=f"<i{nbytes}").astype(np.int64)
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes).astype(np.int64)
    weights = np.left_shift(np.int64(1), 8 * np.arange(nbytes, dtype=np.int64))
    unsigned: NDArray[np.int64] = raw @ weights
    return sign_extend(unsigned, 8 * nbytes)


def write_signed_le(values: NDArray[np.integer], nbytes: int) -> bytes:
    """Inverse of :func:`read_signed_le`; values must already fit in ``nbytes``."""
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    if nbytes in (1, 2, 4, 8):
        return flat.astype(f"<i{nbytes}").tobytes()
    as_bytes = flat.astype("<i8").view(np.uint8).reshape(-1, 8)[:, :nbytes]
    return np.ascontiguousarray(as_bytes).tobytes()


def signed_bits_needed(values: NDArray[np.int64]) -> int:
    """Fewest two's complement bits that hold every value (at least 1).

    A width-w field holds -2**(w-1) .. 2**(w-1)-1; with w = 1 that is {-1, 0}.
    """
    if values.size == 0:
        return 1
    lo, hi = int(values.min()), int(values.max())
    need_hi = hi.bit_length() + 1 if hi > 0 else 1
    need_lo = (-lo - 1).bit_length() + 1 if lo < 0 else 1
    return max(need_hi, need_lo)


def pack_lsb_fields(values: NDArray[np.int64], width: int) -> bytes:
    """Pack signed or unsigned values as consecutive ``width``-bit fields, LSB-first.

    The stream is padded with zero bits to a whole number of bytes. Values are taken modulo
    ``2**width`` (two's complement for negatives); the caller checks they fit.
    """
    flat = np.asarray(values, dtype=np.int64).reshape(-1)
    shifts = np.arange(width, dtype=np.int64)
    bits = ((flat[:, None] >> shifts) & 1).astype(np.uint8)
    return np.packbits(bits.reshape(-1), bitorder="little").tobytes()
