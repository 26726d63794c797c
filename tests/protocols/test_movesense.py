"""Movesense GSP codec: byte-literal unit tests (vectors and fuzzing live in sibling modules)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sensorhub.errors import DecodeError
from sensorhub.protocols import movesense as ms
from sensorhub.protocols.base import STANDARD_GRAVITY

from .vectors import check_vector, load_vector_file, vector_params

# Reference worked example: ref 0x63, ts 123456 ms, (0.5, -9.75, 1.25), (0.25, -9.5, 1.0) m/s².
ACC_PAYLOAD = bytes.fromhex(
    "40e20100" "0000003f00001cc10000a03f" "0000803e000018c10000803f"
)  # fmt: skip
ACC_NOTE = bytes.fromhex("0263") + ACC_PAYLOAD


# --- commands -------------------------------------------------------------------------------


def test_subscribe_matches_reference_bytes() -> None:
    assert ms.encode_subscribe(0x63, "/Meas/Acc/52") == bytes.fromhex(
        "01632f4d6561732f4163632f3532"
    )


def test_subscribe_without_leading_slash_is_accepted() -> None:
    assert ms.encode_subscribe(1, "Meas/Acc/13") == b"\x01\x01Meas/Acc/13"
    assert ms.parse_command(b"\x01\x01Meas/Acc/13") == ms.GspCommand(
        ms.Command.SUBSCRIBE, 1, "Meas/Acc/13"
    )


def test_hello_and_unsubscribe_round_trip() -> None:
    assert ms.encode_hello(5) == b"\x00\x05"
    assert ms.encode_unsubscribe(0x63) == b"\x02\x63"
    assert ms.parse_command(b"\x00\x05") == ms.GspCommand(ms.Command.HELLO, 5)
    assert ms.parse_command(b"\x02\x63") == ms.GspCommand(ms.Command.UNSUBSCRIBE, 0x63)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "truncated"),
        (b"\x01", "truncated"),
        (b"\x07\x01", "unknown command 7"),
        (b"\x00\x00", "reference 0"),
        (b"\x02\x01\x00", "unexpected 1 data bytes"),
        (b"\x01\x01", "malformed resource path"),
        (b"\x01\x01/Meas//Acc", "malformed resource path"),
        (b"\x01\x01\xff\xfe", "not ASCII"),
        (b"\x01\x01/Meas/Acc/52\n", "malformed resource path"),
    ],
)
def test_parse_command_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        ms.parse_command(data)


@pytest.mark.parametrize("ref", [0, 256, -1])
def test_encoders_reject_bad_ref(ref: int) -> None:
    with pytest.raises(ValueError, match="reference"):
        ms.encode_hello(ref)


def test_encode_subscribe_rejects_bad_path() -> None:
    with pytest.raises(ValueError, match="resource path"):
        ms.encode_subscribe(1, "/Meas Acc")


# --- command results -------------------------------------------------------------------------


def test_hello_response() -> None:
    data = ms.encode_hello_response(9)
    assert data == b"\x01\x09Hello"
    result = ms.parse_command_result(data)
    assert result.hello
    assert result.ok
    assert result.status is None
    assert result.ref == 9


def test_status_is_big_endian_as_the_sample_firmware_sends_it() -> None:
    result = ms.parse_command_result(bytes.fromhex("016301fb"))
    assert result == ms.CommandResult(0x63, 507)
    assert not result.ok
    assert ms.encode_command_result(0x63, 507) == bytes.fromhex("016301fb")
    assert ms.parse_command_result(ms.encode_command_result(1, 200)).ok


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x01\x01\x00", "neither a 2-byte status"),
        (b"\x01\x01Hell", "neither a 2-byte status"),
        (b"\x02\x01\x00\xc8", "expected COMMAND_RESULT"),
        (b"\x09\x01\x00\xc8", "unknown response type 9"),
        (b"\x01", "truncated"),
        (b"\x01\x00\x00\xc8", "reference 0"),
    ],
)
def test_parse_command_result_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        ms.parse_command_result(data)


# --- /Meas/Acc --------------------------------------------------------------------------------


def test_reference_acc_example() -> None:
    acc = ms.parse_acc_data(ACC_NOTE)
    assert acc.timestamp_ms == 123_456
    assert acc.samples.dtype == np.float64
    assert acc.samples.tolist() == [[0.5, -9.75, 1.25], [0.25, -9.5, 1.0]]
    assert ms.encode_acc_payload(123_456, acc.samples) == ACC_PAYLOAD


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"", "truncated"),
        (ACC_PAYLOAD[:4], "truncated"),
        (ACC_PAYLOAD[:15], "truncated"),
        (ACC_PAYLOAD[:-1], "not 4 \\+ 12 x samples"),
        (ACC_PAYLOAD + b"\x00", "not 4 \\+ 12 x samples"),
        (
            ACC_PAYLOAD[:16] + bytes.fromhex("0000c07f") + ACC_PAYLOAD[20:],
            "non-finite value in sample 1",
        ),
        (ACC_PAYLOAD[:4] + bytes.fromhex("0000807f") + ACC_PAYLOAD[8:], "sample 0"),
    ],
    ids=["empty", "ts_only", "partial_sample", "short_by_one", "long_by_one", "nan", "inf"],
)
def test_acc_payload_rejects(payload: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        ms.parse_acc_payload(payload)


def test_acc_data_rejects_other_notifications() -> None:
    with pytest.raises(DecodeError, match="expected a DATA notification, got DATA_PART2"):
        ms.parse_acc_data(b"\x03\x63" + ACC_PAYLOAD)


def test_acc_block_converts_to_g_and_spaces_samples_by_rate() -> None:
    block = ms.acc_block(ms.parse_acc_payload(ACC_PAYLOAD), rate_hz=52)
    assert block.seq is None
    assert block.t_device_ns.dtype == np.int64
    assert block.t_device_ns.tolist() == [123_456_000_000, 123_456_000_000 + 19_230_769]
    np.testing.assert_allclose(block.acc_g[0] * STANDARD_GRAVITY, [0.5, -9.75, 1.25])


def test_acc_block_rejects_bad_rate() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        ms.acc_block(ms.parse_acc_payload(ACC_PAYLOAD), rate_hz=0)


def test_encode_acc_payload_rejects_bad_args() -> None:
    with pytest.raises(ValueError, match="u32"):
        ms.encode_acc_payload(1 << 32, [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="shape"):
        ms.encode_acc_payload(0, np.zeros((0, 3)))


@pytest.mark.parametrize(("path", "rate"), [("/Meas/Acc/52", 52), ("Meas/Acc/1666", 1666)])
def test_acc_rate_from_path(path: str, rate: int) -> None:
    assert ms.acc_rate_from_path(path) == rate


@pytest.mark.parametrize(
    "path", ["/Meas/Gyro/52", "/Meas/Acc/", "/Meas/Acc/0", "/Meas/Acc/5x", "/Meas/Acc/52\n"]
)
def test_acc_rate_from_path_rejects(path: str) -> None:
    with pytest.raises(ValueError, match="Meas/Acc"):
        ms.acc_rate_from_path(path)


# --- timestamp wrap ---------------------------------------------------------------------------


def test_unwrapper_continues_across_the_u32_wrap() -> None:
    unwrap = ms.MsUnwrapper()
    top = (1 << 32) - 100
    assert unwrap.unwrap(top) == top
    assert unwrap.unwrap(130) == (1 << 32) + 130
    assert unwrap.unwrap(top + 50) == top + 50  # a late frame from before the wrap
    assert unwrap.unwrap(400) == (1 << 32) + 400  # newest is still after the wrap
    unwrap.reset()
    assert unwrap.unwrap(400) == 400


def test_acc_block_across_wrap_is_monotonic() -> None:
    unwrap = ms.MsUnwrapper()
    rate = 52
    first = ms.parse_acc_payload(ms.encode_acc_payload((1 << 32) - 20, np.zeros((4, 3))))
    # 4 samples at 52 Hz later is 76.9 ms; the u32 counter has wrapped to 56.
    second = ms.parse_acc_payload(ms.encode_acc_payload(56, np.zeros((4, 3))))
    t = np.concatenate(
        [
            ms.acc_block(first, rate_hz=rate, unwrapper=unwrap).t_device_ns,
            ms.acc_block(second, rate_hz=rate, unwrapper=unwrap).t_device_ns,
        ]
    )
    assert np.all(np.diff(t) > 0)
    assert t[4] == ((1 << 32) + 56) * 1_000_000


# --- DATA / DATA_PART2 ------------------------------------------------------------------------


def test_encode_data_splits_only_when_needed() -> None:
    assert ms.encode_data(0x63, ACC_PAYLOAD) == [ACC_NOTE]
    big = bytes(range(200))
    parts = ms.encode_data(7, big, max_len=155)
    assert [p[:2] for p in parts] == [b"\x02\x07", b"\x03\x07"]
    assert parts[0][2:] + parts[1][2:] == big
    assert len(parts[0]) == 155
    with pytest.raises(ValueError, match="more than DATA"):
        ms.encode_data(7, bytes(400), max_len=155)


def test_reassembler_one_part_refs_pass_through() -> None:
    r = ms.GspReassembler()
    assert r.feed(ACC_NOTE) == [ms.GspData(0x63, ACC_PAYLOAD)]
    assert r.feed(bytes.fromhex("016301fb")) == [ms.CommandResult(0x63, 507)]
    assert r.orphans == 0


def test_reassembler_pairs_parts_by_ref_even_interleaved() -> None:
    a, b = bytes(range(200)), bytes(range(50, 250))
    pa, pb = ms.encode_data(1, a), ms.encode_data(2, b)
    r = ms.GspReassembler(two_part_refs=(1, 2))
    assert r.feed(pa[0]) == []
    assert r.feed(pb[0]) == []
    assert r.pending_refs == {1, 2}
    assert r.feed(pb[1]) == [ms.GspData(2, b, parts=2)]
    assert r.feed(pa[1]) == [ms.GspData(1, a, parts=2)]
    assert r.pending_refs == frozenset()


def test_reassembler_reports_orphans() -> None:
    r = ms.GspReassembler()
    r.expect_two_parts(4)
    [stray] = r.feed(b"\x03\x04tail")
    assert isinstance(stray, ms.GspOrphan)
    assert stray.response is ms.Response.DATA_PART2
    assert "no DATA is waiting" in stray.reason
    assert r.feed(b"\x02\x04first") == []
    [lost] = r.feed(b"\x02\x04second")
    assert isinstance(lost, ms.GspOrphan)
    assert lost.body == b"first"
    assert "replaced before its DATA_PART2" in lost.reason
    [left] = r.reset()
    assert left.body == b"second"
    assert "connection reset" in left.reason
    assert r.orphans == 3
    assert r.reset() == []


def test_reassembler_part2_for_one_part_ref_is_an_orphan() -> None:
    r = ms.GspReassembler()
    [orphan] = r.feed(b"\x03\x09xyz")
    assert isinstance(orphan, ms.GspOrphan)
    assert "not two-part" in orphan.reason
    r.expect_two_parts(9)
    r.expect_two_parts(9, False)
    assert r.feed(b"\x02\x09abc") == [ms.GspData(9, b"abc")]


def test_reassembler_malformed_input_leaves_state_unchanged() -> None:
    r = ms.GspReassembler(two_part_refs=frozenset({1}))
    r.feed(b"\x02\x01head")
    with pytest.raises(DecodeError, match="unknown response type 4"):
        r.feed(b"\x04\x01tail")
    assert r.feed(b"\x03\x01tail") == [ms.GspData(1, b"headtail", parts=2)]


# --- shared vectors (firmware_specs/vectors/movesense.json) --------------------------------


def _acc_two_part(part2: bytes, *, first_hex: str) -> ms.MovesenseAcc:
    """Reassemble DATA (``first_hex``) + DATA_PART2 (``part2``) and decode /Meas/Acc.

    An orphan is not an exception on the wire (the reassembler returns it as an event); this
    adapter turns it into a DecodeError so orphan cases can be written as error vectors.
    """
    first = bytes.fromhex(first_hex)
    r = ms.GspReassembler(two_part_refs=(first[1],))
    events = r.feed(first) + r.feed(part2)
    for event in events:
        if isinstance(event, ms.GspOrphan):
            raise DecodeError(event.reason)
    [data] = events
    assert isinstance(data, ms.GspData)
    assert data.parts == 2
    return ms.parse_acc_payload(data.payload)


VECTOR_DECODERS = {
    "command": ms.parse_command,
    "command_result": ms.parse_command_result,
    "notification": ms.parse_notification,
    "acc_data": ms.parse_acc_data,
    "acc_payload": ms.parse_acc_payload,
    "acc_block": lambda data, rate_hz: ms.acc_block(ms.parse_acc_data(data), rate_hz=rate_hz),
    "acc_two_part": _acc_two_part,
}


@pytest.mark.parametrize("vector", vector_params("movesense"))
def test_vector(vector: dict[str, Any]) -> None:
    check_vector(vector, VECTOR_DECODERS)


def test_vectors_cover_every_kind_valid_and_malformed() -> None:
    vectors = load_vector_file("movesense")["vectors"]
    valid = {v["kind"] for v in vectors if "expect" in v}
    malformed = {v["kind"] for v in vectors if "error" in v}
    assert valid == set(VECTOR_DECODERS)
    assert malformed == set(VECTOR_DECODERS) - {"acc_block"}  # acc_block reuses acc_data bytes


def test_reference_example_vector_matches_reference_bytes() -> None:
    vectors = {v["name"]: v for v in load_vector_file("movesense")["vectors"]}
    assert bytes.fromhex(vectors["acc_reference_example"]["hex"]) == ACC_NOTE


def test_cli_decoders_decode_the_reference_example() -> None:
    decoders = ms.CLI_DECODERS
    assert decoders["movesense-acc"](ACC_NOTE).timestamp_ms == 123_456  # type: ignore[attr-defined]
    assert decoders["movesense-acc-payload"](ACC_PAYLOAD).n_samples == 2  # type: ignore[attr-defined]
    block = decoders["movesense-acc-block"](ACC_NOTE, rate_hz=26)
    assert block.t_device_ns[1] - block.t_device_ns[0] == 38_461_538  # type: ignore[attr-defined]
    assert decoders["movesense-command"](b"\x00\x05") == ms.GspCommand(ms.Command.HELLO, 5)
    assert decoders["movesense-result"](b"\x01\x05\x00\xc8") == ms.CommandResult(5, 200)
    assert decoders["movesense-notification"](b"\x03\x05") == ms.GspNotification(
        ms.Response.DATA_PART2, 5, b""
    )


def _reencode(vector: dict[str, Any]) -> bytes:
    e, kind = vector["expect"], vector["kind"]
    if kind == "command":
        encode = {
            "HELLO": lambda: ms.encode_hello(e["ref"]),
            "SUBSCRIBE": lambda: ms.encode_subscribe(e["ref"], e["path"]),
            "UNSUBSCRIBE": lambda: ms.encode_unsubscribe(e["ref"]),
        }
        return encode[e["command"]["name"]]()
    if kind == "command_result":
        if e.get("hello"):
            return ms.encode_hello_response(e["ref"])
        return ms.encode_command_result(e["ref"], e["status"])
    # acc_data: one DATA notification with the ref of the original bytes
    ref = bytes.fromhex(vector["hex"])[1]
    [note] = ms.encode_data(ref, ms.encode_acc_payload(e["timestamp_ms"], e["samples"]))
    return note


@pytest.mark.parametrize(
    "vector",
    [
        p
        for p in vector_params("movesense", kinds={"command", "command_result", "acc_data"})
        if "expect" in p.values[0]  # type: ignore[operator]
    ],
)
def test_valid_vectors_reencode_to_the_same_bytes(vector: dict[str, Any]) -> None:
    assert _reencode(vector).hex() == vector["hex"]


def test_public_surface_is_pinned() -> None:
    assert sorted(ms.__all__) == sorted(
        [
            "ACC_RATES_HZ",
            "CLI_DECODERS",
            "Command",
            "CommandResult",
            "GSP_COMMAND_UUID",
            "GSP_DATA_UUID",
            "GSP_SERVICE_UUID",
            "GspCommand",
            "GspData",
            "GspEvent",
            "GspNotification",
            "GspOrphan",
            "GspReassembler",
            "MAX_NOTIFICATION_LEN",
            "MAX_SUBSCRIPTIONS",
            "MovesenseAcc",
            "MsUnwrapper",
            "Response",
            "acc_block",
            "acc_rate_from_path",
            "encode_acc_payload",
            "encode_command_result",
            "encode_data",
            "encode_hello",
            "encode_hello_response",
            "encode_subscribe",
            "encode_unsubscribe",
            "parse_acc_data",
            "parse_acc_payload",
            "parse_command",
            "parse_command_result",
            "parse_notification",
        ]
    )
    assert all(hasattr(ms, name) for name in ms.__all__)
