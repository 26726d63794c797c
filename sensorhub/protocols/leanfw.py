"""leanfw-v1, the lab's own chest-sensor BLE profile, both directions.

The normative text is ``firmware_specs/leanfw-v1.md``; this module implements it for the hub
(decode frames and control messages, encode requests) and for virtual sensors (encode frames
and control messages, validate requests). Sans-I/O. Decoders raise
:class:`~sensorhub.errors.DecodeError` naming what was wrong; encoders raise ``ValueError`` for
arguments the profile cannot express.

Accelerometer frame (notify on the data characteristic, little-endian)::

    0  u8   version << 4 | frame type      0x11 = v1, ACC_XYZ_INT16
    1  u16  sequence number                +1 per frame generated, wraps, 0 at each START
    3  u64  first-sample time, µs          device clock since boot
    11 u8   rate code                      1..5 = 25, 50, 100, 200, 400 Hz
    12 u8   range code                     1..4 = ±2, ±4, ±8, ±16 g
    13 u8   sample count n                 >= 1, n = (len - 14) / 6
    14 n x (int16 x, int16 y, int16 z)    g = raw * range_g / 32768
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sensorhub.errors import ControlPointError, DecodeError
from sensorhub.protocols.base import AccBlock

__all__ = [
    "CLI_DECODERS",
    "CONTROL_UUID",
    "DATA_UUID",
    "FRAME_ACC_XYZ_INT16",
    "FRAME_PERIOD_MAX_MS",
    "HEADER_LEN",
    "MAX_T_US",
    "NAME_PREFIX",
    "PROFILE_VERSION",
    "RANGE_CODES",
    "RATE_CODES",
    "SERVICE_UUID",
    "AccFrame",
    "ControlEvent",
    "ControlResponse",
    "DeviceConfig",
    "EventCode",
    "Opcode",
    "Request",
    "RequestCheck",
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

SERVICE_UUID = "94d90001-987b-4f57-9b35-73fdd92ababf"
DATA_UUID = "94d90002-987b-4f57-9b35-73fdd92ababf"
CONTROL_UUID = "94d90003-987b-4f57-9b35-73fdd92ababf"
NAME_PREFIX = "LEAN-"

PROFILE_VERSION = 1
FRAME_ACC_XYZ_INT16 = 1
HEADER_LEN = 14
SAMPLE_LEN = 6
#: Largest valid first-sample time (µs, ~285 years): keeps ns in int64 and µs exact in float64.
MAX_T_US = (1 << 53) - 1
#: A regular frame spans at most this long (first to last sample + 1 period).
FRAME_PERIOD_MAX_MS = 200

#: rate code -> nominal sample rate in Hz
RATE_CODES: dict[int, int] = {1: 25, 2: 50, 3: 100, 4: 200, 5: 400}
#: range code -> full scale in ±g
RANGE_CODES: dict[int, int] = {1: 2, 2: 4, 3: 8, 4: 16}

_RESPONSE = 0x80
_EVENT = 0x81
_CONFIG_LEN = 12  # state, rate code, range code, max samples, u64 device time


def rate_code(rate_hz: int) -> int:
    """The code for a nominal rate in Hz (``ValueError`` if the profile has none)."""
    for code, hz in RATE_CODES.items():
        if hz == rate_hz:
            return code
    raise ValueError(
        f"leanfw-v1 has no rate {rate_hz} Hz (choose from {list(RATE_CODES.values())})"
    )


def range_code(range_g: int) -> int:
    """The code for a full-scale range in ±g (``ValueError`` if the profile has none)."""
    for code, g in RANGE_CODES.items():
        if g == range_g:
            return code
    raise ValueError(
        f"leanfw-v1 has no range ±{range_g} g (choose from {list(RANGE_CODES.values())})"
    )


def max_samples_per_frame(att_mtu: int) -> int:
    """Samples that fit in one notification: floor((ATT_MTU - 3 - 14) / 6)."""
    if not 23 <= att_mtu <= 517:
        raise ValueError(f"ATT_MTU must be 23..517, got {att_mtu}")
    return (att_mtu - 3 - HEADER_LEN) // SAMPLE_LEN


def samples_per_frame(rate_hz: int, att_mtu: int) -> int:
    """Samples in a regular frame: min(MTU capacity, rate x 200 ms), per leanfw-v1.md.

    The 200 ms cap bounds latency at low rates (25 Hz -> 5 samples, 5 frames/s).
    """
    rate_code(rate_hz)
    return min(max_samples_per_frame(att_mtu), rate_hz * FRAME_PERIOD_MAX_MS // 1000)


def seq_delta(prev: int, seq: int) -> int:
    """Signed distance from ``prev`` to ``seq`` modulo 2**16, in -32768..32767.

    1 means consecutive, k > 1 means k - 1 frames were lost, <= 0 a duplicate or a frame out
    of order.
    """
    return (seq - prev + 0x8000) % 0x10000 - 0x8000


# --- accelerometer frames ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class AccFrame:
    """A decoded accelerometer frame; ``samples`` are the raw int16 values, shape (n, 3)."""

    seq: int
    t_first_us: int
    rate_code: int
    range_code: int
    samples: NDArray[np.int16]

    @property
    def rate_hz(self) -> int:
        return RATE_CODES[self.rate_code]

    @property
    def range_g(self) -> int:
        return RANGE_CODES[self.range_code]

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def acc_g(self) -> NDArray[np.float64]:
        """Samples in g: raw x range_g / 32768 (exact in float64)."""
        return self.samples.astype(np.float64) * (self.range_g / 32768.0)


def parse_frame(data: bytes) -> AccFrame:
    """Decode one notification of the data characteristic."""
    size = len(data)
    if size < HEADER_LEN:
        raise DecodeError(f"leanfw frame: truncated header, {size} bytes (need {HEADER_LEN})")
    version, ftype = data[0] >> 4, data[0] & 0x0F
    if version != PROFILE_VERSION:
        raise DecodeError(f"leanfw frame: unsupported profile version {version} (expected 1)")
    if ftype != FRAME_ACC_XYZ_INT16:
        raise DecodeError(f"leanfw frame: unknown frame type {ftype}")
    rate, rng, n = data[11], data[12], data[13]
    if rate not in RATE_CODES:
        raise DecodeError(f"leanfw frame: unknown rate code {rate}")
    if rng not in RANGE_CODES:
        raise DecodeError(f"leanfw frame: unknown range code {rng}")
    if n == 0:
        raise DecodeError("leanfw frame: sample count 0")
    if size != HEADER_LEN + SAMPLE_LEN * n:
        raise DecodeError(
            f"leanfw frame: sample count {n} disagrees with length {size} "
            f"(expected {HEADER_LEN + SAMPLE_LEN * n})"
        )
    t_first_us = int.from_bytes(data[3:11], "little")
    if t_first_us > MAX_T_US:
        raise DecodeError(f"leanfw frame: timestamp {t_first_us} us out of range")
    samples = np.frombuffer(data, dtype="<i2", offset=HEADER_LEN).reshape(n, 3).astype(np.int16)
    return AccFrame(int.from_bytes(data[1:3], "little"), t_first_us, rate, rng, samples)


def encode_frame(
    *, seq: int, t_first_us: int, rate_hz: int, range_g: int, samples: ArrayLike
) -> bytes:
    """Build a frame from raw int16 samples, shape (n, 3) with 1 <= n <= 83."""
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq must be a u16, got {seq}")
    if not 0 <= t_first_us <= MAX_T_US:
        raise ValueError(f"t_first_us must be 0..2**53-1, got {t_first_us}")
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[1] != 3 or not 1 <= arr.shape[0] <= 255:
        raise ValueError(f"samples must have shape (1..255, 3), got {arr.shape}")
    if arr.dtype.kind not in "iu" or arr.min() < -32768 or arr.max() > 32767:
        raise ValueError("samples must be integers within int16")
    header = bytes((PROFILE_VERSION << 4 | FRAME_ACC_XYZ_INT16,))
    header += seq.to_bytes(2, "little") + t_first_us.to_bytes(8, "little")
    header += bytes((rate_code(rate_hz), range_code(range_g), arr.shape[0]))
    return header + arr.astype("<i2").tobytes()


def quantize(acc_g: ArrayLike, range_g: int) -> NDArray[np.int16]:
    """g -> raw int16 for ``range_g`` (round half to even, saturate): a sensor's view."""
    range_code(range_g)
    scaled = np.rint(np.asarray(acc_g, dtype=np.float64) * (32768.0 / range_g))
    return np.clip(scaled, -32768, 32767).astype(np.int16)


def acc_block(frame: AccFrame) -> AccBlock:
    """Adapt a frame to :class:`AccBlock`: sample i at t_first + i / rate, seq carried.

    The µs device clock is 64-bit, so there is no wrap to handle. The sample period in ns
    is an integer for every rate code (40 ms .. 2.5 ms), so times are exact.
    """
    period_ns = 1_000_000_000 // frame.rate_hz
    t_ns = frame.t_first_us * 1000 + np.arange(frame.n_samples, dtype=np.int64) * period_ns
    return AccBlock(t_device_ns=t_ns.astype(np.int64), acc_g=frame.acc_g, seq=frame.seq)


# --- control characteristic --------------------------------------------------------------------


class Opcode(IntEnum):
    """First byte of a control write (request)."""

    START_STREAM = 0x01
    STOP_STREAM = 0x02
    SET_RATE = 0x03
    SET_RANGE = 0x04
    GET_CONFIG = 0x05


class Status(IntEnum):
    """Status byte of a control response (and reason byte of an event)."""

    OK = 0x00
    UNKNOWN_OPCODE = 0x01
    INVALID_PARAMETER = 0x02
    INVALID_LENGTH = 0x03
    INVALID_STATE = 0x04
    ALREADY_IN_STATE = 0x05
    BUSY = 0x06
    LOW_BATTERY = 0x07
    INTERNAL_ERROR = 0x08


class EventCode(IntEnum):
    """Device-initiated control indications."""

    STREAM_STOPPED = 0x01


_PARAM_LEN = {
    Opcode.START_STREAM: 0,
    Opcode.STOP_STREAM: 0,
    Opcode.SET_RATE: 1,
    Opcode.SET_RANGE: 1,
    Opcode.GET_CONFIG: 0,
}


@dataclass(frozen=True, slots=True)
class Request:
    """A control request; ``code`` is the rate or range code for SET_RATE / SET_RANGE."""

    opcode: Opcode
    code: int | None = None


@dataclass(frozen=True, slots=True)
class RequestCheck:
    """What a firmware makes of a control write: the opcode byte to echo, status, reason."""

    opcode: int
    status: Status
    request: Request | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """GET_CONFIG payload: streaming state, codes, frame capacity, device time at reply."""

    streaming: bool
    rate_code: int
    range_code: int
    max_samples: int
    device_time_us: int

    @property
    def rate_hz(self) -> int:
        return RATE_CODES[self.rate_code]

    @property
    def range_g(self) -> int:
        return RANGE_CODES[self.range_code]


@dataclass(frozen=True, slots=True)
class ControlResponse:
    """``80 opcode status [config]``; ``opcode`` is the echoed request byte (may be unknown)."""

    opcode: int
    status: Status
    config: DeviceConfig | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def raise_for_status(self) -> None:
        """Raise :class:`ControlPointError` unless the status is OK."""
        if self.status is not Status.OK:
            raise ControlPointError(
                f"leanfw request 0x{self.opcode:02x} refused: {self.status.name}",
                code=int(self.status),
                code_name=self.status.name,
                request=self.opcode,
            )


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """``81 event reason``: something the device did on its own (e.g. stopped streaming)."""

    event: EventCode
    reason: Status


def validate_request(data: bytes) -> RequestCheck:
    """Check a control write as the firmware must; never raises.

    Returns the status to answer with: UNKNOWN_OPCODE, INVALID_LENGTH (wrong parameter
    count), INVALID_PARAMETER (unknown rate/range code) or OK with the parsed request. State
    checks (ALREADY_IN_STATE, INVALID_STATE, BUSY, LOW_BATTERY) are the device's business.
    An empty write comes back as INVALID_LENGTH with opcode 0; the spec has the firmware
    refuse it at the ATT level instead (error 0x0D, no indication).
    """
    if not data:
        return RequestCheck(0, Status.INVALID_LENGTH, None, "empty write")
    try:
        opcode = Opcode(data[0])
    except ValueError:
        return RequestCheck(data[0], Status.UNKNOWN_OPCODE, None, f"unknown opcode {data[0]}")
    params = data[1:]
    if len(params) != _PARAM_LEN[opcode]:
        reason = f"{opcode.name} takes {_PARAM_LEN[opcode]} parameter bytes, got {len(params)}"
        return RequestCheck(opcode, Status.INVALID_LENGTH, None, reason)
    if opcode in (Opcode.SET_RATE, Opcode.SET_RANGE):
        table = RATE_CODES if opcode is Opcode.SET_RATE else RANGE_CODES
        if params[0] not in table:
            reason = f"{opcode.name}: unknown code {params[0]}"
            return RequestCheck(opcode, Status.INVALID_PARAMETER, None, reason)
        return RequestCheck(opcode, Status.OK, Request(opcode, params[0]))
    return RequestCheck(opcode, Status.OK, Request(opcode))


def parse_request(data: bytes) -> Request:
    """Decode a control write; any problem :func:`validate_request` finds is a DecodeError."""
    check = validate_request(data)
    if check.request is None:
        raise DecodeError(f"leanfw request: {check.reason} ({check.status.name})")
    return check.request


def encode_request(request: Request) -> bytes:
    if (request.code is None) != (_PARAM_LEN[request.opcode] == 0):
        raise ValueError(f"{request.opcode.name}: code {request.code!r} does not fit the opcode")
    return (
        bytes((request.opcode,)) if request.code is None else bytes((request.opcode, request.code))
    )


def encode_start() -> bytes:
    return bytes((Opcode.START_STREAM,))


def encode_stop() -> bytes:
    return bytes((Opcode.STOP_STREAM,))


def encode_set_rate(rate_hz: int) -> bytes:
    return bytes((Opcode.SET_RATE, rate_code(rate_hz)))


def encode_set_range(range_g: int) -> bytes:
    return bytes((Opcode.SET_RANGE, range_code(range_g)))


def encode_get_config() -> bytes:
    return bytes((Opcode.GET_CONFIG,))


def encode_response(opcode: int, status: Status, config: DeviceConfig | None = None) -> bytes:
    """A control response; ``config`` exactly when answering GET_CONFIG with OK."""
    if not 0 <= opcode <= 0xFF:
        raise ValueError(f"opcode must be a byte, got {opcode}")
    wants_config = opcode == Opcode.GET_CONFIG and status is Status.OK
    if wants_config != (config is not None):
        raise ValueError("config goes with an OK answer to GET_CONFIG, and only there")
    body = bytes((_RESPONSE, opcode, status))
    if config is None:
        return body
    if config.rate_code not in RATE_CODES or config.range_code not in RANGE_CODES:
        raise ValueError("config has an unknown rate or range code")
    if not 0 <= config.max_samples <= 255 or not 0 <= config.device_time_us <= MAX_T_US:
        raise ValueError("config max_samples or device_time_us out of range")
    body += bytes((int(config.streaming), config.rate_code, config.range_code, config.max_samples))
    return body + config.device_time_us.to_bytes(8, "little")


def encode_event(event: EventCode, reason: Status) -> bytes:
    return bytes((_EVENT, event, reason))


def _status(value: int, what: str) -> Status:
    try:
        return Status(value)
    except ValueError:
        raise DecodeError(f"leanfw {what}: unknown status code {value}") from None


def _parse_config(body: bytes) -> DeviceConfig:
    state, rate, rng, max_samples = body[0], body[1], body[2], body[3]
    if state > 1:
        raise DecodeError(f"leanfw GET_CONFIG: unknown stream state {state}")
    if rate not in RATE_CODES:
        raise DecodeError(f"leanfw GET_CONFIG: unknown rate code {rate}")
    if rng not in RANGE_CODES:
        raise DecodeError(f"leanfw GET_CONFIG: unknown range code {rng}")
    device_time = int.from_bytes(body[4:12], "little")
    if device_time > MAX_T_US:
        raise DecodeError(f"leanfw GET_CONFIG: device time {device_time} us out of range")
    return DeviceConfig(bool(state), rate, rng, max_samples, device_time)


def parse_control(data: bytes) -> ControlResponse | ControlEvent:
    """Decode an indication of the control characteristic (response or event)."""
    if len(data) < 3:
        raise DecodeError(f"leanfw control: truncated, {len(data)} bytes (need 3)")
    kind = data[0]
    if kind == _EVENT:
        if len(data) != 3:
            raise DecodeError(f"leanfw event: length {len(data)}, expected 3")
        try:
            event = EventCode(data[1])
        except ValueError:
            raise DecodeError(f"leanfw event: unknown event code {data[1]}") from None
        return ControlEvent(event, _status(data[2], "event"))
    if kind != _RESPONSE:
        raise DecodeError(f"leanfw control: unknown message type 0x{kind:02x}")
    opcode, status = data[1], _status(data[2], "response")
    if status is Status.OK and opcode not in _PARAM_LEN:
        raise DecodeError(f"leanfw response: OK status for unknown opcode {opcode}")
    with_config = status is Status.OK and opcode == Opcode.GET_CONFIG
    expected = 3 + (_CONFIG_LEN if with_config else 0)
    if len(data) != expected:
        raise DecodeError(f"leanfw response: length {len(data)}, expected {expected}")
    config = _parse_config(bytes(data[3:])) if with_config else None
    return ControlResponse(opcode, status, config)


def _frame_block(data: bytes) -> AccBlock:
    return acc_block(parse_frame(data))


#: ``sensorhub decode --protocol NAME HEX`` entries (found by sensorhub.commands.decode).
CLI_DECODERS: dict[str, Callable[..., object]] = {
    "leanfw-frame": parse_frame,
    "leanfw-frame-block": _frame_block,
    "leanfw-control": parse_control,
    "leanfw-request": parse_request,
}
