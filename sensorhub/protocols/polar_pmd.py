"""Polar Measurement Data (PMD): the Polar H10's accelerometer stream and control point.

Spec in our words: ``firmware_specs/polar-h10-pmd.md``; vectors:
``firmware_specs/vectors/polar_pmd.json``. Sans-I/O: bytes in, typed values out, and back.

Data frames (PMD Data notifications)::

    byte 0    measurement type (low 6 bits; 2 = ACC)
    1..8      u64 LE timestamp, ns on the *sensor* clock, of the LAST sample in the frame
    9         frame type: bit 7 = delta-compressed, bits 0-6 = frame type number
    10..      samples: raw little-endian ints, or a delta payload (:mod:`._pmd_delta`)

:func:`parse_data_frame` returns a :class:`PmdDataFrame` whose ``samples`` are the integers
as sent (int32, shape (n, channels)); ``scaled`` applies the FACTOR from the START response
(1.0 on the H10, whose ACC integers are already mG). :func:`acc_block` turns an ACC frame
into the pipeline's :class:`~sensorhub.protocols.base.AccBlock` (per-sample times, g).

The control point (requests, ``F0``/``01``/``0F`` messages, settings) lives in
:mod:`._pmd_control` and is re-exported here.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import ConfigError, DecodeError
from sensorhub.protocols._bits import read_signed_le, write_signed_le
from sensorhub.protocols._pmd_control import (
    CP_FEATURES,
    CP_MEASUREMENT_STOPPED,
    CP_RESPONSE,
    CpMessage,
    CpResponse,
    CpResponseAssembler,
    ErrorCode,
    Features,
    MeasurementStopped,
    MeasurementType,
    Opcode,
    PmdRequest,
    PmdSettings,
    SettingType,
    build_cp_response,
    build_features,
    build_measurement_stopped,
    encode_settings,
    error_name,
    get_settings_request,
    parse_cp_message,
    parse_request,
    parse_settings,
    request_byte,
    select_start_settings,
    start_request,
    stop_request,
)
from sensorhub.protocols._pmd_delta import (
    decode_delta_payload,
    encode_delta_blocks,
    encode_delta_payload,
)
from sensorhub.protocols.base import AccBlock

__all__ = [
    "CLI_DECODERS",
    "CP_FEATURES",
    "CP_MEASUREMENT_STOPPED",
    "CP_RESPONSE",
    "FRAME_HEADER_SIZE",
    "PMD_CONTROL_POINT_UUID",
    "PMD_DATA_UUID",
    "PMD_EPOCH_UNIX_NS",
    "PMD_SERVICE_UUID",
    "CpMessage",
    "CpResponse",
    "CpResponseAssembler",
    "ErrorCode",
    "Features",
    "FrameLayout",
    "MeasurementStopped",
    "MeasurementType",
    "Opcode",
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

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

#: PMD timestamps count ns from 2000-01-01T00:00:00 *of the sensor's clock*; adding this
#: gives Unix ns only if that clock was set to UTC (an unset H10 starts at 2019-01-01).
PMD_EPOCH_UNIX_NS = 946_684_800_000_000_000

FRAME_HEADER_SIZE = 10
_HEADER = struct.Struct("<BQB")  # measurement type, timestamp, frame type
_INT16_LE = np.dtype("<i2")  # a dtype object: parsing "<i2" per frame costs as much as the cast
_ATT_OVERHEAD = 3  # ATT notification opcode + handle, inside the MTU
_COMPRESSED = 0x80


@dataclass(frozen=True, slots=True)
class FrameLayout:
    """How a (measurement type, frame type byte) pair lays out its samples.

    ``value_bytes``: bytes per raw value, or per reference value of a delta frame.
    ``unit``: what ``samples * factor`` is in (the SDK's convention per frame type).
    """

    channels: int
    value_bytes: int
    compressed: bool
    unit: str

    @property
    def resolution(self) -> int:
        return 8 * self.value_bytes


_LAYOUTS: dict[tuple[int, int], FrameLayout] = {
    (MeasurementType.ACC, 0x00): FrameLayout(3, 1, False, "mG"),
    (MeasurementType.ACC, 0x01): FrameLayout(3, 2, False, "mG"),  # what the H10 sends
    (MeasurementType.ACC, 0x02): FrameLayout(3, 3, False, "mG"),
    (MeasurementType.ACC, 0x80): FrameLayout(3, 2, True, "G"),  # Verity "type 0": factor -> G
    (MeasurementType.ACC, 0x81): FrameLayout(3, 2, True, "mG"),
    (MeasurementType.ECG, 0x00): FrameLayout(1, 3, False, "uV"),  # H10 ECG, 130 Hz
}

_UNIT_TO_G = {"mG": 1e-3, "G": 1.0}


def frame_layout(measurement_type: int, frame_type: int) -> FrameLayout:
    """The layout for a frame, or DecodeError naming the unsupported combination."""
    layout = _LAYOUTS.get((measurement_type, frame_type))
    if layout is None:
        raise DecodeError(
            f"PMD data frame: unsupported frame type 0x{frame_type:02x} for measurement "
            f"type {measurement_type}"
        )
    return layout


@dataclass(frozen=True, slots=True, eq=False)
class PmdDataFrame:
    """One decoded PMD data notification.

    ``frame_type`` is byte 9 as sent (bit 7 = compressed). ``samples`` are the integers
    before FACTOR, int32, shape (n, channels). ``timestamp_ns`` is the sensor-clock time of
    the last sample, ns since the sensor's 2000-01-01.
    """

    measurement_type: int
    timestamp_ns: int
    frame_type: int
    samples: NDArray[np.int32]
    factor: float = 1.0

    @property
    def compressed(self) -> bool:
        return bool(self.frame_type & _COMPRESSED)

    @property
    def layout(self) -> FrameLayout:
        return frame_layout(self.measurement_type, self.frame_type)

    @property
    def unit(self) -> str:
        """Unit of :attr:`scaled`: ``"mG"`` for H10 ACC, ``"G"`` for ACC frame type 0x80."""
        return self.layout.unit

    @property
    def scaled(self) -> NDArray[np.float64]:
        """``samples * factor`` as float64 (the SDK truncates to int; we keep the fraction)."""
        return self.samples.astype(np.float64) * self.factor

    def __len__(self) -> int:
        return int(self.samples.shape[0])


def parse_data_frame(
    payload: bytes | bytearray | memoryview, *, factor: float = 1.0
) -> PmdDataFrame:
    """Decode a PMD Data notification. Malformed input raises DecodeError naming the fault.

    ``factor`` is the FACTOR setting from the START response (``PmdSettings.factor``).
    """
    if len(payload) < FRAME_HEADER_SIZE:
        raise DecodeError(
            f"PMD data frame: {len(payload)} bytes, the header alone needs {FRAME_HEADER_SIZE}"
        )
    mtype, timestamp, ftype = _HEADER.unpack_from(payload)
    layout = frame_layout(mtype & 0x3F, ftype)
    body = memoryview(payload)[FRAME_HEADER_SIZE:]
    if layout.compressed:
        samples = decode_delta_payload(body, channels=layout.channels, resolution=layout.resolution)
    else:
        samples = _decode_raw(body, layout)
    return PmdDataFrame(mtype & 0x3F, timestamp, ftype, samples, factor)


def _decode_raw(body: memoryview, layout: FrameLayout) -> NDArray[np.int32]:
    size = layout.channels * layout.value_bytes
    if not body or len(body) % size:
        raise DecodeError(
            f"PMD raw frame: payload of {len(body)} bytes is not a positive multiple of the "
            f"{size}-byte sample ({layout.channels} x int{layout.resolution})"
        )
    if layout.value_bytes == 2:  # the H10 ACC hot path: a view, one cast
        return np.frombuffer(body, _INT16_LE).astype(np.int32).reshape(-1, layout.channels)
    values = read_signed_le(body, layout.value_bytes)
    return values.reshape(-1, layout.channels).astype(np.int32)


# --------------------------------------------------------------------------- encoders


def encode_frame_header(measurement_type: int, timestamp_ns: int, frame_type: int) -> bytes:
    if not 0 <= timestamp_ns < 1 << 64:
        raise ValueError(f"timestamp {timestamp_ns} does not fit u64")
    return bytes((measurement_type,)) + timestamp_ns.to_bytes(8, "little") + bytes((frame_type,))


def encode_data_frame(
    samples: NDArray[np.integer[Any]] | list[list[int]],
    *,
    timestamp_ns: int,
    measurement_type: int = MeasurementType.ACC,
    frame_type: int = 0x01,
    block_samples: int = 255,
) -> bytes:
    """Encode samples (n, channels) as a raw or delta frame, per the frame type's layout.

    ``timestamp_ns`` is the last sample's time. Delta frames use the narrowest width per
    block of at most ``block_samples`` samples. Raises ValueError if values do not fit.
    """
    layout = frame_layout(measurement_type, frame_type)
    s = np.asarray(samples, dtype=np.int64)
    if s.ndim != 2 or s.shape[1] != layout.channels or s.shape[0] < 1:
        raise ValueError(f"samples must have shape (n >= 1, {layout.channels}), got {s.shape}")
    head = encode_frame_header(measurement_type, timestamp_ns, frame_type)
    if layout.compressed:
        body = encode_delta_payload(s, resolution=layout.resolution, block_samples=block_samples)
        return head + body
    bits = layout.resolution
    if int(s.min()) < -(1 << (bits - 1)) or int(s.max()) >= 1 << (bits - 1):
        raise ValueError(f"samples do not fit int{bits}")
    return head + write_signed_le(s, layout.value_bytes)


def raw_samples_per_frame(
    mtu: int, *, measurement_type: int = MeasurementType.ACC, frame_type: int = 0x01
) -> int:
    """Samples a raw frame holds at an ATT MTU: the H10 fills ``MTU - 3`` bytes.

    MTU 232 gives 36 int16 ACC samples, as the H10 sends.
    """
    layout = frame_layout(measurement_type, frame_type)
    if layout.compressed:
        raise ValueError("raw_samples_per_frame is for raw frame types")
    n = (mtu - _ATT_OVERHEAD - FRAME_HEADER_SIZE) // (layout.channels * layout.value_bytes)
    if n < 1:
        raise ValueError(f"MTU {mtu} is too small for one sample")
    return n


def acc_start_request(*, sample_rate: int = 200, resolution: int = 16, range_g: int = 8) -> bytes:
    """START for ACC with all three settings the H10 requires (defaults: 200 Hz, 16 bit, 8 G)."""
    settings = PmdSettings(
        sample_rates=(sample_rate,), resolutions=(resolution,), ranges=(range_g,)
    )
    return start_request(MeasurementType.ACC, settings)


# --------------------------------------------------------------------------- pipeline


@functools.lru_cache(maxsize=64)
def _back_offsets(n: int, sample_rate_hz: float) -> NDArray[np.int64]:
    """ns from each of n samples to the last one at the nominal rate (cached: frames of a
    stream all have the same size, and this is on every frame's path)."""
    back = np.rint(np.arange(n - 1, -1, -1, dtype=np.float64) * (1e9 / sample_rate_hz))
    out = back.astype(np.int64)
    out.setflags(write=False)
    return out


def acc_block(
    frame: PmdDataFrame, sample_rate_hz: float, *, factor: float | None = None
) -> AccBlock:
    """Per-sample device times and acceleration in g for one ACC frame.

    PMD stamps the *last* sample, so sample i of n gets
    ``timestamp_ns - round((n - 1 - i) * 1e9 / sample_rate_hz)``, at the nominal rate; the
    clock module, not the decoder, estimates the true rate and handles gaps.
    ``factor`` is g per LSB; by default the frame's FACTOR times its unit (mG -> 1e-3, so
    1e-3 for the H10).
    """
    if frame.measurement_type != MeasurementType.ACC:
        raise DecodeError(
            f"PMD frame of measurement type {frame.measurement_type} is not accelerometer data"
        )
    if not sample_rate_hz > 0:
        raise ConfigError(f"sample rate must be positive, got {sample_rate_hz}")
    if frame.timestamp_ns >= 1 << 63:
        raise DecodeError(f"PMD timestamp {frame.timestamp_ns} does not fit int64 ns")
    g_per_lsb = factor if factor is not None else frame.factor * _UNIT_TO_G[frame.unit]
    times = np.int64(frame.timestamp_ns) - _back_offsets(len(frame), float(sample_rate_hz))
    return AccBlock(t_device_ns=times, acc_g=frame.samples.astype(np.float64) * g_per_lsb)


#: Decoders ``sensorhub decode --protocol NAME`` offers (see sensorhub.commands.decode).
CLI_DECODERS = {
    "polar-pmd": parse_data_frame,
    "polar-pmd-delta": decode_delta_payload,
    "polar-pmd-cp": parse_cp_message,
    "polar-pmd-request": parse_request,
}
