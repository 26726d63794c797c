"""Standard GATT codecs: vectors, every Heart Rate flag combination, encoders."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorhub.errors import DecodeError
from sensorhub.protocols import gatt

from .vectors import check_vector, vector_params

DECODERS = {
    "heart_rate": gatt.parse_heart_rate,
    "battery_level": lambda b: {"level": gatt.parse_battery_level(b)},
    "device_info_string": lambda b: {"text": gatt.parse_device_info_string(b)},
    "body_sensor_location": gatt.parse_body_sensor_location,
    "pnp_id": gatt.parse_pnp_id,
}


@pytest.mark.parametrize("vector", vector_params("gatt"))
def test_vector(vector: dict[str, Any]) -> None:
    check_vector(vector, DECODERS)


#: Valid values with no canonical encoding: "contact detected" without "supported", and the
#: RR flag with no interval (we set the flag only when there are values).
NOT_CANONICAL = {"hr_contact_bit_without_support", "hr_rr_flag_no_values"}


@pytest.mark.parametrize(
    "vector",
    vector_params(
        "gatt", kinds={"heart_rate"}, errors=False, where=lambda v: v["name"] not in NOT_CANONICAL
    ),
)
def test_heart_rate_vectors_re_encode_to_the_same_bytes(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["hex"])
    assert gatt.encode_heart_rate(gatt.parse_heart_rate(payload)) == payload


def test_non_canonical_heart_rate_vectors_exist() -> None:
    names = {v.values[0]["name"] for v in vector_params("gatt", kinds={"heart_rate"})}
    assert names >= NOT_CANONICAL


@pytest.mark.parametrize(
    ("uint16", "contact", "energy", "rr"),
    list(itertools.product([False, True], [None, False, True], [None, 0, 1234], [(), (1024, 1)])),
)
def test_every_flag_combination_round_trips(
    uint16: bool, contact: bool | None, energy: int | None, rr: tuple[int, ...]
) -> None:
    hr = gatt.HeartRate(bpm=75, contact=contact, energy_kj=energy, rr_raw=rr, uint16=uint16)
    payload = gatt.encode_heart_rate(hr)
    flags = payload[0]
    assert bool(flags & 0x01) == uint16
    assert bool(flags & 0x04) == (contact is not None)
    assert bool(flags & 0x08) == (energy is not None)
    assert bool(flags & 0x10) == bool(rr)
    assert gatt.parse_heart_rate(payload) == hr


def test_rr_intervals_keep_the_1024th_second_resolution() -> None:
    hr = gatt.parse_heart_rate(bytes.fromhex("10482b031f03"))
    assert hr.rr_intervals_s == (811 / 1024, 799 / 1024)
    assert hr.rr_intervals_s[0] == 0.7919921875  # exact, not rounded to ms


def test_bpm_above_255_switches_to_u16() -> None:
    payload = gatt.encode_heart_rate(gatt.HeartRate(bpm=300))
    assert payload == bytes.fromhex("012c01")
    assert gatt.parse_heart_rate(payload).bpm == 300


def test_encoders_refuse_unrepresentable_values() -> None:
    with pytest.raises(ValueError, match="bpm"):
        gatt.encode_heart_rate(gatt.HeartRate(bpm=70_000))
    with pytest.raises(ValueError, match="RR"):
        gatt.encode_heart_rate(gatt.HeartRate(bpm=60, rr_raw=(70_000,)))
    with pytest.raises(ValueError, match="energy"):
        gatt.encode_heart_rate(gatt.HeartRate(bpm=60, energy_kj=-1))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        gatt.encode_battery_level(101)
    with pytest.raises(ValueError, match="PnP"):
        gatt.encode_pnp_id(gatt.PnpId(1, 1 << 16, 0, 0))


def test_battery_device_info_and_pnp_round_trip() -> None:
    for level in (0, 57, 100):
        assert gatt.parse_battery_level(gatt.encode_battery_level(level)) == level
    text = "Polar H10 \u00e9"
    assert gatt.parse_device_info_string(gatt.encode_device_info_string(text)) == text
    pnp = gatt.PnpId(1, 0x006B, 2, 3)
    assert gatt.parse_pnp_id(gatt.encode_pnp_id(pnp)) == pnp


def test_uuid_constants_are_full_128_bit_sig_uuids() -> None:
    assert gatt.HEART_RATE_MEASUREMENT_UUID == "00002a37-0000-1000-8000-00805f9b34fb"
    assert gatt.BATTERY_LEVEL_UUID == "00002a19-0000-1000-8000-00805f9b34fb"
    assert gatt.DEVICE_INFO_STRING_UUIDS["manufacturer"] == gatt.uuid16(0x2A29)
    assert len(set(gatt.DEVICE_INFO_STRING_UUIDS.values())) == 6


# --------------------------------------------------------------------------- properties

_GATT_DECODERS = list(DECODERS.values())


@settings(max_examples=10_000, deadline=None)
@given(decoder=st.sampled_from(_GATT_DECODERS), data=st.binary(max_size=24))
def test_random_bytes_only_ever_raise_decode_error(decoder: Any, data: bytes) -> None:
    try:
        decoder(data)
    except DecodeError as exc:
        assert str(exc)  # noqa: PT017 - the message must name what was wrong


@settings(max_examples=500, deadline=None)
@given(
    bpm=st.integers(0, 0xFFFF),
    uint16=st.booleans(),
    contact=st.sampled_from([None, False, True]),
    energy=st.none() | st.integers(0, 0xFFFF),
    rr=st.lists(st.integers(0, 0xFFFF), max_size=9).map(tuple),
)
def test_heart_rate_round_trips(
    bpm: int, uint16: bool, contact: bool | None, energy: int | None, rr: tuple[int, ...]
) -> None:
    hr = gatt.HeartRate(bpm=bpm, contact=contact, energy_kj=energy, rr_raw=rr, uint16=uint16)
    decoded = gatt.parse_heart_rate(gatt.encode_heart_rate(hr))
    assert decoded == gatt.HeartRate(bpm, contact, energy, rr, uint16 or bpm > 0xFF)


def test_decode_command_prints_heart_rate(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from sensorhub.cli import main

    assert main(["decode", "--protocol", "heart-rate", "10 48 2b 03 1f 03"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["bpm"], out["rr_intervals_s"]) == (72, [811 / 1024, 799 / 1024])
    assert main(["decode", "--protocol", "battery-level", "65"]) == 1
    assert "above 100" in capsys.readouterr().err


def test_public_surface_is_pinned() -> None:
    assert sorted(gatt.__all__) == sorted(
        [
            "BATTERY_LEVEL_UUID",
            "BATTERY_SERVICE_UUID",
            "BODY_SENSOR_LOCATION_UUID",
            "BodySensorLocation",
            "CLI_DECODERS",
            "DEVICE_INFORMATION_SERVICE_UUID",
            "DEVICE_INFO_STRING_UUIDS",
            "FIRMWARE_REVISION_UUID",
            "HARDWARE_REVISION_UUID",
            "HEART_RATE_MEASUREMENT_UUID",
            "HEART_RATE_SERVICE_UUID",
            "HeartRate",
            "MANUFACTURER_NAME_UUID",
            "MODEL_NUMBER_UUID",
            "PNP_ID_UUID",
            "PnpId",
            "RR_UNITS_PER_SECOND",
            "SERIAL_NUMBER_UUID",
            "SOFTWARE_REVISION_UUID",
            "SYSTEM_ID_UUID",
            "encode_battery_level",
            "encode_device_info_string",
            "encode_heart_rate",
            "encode_pnp_id",
            "parse_battery_level",
            "parse_body_sensor_location",
            "parse_device_info_string",
            "parse_heart_rate",
            "parse_pnp_id",
            "uuid16",
        ]
    )
    for name in gatt.__all__:
        assert hasattr(gatt, name), name
    assert gatt.parse_heart_rate(bytearray(b"\x00\x48")).bpm == 72
