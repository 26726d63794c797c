"""Polar PMD control point: requests and responses, in both directions.

The hub writes requests (``[opcode][request byte][settings TLVs]``) and receives indications
that start with ``F0`` (a response), ``01`` (the device stopped a stream on its own) or ``0F``
(the feature bitmap, which BlueZ may also deliver to the indication callback after a read).
The virtual H10 does the reverse, so every message has a builder and a parser here.

Error statuses are *not* raised by the parser: :func:`parse_cp_message` returns a
:class:`CpResponse` whatever its status, because a refused request is a well-formed message.
The caller decides: :meth:`CpResponse.raise_for_status` raises
:class:`~sensorhub.errors.ControlPointError` with ``code``, ``code_name`` and ``request``
(the opcode). Only malformed bytes raise :class:`~sensorhub.errors.DecodeError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from sensorhub.errors import ConfigError, ControlPointError, DecodeError, ProtocolError

__all__ = [
    "CP_FEATURES",
    "CP_MEASUREMENT_STOPPED",
    "CP_RESPONSE",
    "CpMessage",
    "CpResponse",
    "CpResponseAssembler",
    "ErrorCode",
    "Features",
    "MeasurementStopped",
    "MeasurementType",
    "Opcode",
    "PmdRequest",
    "PmdSettings",
    "SettingType",
    "build_cp_response",
    "build_features",
    "build_measurement_stopped",
    "encode_settings",
    "error_name",
    "get_settings_request",
    "parse_cp_message",
    "parse_request",
    "parse_settings",
    "request_byte",
    "select_start_settings",
    "start_request",
    "stop_request",
]

#: First byte of a control point indication.
CP_RESPONSE = 0xF0
CP_MEASUREMENT_STOPPED = 0x01
CP_FEATURES = 0x0F


class MeasurementType(IntEnum):
    """Low 6 bits of the request byte and of a data frame's first byte."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12
    OFFLINE_RECORDING = 13
    OFFLINE_HR = 14


class Opcode(IntEnum):
    """Control point request opcodes (1-3 in the PMD spec; 4-9 from newer SDKs)."""

    GET_MEASUREMENT_SETTINGS = 1
    REQUEST_MEASUREMENT_START = 2
    STOP_MEASUREMENT = 3
    GET_SDK_MODE_MEASUREMENT_SETTINGS = 4
    GET_MEASUREMENT_STATUS = 5
    GET_SDK_MODE_STATUS = 6
    GET_OFFLINE_RECORDING_TRIGGER_STATUS = 7
    SET_OFFLINE_RECORDING_TRIGGER_MODE = 8
    SET_OFFLINE_RECORDING_TRIGGER_SETTINGS = 9


class SettingType(IntEnum):
    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


class ErrorCode(IntEnum):
    """Status byte of an ``F0`` response (14 is SDK-only; the spec marks 14-255 RFU)."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


def error_name(code: int) -> str:
    """Symbolic name of a status byte; unknown codes are ``RESERVED_<n>``."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"RESERVED_{code}"


# --------------------------------------------------------------------------- settings TLVs

#: (tuple field of PmdSettings, struct format of one value)
_SETTING_FORMAT: dict[int, tuple[str, str]] = {
    SettingType.SAMPLE_RATE: ("sample_rates", "<H"),
    SettingType.RESOLUTION: ("resolutions", "<H"),
    SettingType.RANGE: ("ranges", "<H"),
    SettingType.RANGE_MILLIUNIT: ("range_milliunits", "<I"),
    SettingType.CHANNELS: ("channels", "<B"),
    SettingType.FACTOR: ("factors", "<f"),
    SettingType.SECURITY: ("security", "16s"),
}


@dataclass(frozen=True, slots=True)
class PmdSettings:
    """Settings as a GET response lists them (several values each) or a START sends them
    (one value each). An empty tuple means the setting is absent."""

    sample_rates: tuple[int, ...] = ()
    resolutions: tuple[int, ...] = ()
    ranges: tuple[int, ...] = ()
    range_milliunits: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()
    factors: tuple[float, ...] = ()
    security: tuple[bytes, ...] = ()

    @property
    def factor(self) -> float:
        """The FACTOR a START response carries, 1.0 when absent (the H10 sends none)."""
        return self.factors[0] if self.factors else 1.0


def parse_settings(data: bytes | bytearray | memoryview) -> PmdSettings:
    """Parse ``[type u8][count u8][count x value]...``.

    A single trailing byte is ignored: the H10's START reply ends in one reserved byte.
    """
    values: dict[str, list[object]] = {}
    offset, end = 0, len(data)
    while end - offset >= 2:
        stype, count = data[offset], data[offset + 1]
        if stype not in _SETTING_FORMAT:
            raise DecodeError(f"PMD settings: unknown setting type {stype} at offset {offset}")
        name, fmt = _SETTING_FORMAT[stype]
        size = struct.calcsize(fmt) * count
        if offset + 2 + size > end:
            raise DecodeError(
                f"PMD settings: {SettingType(stype).name} x{count} needs {size} bytes at "
                f"offset {offset + 2}, {end - offset - 2} left"
            )
        chunk = bytes(data[offset + 2 : offset + 2 + size])
        values.setdefault(name, []).extend(v for (v,) in struct.iter_unpack(fmt, chunk))
        offset += 2 + size
    return PmdSettings(**{k: tuple(v) for k, v in values.items()})  # type: ignore[arg-type]


def encode_settings(settings: PmdSettings) -> bytes:
    """Inverse of :func:`parse_settings`, in setting-type order."""
    out = bytearray()
    for stype, (name, fmt) in _SETTING_FORMAT.items():
        values: tuple[object, ...] = getattr(settings, name)
        if not values:
            continue
        if len(values) > 255:
            raise ValueError(f"{name}: {len(values)} values, at most 255 fit a TLV")
        out += bytes((stype, len(values)))
        try:
            out += b"".join(struct.pack(fmt, v) for v in values)
        except struct.error as exc:
            raise ValueError(f"{name}: value out of range for {fmt}: {values}") from exc
    return bytes(out)


# --------------------------------------------------------------------------- requests


def request_byte(measurement_type: int, *, offline: bool = False) -> int:
    """``(recording type << 7) | measurement type``; recording 0 = online stream."""
    if not 0 <= measurement_type <= 0x3F:
        raise ValueError(f"measurement type {measurement_type} outside 0..63")
    return (0x80 if offline else 0) | measurement_type


def get_settings_request(measurement_type: int, *, offline: bool = False) -> bytes:
    return bytes((Opcode.GET_MEASUREMENT_SETTINGS, request_byte(measurement_type, offline=offline)))


def stop_request(measurement_type: int, *, offline: bool = False) -> bytes:
    return bytes((Opcode.STOP_MEASUREMENT, request_byte(measurement_type, offline=offline)))


def start_request(measurement_type: int, settings: PmdSettings, *, offline: bool = False) -> bytes:
    """``02 <request byte> <TLVs>`` with exactly one value per setting.

    The H10 refuses a START that omits any setting it listed (INVALID_PARAMETER), so for
    ACC this insists on SAMPLE_RATE, RESOLUTION *and* RANGE; use
    :func:`select_start_settings` to fill in everything the device offered. FACTOR is a
    response-only setting and is refused here.
    """
    if settings.factors:
        raise ConfigError("PMD start: FACTOR is sent by the sensor, never in a request")
    for name, _ in _SETTING_FORMAT.values():
        if len(getattr(settings, name)) > 1:
            raise ConfigError(f"PMD start: {name} must have exactly one value")
    if measurement_type == MeasurementType.ACC:
        missing = [n for n in ("sample_rates", "resolutions", "ranges") if not getattr(settings, n)]
        if missing:
            raise ConfigError(f"PMD start for ACC is missing {', '.join(missing)}")
    head = bytes(
        (Opcode.REQUEST_MEASUREMENT_START, request_byte(measurement_type, offline=offline))
    )
    return head + encode_settings(settings)


def select_start_settings(
    available: PmdSettings,
    *,
    sample_rate: int,
    measurement_range: int | None = None,
    resolution: int | None = None,
) -> PmdSettings:
    """One value for *every* setting the device listed, as a START must carry.

    Requested values must be among those offered; settings not requested take the device's
    first offered value (for H10 ACC the only resolution, 16). Raises ConfigError naming the
    setting and the offered values.
    """

    def pick(name: str, offered: tuple[int, ...], wanted: int | None) -> tuple[int, ...]:
        if not offered:
            if wanted is not None:
                raise ConfigError(f"PMD start: sensor offers no {name} setting")
            return ()
        if wanted is None:
            return offered[:1]
        if wanted not in offered:
            raise ConfigError(f"PMD start: {name} {wanted} not offered (offered {list(offered)})")
        return (wanted,)

    return PmdSettings(
        sample_rates=pick("sample rate", available.sample_rates, sample_rate),
        resolutions=pick("resolution", available.resolutions, resolution),
        ranges=pick("range", available.ranges, measurement_range),
        range_milliunits=available.range_milliunits[:1],
        channels=available.channels[:1],
    )


@dataclass(frozen=True, slots=True)
class PmdRequest:
    """A parsed control point write (what the virtual sensor receives)."""

    opcode: int
    measurement_type: int | None = None
    offline: bool = False
    settings: PmdSettings = field(default_factory=PmdSettings)


_NO_REQUEST_BYTE = {Opcode.GET_MEASUREMENT_STATUS, Opcode.GET_SDK_MODE_STATUS}


def parse_request(data: bytes | bytearray | memoryview) -> PmdRequest:
    """Parse a control point write. Unknown opcodes parse (the device answers them with
    INVALID_OP_CODE); empty writes, a missing request byte or bad TLVs raise DecodeError."""
    if not data:
        raise DecodeError("PMD request: empty write")
    opcode = data[0]
    if opcode in _NO_REQUEST_BYTE:
        return PmdRequest(opcode=opcode)
    if len(data) < 2:
        raise DecodeError(f"PMD request: opcode {opcode} without a request byte")
    settings = PmdSettings()
    if opcode == Opcode.REQUEST_MEASUREMENT_START:
        settings = parse_settings(data[2:])
    return PmdRequest(
        opcode=opcode,
        measurement_type=data[1] & 0x3F,
        offline=bool(data[1] & 0x80),
        settings=settings,
    )


# --------------------------------------------------------------------------- responses

_SETTINGS_OPCODES = {
    Opcode.GET_MEASUREMENT_SETTINGS,
    Opcode.REQUEST_MEASUREMENT_START,
    Opcode.GET_SDK_MODE_MEASUREMENT_SETTINGS,
}


@dataclass(frozen=True, slots=True)
class CpResponse:
    """An ``F0`` response. ``settings`` is parsed for successful, complete settings/start
    responses; ``more`` means continuation frames follow (see :class:`CpResponseAssembler`)."""

    opcode: int
    measurement_type: int
    status: int
    more: bool = False
    parameters: bytes = b""
    settings: PmdSettings | None = None

    @property
    def ok(self) -> bool:
        return self.status == ErrorCode.SUCCESS

    @property
    def status_name(self) -> str:
        return error_name(self.status)

    def raise_for_status(self) -> CpResponse:
        """Return self if successful, else raise ControlPointError (code, name, opcode)."""
        if not self.ok:
            try:
                what = Opcode(self.opcode).name
            except ValueError:
                what = f"opcode {self.opcode}"
            raise ControlPointError(
                f"PMD {what} for measurement type {self.measurement_type} refused: "
                f"{self.status_name} ({self.status})",
                code=self.status,
                code_name=self.status_name,
                request=self.opcode,
            )
        return self


@dataclass(frozen=True, slots=True)
class MeasurementStopped:
    """``01 <types...>``: the device stopped these streams on its own."""

    measurement_types: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Features:
    """``0F <bitmap>``: bit *n* of the little-endian bitmap set = measurement type *n*."""

    measurement_types: frozenset[int]


CpMessage = CpResponse | MeasurementStopped | Features


def _response(opcode: int, mtype: int, status: int, more: bool, params: bytes) -> CpResponse:
    settings = None
    if status == ErrorCode.SUCCESS and not more and opcode in _SETTINGS_OPCODES:
        settings = parse_settings(params)
    return CpResponse(opcode, mtype, status, more, params, settings)


def parse_cp_message(data: bytes | bytearray | memoryview) -> CpMessage:
    """Parse one control point indication (or the value read from the control point)."""
    message = _parse_unjoined(data)
    if isinstance(message, CpResponse) and message.ok:
        return _response(*_fields(message))
    return message


def _fields(r: CpResponse) -> tuple[int, int, int, bool, bytes]:
    return r.opcode, r.measurement_type, r.status, r.more, r.parameters


def _parse_unjoined(data: bytes | bytearray | memoryview) -> CpMessage:
    """Like :func:`parse_cp_message` but leaves response parameters unparsed: the last
    continuation frame of a split response looks complete but holds only a fragment."""
    if not data:
        raise DecodeError("PMD control point: empty message")
    kind = data[0]
    if kind == CP_RESPONSE:
        if len(data) < 4:
            raise DecodeError(
                f"PMD control point response: {len(data)} bytes, needs at least 4 "
                f"(F0, opcode, measurement type, status)"
            )
        status = data[3]
        if status != ErrorCode.SUCCESS:  # error responses carry no parameters
            return CpResponse(data[1], data[2] & 0x3F, status)
        more = len(data) > 4 and data[4] != 0
        return CpResponse(data[1], data[2] & 0x3F, status, more, bytes(data[5:]))
    if kind == CP_MEASUREMENT_STOPPED:
        return MeasurementStopped(tuple(b & 0x3F for b in data[1:]))
    if kind == CP_FEATURES:
        bitmap = int.from_bytes(data[1:], "little")
        return Features(frozenset(i for i in range(bitmap.bit_length()) if bitmap >> i & 1))
    raise DecodeError(f"PMD control point: unknown message type 0x{kind:02x}")


class CpResponseAssembler:
    """Joins a response split over several indications (``more`` != 0).

    ``feed`` returns the complete message, or None while continuation frames are pending.
    Each continuation repeats the 5-byte header; its bytes from offset 5 on are appended.
    ``01`` and ``0F`` messages arriving in between are returned at once and leave the pending
    response alone; an ``F0`` for a different opcode raises ProtocolError and discards it.
    """

    def __init__(self) -> None:
        self._head: CpResponse | None = None
        self._params = bytearray()

    @property
    def pending(self) -> bool:
        return self._head is not None

    def reset(self) -> None:
        self._head, self._params = None, bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> CpMessage | None:
        head = self._head
        if head is None:
            message = parse_cp_message(data)
            if isinstance(message, CpResponse) and message.more:
                self._head, self._params = message, bytearray(message.parameters)
                return None
            return message
        message = _parse_unjoined(data)
        if not isinstance(message, CpResponse):
            return message  # a 01 stop or 0F echo may arrive between continuations
        if message.opcode != head.opcode:
            self.reset()
            raise ProtocolError(
                f"PMD control point: continuation of opcode {head.opcode} interrupted by "
                f"{bytes(data[:2]).hex()}"
            )
        self._params += message.parameters
        if message.more:
            return None
        params = bytes(self._params)
        self.reset()
        return _response(head.opcode, head.measurement_type, message.status, False, params)


def build_cp_response(
    opcode: int,
    measurement_type: int,
    status: int = ErrorCode.SUCCESS,
    *,
    parameters: bytes = b"",
    more: bool = False,
) -> bytes:
    """``F0 opcode type status more parameters`` (the virtual sensor's side)."""
    return bytes((CP_RESPONSE, opcode, measurement_type, status, int(more))) + parameters


def build_measurement_stopped(measurement_types: tuple[int, ...]) -> bytes:
    return bytes((CP_MEASUREMENT_STOPPED, *measurement_types))


def build_features(measurement_types: frozenset[int] | set[int], *, length: int = 2) -> bytes:
    bitmap = sum(1 << t for t in measurement_types)
    return bytes((CP_FEATURES,)) + bitmap.to_bytes(length, "little")
