"""Polar PMD codec: published vectors, re-encoding, control point both ways, AccBlock adapter."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sensorhub.errors import ConfigError, ControlPointError, DecodeError, ProtocolError
from sensorhub.protocols import polar_pmd as pmd
from sensorhub.protocols._pmd_delta import _walk_blocks

from .vectors import check_vector, load_vector_file, vector_params


class _Described:
    """Adds the message class name to a parsed control point message for vector checks."""

    def __init__(self, message: pmd.CpMessage) -> None:
        self._message = message
        self.message = type(message).__name__

    def __getattr__(self, name: str) -> Any:
        return getattr(self._message, name)


DECODERS = {
    "data_frame": pmd.parse_data_frame,
    "delta_payload": lambda b, **kw: {"samples": pmd.decode_delta_payload(b, **kw)},
    "control_message": lambda b: _Described(pmd.parse_cp_message(b)),
    "control_request": pmd.parse_request,
}


@pytest.mark.parametrize("vector", vector_params("polar_pmd"))
def test_vector(vector: dict[str, Any]) -> None:
    check_vector(vector, DECODERS)


def test_vector_file_covers_the_published_examples() -> None:
    names = {v["name"] for v in load_vector_file("polar_pmd")["vectors"]}
    published = {
        "h10_raw_int16_spec_example",
        "h10_raw_int16_36_samples",
        "acc_delta_6bit_one_sample",
        "acc_delta_10bit_57_samples",
        "delta_nine_mixed_width_blocks",
        "h10_acc_settings_response",
        "h10_acc_start_response",
    }
    assert published <= names
    errors = [v for v in load_vector_file("polar_pmd")["vectors"] if "error" in v]
    assert len(errors) >= 10


def _reencode(payload: bytes, *, channels: int, resolution: int) -> bytes:
    """Encode decoded samples again with the frame's own block layout."""
    samples = pmd.decode_delta_payload(payload, channels=channels, resolution=resolution)
    ref_size = channels * ((resolution + 7) // 8)
    widths, counts, _ = _walk_blocks(payload, ref_size, channels)
    deltas = np.diff(samples.astype(np.int64), axis=0).astype(np.int32)
    blocks, start = [], 0
    for width, count in zip(widths, counts, strict=True):
        blocks.append((width, deltas[start : start + count]))
        start += count
    return pmd.encode_delta_blocks(samples[0], blocks, resolution=resolution)


#: Polar's 6-bit example ends in 0x08: bit 19 is set although the fields end at bit 18.
#: Decoders must ignore padding; our encoder writes zeros, so only the samples can match.
NONZERO_PADDING = {"acc_delta_6bit_one_sample"}


@pytest.mark.parametrize(
    "vector", vector_params("polar_pmd", kinds={"data_frame", "delta_payload"}, errors=False)
)
def test_encoders_reproduce_vector_bytes(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["hex"])
    if vector["kind"] == "delta_payload":
        assert _reencode(payload, **vector["params"]) == payload
        return
    frame = pmd.parse_data_frame(payload)
    header = pmd.encode_frame_header(frame.measurement_type, frame.timestamp_ns, frame.frame_type)
    if frame.compressed:
        again = header + _reencode(payload[10:], channels=3, resolution=16)
        if vector["name"] in NONZERO_PADDING:
            assert len(again) == len(payload)
            np.testing.assert_array_equal(pmd.parse_data_frame(again).samples, frame.samples)
        else:
            assert again == payload
    else:
        again = pmd.encode_data_frame(
            frame.samples,
            timestamp_ns=frame.timestamp_ns,
            measurement_type=frame.measurement_type,
            frame_type=frame.frame_type,
        )
        assert again == payload


def test_frame_object_is_frozen_and_scales() -> None:
    frame = pmd.parse_data_frame(
        bytes.fromhex("02ea54a2428b4552080145ffe4ffb50345ffe4ffb803"), factor=0.5
    )
    assert frame.samples.dtype == np.int32
    assert frame.samples.shape == (2, 3)
    assert frame.scaled.tolist() == [[-93.5, -14.0, 474.5], [-93.5, -14.0, 476.0]]
    assert (frame.compressed, frame.unit, len(frame)) == (False, "mG", 2)
    with pytest.raises(AttributeError):
        frame.timestamp_ns = 0  # type: ignore[misc]


def test_raw_int8_and_int24_frames() -> None:
    samples = np.array([[-128, 0, 127], [1, -1, 5]])
    for frame_type, scale in ((0x00, 1), (0x02, 1 << 16)):
        big = samples * scale
        payload = pmd.encode_data_frame(big, timestamp_ns=7, frame_type=frame_type)
        frame = pmd.parse_data_frame(payload)
        assert frame.samples.tolist() == big.tolist()
        assert frame.frame_type == frame_type
    with pytest.raises(ValueError, match="int8"):
        pmd.encode_data_frame([[128, 0, 0]], timestamp_ns=0, frame_type=0x00)


def test_ecg_frame_is_one_channel_microvolts() -> None:
    payload = pmd.encode_data_frame(
        [[-1000], [250]], timestamp_ns=5, measurement_type=pmd.MeasurementType.ECG, frame_type=0
    )
    frame = pmd.parse_data_frame(payload)
    assert (frame.samples.tolist(), frame.unit) == ([[-1000], [250]], "uV")


def test_measurement_type_is_masked_to_six_bits() -> None:
    payload = bytearray(bytes.fromhex("02ea54a2428b4552080145ffe4ffb503"))
    payload[0] |= 0xC0
    assert pmd.parse_data_frame(bytes(payload)).measurement_type == 2


def test_raw_samples_per_frame_follows_the_mtu() -> None:
    assert pmd.raw_samples_per_frame(232) == 36
    assert pmd.raw_samples_per_frame(23) == 1
    with pytest.raises(ValueError, match="too small"):
        pmd.raw_samples_per_frame(18)
    fits = pmd.encode_data_frame(np.zeros((36, 3), dtype=np.int16), timestamp_ns=1)
    too_long = pmd.encode_data_frame(np.zeros((37, 3), dtype=np.int16), timestamp_ns=1)
    assert len(fits) <= 232 - 3 < len(too_long)


# --------------------------------------------------------------------------- control point


def test_request_builders_match_the_spec_bytes() -> None:
    assert pmd.get_settings_request(pmd.MeasurementType.ACC) == bytes.fromhex("0102")
    assert pmd.stop_request(pmd.MeasurementType.ACC) == bytes.fromhex("0302")
    assert pmd.stop_request(pmd.MeasurementType.ECG) == bytes.fromhex("0300")
    start = pmd.acc_start_request(sample_rate=200, resolution=16, range_g=8)
    assert start == bytes.fromhex("02020001c800010110000201080" + "0")
    request = pmd.parse_request(start)
    assert request.opcode == pmd.Opcode.REQUEST_MEASUREMENT_START
    assert request.settings == pmd.PmdSettings(sample_rates=(200,), resolutions=(16,), ranges=(8,))
    assert pmd.request_byte(2, offline=True) == 0x82


def test_start_request_refuses_incomplete_or_factor_settings() -> None:
    with pytest.raises(ConfigError, match="ranges"):
        pmd.start_request(
            pmd.MeasurementType.ACC, pmd.PmdSettings(sample_rates=(200,), resolutions=(16,))
        )
    with pytest.raises(ConfigError, match="FACTOR"):
        pmd.start_request(
            pmd.MeasurementType.ACC,
            pmd.PmdSettings(sample_rates=(1,), resolutions=(16,), ranges=(8,), factors=(1.0,)),
        )
    with pytest.raises(ConfigError, match="exactly one"):
        pmd.start_request(
            pmd.MeasurementType.ACC,
            pmd.PmdSettings(sample_rates=(25, 50), resolutions=(16,), ranges=(8,)),
        )


H10_SETTINGS = bytes.fromhex("f00102000000041900320064" + "00c80001011000020302000400" + "0800")


def test_select_start_settings_fills_every_offered_setting() -> None:
    response = pmd.parse_cp_message(H10_SETTINGS)
    assert isinstance(response, pmd.CpResponse)
    assert response.settings is not None
    chosen = pmd.select_start_settings(response.settings, sample_rate=50, measurement_range=4)
    assert chosen == pmd.PmdSettings(sample_rates=(50,), resolutions=(16,), ranges=(4,))
    assert pmd.start_request(2, chosen) == bytes.fromhex("02020001320001011000020104" + "00")
    with pytest.raises(ConfigError, match=r"sample rate 400 not offered \(offered \[25"):
        pmd.select_start_settings(response.settings, sample_rate=400)
    with pytest.raises(ConfigError, match="range 16"):
        pmd.select_start_settings(response.settings, sample_rate=50, measurement_range=16)


def test_error_response_raises_control_point_error_on_request() -> None:
    response = pmd.parse_cp_message(bytes.fromhex("f002020600"))
    assert isinstance(response, pmd.CpResponse)
    assert not response.ok
    with pytest.raises(ControlPointError, match="ALREADY_IN_STATE") as info:
        response.raise_for_status()
    assert (info.value.code, info.value.code_name, info.value.request) == (
        6,
        "ALREADY_IN_STATE",
        2,
    )
    ok = pmd.parse_cp_message(bytes.fromhex("f00302 0000".replace(" ", "")))
    assert isinstance(ok, pmd.CpResponse)
    assert ok.raise_for_status() is ok


def test_every_error_code_has_a_name() -> None:
    names = [pmd.error_name(code) for code in range(15)]
    assert names[0] == "SUCCESS"
    assert names[10] == "INVALID_MTU"
    assert names[13] == "DEVICE_IN_CHARGER"
    assert len(set(names)) == 15
    assert pmd.error_name(200) == "RESERVED_200"


def test_continuation_frames_are_joined() -> None:
    whole = pmd.parse_cp_message(H10_SETTINGS)
    params = H10_SETTINGS[5:]
    first = pmd.build_cp_response(1, 2, parameters=params[:7], more=True)
    second = pmd.build_cp_response(1, 2, parameters=params[7:15], more=True)
    third = pmd.build_cp_response(1, 2, parameters=params[15:])
    assembler = pmd.CpResponseAssembler()
    assert assembler.feed(first) is None
    assert assembler.pending
    assert assembler.feed(second) is None
    assert assembler.feed(bytes.fromhex("0100")) == pmd.MeasurementStopped((0,))
    assert assembler.pending
    joined = assembler.feed(third)
    assert joined == whole
    assert not assembler.pending
    stop = bytes.fromhex("0102")
    assert assembler.feed(stop) == pmd.MeasurementStopped((2,))


def test_interrupted_continuation_is_a_protocol_error() -> None:
    assembler = pmd.CpResponseAssembler()
    assert assembler.feed(pmd.build_cp_response(1, 2, parameters=b"\x00\x01", more=True)) is None
    with pytest.raises(ProtocolError, match="continuation of opcode 1"):
        assembler.feed(pmd.build_cp_response(3, 2))
    assert not assembler.pending
    assert assembler.feed(pmd.build_cp_response(3, 2)) == pmd.CpResponse(3, 2, 0)


def test_virtual_sensor_side_builders_round_trip() -> None:
    settings = pmd.PmdSettings(sample_rates=(25, 50, 100, 200), resolutions=(16,), ranges=(2, 4, 8))
    message = pmd.build_cp_response(1, 2, parameters=pmd.encode_settings(settings))
    assert message == H10_SETTINGS
    verity = pmd.PmdSettings(factors=(2.4414062863797881e-4,))
    parsed = pmd.parse_settings(pmd.encode_settings(verity))
    assert parsed.factor == pytest.approx(2.44140625e-4, rel=1e-6)
    assert pmd.build_features({0, 2}) == bytes.fromhex("0f0500")
    assert pmd.parse_cp_message(pmd.build_features({0, 2})) == pmd.Features(frozenset({0, 2}))
    assert pmd.parse_cp_message(pmd.build_measurement_stopped((2, 0))) == pmd.MeasurementStopped(
        (2, 0)
    )
    assert pmd.parse_request(bytes.fromhex("0502")).measurement_type is None


# --------------------------------------------------------------------------- AccBlock adapter


def test_acc_block_stamps_the_last_sample_and_converts_mg_to_g() -> None:
    samples = np.array([[0, 0, 1000], [10, -20, 990], [5, 5, 1005]])
    ts = 599_616_000_000_000_000
    frame = pmd.parse_data_frame(pmd.encode_data_frame(samples, timestamp_ns=ts))
    block = pmd.acc_block(frame, 200.0)
    assert block.t_device_ns.dtype == np.int64
    assert block.t_device_ns.tolist() == [ts - 10_000_000, ts - 5_000_000, ts]
    np.testing.assert_array_equal(block.acc_g, samples * 1e-3)
    assert len(block) == 3
    explicit = pmd.acc_block(frame, 52.0, factor=2.0)
    np.testing.assert_array_equal(explicit.acc_g, samples * 2.0)
    assert explicit.t_device_ns[-1] - explicit.t_device_ns[-2] == round(1e9 / 52)


def test_acc_block_for_a_g_unit_delta_frame_uses_the_factor() -> None:
    payload = bytes.fromhex("02646c76c43cc67f0780d0ff6501e40f0803fc07ff0c13f211f11a")
    frame = pmd.parse_data_frame(payload, factor=2.44e-4)
    block = pmd.acc_block(frame, 52)
    np.testing.assert_allclose(block.acc_g[0], np.array([-48, 357, 4068]) * 2.44e-4)


def test_acc_block_refuses_non_acc_frames_and_bad_rates() -> None:
    ecg = pmd.parse_data_frame(
        pmd.encode_data_frame([[1]], timestamp_ns=1, measurement_type=0, frame_type=0)
    )
    with pytest.raises(DecodeError, match="not accelerometer"):
        pmd.acc_block(ecg, 130)
    acc = pmd.parse_data_frame(pmd.encode_data_frame([[1, 2, 3]], timestamp_ns=1))
    with pytest.raises(ConfigError, match="positive"):
        pmd.acc_block(acc, 0)
    huge = pmd.parse_data_frame(pmd.encode_data_frame([[1, 2, 3]], timestamp_ns=(1 << 64) - 1))
    with pytest.raises(DecodeError, match="int64"):
        pmd.acc_block(huge, 200)


@pytest.mark.parametrize(
    ("values", "bits"),
    [
        ([0], 1),
        ([-1], 1),
        ([1], 2),
        ([-2], 2),
        ([127, -128], 8),
        ([128], 9),
        ([-129], 9),
        ([2**31 - 1], 32),
        ([-(2**31)], 32),
        ([], 1),
    ],
)
def test_signed_bits_needed(values: list[int], bits: int) -> None:
    from sensorhub.protocols._bits import signed_bits_needed

    assert signed_bits_needed(np.array(values, dtype=np.int64)) == bits


def test_delta_encoder_picks_the_narrowest_width_per_block() -> None:
    samples = np.array([[0, 0, 0], [1, -1, 0], [0, 0, 0], [100, 0, 0]])
    payload = pmd.encode_delta_payload(samples, block_samples=2)
    widths, counts, _ = _walk_blocks(payload, 6, 3)
    assert (widths, counts) == ([2, 8], [2, 1])
    with pytest.raises(ValueError, match="more than 2 bits"):
        pmd.encode_delta_blocks([0, 0, 0], [(2, np.array([[2, 0, 0]]))], resolution=16)


# --------------------------------------------------------------------------- decode command


def test_decode_command_prints_a_frame_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sensorhub.cli import main

    code = main(["decode", "--protocol", "polar-pmd", "02 ea54a2428b455208 01", "45ffe4ffb503"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == "polar-pmd"
    assert out["samples"] == [[-187, -28, 949]]
    assert (out["timestamp_ns"], out["unit"], out["compressed"]) == (
        599618164814402794,
        "mG",
        False,
    )

    assert main(["decode", "--protocol", "polar-pmd-cp", "0f:05:00"]) == 0
    assert json.loads(capsys.readouterr().out)["measurement_types"] == [0, 2]
    args = ["decode", "--protocol", "polar-pmd-delta", "--param", "channels=3"]
    assert main([*args, "--param", "resolution=16", "f1ff1400f003", "06017b0f08"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == [[-15, 20, 1008], [-20, 17, 1008]]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--protocol", "polar-pmd", "0265"], "header alone needs 10"),
        (["--protocol", "polar-pmd", "0x0g"], "not a hex digit"),
        (["--protocol", "polar-pmd", "020"], "odd number"),
        (["--protocol", "polar-pmd", "--param", "nope", "00"], "KEY=VALUE"),
        (["--protocol", "polar-pmd", "--param", "speed=2", "00"], "unexpected keyword"),
    ],
)
def test_decode_command_reports_bad_input(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorhub.cli import main

    assert main(["decode", *argv]) == 1
    assert message in capsys.readouterr().err


def test_decode_command_finds_decoders_in_protocol_modules() -> None:
    from sensorhub.commands.decode import discover_decoders

    found = discover_decoders()
    assert found["polar-pmd"] is pmd.parse_data_frame
    assert found["heart-rate"].__module__ == "sensorhub.protocols.gatt"


def test_public_surface_is_pinned() -> None:
    assert sorted(pmd.__all__) == sorted(
        [
            "CLI_DECODERS",
            "CP_FEATURES",
            "CP_MEASUREMENT_STOPPED",
            "CP_RESPONSE",
            "CpMessage",
            "CpResponse",
            "CpResponseAssembler",
            "ErrorCode",
            "FRAME_HEADER_SIZE",
            "Features",
            "FrameLayout",
            "MeasurementStopped",
            "MeasurementType",
            "Opcode",
            "PMD_CONTROL_POINT_UUID",
            "PMD_DATA_UUID",
            "PMD_EPOCH_UNIX_NS",
            "PMD_SERVICE_UUID",
            "PmdDataFrame",
            "PmdRequest",
            "PmdSettings",
            "SettingType",
            "acc_block",
            "acc_start_request",
            "build_cp_response",
            "build_features",
            "build_measurement_stopped",
            "decode_delta_payload",
            "encode_data_frame",
            "encode_delta_blocks",
            "encode_delta_payload",
            "encode_frame_header",
            "encode_settings",
            "error_name",
            "frame_layout",
            "get_settings_request",
            "parse_cp_message",
            "parse_data_frame",
            "parse_request",
            "parse_settings",
            "raw_samples_per_frame",
            "request_byte",
            "select_start_settings",
            "start_request",
            "stop_request",
        ]
    )
    for name in pmd.__all__:
        assert hasattr(pmd, name), name


def test_decoders_accept_bytearray_and_memoryview() -> None:
    raw = bytes.fromhex("02650000000000000081f1ff1400f00306017b0f08")
    for payload in (bytearray(raw), memoryview(raw)):
        assert pmd.parse_data_frame(payload).samples.tolist() == [[-15, 20, 1008], [-20, 17, 1008]]
    assert pmd.parse_cp_message(memoryview(bytes.fromhex("f0030200"))) == pmd.CpResponse(3, 2, 0)
    assert pmd.parse_request(bytearray(b"\x03\x02")).measurement_type == 2
