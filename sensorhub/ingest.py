"""Raw frames in, samples on the session clock out: one :class:`SensorDecoder` per sensor.

This is the step right after the store in the data flow (see DESIGN.md): it is fed the same
:class:`~sensorhub.sources.base.RawFrame` objects live and in replay, so both produce the same
samples. It knows, per sensor kind, which characteristic carries what; the bytes are decoded by
:mod:`sensorhub.protocols` and placed in time by :class:`sensorhub.clock.SensorClock`.

Malformed frames never stop a stream: they are counted (``stats.malformed``), the reason is
kept (``stats.last_error``), and the next frame is decoded as usual. Repeated and out-of-order
frames are dropped and counted; lost frames become gaps of known length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sensorhub.clock import FrameOutcome, Gap, SensorClock, TimedSamples
from sensorhub.errors import DecodeError
from sensorhub.protocols import gatt, leanfw, movesense, polar_pmd, samples
from sensorhub.protocols.base import AccBlock
from sensorhub.sources.base import RawFrame, SensorKind

__all__ = ["DEFAULT_RATES_HZ", "DecodeStats", "SensorDecoder", "SensorSamples"]

#: The sample rate each kind is started at by default (drivers use the same values).
DEFAULT_RATES_HZ: dict[SensorKind, int] = {
    SensorKind.POLAR_H10: 200,
    SensorKind.MOVESENSE: 52,
    SensorKind.LEANFW: 100,
}

_LEANFW_SEQ_MODULO = 1 << 16
_PMD_HEADER = 10  # measurement type, u64 timestamp, frame type
_PMD_RAW_INT16 = 0x01
#: H10 ACC integers are mG (PMD FACTOR 1.0 x unit mG), as polar_pmd.acc_block scales them.
_H10_G_PER_LSB = 1.0 * 1e-3
#: Imported samples carry their own session times and never use the clock mapping; its
#: nominal rate only has to be valid.
_UNTIMED_RATE_HZ = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class SensorSamples:
    """Accelerometer samples of one frame on the session clock (ns), in g, device axes."""

    sensor: str
    t_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]
    gap: Gap | None = None

    @staticmethod
    def concat(blocks: Sequence[SensorSamples]) -> SensorSamples:
        """Consecutive blocks of one sensor as one (the first gap among them is kept)."""
        gaps = [b.gap for b in blocks if b.gap is not None]
        return SensorSamples(
            blocks[0].sensor,
            np.concatenate([b.t_ns for b in blocks]),
            np.concatenate([b.acc_g for b in blocks]),
            gaps[0] if gaps else None,
        )


@dataclass(slots=True)
class DecodeStats:
    """Per-sensor counters for the status view and the closing report of a session."""

    frames: int = 0  # data frames accepted
    samples: int = 0
    malformed: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    missing_samples: int = 0
    battery_pct: int | None = None
    heart_rate_bpm: int | None = None
    last_error: str = ""
    gap_list: list[Gap] = field(default_factory=list)


class SensorDecoder:
    """Decode and time-stamp one sensor's raw frames."""

    def __init__(self, sensor: str, kind: SensorKind, *, sample_rate_hz: float | None = None):
        self.sensor = sensor
        self.kind = kind
        nominal: float = DEFAULT_RATES_HZ.get(kind, _UNTIMED_RATE_HZ)
        self.sample_rate_hz = float(sample_rate_hz or nominal)
        anchor: Literal["first", "last"] = "last" if kind is SensorKind.POLAR_H10 else "first"
        seq_modulo = _LEANFW_SEQ_MODULO if kind is SensorKind.LEANFW else None
        self.clock = SensorClock(self.sample_rate_hz, anchor=anchor, seq_modulo=seq_modulo)
        self.stats = DecodeStats()
        self._gsp = movesense.GspReassembler()
        self._ms_clock = movesense.MsUnwrapper()
        self._imported_last_ns: int | None = None

    def restart(self) -> None:
        """The link was (re)established: protocol and clock state start afresh."""
        self.clock.restart()
        self._gsp.reset()
        self._ms_clock.reset()
        self._imported_last_ns = None

    def feed(self, frame: RawFrame) -> list[SensorSamples]:
        """Decode one raw frame; returns the samples it carried (often one block, or none)."""
        if self.kind is SensorKind.IMPORTED:
            return self._feed_imported(frame)
        try:
            blocks = self._decode(frame)
        except DecodeError as exc:
            self.stats.malformed += 1
            self.stats.last_error = str(exc)
            return []
        out = []
        for block in blocks:
            timed = self._place(block, frame.receive_ns)
            if timed is not None:
                out.append(timed)
        return out

    def feed_many(self, frames: Sequence[RawFrame]) -> list[SensorSamples]:
        """:meth:`feed` for a run of this sensor's frames, in order, with the same samples and
        the same stats, merged: at most one block (the first gap among them is kept, as
        :meth:`SensorSamples.concat` does).

        Runs of Polar raw int16 ACC frames of one size (what an H10 sends) are decoded with
        one numpy call and placed on the session clock with one
        :meth:`~sensorhub.clock.SensorClock.push_run`; everything else goes frame by frame.
        """
        if self.kind is SensorKind.POLAR_H10 and len(frames) > 1:
            raw = self._uniform_h10(frames)
            if raw is not None:  # the common case: no per-frame checks at all
                return _merged(self._feed_h10_run(frames, raw))
        out: list[SensorSamples] = []
        run: list[RawFrame] = []
        for frame in frames:
            fast = self._fast_h10(frame)
            if run and not (fast and len(frame.payload) == len(run[0].payload)):
                out += self._feed_h10_frames(run)  # the run ends here
                run = []
            if fast:
                run.append(frame)
            else:
                out += self.feed(frame)
        if run:
            out += self._feed_h10_frames(run)
        return _merged(out)

    def _fast_h10(self, frame: RawFrame) -> bool:
        p = frame.payload
        return (
            self.kind is SensorKind.POLAR_H10
            and frame.characteristic == polar_pmd.PMD_DATA_UUID
            and len(p) > _PMD_HEADER
            and (len(p) - _PMD_HEADER) % 6 == 0
            and p[0] & 0x3F == polar_pmd.MeasurementType.ACC
            and p[9] == _PMD_RAW_INT16
            and p[8] < 0x80  # timestamp below 2**63: fits int64 ns
        )

    @staticmethod
    def _uniform_h10(frames: Sequence[RawFrame]) -> NDArray[np.uint8] | None:
        """The payloads as rows when every frame passes :meth:`_fast_h10` with one size."""
        payloads = [f.payload for f in frames]
        size = len(payloads[0])
        if (
            size <= _PMD_HEADER
            or (size - _PMD_HEADER) % 6
            or any(len(p) != size for p in payloads)
            or any(f.characteristic != polar_pmd.PMD_DATA_UUID for f in frames)
        ):
            return None
        raw = np.frombuffer(b"".join(payloads), dtype=np.uint8).reshape(-1, size)
        ok = (
            (raw[:, 0] & 0x3F == polar_pmd.MeasurementType.ACC)
            & (raw[:, 9] == _PMD_RAW_INT16)
            & (raw[:, 8] < 0x80)
        )
        return raw if bool(ok.all()) else None

    def _feed_h10_frames(self, run: list[RawFrame]) -> list[SensorSamples]:
        if len(run) == 1:
            return self.feed(run[0])
        size = len(run[0].payload)
        raw = np.frombuffer(b"".join(f.payload for f in run), dtype=np.uint8).reshape(-1, size)
        return self._feed_h10_run(run, raw)

    def _feed_h10_run(self, run: Sequence[RawFrame], raw: NDArray[np.uint8]) -> list[SensorSamples]:
        """Frames that pass :meth:`_fast_h10`, of one size (``raw``: their payloads as rows),
        decoded and placed as one block of samples."""
        frames, size = raw.shape
        stamps = np.ascontiguousarray(raw[:, 1:9]).view("<u8").ravel().astype(np.int64)
        n = (size - _PMD_HEADER) // 6
        timed = self.clock.push_run(stamps.tolist(), [n] * frames, [f.receive_ns for f in run])
        stats = self.stats
        accepted = len(timed.accepted)
        if accepted < frames:
            for outcome in timed.outcomes:
                if outcome is FrameOutcome.DUPLICATE:
                    stats.duplicates += 1
                elif outcome is FrameOutcome.OUT_OF_ORDER:
                    stats.out_of_order += 1
        stats.frames += accepted
        stats.samples += accepted * n
        for _, gap in timed.gaps:
            stats.gaps += 1
            stats.missing_samples += gap.missing_samples
            stats.gap_list.append(gap)
        if not accepted:
            return []
        ints = np.ascontiguousarray(raw[:, _PMD_HEADER:]).view("<i2").reshape(frames, n, 3)
        if accepted < frames:
            ints = ints[timed.accepted]
        acc = ints.reshape(-1, 3).astype(np.float64) * _H10_G_PER_LSB
        first_gap = timed.gaps[0][1] if timed.gaps else None
        return [SensorSamples(self.sensor, timed.t_session_ns, acc, first_gap)]

    # -- per kind -----------------------------------------------------------------------

    def _decode(self, frame: RawFrame) -> list[AccBlock]:
        uuid = frame.characteristic
        if uuid == gatt.BATTERY_LEVEL_UUID:
            self.stats.battery_pct = gatt.parse_battery_level(frame.payload)
            return []
        if self.kind is SensorKind.POLAR_H10:
            return self._decode_h10(uuid, frame.payload)
        if self.kind is SensorKind.MOVESENSE:
            return self._decode_movesense(uuid, frame.payload)
        if uuid == leanfw.DATA_UUID:
            return [leanfw.acc_block(leanfw.parse_frame(frame.payload))]
        return []

    def _decode_h10(self, uuid: str, payload: bytes) -> list[AccBlock]:
        if uuid == gatt.HEART_RATE_MEASUREMENT_UUID:
            self.stats.heart_rate_bpm = gatt.parse_heart_rate(payload).bpm
            return []
        if uuid != polar_pmd.PMD_DATA_UUID:
            return []
        data = polar_pmd.parse_data_frame(payload)
        if data.measurement_type != polar_pmd.MeasurementType.ACC:
            return []
        return [polar_pmd.acc_block(data, self.sample_rate_hz)]

    def _decode_movesense(self, uuid: str, payload: bytes) -> list[AccBlock]:
        if uuid != movesense.GSP_DATA_UUID:
            return []
        blocks = []
        for event in self._gsp.feed(payload):
            if isinstance(event, movesense.GspOrphan):
                self.stats.malformed += 1
                self.stats.last_error = event.reason
            elif isinstance(event, movesense.GspData):
                acc = movesense.parse_acc_payload(event.payload)
                blocks.append(
                    movesense.acc_block(acc, rate_hz=self.sample_rate_hz, unwrapper=self._ms_clock)
                )
        return blocks

    def _feed_imported(self, frame: RawFrame) -> list[SensorSamples]:
        """A sample block from a file: already on the session clock, handed on as it is.

        Times must not decrease: a block that does within itself is malformed, one that
        starts before the previous block's last sample is out of order; both are dropped.
        """
        if frame.characteristic != samples.SAMPLES_UUID:
            return []
        try:
            block = samples.decode_block(frame.payload)
            if np.any(np.diff(block.t_ns) < 0):
                raise DecodeError("sample block: times decrease within the block")
        except DecodeError as exc:
            self.stats.malformed += 1
            self.stats.last_error = str(exc)
            return []
        if self._imported_last_ns is not None and block.t_ns[0] < self._imported_last_ns:
            self.stats.out_of_order += 1
            return []
        self._imported_last_ns = int(block.t_ns[-1])
        self.stats.frames += 1
        self.stats.samples += len(block)
        return [SensorSamples(self.sensor, block.t_ns, block.acc_g)]

    # -- timing -------------------------------------------------------------------------

    def _place(self, block: AccBlock, receive_ns: int) -> SensorSamples | None:
        n = len(block)
        if n == 0:
            return None
        anchor = (
            block.t_device_ns[-1] if self.clock.timeline.anchor == "last" else block.t_device_ns[0]
        )
        timed = self.clock.push(int(anchor), n, receive_ns, block.seq)
        if not self._account(timed, n):
            return None
        return SensorSamples(self.sensor, timed.t_session_ns, block.acc_g, timed.gap)

    def _account(self, timed: TimedSamples, n: int) -> bool:
        """Count a placed (or dropped) frame; True if its samples go on."""
        if timed.outcome is FrameOutcome.DUPLICATE:
            self.stats.duplicates += 1
            return False
        if timed.outcome is FrameOutcome.OUT_OF_ORDER:
            self.stats.out_of_order += 1
            return False
        self.stats.frames += 1
        self.stats.samples += n
        if timed.gap is not None:
            self.stats.gaps += 1
            self.stats.missing_samples += timed.gap.missing_samples
            self.stats.gap_list.append(timed.gap)
        return True


def _merged(blocks: list[SensorSamples]) -> list[SensorSamples]:
    """At most one block: consecutive blocks of one sensor concatenated."""
    return blocks if len(blocks) < 2 else [SensorSamples.concat(blocks)]
