"""Polar PMD delta-compressed sample payloads: decoder and encoder.

Layout (see ``firmware_specs/polar-h10-pmd.md``)::

    reference sample : channels x ceil(resolution / 8) bytes, signed little-endian
    block*           : width u8 | count u8 | ceil(width * channels * count / 8) bytes

Each block body is one LSB-first bit stream of ``count * channels`` signed ``width``-bit
deltas, interleaved ch0, ch1, ch2, ch0, ... A sample is the previous sample plus its delta;
blocks chain on from the last sample of the block before.

The decoder walks the block *headers* in Python (two bytes per block, a handful per frame) and
then reads every delta of every block with one vectorised gather, so the per-sample cost is
numpy's, whatever the mix of widths. Running sums wrap at 32 bits like the sensor's and the
SDK's ``int`` accumulators, which keeps float-encoded 32-bit channels bit-exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import DecodeError
from sensorhub.protocols._bits import (
    pack_lsb_fields,
    read_signed_le,
    read_signed_lsb_fields,
    signed_bits_needed,
    write_signed_le,
)

__all__ = [
    "MAX_BLOCK_SAMPLES",
    "MAX_DELTA_WIDTH",
    "decode_delta_payload",
    "encode_delta_blocks",
    "encode_delta_payload",
]

#: Widest delta field the format allows (a 32-bit channel's full range).
MAX_DELTA_WIDTH = 32
#: The block's sample count is one byte.
MAX_BLOCK_SAMPLES = 255


def _reference_bytes(resolution: int) -> int:
    if not 1 <= resolution <= 32:
        raise DecodeError(f"PMD delta frame: resolution {resolution} bits is outside 1..32")
    return (resolution + 7) // 8


def decode_delta_payload(
    payload: bytes | bytearray | memoryview, *, channels: int, resolution: int
) -> NDArray[np.int32]:
    """Decode a delta-compressed payload into int32 samples of shape (n, channels).

    Raises :class:`DecodeError` for a truncated reference sample, a truncated block header,
    a delta width of 0 or above 32, an empty block, or a block body running past the end.
    """
    if channels < 1:
        raise DecodeError(f"PMD delta frame: {channels} channels")
    ref_size = _reference_bytes(resolution) * channels
    if len(payload) < ref_size:
        raise DecodeError(
            f"PMD delta frame: reference sample needs {ref_size} bytes, payload has {len(payload)}"
        )
    reference = read_signed_le(payload[:ref_size], ref_size // channels)
    widths, counts, starts = _walk_blocks(payload, ref_size, channels)
    if not widths:
        return reference.astype(np.int32).reshape(1, channels)

    deltas = read_signed_lsb_fields(payload, *_field_layout(widths, counts, starts, channels))
    samples = np.empty((deltas.size // channels + 1, channels), dtype=np.int64)
    samples[0] = reference
    samples[1:] = deltas.reshape(-1, channels)
    # int64 running sum, then wrap to int32 exactly as a 32-bit accumulator would.
    return np.add.accumulate(samples, axis=0).astype(np.int32)


def _field_layout(
    widths: list[int], counts: list[int], starts: list[int], channels: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Absolute bit offset and width of every delta field of every block.

    Within block b, field i (counted over the whole frame) starts at
    ``8 * start_b + (i - first_b) * width_b``; the per-block constant part is computed in
    Python (a few blocks), the per-field part with one arange.
    """
    fields = [c * channels for c in counts]
    bases: list[int] = []
    first = 0
    for width, start, n in zip(widths, starts, fields, strict=True):
        bases.append(8 * start - first * width)
        first += n
    per_block = np.array([widths, bases], dtype=np.int64).T
    per_field = np.repeat(per_block, fields, axis=0)
    field_widths = per_field[:, 0]
    offsets = per_field[:, 1] + np.arange(first, dtype=np.int64) * field_widths
    return offsets, field_widths


def _walk_blocks(
    payload: bytes | bytearray | memoryview, offset: int, channels: int
) -> tuple[list[int], list[int], list[int]]:
    """Validate block headers; return per-block widths, counts and body start offsets."""
    widths: list[int] = []
    counts: list[int] = []
    starts: list[int] = []
    end = len(payload)
    while offset < end:
        n = len(widths) + 1
        if offset + 2 > end:
            raise DecodeError(
                f"PMD delta block {n}: truncated header at offset {offset} "
                f"(1 byte left, header needs 2)"
            )
        width, count = payload[offset], payload[offset + 1]
        if width == 0 or width > MAX_DELTA_WIDTH:
            raise DecodeError(
                f"PMD delta block {n}: bit width {width} at offset {offset} (allowed 1..32)"
            )
        if count == 0:
            raise DecodeError(f"PMD delta block {n}: sample count 0 at offset {offset}")
        body = (width * channels * count + 7) // 8
        if offset + 2 + body > end:
            raise DecodeError(
                f"PMD delta block {n} (width {width}, {count} samples) overruns the frame: "
                f"body needs {body} bytes at offset {offset + 2}, {end - offset - 2} left"
            )
        widths.append(width)
        counts.append(count)
        starts.append(offset + 2)
        offset += 2 + body
    return widths, counts, starts


def encode_delta_blocks(
    reference: Sequence[int] | NDArray[np.integer],
    blocks: Sequence[tuple[int, NDArray[np.integer]]],
    *,
    resolution: int,
) -> bytes:
    """Build a delta payload from a reference sample and explicit ``(width, deltas)`` blocks.

    ``deltas`` has shape (count, channels). This is the low-level form tests use to produce
    any width and block layout; :func:`encode_delta_payload` picks widths itself.
    Raises ``ValueError`` if a delta does not fit its width or a block is empty or too long.
    """
    ref = np.asarray(reference, dtype=np.int64).reshape(-1)
    ref_bytes = _reference_bytes(resolution)
    lo, hi = -(1 << (8 * ref_bytes - 1)), (1 << (8 * ref_bytes - 1)) - 1
    if ref.size == 0 or int(ref.min()) < lo or int(ref.max()) > hi:
        raise ValueError(f"reference sample does not fit {8 * ref_bytes}-bit fields: {ref}")
    parts = [write_signed_le(ref, ref_bytes)]
    for width, deltas in blocks:
        d = np.asarray(deltas, dtype=np.int64).reshape(-1, ref.size)
        if not 1 <= width <= MAX_DELTA_WIDTH:
            raise ValueError(f"delta width {width} outside 1..{MAX_DELTA_WIDTH}")
        if not 1 <= d.shape[0] <= MAX_BLOCK_SAMPLES:
            raise ValueError(f"block of {d.shape[0]} samples (allowed 1..{MAX_BLOCK_SAMPLES})")
        if signed_bits_needed(d) > width:
            raise ValueError(f"deltas need more than {width} bits")
        parts.append(bytes((width, d.shape[0])))
        parts.append(pack_lsb_fields(d, width))
    return b"".join(parts)


def encode_delta_payload(
    samples: NDArray[np.integer], *, resolution: int = 16, block_samples: int = MAX_BLOCK_SAMPLES
) -> bytes:
    """Delta-encode samples of shape (n, channels): first row is the reference.

    Rows after the first are split into blocks of at most ``block_samples`` samples, each
    with the narrowest width that holds its deltas (what a sensor's encoder does).
    """
    s = np.asarray(samples, dtype=np.int64)
    if s.ndim != 2 or s.shape[0] < 1:
        raise ValueError(f"samples must have shape (n >= 1, channels), got {s.shape}")
    if not 1 <= block_samples <= MAX_BLOCK_SAMPLES:
        raise ValueError(f"block_samples {block_samples} outside 1..{MAX_BLOCK_SAMPLES}")
    # Modulo 2**32, matching the decoder's 32-bit accumulator (only matters for 32-bit data).
    deltas = np.diff(s, axis=0).astype(np.int32).astype(np.int64)
    blocks = [
        (signed_bits_needed(chunk), chunk)
        for chunk in (deltas[i : i + block_samples] for i in range(0, len(deltas), block_samples))
    ]
    return encode_delta_blocks(s[0], blocks, resolution=resolution)
