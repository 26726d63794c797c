"""Property tests for the Movesense and leanfw-v1 codecs.

1. Robustness: random bytes and mutated valid messages fed to every decoder raise nothing but
   DecodeError (10 000 examples per decoder, whatever the hypothesis profile).
2. Round trips: encode -> decode gives back what was encoded, for random valid values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensorhub.errors import DecodeError
from sensorhub.protocols import leanfw as lf
from sensorhub.protocols import movesense as ms

# Generation speed varies with the load of the box (CI runs other suites in parallel); the
# too_slow health check would turn a busy machine into a failure, so it is off here.
_SLOW_OK = [HealthCheck.too_slow]
FUZZ = settings(max_examples=10_000, deadline=None, suppress_health_check=_SLOW_OK)
ROUND_TRIP = settings(max_examples=1_000, deadline=None, suppress_health_check=_SLOW_OK)

# --- valid message strategies --------------------------------------------------------------

refs = st.integers(1, 255)
paths = st.from_regex(r"\A/?Meas/(Acc|Gyro|IMU9)/(13|26|52|104|208)\Z")


@st.composite
def int16_samples(draw: st.DrawFn, max_n: int = 83) -> np.ndarray[Any, np.dtype[np.int16]]:
    n = draw(st.integers(1, max_n))
    raw = draw(st.binary(min_size=6 * n, max_size=6 * n))  # bytes: much faster than int lists
    return np.frombuffer(raw, dtype="<i2").reshape(n, 3).astype(np.int16)


@st.composite
def lean_frames(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "seq": draw(st.integers(0, 0xFFFF)),
        "t_first_us": draw(st.integers(0, lf.MAX_T_US)),
        "rate_hz": draw(st.sampled_from(list(lf.RATE_CODES.values()))),
        "range_g": draw(st.sampled_from(list(lf.RANGE_CODES.values()))),
        "samples": draw(int16_samples()),
    }


@st.composite
def acc_payloads(draw: st.DrawFn, max_n: int = 40) -> tuple[int, list[list[float]]]:
    n = draw(st.integers(1, max_n))
    raw = np.frombuffer(draw(st.binary(min_size=12 * n, max_size=12 * n)), dtype="<f4")
    samples = np.where(np.isfinite(raw), raw, np.float32(1.5)).reshape(n, 3)
    return draw(st.integers(0, (1 << 32) - 1)), samples.astype(np.float64).tolist()


configs = st.builds(
    lf.DeviceConfig,
    streaming=st.booleans(),
    rate_code=st.sampled_from(list(lf.RATE_CODES)),
    range_code=st.sampled_from(list(lf.RANGE_CODES)),
    max_samples=st.integers(0, 255),
    device_time_us=st.integers(0, lf.MAX_T_US),
)

valid_lean_frames = lean_frames().map(lambda kw: lf.encode_frame(**kw))
valid_lean_requests = st.one_of(
    st.sampled_from([lf.encode_start(), lf.encode_stop(), lf.encode_get_config()]),
    st.sampled_from(list(lf.RATE_CODES.values())).map(lf.encode_set_rate),
    st.sampled_from(list(lf.RANGE_CODES.values())).map(lf.encode_set_range),
)
valid_lean_control = st.one_of(
    configs.map(lambda c: lf.encode_response(lf.Opcode.GET_CONFIG, lf.Status.OK, c)),
    st.tuples(st.sampled_from(list(lf.Opcode)), st.sampled_from(list(lf.Status)[1:])).map(
        lambda t: lf.encode_response(t[0], t[1])
    ),
    st.sampled_from(list(lf.Status)).map(lambda s: lf.encode_event(lf.EventCode.STREAM_STOPPED, s)),
)
valid_gsp_commands = st.one_of(
    refs.map(ms.encode_hello),
    refs.map(ms.encode_unsubscribe),
    st.tuples(refs, paths).map(lambda t: ms.encode_subscribe(*t)),
)
valid_acc_payloads = acc_payloads(max_n=12).map(lambda t: ms.encode_acc_payload(*t))
valid_gsp_notes = st.one_of(
    st.tuples(refs, st.integers(0, 0xFFFF)).map(lambda t: ms.encode_command_result(*t)),
    refs.map(ms.encode_hello_response),
    st.tuples(refs, valid_acc_payloads).map(lambda t: ms.encode_data(*t)[0]),
    st.tuples(refs, st.binary(max_size=100)).map(lambda t: bytes((3, t[0])) + t[1]),
)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid message with 1-3 edits: set a byte, truncate, extend or delete a byte.

    The edits come from one drawn seed rather than one draw each: hypothesis's per-draw cost
    dominated these tests, and a failing example still replays exactly from its seed.
    """
    data = bytearray(draw(valid))
    rnd = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(rnd.randint(1, 3)):
        op = rnd.choice(("set", "truncate", "extend", "delete"))
        if op == "set" and data:
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        elif op == "truncate":
            del data[rnd.randint(0, len(data)) :]
        elif op == "extend":
            data += rnd.randbytes(rnd.randint(1, 12))
        elif data:
            del data[rnd.randrange(len(data))]
    return bytes(data)


def random_or_mutated(valid: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=260), mutated(valid))


def _only_decode_errors(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        decode(data)
    except DecodeError as exc:
        message = str(exc)
    else:
        return
    assert message, "DecodeError without a message"


def _feed_fresh_reassembler(data: bytes) -> object:
    return ms.GspReassembler(two_part_refs=frozenset(range(1, 256))).feed(data)


# --- robustness -------------------------------------------------------------------------------
# One hypothesis run per module feeds each example to every decoder of that module: each
# decoder sees 10 000 inputs (random bytes, and mutations of valid messages of every kind the
# module knows, its own included) at a fraction of the cost of one run per decoder.

LEAN_DECODERS: list[Callable[[bytes], object]] = [
    lf.parse_frame,
    lf.parse_control,
    lf.parse_request,
]
GSP_DECODERS: list[Callable[[bytes], object]] = [
    ms.parse_command,
    ms.parse_notification,
    ms.parse_command_result,
    ms.parse_acc_payload,
    ms.parse_acc_data,
    _feed_fresh_reassembler,
]


@FUZZ
@given(random_or_mutated(st.one_of(valid_lean_frames, valid_lean_control, valid_lean_requests)))
def test_lean_decoders_raise_only_decode_error(data: bytes) -> None:
    for decode in LEAN_DECODERS:
        _only_decode_errors(decode, data)


@FUZZ
@given(random_or_mutated(st.one_of(valid_gsp_notes, valid_gsp_commands, valid_acc_payloads)))
def test_gsp_decoders_raise_only_decode_error(data: bytes) -> None:
    for decode in GSP_DECODERS:
        _only_decode_errors(decode, data)


@settings(
    max_examples=2_000, deadline=None, suppress_health_check=_SLOW_OK
)  # sequences; single inputs get 10 000 above
@given(st.lists(random_or_mutated(valid_gsp_notes), max_size=6))
def test_reassembler_stream_raises_only_decode_error(notes: list[bytes]) -> None:
    r = ms.GspReassembler(two_part_refs=frozenset({1, 2, 3}))
    for note in notes:
        _only_decode_errors(r.feed, note)
    r.reset()
    assert r.pending_refs == frozenset()


# --- round trips ------------------------------------------------------------------------------


@ROUND_TRIP
@given(lean_frames())
def test_lean_frame_round_trip(kw: dict[str, Any]) -> None:
    frame = lf.parse_frame(lf.encode_frame(**kw))
    assert (frame.seq, frame.t_first_us, frame.rate_hz, frame.range_g) == (
        kw["seq"], kw["t_first_us"], kw["rate_hz"], kw["range_g"]
    )  # fmt: skip
    np.testing.assert_array_equal(frame.samples, kw["samples"])
    block = lf.acc_block(frame)
    assert block.seq == kw["seq"]
    assert len(block) == len(kw["samples"])
    assert np.all(np.diff(block.t_device_ns) == 1_000_000_000 // kw["rate_hz"])


@ROUND_TRIP
@given(st.sampled_from(list(lf.Opcode)), st.integers(0, 255))
def test_lean_request_round_trip(opcode: lf.Opcode, code_seed: int) -> None:
    table = {lf.Opcode.SET_RATE: lf.RATE_CODES, lf.Opcode.SET_RANGE: lf.RANGE_CODES}.get(opcode)
    code = None if table is None else sorted(table)[code_seed % len(table)]
    request = lf.Request(opcode, code)
    assert lf.parse_request(lf.encode_request(request)) == request


@ROUND_TRIP
@given(
    st.one_of(
        configs.map(lambda c: (5, lf.Status.OK, c)),
        st.tuples(st.integers(0, 255), st.sampled_from(list(lf.Status)[1:]), st.none()),
    )
)
def test_lean_response_round_trip(args: tuple[int, lf.Status, lf.DeviceConfig | None]) -> None:
    opcode, status, config = args
    assert lf.parse_control(lf.encode_response(opcode, status, config)) == lf.ControlResponse(
        opcode, status, config
    )  # fmt: skip


@ROUND_TRIP
@given(st.sampled_from(list(lf.Status)))
def test_lean_event_round_trip(reason: lf.Status) -> None:
    data = lf.encode_event(lf.EventCode.STREAM_STOPPED, reason)
    assert lf.parse_control(data) == lf.ControlEvent(lf.EventCode.STREAM_STOPPED, reason)


@ROUND_TRIP
@given(refs, paths)
def test_gsp_command_round_trip(ref: int, path: str) -> None:
    assert ms.parse_command(ms.encode_subscribe(ref, path)) == ms.GspCommand(
        ms.Command.SUBSCRIBE, ref, path
    )
    assert ms.parse_command(ms.encode_hello(ref)) == ms.GspCommand(ms.Command.HELLO, ref)
    assert ms.parse_command(ms.encode_unsubscribe(ref)) == ms.GspCommand(
        ms.Command.UNSUBSCRIBE, ref
    )


@ROUND_TRIP
@given(refs, st.integers(0, 0xFFFF))
def test_gsp_command_result_round_trip(ref: int, status: int) -> None:
    assert ms.parse_command_result(ms.encode_command_result(ref, status)) == ms.CommandResult(
        ref, status
    )


@ROUND_TRIP
@given(refs, acc_payloads(), st.integers(30, 247))
def test_gsp_acc_round_trip_through_reassembly(
    ref: int, payload: tuple[int, list[list[float]]], max_len: int
) -> None:
    ts, samples = payload
    body = ms.encode_acc_payload(ts, samples)
    if len(body) > 2 * (max_len - 2):
        max_len = len(body)  # GSP v1 has no third part; use a wide enough link
    notes = ms.encode_data(ref, body, max_len=max_len)
    r = ms.GspReassembler(two_part_refs=frozenset({ref}) if len(notes) == 2 else frozenset())
    events = [event for note in notes for event in r.feed(note)]
    assert events == [ms.GspData(ref, body, parts=len(notes))]
    acc = ms.parse_acc_payload(body)
    assert acc.timestamp_ms == ts
    np.testing.assert_array_equal(acc.samples, np.array(samples, dtype=np.float32))
