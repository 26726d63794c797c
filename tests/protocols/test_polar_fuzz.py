"""Property tests for the Polar PMD codec.

Random and mutated bytes into every decoder never raise anything but DecodeError (10,000
examples each, whatever the Hypothesis profile), and encode -> decode round-trips for random
valid frames: raw int8/16/24, delta widths 1-32 over chained blocks, control messages.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

from sensorhub.errors import DecodeError, ProtocolError
from sensorhub.protocols import polar_pmd as pmd

from .vectors import load_vector_file

_VALID_FRAMES = [
    bytes.fromhex(v["hex"])
    for v in load_vector_file("polar_pmd")["vectors"]
    if v["kind"] == "data_frame" and "error" not in v
]
_HEADERS = [bytes((mt,)) + bytes(8) + bytes((ft,)) for mt, ft in pmd._LAYOUTS]


def _only_decode_error(decode: Callable[[bytes], object], data: bytes) -> None:
    note(f"input: {data.hex()}")
    try:
        decode(data)
    except DecodeError as exc:
        assert str(exc)  # noqa: PT017 - the message must say what was wrong


def _mutate(frame: bytes, seed: int) -> bytes:
    """A valid frame with 1-4 random edits: flip, overwrite, insert, delete, truncate.

    The edits come from a seeded ``random.Random`` rather than one Hypothesis draw each:
    two draws per example keep 10,000 examples fast, and a failure still shows the bytes.
    """
    rng = random.Random(seed)
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["flip", "set", "insert", "delete", "truncate"])
        i = rng.randrange(len(data)) if data else 0
        if op == "flip" and data:
            data[i] ^= 1 << rng.randrange(8)
        elif op == "set" and data:
            data[i] = rng.randrange(256)
        elif op == "insert":
            data.insert(i, rng.randrange(256))
        elif op == "delete" and data:
            del data[i]
        elif op == "truncate":
            del data[i:]
    return bytes(data)


def _mutated(frames: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(_mutate, st.sampled_from(frames), st.integers(0, 2**32 - 1))


def _frame_then_acc_block(payload: bytes) -> object:
    frame = pmd.parse_data_frame(payload)
    if frame.measurement_type == pmd.MeasurementType.ACC:
        return pmd.acc_block(frame, 200)
    return frame


def _delta_decoder(channels: int, resolution: int) -> Callable[[bytes], object]:
    return lambda b: pmd.decode_delta_payload(b, channels=channels, resolution=resolution)


_DELTA_BODIES = [f[10:] for f in _VALID_FRAMES if f[9] & 0x80]

#: (decoder, input) pairs: whole data frames (random, valid header + random body, mutated
#: vectors) through parse_data_frame and acc_block, and bare delta payloads (random, mutated)
#: through decode_delta_payload with any channel count and resolution.
_data_cases = st.one_of(
    st.tuples(
        st.just(_frame_then_acc_block),
        st.one_of(
            st.binary(max_size=40),
            st.builds(lambda h, b: h + b, st.sampled_from(_HEADERS), st.binary(max_size=60)),
            _mutated(_VALID_FRAMES),
        ),
    ),
    st.tuples(
        st.builds(_delta_decoder, st.integers(1, 4), st.integers(1, 32)),
        st.binary(max_size=80) | _mutated(_DELTA_BODIES),
    ),
)


@settings(max_examples=10_000, deadline=None)
@given(case=_data_cases)
def test_data_decoders_only_raise_decode_error(
    case: tuple[Callable[[bytes], object], bytes],
) -> None:
    decode, data = case
    _only_decode_error(decode, data)


_CP_VECTORS = [
    bytes.fromhex(v["hex"])
    for v in load_vector_file("polar_pmd")["vectors"]
    if v["kind"] in {"control_message", "control_request"}
]
_cp_bytes = st.one_of(
    st.binary(max_size=30),
    st.builds(
        lambda h, b: bytes((h,)) + b,
        st.sampled_from([0xF0, 0x01, 0x0F, 0x02]),
        st.binary(max_size=40),
    ),
    _mutated([v for v in _CP_VECTORS if v]),
)


@settings(max_examples=10_000, deadline=None)
@given(
    decoder=st.sampled_from([pmd.parse_cp_message, pmd.parse_request, pmd.parse_settings]),
    data=_cp_bytes,
)
def test_control_point_parsers_only_raise_decode_error(
    decoder: Callable[[bytes], object], data: bytes
) -> None:
    _only_decode_error(decoder, data)


@settings(max_examples=500, deadline=None)
@given(messages=st.lists(_cp_bytes, max_size=5))
def test_assembler_raises_only_decode_or_protocol_errors(messages: list[bytes]) -> None:
    assembler = pmd.CpResponseAssembler()
    for message in messages:
        try:
            assembler.feed(message)
        except (DecodeError, ProtocolError) as exc:
            assert str(exc)  # noqa: PT017


# --------------------------------------------------------------------------- round trips


@settings(max_examples=500, deadline=None)
@given(
    frame_type=st.sampled_from([0x00, 0x01, 0x02]),
    n=st.integers(1, 40),
    timestamp=st.integers(0, (1 << 64) - 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_raw_frames_round_trip(frame_type: int, n: int, timestamp: int, seed: int) -> None:
    bits = 8 * (frame_type + 1)
    rng = np.random.default_rng(seed)
    samples = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=(n, 3))
    payload = pmd.encode_data_frame(samples, timestamp_ns=timestamp, frame_type=frame_type)
    assert len(payload) == 10 + n * 3 * bits // 8
    frame = pmd.parse_data_frame(payload)
    assert (frame.timestamp_ns, frame.frame_type, frame.measurement_type) == (
        timestamp,
        frame_type,
        2,
    )
    np.testing.assert_array_equal(frame.samples, samples)


@st.composite
def _delta_frames(draw: st.DrawFn) -> tuple[int, int, np.ndarray[Any, Any], list[Any]]:
    channels = draw(st.integers(1, 4))
    resolution = draw(st.sampled_from([8, 12, 16, 24, 32]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ref_bits = 8 * ((resolution + 7) // 8)
    reference = rng.integers(-(1 << (ref_bits - 1)), 1 << (ref_bits - 1), size=channels)
    blocks = []
    for _ in range(draw(st.integers(0, 5))):
        width = draw(st.integers(1, 32))
        count = draw(st.integers(1, 12))
        lo, hi = -(1 << (width - 1)), 1 << (width - 1)
        deltas = rng.integers(lo, hi, size=(count, channels))
        deltas[rng.integers(0, count)] = lo  # the extremes must survive too
        deltas[rng.integers(0, count)] = hi - 1
        blocks.append((width, deltas))
    return channels, resolution, reference, blocks


@settings(max_examples=500, deadline=None)
@given(case=_delta_frames())
def test_delta_blocks_of_any_width_round_trip(case: tuple[Any, ...]) -> None:
    channels, resolution, reference, blocks = case
    payload = pmd.encode_delta_blocks(reference, blocks, resolution=resolution)
    decoded = pmd.decode_delta_payload(payload, channels=channels, resolution=resolution)
    steps = [reference.reshape(1, -1)] + [d for _, d in blocks]
    expected = np.cumsum(np.concatenate(steps).astype(np.int64), axis=0).astype(np.int32)
    np.testing.assert_array_equal(decoded, expected)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 300),
    scale=st.sampled_from([1, 30, 1000, 32767]),
    block=st.integers(1, 255),
    seed=st.integers(0, 2**32 - 1),
)
def test_delta_frame_encoder_round_trips_acc(n: int, scale: int, block: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.integers(-scale, scale + 1, size=(n, 3)), axis=0)
    samples = np.clip(walk, -32768, 32767)
    payload = pmd.encode_data_frame(
        samples, timestamp_ns=seed, frame_type=0x81, block_samples=block
    )
    frame = pmd.parse_data_frame(payload)
    np.testing.assert_array_equal(frame.samples, samples)
    assert frame.timestamp_ns == seed


@settings(max_examples=300, deadline=None)
@given(
    opcode=st.integers(0, 255),
    mtype=st.integers(0, 63),
    rates=st.lists(st.integers(0, 0xFFFF), max_size=6).map(tuple),
    ranges=st.lists(st.integers(0, 0xFFFF), max_size=4).map(tuple),
    channels=st.lists(st.integers(0, 255), max_size=2).map(tuple),
    factors=st.lists(st.floats(width=32, allow_nan=False), max_size=1).map(tuple),
)
def test_settings_responses_round_trip(
    opcode: int,
    mtype: int,
    rates: tuple[int, ...],
    ranges: tuple[int, ...],
    channels: tuple[int, ...],
    factors: tuple[float, ...],
) -> None:
    chosen = pmd.PmdSettings(sample_rates=rates, ranges=ranges, channels=channels, factors=factors)
    assert pmd.parse_settings(pmd.encode_settings(chosen)) == chosen
    message = pmd.build_cp_response(1, mtype, parameters=pmd.encode_settings(chosen))
    parsed = pmd.parse_cp_message(message)
    assert isinstance(parsed, pmd.CpResponse)
    assert (parsed.opcode, parsed.measurement_type, parsed.settings) == (1, mtype, chosen)
    refused = pmd.parse_cp_message(pmd.build_cp_response(opcode, mtype, status=opcode % 15 + 1))
    assert isinstance(refused, pmd.CpResponse)
    assert not refused.ok
