"""Standard GATT characteristics a sensor hub reads: Heart Rate, Battery, Device Information.

Sans-I/O codecs for the Bluetooth SIG formats (Heart Rate Service 1.0, Battery Service,
Device Information Service), both directions so virtual sensors can serve them. Malformed
values raise :class:`~sensorhub.errors.DecodeError`; encoders raise ``ValueError`` for
arguments that cannot be represented. Vectors: ``firmware_specs/vectors/gatt.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sensorhub.errors import DecodeError

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "BODY_SENSOR_LOCATION_UUID",
    "CLI_DECODERS",
    "DEVICE_INFORMATION_SERVICE_UUID",
    "DEVICE_INFO_STRING_UUIDS",
    "FIRMWARE_REVISION_UUID",
    "HARDWARE_REVISION_UUID",
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "MANUFACTURER_NAME_UUID",
    "MODEL_NUMBER_UUID",
    "PNP_ID_UUID",
    "RR_UNITS_PER_SECOND",
    "SERIAL_NUMBER_UUID",
    "SOFTWARE_REVISION_UUID",
    "SYSTEM_ID_UUID",
    "BodySensorLocation",
    "HeartRate",
    "PnpId",
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


def uuid16(short: int) -> str:
    """The full 128-bit UUID string (as bleak reports it) of a SIG 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


HEART_RATE_SERVICE_UUID = uuid16(0x180D)
HEART_RATE_MEASUREMENT_UUID = uuid16(0x2A37)
BODY_SENSOR_LOCATION_UUID = uuid16(0x2A38)
BATTERY_SERVICE_UUID = uuid16(0x180F)
BATTERY_LEVEL_UUID = uuid16(0x2A19)
DEVICE_INFORMATION_SERVICE_UUID = uuid16(0x180A)
SYSTEM_ID_UUID = uuid16(0x2A23)
MODEL_NUMBER_UUID = uuid16(0x2A24)
SERIAL_NUMBER_UUID = uuid16(0x2A25)
FIRMWARE_REVISION_UUID = uuid16(0x2A26)
HARDWARE_REVISION_UUID = uuid16(0x2A27)
SOFTWARE_REVISION_UUID = uuid16(0x2A28)
MANUFACTURER_NAME_UUID = uuid16(0x2A29)
PNP_ID_UUID = uuid16(0x2A50)

#: Device Information characteristics that hold UTF-8 strings, by field name.
DEVICE_INFO_STRING_UUIDS = {
    "manufacturer": MANUFACTURER_NAME_UUID,
    "model": MODEL_NUMBER_UUID,
    "serial": SERIAL_NUMBER_UUID,
    "hardware_revision": HARDWARE_REVISION_UUID,
    "firmware_revision": FIRMWARE_REVISION_UUID,
    "software_revision": SOFTWARE_REVISION_UUID,
}

#: RR intervals are sent in units of 1/1024 s.
RR_UNITS_PER_SECOND = 1024

_HR_UINT16 = 0x01
_CONTACT_DETECTED = 0x02
_CONTACT_SUPPORTED = 0x04
_ENERGY_PRESENT = 0x08
_RR_PRESENT = 0x10


@dataclass(frozen=True, slots=True)
class HeartRate:
    """A Heart Rate Measurement notification.

    ``contact``: None if the sensor does not support contact detection, else whether skin
    contact is detected. ``rr_raw``: RR intervals as sent (1/1024 s units, oldest first);
    ``rr_intervals_s`` gives them in seconds, exactly (n/1024 is exact in a float).
    ``uint16``: whether bpm was sent as u16 (kept so encoding reproduces the bytes).
    The characteristic has no timestamp: stamp it with the receive time.
    """

    bpm: int
    contact: bool | None = None
    energy_kj: int | None = None
    rr_raw: tuple[int, ...] = ()
    uint16: bool = False

    @property
    def rr_intervals_s(self) -> tuple[float, ...]:
        return tuple(rr / RR_UNITS_PER_SECOND for rr in self.rr_raw)


def parse_heart_rate(payload: bytes | bytearray | memoryview) -> HeartRate:
    """Decode Heart Rate Measurement (0x2A37), honouring every flag bit."""
    if not payload:
        raise DecodeError("heart rate: empty value (flags byte missing)")
    flags = payload[0]
    uint16 = bool(flags & _HR_UINT16)
    offset = 3 if uint16 else 2
    if len(payload) < offset:
        raise DecodeError(
            f"heart rate: {len(payload)} bytes, flags 0x{flags:02x} announce a "
            f"{'u16' if uint16 else 'u8'} bpm"
        )
    bpm = int.from_bytes(payload[1:offset], "little")
    contact = bool(flags & _CONTACT_DETECTED) if flags & _CONTACT_SUPPORTED else None
    energy = None
    if flags & _ENERGY_PRESENT:
        if len(payload) < offset + 2:
            raise DecodeError(
                f"heart rate: energy expended flag set but only {len(payload) - offset} "
                f"of 2 bytes follow the bpm"
            )
        energy = int.from_bytes(payload[offset : offset + 2], "little")
        offset += 2
    rest = len(payload) - offset
    rr: tuple[int, ...] = ()
    if flags & _RR_PRESENT:
        if rest % 2:
            raise DecodeError(f"heart rate: RR field of {rest} bytes is not whole u16 values")
        rr = tuple(
            int.from_bytes(payload[i : i + 2], "little") for i in range(offset, len(payload), 2)
        )
    elif rest:
        raise DecodeError(f"heart rate: {rest} unexpected trailing bytes (RR flag not set)")
    return HeartRate(bpm=bpm, contact=contact, energy_kj=energy, rr_raw=rr, uint16=uint16)


def encode_heart_rate(hr: HeartRate) -> bytes:
    """Inverse of :func:`parse_heart_rate`. bpm above 255 forces the u16 format."""
    uint16 = hr.uint16 or hr.bpm > 0xFF
    if not 0 <= hr.bpm <= 0xFFFF:
        raise ValueError(f"bpm {hr.bpm} outside 0..65535")
    if hr.energy_kj is not None and not 0 <= hr.energy_kj <= 0xFFFF:
        raise ValueError(f"energy {hr.energy_kj} kJ outside 0..65535")
    if any(not 0 <= rr <= 0xFFFF for rr in hr.rr_raw):
        raise ValueError(f"RR values outside 0..65535: {hr.rr_raw}")
    flags = _HR_UINT16 if uint16 else 0
    if hr.contact is not None:
        flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if hr.contact else 0)
    out = bytearray()
    out += hr.bpm.to_bytes(2 if uint16 else 1, "little")
    if hr.energy_kj is not None:
        flags |= _ENERGY_PRESENT
        out += hr.energy_kj.to_bytes(2, "little")
    if hr.rr_raw:
        flags |= _RR_PRESENT
        out += b"".join(rr.to_bytes(2, "little") for rr in hr.rr_raw)
    return bytes((flags,)) + bytes(out)


def parse_battery_level(payload: bytes | bytearray | memoryview) -> int:
    """Battery Level (0x2A19): one byte, percent 0..100."""
    if len(payload) != 1:
        raise DecodeError(f"battery level: {len(payload)} bytes, expected exactly 1")
    level = payload[0]
    if level > 100:
        raise DecodeError(f"battery level: {level} % is above 100")
    return level


def encode_battery_level(level: int) -> bytes:
    if not 0 <= level <= 100:
        raise ValueError(f"battery level {level} outside 0..100")
    return bytes((level,))


def parse_device_info_string(payload: bytes | bytearray | memoryview) -> str:
    """A Device Information string: UTF-8, trailing NULs (C-string padding) stripped."""
    try:
        return bytes(payload).rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"device information string: invalid UTF-8 at byte {exc.start}") from exc


def encode_device_info_string(text: str) -> bytes:
    return text.encode("utf-8")


class BodySensorLocation(IntEnum):
    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


def parse_body_sensor_location(payload: bytes | bytearray | memoryview) -> BodySensorLocation:
    """Body Sensor Location (0x2A38): one byte, 0..6 (7..255 reserved)."""
    if len(payload) != 1:
        raise DecodeError(f"body sensor location: {len(payload)} bytes, expected exactly 1")
    try:
        return BodySensorLocation(payload[0])
    except ValueError as exc:
        raise DecodeError(f"body sensor location: reserved value {payload[0]}") from exc


@dataclass(frozen=True, slots=True)
class PnpId:
    """PnP ID (0x2A50): vendor ID source (1 = Bluetooth SIG, 2 = USB-IF), IDs, version."""

    vendor_id_source: int
    vendor_id: int
    product_id: int
    product_version: int


def parse_pnp_id(payload: bytes | bytearray | memoryview) -> PnpId:
    if len(payload) != 7:
        raise DecodeError(f"PnP ID: {len(payload)} bytes, expected exactly 7")
    return PnpId(
        payload[0],
        int.from_bytes(payload[1:3], "little"),
        int.from_bytes(payload[3:5], "little"),
        int.from_bytes(payload[5:7], "little"),
    )


def encode_pnp_id(pnp: PnpId) -> bytes:
    try:
        return bytes((pnp.vendor_id_source,)) + b"".join(
            v.to_bytes(2, "little") for v in (pnp.vendor_id, pnp.product_id, pnp.product_version)
        )
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"PnP ID field out of range: {pnp}") from exc


#: Decoders ``sensorhub decode --protocol NAME`` offers (see sensorhub.commands.decode).
CLI_DECODERS = {
    "heart-rate": parse_heart_rate,
    "battery-level": parse_battery_level,
    "device-info": parse_device_info_string,
    "body-sensor-location": parse_body_sensor_location,
    "pnp-id": parse_pnp_id,
}
