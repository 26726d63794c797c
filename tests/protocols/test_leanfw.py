"""leanfw-v1 codec: byte-literal unit tests (vectors and fuzzing live in sibling modules)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import numpy as np
import pytest

from sensorhub.errors import ControlPointError, DecodeError
from sensorhub.protocols import leanfw as lf

from .vectors import VECTORS_DIR, check_vector, load_vector_file, vector_params

# The worked example of firmware_specs/leanfw-v1.md: seq 0x0102, t = 5 000 000 µs, 100 Hz,
# ±4 g, two samples: upright (0, 8192, 0) and leaning forward 30° (16, 7095, -4096).
EXAMPLE = bytes.fromhex(
    "11" "0201" "404b4c0000000000" "03" "02" "02"
    "000000200000" "1000b71b00f0"
)  # fmt: skip


def test_worked_example_decodes() -> None:
    frame = lf.parse_frame(EXAMPLE)
    assert (frame.seq, frame.t_first_us, frame.rate_hz, frame.range_g) == (258, 5_000_000, 100, 4)
    assert frame.samples.dtype == np.int16
    assert frame.samples.tolist() == [[0, 8192, 0], [16, 7095, -4096]]
    assert frame.acc_g.tolist() == [[0.0, 1.0, 0.0], [16 / 8192, 7095 / 8192, -0.5]]


def test_worked_example_encodes() -> None:
    samples = [[0, 8192, 0], [16, 7095, -4096]]
    assert (
        lf.encode_frame(seq=258, t_first_us=5_000_000, rate_hz=100, range_g=4, samples=samples)
        == EXAMPLE
    )


def test_acc_block_times_and_seq() -> None:
    block = lf.acc_block(lf.parse_frame(EXAMPLE))
    assert block.seq == 258
    assert block.t_device_ns.dtype == np.int64
    assert block.t_device_ns.tolist() == [5_000_000_000, 5_010_000_000]
    assert block.acc_g[0].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    ("range_g", "lsb_g"), [(2, 2 / 32768), (4, 4 / 32768), (8, 8 / 32768), (16, 16 / 32768)]
)
def test_scale_is_range_over_32768(range_g: int, lsb_g: float) -> None:
    data = lf.encode_frame(
        seq=0, t_first_us=0, rate_hz=25, range_g=range_g, samples=[[1, -32768, 32767]]
    )
    assert lf.parse_frame(data).acc_g.tolist() == [[lsb_g, -range_g, 32767 * lsb_g]]


@pytest.mark.parametrize(("mtu", "n"), [(23, 1), (185, 28), (247, 38), (517, 83)])
def test_max_samples_per_frame(mtu: int, n: int) -> None:
    assert lf.max_samples_per_frame(mtu) == n
    assert lf.HEADER_LEN + 6 * n <= mtu - 3 < lf.HEADER_LEN + 6 * (n + 1)


@pytest.mark.parametrize(
    ("rate", "mtu", "n"),
    [(25, 247, 5), (50, 247, 10), (100, 247, 20), (200, 247, 38), (400, 247, 38),
     (200, 185, 28), (100, 23, 1), (25, 23, 1)],
)  # fmt: skip
def test_samples_per_frame_caps_latency_at_200_ms(rate: int, mtu: int, n: int) -> None:
    assert lf.samples_per_frame(rate, mtu) == n


def test_max_samples_rejects_impossible_mtu() -> None:
    with pytest.raises(ValueError, match="ATT_MTU"):
        lf.max_samples_per_frame(22)


@pytest.mark.parametrize(
    ("prev", "seq", "delta"),
    [(5, 6, 1), (65535, 0, 1), (65534, 2, 4), (9, 9, 0), (10, 9, -1), (0, 32768, -32768)],
)
def test_seq_delta(prev: int, seq: int, delta: int) -> None:
    assert lf.seq_delta(prev, seq) == delta


def _mutate(offset: int, value: int) -> bytes:
    data = bytearray(EXAMPLE)
    data[offset] = value
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "truncated header, 0 bytes"),
        (EXAMPLE[:13], "truncated header, 13 bytes"),
        (_mutate(0, 0x21), "unsupported profile version 2"),
        (_mutate(0, 0x12), "unknown frame type 2"),
        (_mutate(11, 0), "unknown rate code 0"),
        (_mutate(11, 6), "unknown rate code 6"),
        (_mutate(12, 5), "unknown range code 5"),
        (EXAMPLE[:14], "sample count 2 disagrees with length 14"),
        (_mutate(13, 0)[:14], "sample count 0"),
        (_mutate(13, 3), "sample count 3 disagrees with length 26 (expected 32)"),
        (EXAMPLE[:-1], "disagrees with length 25"),
        (EXAMPLE + b"\x00", "disagrees with length 27"),
        (EXAMPLE[:3] + b"\xff" * 8 + EXAMPLE[11:], "out of range"),
    ],
    ids=["empty", "header_13", "version", "type", "rate0", "rate6", "range", "no_samples",
         "count0", "count_high", "short", "long", "timestamp"],
)  # fmt: skip
def test_parse_frame_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(fragment)):
        lf.parse_frame(data)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"seq": 65536}, "seq"),
        ({"t_first_us": -1}, "t_first_us"),
        ({"rate_hz": 52}, "no rate 52"),
        ({"range_g": 3}, "no range"),
        ({"samples": [[0, 0, 40000]]}, "int16"),
        ({"samples": [[0.5, 0, 0]]}, "integers"),
        ({"samples": np.zeros((0, 3), dtype=np.int16)}, "shape"),
    ],
)
def test_encode_frame_rejects(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {
        "seq": 0, "t_first_us": 0, "rate_hz": 50, "range_g": 2, "samples": [[0, 0, 0]]
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(ValueError, match=fragment):
        lf.encode_frame(**args)  # type: ignore[arg-type]


def test_quantize_rounds_and_saturates() -> None:
    q = lf.quantize([[1.0, -0.5, 3.0], [1e-5, -9.0, 0.0]], 2)
    assert q.dtype == np.int16
    assert q.tolist() == [[16384, -8192, 32767], [0, -32768, 0]]


# --- control ------------------------------------------------------------------------------


def test_request_encoders() -> None:
    assert lf.encode_start() == b"\x01"
    assert lf.encode_stop() == b"\x02"
    assert lf.encode_set_rate(400) == b"\x03\x05"
    assert lf.encode_set_range(16) == b"\x04\x04"
    assert lf.encode_get_config() == b"\x05"
    assert lf.encode_request(lf.Request(lf.Opcode.SET_RATE, 1)) == b"\x03\x01"
    with pytest.raises(ValueError, match="does not fit"):
        lf.encode_request(lf.Request(lf.Opcode.START_STREAM, 1))


@pytest.mark.parametrize(
    ("data", "opcode", "status"),
    [
        (b"", 0, lf.Status.INVALID_LENGTH),
        (b"\x09", 9, lf.Status.UNKNOWN_OPCODE),
        (b"\x01\x00", 1, lf.Status.INVALID_LENGTH),
        (b"\x03", 3, lf.Status.INVALID_LENGTH),
        (b"\x03\x06", 3, lf.Status.INVALID_PARAMETER),
        (b"\x04\x00", 4, lf.Status.INVALID_PARAMETER),
        (b"\x04\x03", 4, lf.Status.OK),
    ],
)
def test_validate_request_gives_the_status_to_answer(
    data: bytes, opcode: int, status: lf.Status
) -> None:
    check = lf.validate_request(data)
    assert (check.opcode, check.status) == (opcode, status)
    assert (check.request is not None) == (status is lf.Status.OK)
    if status is not lf.Status.OK:
        with pytest.raises(DecodeError, match=status.name):
            lf.parse_request(data)


def test_parse_request_round_trip() -> None:
    assert lf.parse_request(b"\x04\x03") == lf.Request(lf.Opcode.SET_RANGE, 3)
    assert lf.parse_request(b"\x01") == lf.Request(lf.Opcode.START_STREAM)


def test_get_config_response_round_trip() -> None:
    config = lf.DeviceConfig(True, 3, 2, 38, 123_456_789)
    data = lf.encode_response(lf.Opcode.GET_CONFIG, lf.Status.OK, config)
    assert data == bytes.fromhex("800500" "01030226" "15cd5b0700000000")  # fmt: skip
    response = lf.parse_control(data)
    assert isinstance(response, lf.ControlResponse)
    assert response.config == config
    assert response.ok
    assert (config.rate_hz, config.range_g) == (100, 4)
    response.raise_for_status()


def test_error_response_raises_control_point_error() -> None:
    response = lf.parse_control(bytes.fromhex("800105"))
    assert isinstance(response, lf.ControlResponse)
    assert not response.ok
    with pytest.raises(ControlPointError, match="ALREADY_IN_STATE") as info:
        response.raise_for_status()
    assert (info.value.code, info.value.code_name, info.value.request) == (5, "ALREADY_IN_STATE", 1)


def test_unknown_opcode_is_echoed_in_the_response() -> None:
    data = lf.encode_response(0x42, lf.Status.UNKNOWN_OPCODE)
    assert data == b"\x80\x42\x01"
    assert lf.parse_control(data) == lf.ControlResponse(0x42, lf.Status.UNKNOWN_OPCODE)


def test_event_round_trip() -> None:
    data = lf.encode_event(lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY)
    assert data == b"\x81\x01\x07"
    assert lf.parse_control(data) == lf.ControlEvent(
        lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY
    )


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x80\x01", "truncated, 2 bytes"),
        (b"\x7f\x01\x00", "unknown message type 0x7f"),
        (b"\x80\x01\x09", "unknown status code 9"),
        (b"\x80\x01\x00\x00", "length 4, expected 3"),
        (b"\x80\x05\x00", "length 3, expected 15"),
        (b"\x80\x05\x04\x00", "length 4, expected 3"),
        (b"\x80\x09\x00", "OK status for unknown opcode 9"),
        (bytes.fromhex("800500" "02030226" "0000000000000000"), "unknown stream state 2"),
        (bytes.fromhex("800500" "00070226" "0000000000000000"), "unknown rate code 7"),
        (bytes.fromhex("800500" "00030026" "0000000000000000"), "unknown range code 0"),
        (bytes.fromhex("800500" "00030226" "ffffffffffffffff"), "out of range"),
        (b"\x81\x02\x00", "unknown event code 2"),
        (b"\x81\x01\x0a", "unknown status code 10"),
        (b"\x81\x01\x00\x00", "length 4, expected 3"),
    ],
)  # fmt: skip
def test_parse_control_rejects(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(fragment)):
        lf.parse_control(data)


def test_encode_response_insists_on_config_exactly_for_get_config() -> None:
    with pytest.raises(ValueError, match="config"):
        lf.encode_response(lf.Opcode.GET_CONFIG, lf.Status.OK)
    with pytest.raises(ValueError, match="config"):
        lf.encode_response(lf.Opcode.START_STREAM, lf.Status.OK, lf.DeviceConfig(False, 1, 1, 1, 0))


def test_uuids_share_one_base() -> None:
    bases = {u[:4] + u[8:] for u in (lf.SERVICE_UUID, lf.DATA_UUID, lf.CONTROL_UUID)}
    assert len(bases) == 1
    assert [u[4:8] for u in (lf.SERVICE_UUID, lf.DATA_UUID, lf.CONTROL_UUID)] == [
        "0001", "0002", "0003"
    ]  # fmt: skip


# --- shared vectors (firmware_specs/vectors/leanfw.json) ----------------------------------

VECTOR_DECODERS = {
    "acc_frame": lf.parse_frame,
    "acc_block": lambda data: lf.acc_block(lf.parse_frame(data)),
    "control_request": lf.parse_request,
    "control_message": lf.parse_control,
}


@pytest.mark.parametrize("vector", vector_params("leanfw"))
def test_vector(vector: dict[str, Any]) -> None:
    check_vector(vector, VECTOR_DECODERS)


def test_vectors_cover_every_kind_valid_and_malformed() -> None:
    vectors = load_vector_file("leanfw")["vectors"]
    valid = {v["kind"] for v in vectors if "expect" in v}
    malformed = {v["kind"] for v in vectors if "error" in v}
    assert valid == set(VECTOR_DECODERS)
    assert malformed == set(VECTOR_DECODERS) - {"acc_block"}  # acc_block reuses acc_frame bytes


def test_worked_example_vector_is_the_spec_example() -> None:
    vectors = {v["name"]: v for v in load_vector_file("leanfw")["vectors"]}
    assert bytes.fromhex(vectors["worked_example_spec"]["hex"]) == EXAMPLE


# --- the spec's examples are the code's -------------------------------------------------------

SPEC = VECTORS_DIR.parent / "leanfw-v1.md"


def _section(title: str) -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(title)
    return text[start : text.index("\n#", start + 1)]


def test_spec_worked_example_is_the_example_frame() -> None:
    block = _section("### 5.7 Worked example").split("```")[1]
    assert bytes.fromhex(block) == EXAMPLE


def test_spec_example_exchange_parses() -> None:
    rows = re.findall(r"^\| `([0-9a-f ]+)` \| `([0-9a-f ]+)` \|", _section("### 6.5"), re.M)
    assert len(rows) == 8
    for request, answer in rows:
        check = lf.validate_request(bytes.fromhex(request))
        response = lf.parse_control(bytes.fromhex(answer))
        assert isinstance(response, lf.ControlResponse)
        assert response.opcode == check.opcode
        if check.status is not lf.Status.OK:
            assert response.status is check.status


def test_spec_advertising_example_fits_legacy_advertising() -> None:
    text = _section("### 3.2 Scan response")
    adv = bytes.fromhex(re.search(r"ADV:\s+([0-9a-f ]+)\n", text).group(1))  # type: ignore[union-attr]
    scan = bytes.fromhex(re.search(r"scan response:\s+([0-9a-f ]+)\n", text).group(1))  # type: ignore[union-attr]
    assert (len(adv), len(scan)) == (24, 16)
    assert adv[5:21] == uuid.UUID(lf.SERVICE_UUID).bytes[::-1]
    assert scan[2:11].decode("ascii").startswith(lf.NAME_PREFIX)


def test_cli_decoders_decode_the_example() -> None:
    assert set(lf.CLI_DECODERS) == {
        "leanfw-frame", "leanfw-frame-block", "leanfw-control", "leanfw-request"
    }  # fmt: skip
    assert lf.CLI_DECODERS["leanfw-frame"](EXAMPLE).seq == 258  # type: ignore[attr-defined]
    assert lf.CLI_DECODERS["leanfw-frame-block"](EXAMPLE).seq == 258  # type: ignore[attr-defined]
    assert lf.CLI_DECODERS["leanfw-request"](b"\x01") == lf.Request(lf.Opcode.START_STREAM)
    assert lf.CLI_DECODERS["leanfw-control"](b"\x80\x01\x00") == lf.ControlResponse(1, lf.Status.OK)


def _reencode(vector: dict[str, Any]) -> bytes:
    e = vector["expect"]
    if vector["kind"] == "acc_frame":
        keys = ("seq", "t_first_us", "rate_hz", "range_g", "samples")
        return lf.encode_frame(**{k: e[k] for k in keys})
    if vector["kind"] == "control_request":
        return lf.encode_request(lf.Request(lf.Opcode(e["opcode"]["value"]), e["code"]))
    if "event" in e:
        return lf.encode_event(lf.EventCode(e["event"]["value"]), lf.Status(e["reason"]["value"]))
    c = e["config"]
    config = c and lf.DeviceConfig(
        c["streaming"],
        lf.rate_code(c["rate_hz"]),
        lf.range_code(c["range_g"]),
        c["max_samples"],
        c["device_time_us"],
    )
    return lf.encode_response(e["opcode"], lf.Status(e["status"]["value"]), config)


@pytest.mark.parametrize(
    "vector",
    [
        p
        for p in vector_params("leanfw", kinds={"acc_frame", "control_request", "control_message"})
        if "expect" in p.values[0]  # type: ignore[operator]
    ],
)
def test_valid_vectors_reencode_to_the_same_bytes(vector: dict[str, Any]) -> None:
    assert _reencode(vector).hex() == vector["hex"]


def test_public_surface_is_pinned() -> None:
    assert sorted(lf.__all__) == sorted(
        [
            "AccFrame",
            "CLI_DECODERS",
            "CONTROL_UUID",
            "ControlEvent",
            "ControlResponse",
            "DATA_UUID",
            "DeviceConfig",
            "EventCode",
            "FRAME_ACC_XYZ_INT16",
            "FRAME_PERIOD_MAX_MS",
            "HEADER_LEN",
            "MAX_T_US",
            "NAME_PREFIX",
            "Opcode",
            "PROFILE_VERSION",
            "RANGE_CODES",
            "RATE_CODES",
            "Request",
            "RequestCheck",
            "SERVICE_UUID",
            "Status",
            "acc_block",
            "encode_event",
            "encode_frame",
            "encode_get_config",
            "encode_request",
            "encode_response",
            "encode_set_range",
            "encode_set_rate",
            "encode_start",
            "encode_stop",
            "max_samples_per_frame",
            "parse_control",
            "parse_frame",
            "parse_request",
            "quantize",
            "range_code",
            "rate_code",
            "samples_per_frame",
            "seq_delta",
            "validate_request",
        ]
    )
    assert all(hasattr(lf, name) for name in lf.__all__)
