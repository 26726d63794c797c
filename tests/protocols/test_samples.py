"""The sample-block codec (imported data): byte-literal layout, refusals, round trip, fuzz."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from sensorhub.errors import DecodeError
from sensorhub.protocols import samples
from sensorhub.protocols.samples import SAMPLES_UUID, decode_block, encode_block

_SLOW_OK = [HealthCheck.too_slow]

# Two samples: t = 1 s and 1.02 s; acc (0, 1, -0.5) and (0.25, 1, 0) g.
TWO = (
    bytes.fromhex("02000000")
    + bytes.fromhex("00ca9a3b00000000")  # 1_000_000_000
    + bytes.fromhex("00f7cb3c00000000")  # 1_020_000_000
    + struct.pack("<6d", 0.0, 1.0, -0.5, 0.25, 1.0, 0.0)
)


def test_layout_is_pinned_by_a_byte_literal() -> None:
    block = decode_block(TWO)
    assert block.t_ns.dtype == np.int64
    assert block.t_ns.tolist() == [1_000_000_000, 1_020_000_000]
    assert block.acc_g.tolist() == [[0.0, 1.0, -0.5], [0.25, 1.0, 0.0]]
    assert len(block) == 2
    assert encode_block(block.t_ns, block.acc_g) == TWO
    assert len(TWO) == samples.HEADER_LEN + 2 * 32
    assert SAMPLES_UUID == "sensorhub:samples"


def test_negative_and_large_times_are_exact() -> None:
    t = np.array([-5, 2**62 + 1], dtype=np.int64)  # beyond float64's exact integers
    block = decode_block(encode_block(t, np.zeros((2, 3))))
    assert block.t_ns.tolist() == t.tolist()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "shorter than its 4-byte header"),
        (b"\x01\x00\x00", "shorter than its 4-byte header"),
        (bytes(4), "sample count 0"),
        (TWO[:-1], "need 68 bytes, payload has 67"),
        (TWO + b"\x00", "need 68 bytes, payload has 69"),
        (b"\xff\xff\xff\xff" + bytes(32), "sample count 4294967295"),
        (TWO[:-8] + struct.pack("<d", float("nan")), "non-finite"),
        (TWO[:-8] + struct.pack("<d", float("-inf")), "non-finite"),
    ],
)
def test_malformed_payloads_raise_decode_error(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_block(payload)


def test_encoder_refuses_what_the_layout_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"1\.\.1000000 samples, got 0"):
        encode_block(np.empty(0, np.int64), np.empty((0, 3)))
    with pytest.raises(ValueError, match="need t"):
        encode_block(np.zeros(2, np.int64), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="integer"):
        encode_block(np.zeros(1), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="finite"):
        encode_block(np.zeros(1, np.int64), np.array([[0.0, np.inf, 0.0]]))


@st.composite
def blocks(draw: st.DrawFn) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    n = draw(st.integers(1, 64))
    t = np.frombuffer(draw(st.binary(min_size=8 * n, max_size=8 * n)), dtype="<i8")
    acc = np.frombuffer(draw(st.binary(min_size=24 * n, max_size=24 * n)), dtype="<f8")
    acc = np.where(np.isfinite(acc), acc, 1.5).reshape(n, 3)
    return t.astype(np.int64), acc


@settings(max_examples=300, deadline=None, suppress_health_check=_SLOW_OK)
@given(blocks())
def test_round_trip(block: tuple[NDArray[np.int64], NDArray[np.float64]]) -> None:
    t, acc = block
    out = decode_block(encode_block(t, acc))
    assert np.array_equal(out.t_ns, t)
    assert np.array_equal(out.acc_g, acc)
    assert out.acc_g.shape == (t.size, 3)


@settings(max_examples=2_000, deadline=None, suppress_health_check=_SLOW_OK)
@given(st.binary(max_size=200) | blocks().map(lambda b: encode_block(*b)), st.data())
def test_fuzz_only_decode_error(payload: bytes, data: st.DataObject) -> None:
    """Random bytes, and valid blocks with bytes flipped, cut or added: DecodeError or a block
    whose shapes agree, never anything else."""
    mutated = bytearray(payload)
    if mutated and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    mutated = mutated[:cut] + data.draw(st.binary(max_size=3))
    try:
        block = decode_block(bytes(mutated))
    except DecodeError:
        return
    assert block.acc_g.shape == (len(block), 3)
    assert np.all(np.isfinite(block.acc_g))


def test_public_surface_is_pinned() -> None:
    assert samples.__all__ == [
        "HEADER_LEN", "MAX_SAMPLES", "SAMPLES_UUID", "SampleBlock", "decode_block", "encode_block"
    ]  # fmt: skip
