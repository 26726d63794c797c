"""Movesense GATT SensorData Protocol (GSP) and the ``/Meas/Acc`` payload, both directions.

Spec in our words: ``firmware_specs/movesense-gsp.md``. Sans-I/O: bytes in, typed values out;
encoders beside every decoder (the virtual Movesense uses them). Decoders raise
:class:`~sensorhub.errors.DecodeError` for malformed input; encoders raise ``ValueError`` for
arguments no well-behaved caller passes (they are programming errors, not sensor faults).

Wire summary (all on the GSP service ``34802252-…``):

- command characteristic (write): ``[command u8][client ref u8, non-zero][data]``;
  HELLO (0), SUBSCRIBE (1, data = ASCII resource path), UNSUBSCRIBE (2, no data).
- data characteristic (notify): ``[response type u8][ref u8][body]``; COMMAND_RESULT (1, a
  big-endian u16 HTTP-style status, or the text ``Hello``), DATA (2, the resource value),
  DATA_PART2 (3, the rest of a value that did not fit in one DATA notification).
- ``/Meas/Acc/<rate>`` value: u32 LE timestamp in ms of the **first** sample (sensor clock,
  wraps at 2**32 ms) then N x (x, y, z) float32 LE in m/s².
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import DecodeError
from sensorhub.protocols.base import STANDARD_GRAVITY, AccBlock

__all__ = [
    "ACC_RATES_HZ",
    "CLI_DECODERS",
    "GSP_COMMAND_UUID",
    "GSP_DATA_UUID",
    "GSP_SERVICE_UUID",
    "MAX_NOTIFICATION_LEN",
    "MAX_SUBSCRIPTIONS",
    "Command",
    "CommandResult",
    "GspCommand",
    "GspData",
    "GspEvent",
    "GspNotification",
    "GspOrphan",
    "GspReassembler",
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

GSP_SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
GSP_COMMAND_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"
GSP_DATA_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"

#: Subscription slots in the stock sample firmware; a fifth SUBSCRIBE gets status 507.
MAX_SUBSCRIPTIONS = 4
#: Largest notification value the sample firmware sends (158-byte buffer, MTU 158 - 3).
MAX_NOTIFICATION_LEN = 155
#: Accelerometer rates (Hz) Movesense sensors commonly list in ``/Meas/Acc/Info``.
ACC_RATES_HZ = (13, 26, 52, 104, 208, 416, 833, 1666)

_HELLO_TEXT = b"Hello"
_ACC_HEADER = 4  # u32 timestamp
_ACC_SAMPLE = 12  # 3 x float32
_ACC_DTYPE = np.dtype("<f4")
_PATH_RE = re.compile(r"/?[A-Za-z0-9_]+(/[A-Za-z0-9_.]+)*")  # used with fullmatch
_ACC_PATH_RE = re.compile(r"/?Meas/Acc/([0-9]+)")
_U32 = 1 << 32


class Command(IntEnum):
    """First byte of a write to the GSP command characteristic."""

    HELLO = 0
    SUBSCRIBE = 1
    UNSUBSCRIBE = 2


class Response(IntEnum):
    """First byte of a notification on the GSP data characteristic."""

    COMMAND_RESULT = 1
    DATA = 2
    DATA_PART2 = 3


# --- commands (client -> sensor) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GspCommand:
    """A parsed command write. ``path`` is set for SUBSCRIBE only."""

    command: Command
    ref: int
    path: str | None = None


def _check_ref(ref: int) -> None:
    # Ref 0 marks a free slot in the firmware's subscription table, so it is never valid.
    if not 1 <= ref <= 255:
        raise ValueError(f"GSP client reference must be 1..255, got {ref}")


def encode_hello(ref: int) -> bytes:
    """HELLO: the sensor answers ``COMMAND_RESULT ref 'Hello'`` (a liveness check)."""
    _check_ref(ref)
    return bytes((Command.HELLO, ref))


def encode_subscribe(ref: int, path: str) -> bytes:
    """SUBSCRIBE ``path`` (e.g. ``"/Meas/Acc/52"``; no terminator) under client ref ``ref``."""
    _check_ref(ref)
    if not _PATH_RE.fullmatch(path):
        raise ValueError(f"not a Movesense resource path: {path!r}")
    return bytes((Command.SUBSCRIBE, ref)) + path.encode("ascii")


def encode_unsubscribe(ref: int) -> bytes:
    """UNSUBSCRIBE the subscription made under ``ref``."""
    _check_ref(ref)
    return bytes((Command.UNSUBSCRIBE, ref))


def parse_command(data: bytes) -> GspCommand:
    """Parse a command write (the sensor's side; the virtual Movesense uses this)."""
    if len(data) < 2:
        raise DecodeError(f"GSP command: truncated, {len(data)} bytes (need command and ref)")
    code, ref, body = data[0], data[1], bytes(data[2:])
    try:
        command = Command(code)
    except ValueError:
        raise DecodeError(f"GSP command: unknown command {code}") from None
    if ref == 0:
        raise DecodeError("GSP command: client reference 0 is reserved")
    if command is Command.SUBSCRIBE:
        try:
            path = body.decode("ascii")
        except UnicodeDecodeError:
            raise DecodeError("GSP SUBSCRIBE: resource path is not ASCII") from None
        if not _PATH_RE.fullmatch(path):
            raise DecodeError(f"GSP SUBSCRIBE: malformed resource path {path!r}")
        return GspCommand(command, ref, path)
    if body:
        raise DecodeError(f"GSP {command.name}: unexpected {len(body)} data bytes")
    return GspCommand(command, ref)


# --- notifications (sensor -> client) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GspNotification:
    """One data-characteristic notification split into its header and body."""

    response: Response
    ref: int
    body: bytes


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A COMMAND_RESULT: ``status`` (HTTP-style, e.g. 200 or 507) or ``hello`` for HELLO."""

    ref: int
    status: int | None
    hello: bool = False

    @property
    def ok(self) -> bool:
        return self.hello or (self.status is not None and 200 <= self.status < 300)


def parse_notification(data: bytes) -> GspNotification:
    """Split a notification into response type, ref and body; no body interpretation."""
    if len(data) < 2:
        raise DecodeError(f"GSP notification: truncated, {len(data)} bytes (need type and ref)")
    try:
        response = Response(data[0])
    except ValueError:
        raise DecodeError(f"GSP notification: unknown response type {data[0]}") from None
    if data[1] == 0:
        raise DecodeError("GSP notification: client reference 0 is reserved")
    return GspNotification(response, data[1], bytes(data[2:]))


def _command_result(ref: int, body: bytes) -> CommandResult:
    if body == _HELLO_TEXT:
        return CommandResult(ref, None, hello=True)
    if len(body) != 2:
        raise DecodeError(
            f"GSP COMMAND_RESULT: body of {len(body)} bytes is neither a 2-byte status nor 'Hello'"
        )
    # The sample firmware writes the status high byte first (507 -> 01 FB).
    return CommandResult(ref, int.from_bytes(body, "big"))


def parse_command_result(data: bytes) -> CommandResult:
    """Parse a whole COMMAND_RESULT notification (``01 ref status_hi status_lo`` or Hello)."""
    note = parse_notification(data)
    if note.response is not Response.COMMAND_RESULT:
        raise DecodeError(f"GSP: expected COMMAND_RESULT, got {note.response.name}")
    return _command_result(note.ref, note.body)


def encode_command_result(ref: int, status: int) -> bytes:
    """COMMAND_RESULT with an HTTP-style status, high byte first as the firmware sends it."""
    _check_ref(ref)
    if not 0 <= status <= 0xFFFF:
        raise ValueError(f"GSP status must fit in 16 bits, got {status}")
    return bytes((Response.COMMAND_RESULT, ref)) + status.to_bytes(2, "big")


def encode_hello_response(ref: int) -> bytes:
    """The sensor's answer to HELLO."""
    _check_ref(ref)
    return bytes((Response.COMMAND_RESULT, ref)) + _HELLO_TEXT


def encode_data(ref: int, payload: bytes, *, max_len: int = MAX_NOTIFICATION_LEN) -> list[bytes]:
    """Notifications carrying ``payload``: one DATA, plus one DATA_PART2 if it does not fit.

    ``max_len`` is the largest notification value (ATT_MTU - 3). A payload needing more than
    two notifications cannot be expressed in GSP v1 and raises ``ValueError``.
    """
    _check_ref(ref)
    room = max_len - 2
    if room < 1:
        raise ValueError(f"max_len {max_len} leaves no room for a payload")
    if len(payload) > 2 * room:
        raise ValueError(f"payload of {len(payload)} bytes needs more than DATA + DATA_PART2")
    parts = [bytes((Response.DATA, ref)) + payload[:room]]
    if len(payload) > room:
        parts.append(bytes((Response.DATA_PART2, ref)) + payload[room:])
    return parts


# --- DATA / DATA_PART2 reassembly -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GspData:
    """A complete resource value for subscription ``ref`` (``parts``: notifications joined)."""

    ref: int
    payload: bytes
    parts: int = 1


@dataclass(frozen=True, slots=True)
class GspOrphan:
    """A notification half that could not be paired; ``reason`` says why. Its data is lost."""

    ref: int
    response: Response
    body: bytes
    reason: str


GspEvent = CommandResult | GspData | GspOrphan


class GspReassembler:
    """Pairs DATA with its DATA_PART2 per client ref; sans-I/O, one instance per connection.

    GSP does not say in a DATA notification whether a DATA_PART2 follows, so the caller states
    which subscriptions produce two-part values (it chose the resource and the rate, and only
    large values such as IMU9 at high rates are split). For those refs a DATA is held until
    its DATA_PART2 arrives; every other DATA is complete at once, with no added latency.

    Orphans are returned as :class:`GspOrphan` events (and counted in :attr:`orphans`), never
    silently dropped: a DATA_PART2 with nothing waiting, a held DATA replaced by a newer DATA
    (its second half was lost), or halves still held when :meth:`reset` is called.
    """

    def __init__(self, two_part_refs: Iterable[int] = ()) -> None:
        self._two_part: set[int] = set(two_part_refs)
        self._pending: dict[int, bytes] = {}
        self.orphans = 0

    def expect_two_parts(self, ref: int, two_parts: bool = True) -> None:
        """Declare whether values of subscription ``ref`` arrive as DATA + DATA_PART2."""
        if two_parts:
            self._two_part.add(ref)
        else:
            self._two_part.discard(ref)

    @property
    def pending_refs(self) -> frozenset[int]:
        """Refs whose first half is held, waiting for DATA_PART2."""
        return frozenset(self._pending)

    def feed(self, data: bytes) -> list[GspEvent]:
        """Consume one notification; return what it completes (often one event, maybe none).

        Raises :class:`DecodeError` for a malformed notification; state is then unchanged.
        """
        note = parse_notification(data)
        if note.response is Response.COMMAND_RESULT:
            return [_command_result(note.ref, note.body)]
        if note.response is Response.DATA:
            if note.ref not in self._two_part:
                return [GspData(note.ref, note.body)]
            events: list[GspEvent] = []
            previous = self._pending.pop(note.ref, None)
            if previous is not None:
                reason = f"DATA for ref {note.ref} replaced before its DATA_PART2 arrived"
                events.append(self._orphan(note.ref, Response.DATA, previous, reason))
            self._pending[note.ref] = note.body
            return events
        first = self._pending.pop(note.ref, None)
        if first is None:
            why = "no DATA is waiting" if note.ref in self._two_part else "ref is not two-part"
            reason = f"DATA_PART2 for ref {note.ref} dropped: {why}"
            return [self._orphan(note.ref, Response.DATA_PART2, note.body, reason)]
        return [GspData(note.ref, first + note.body, parts=2)]

    def reset(self) -> list[GspOrphan]:
        """Forget held halves (call on disconnect); they are returned as orphans."""
        held, self._pending = self._pending, {}
        reason = "connection reset before DATA_PART2 arrived"
        return [self._orphan(ref, Response.DATA, body, reason) for ref, body in held.items()]

    def _orphan(self, ref: int, response: Response, body: bytes, reason: str) -> GspOrphan:
        self.orphans += 1
        return GspOrphan(ref, response, body, reason)


# --- /Meas/Acc ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class MovesenseAcc:
    """A ``/Meas/Acc`` value: first-sample time (u32 ms, sensor clock), samples in m/s²."""

    timestamp_ms: int
    samples: NDArray[np.float64]

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def acc_g(self) -> NDArray[np.float64]:
        """Samples converted to g (÷ standard gravity)."""
        return self.samples / STANDARD_GRAVITY


def parse_acc_payload(payload: bytes) -> MovesenseAcc:
    """Decode a ``/Meas/Acc`` value (the body of a reassembled DATA)."""
    size = len(payload)
    if size < _ACC_HEADER + _ACC_SAMPLE:
        raise DecodeError(f"Movesense acc: truncated, {size} bytes (need 4 + 12 per sample)")
    if (size - _ACC_HEADER) % _ACC_SAMPLE:
        raise DecodeError(
            f"Movesense acc: length {size} is not 4 + 12 x samples "
            f"({size - _ACC_HEADER} sample bytes)"
        )
    timestamp = int.from_bytes(payload[:_ACC_HEADER], "little")
    raw = np.frombuffer(payload, dtype=_ACC_DTYPE, offset=_ACC_HEADER).reshape(-1, 3)
    finite = np.isfinite(raw)
    if not finite.all():
        # Checked before widening: casting a signalling NaN raises a numpy warning.
        bad = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise DecodeError(f"Movesense acc: non-finite value in sample {bad}")
    return MovesenseAcc(timestamp, raw.astype(np.float64))


def parse_acc_data(data: bytes) -> MovesenseAcc:
    """Decode a single, complete DATA notification carrying ``/Meas/Acc``."""
    note = parse_notification(data)
    if note.response is not Response.DATA:
        raise DecodeError(f"Movesense acc: expected a DATA notification, got {note.response.name}")
    return parse_acc_payload(note.body)


def encode_acc_payload(
    timestamp_ms: int, samples_ms2: NDArray[np.floating] | list[list[float]]
) -> bytes:
    """Build a ``/Meas/Acc`` value; samples (N, 3) in m/s², stored as float32."""
    if not 0 <= timestamp_ms < _U32:
        raise ValueError(f"Movesense timestamp must be a u32 ms count, got {timestamp_ms}")
    arr = np.asarray(samples_ms2, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"samples must have shape (N>0, 3), got {arr.shape}")
    return timestamp_ms.to_bytes(4, "little") + arr.astype(_ACC_DTYPE).tobytes()


def acc_rate_from_path(path: str) -> int:
    """The sample rate in a ``/Meas/Acc/<rate>`` path (leading slash optional)."""
    match = _ACC_PATH_RE.fullmatch(path)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"not a /Meas/Acc/<rate> path: {path!r}")
    return int(match.group(1))


class MsUnwrapper:
    """Extends the wrapping u32 ms clock to an unbounded count, one instance per stream.

    Each timestamp is placed within ±2**31 ms (±24.8 days) of the newest one seen (serial
    number arithmetic, as RFC 1982), so a wrap 4294967295 -> 0 continues upward, while a late,
    older frame maps just below the newest instead of 49.7 days ahead. Call :meth:`reset`
    when the stream restarts (the sensor may have rebooted).
    """

    _HALF = 1 << 31

    def __init__(self) -> None:
        self._newest: int | None = None

    def unwrap(self, timestamp_ms: int) -> int:
        if self._newest is None:
            self._newest = timestamp_ms
            return timestamp_ms
        delta = (timestamp_ms - self._newest + self._HALF) % _U32 - self._HALF
        extended = self._newest + delta
        self._newest = max(self._newest, extended)
        return extended

    def reset(self) -> None:
        self._newest = None


def acc_block(
    acc: MovesenseAcc, *, rate_hz: float, unwrapper: MsUnwrapper | None = None
) -> AccBlock:
    """Adapt a ``/Meas/Acc`` value to :class:`AccBlock` (device ns, g).

    Sample i is at ``first + i / rate_hz``; the first-sample time is the frame timestamp (ms
    resolution). Without an ``unwrapper`` the raw u32 value is used, which jumps back by
    2**32 ms every 49.7 days of sensor uptime; pass one :class:`MsUnwrapper` per stream to get
    a monotonic device clock across the wrap.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    first_ms = acc.timestamp_ms if unwrapper is None else unwrapper.unwrap(acc.timestamp_ms)
    offsets = np.rint(np.arange(acc.n_samples) * (1e9 / rate_hz)).astype(np.int64)
    t_ns = np.int64(first_ms) * np.int64(1_000_000) + offsets
    return AccBlock(t_device_ns=t_ns, acc_g=acc.acc_g)


def _acc_data_block(data: bytes, *, rate_hz: float = 52.0) -> AccBlock:
    return acc_block(parse_acc_data(data), rate_hz=rate_hz)


#: ``sensorhub decode --protocol NAME HEX`` entries (found by sensorhub.commands.decode).
CLI_DECODERS: dict[str, Callable[..., object]] = {
    "movesense-command": parse_command,
    "movesense-notification": parse_notification,
    "movesense-result": parse_command_result,
    "movesense-acc": parse_acc_data,
    "movesense-acc-payload": parse_acc_payload,
    "movesense-acc-block": _acc_data_block,
}
