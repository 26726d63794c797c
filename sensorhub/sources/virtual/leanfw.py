"""A virtual sensor running the lab's own firmware profile, leanfw-v1.

Implements the device side of ``firmware_specs/leanfw-v1.md`` with the codec in
``sensorhub/protocols/leanfw.py``:

- Control characteristic (write with response + indicate): START_STREAM, STOP_STREAM,
  SET_RATE, SET_RANGE, GET_CONFIG, each answered by an indication ``80 opcode status``
  (GET_CONFIG with the configuration and device time). Requests are validated as the codec
  specifies; state errors are ALREADY_IN_STATE (start while streaming, stop while stopped)
  and BUSY (rate or range change while streaming).
- Frames: sequence number (0 at each START, +1 per frame generated, so frames the sensor
  could not send show up as gaps), first-sample time in µs since boot, up to
  ``floor((MTU - 17) / 6)`` int16 samples.
- Low battery: ``set_battery(p)`` below ``LOW_BATTERY_PERCENT`` stops a running stream with
  the event ``81 01 07`` (stream stopped, low battery), and refuses STARTs with LOW_BATTERY.
- ``refuse_starts(n)``: the next n STARTs answer BUSY.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from bumble.core import UUID, AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from sensorhub.protocols import leanfw as lf

from .sensor import VirtualSensor

__all__ = ["LOW_BATTERY_PERCENT", "LeanSensor"]

#: Below this battery level the firmware refuses to stream.
LOW_BATTERY_PERCENT = 10


class LeanSensor(VirtualSensor):
    """A virtual leanfw-v1 sensor; see the module docstring."""

    kind: ClassVar[str] = "leanfw"
    default_rate_hz: ClassVar[float] = 100.0
    manufacturer: ClassVar[str] = "sensorhub lab"
    model: ClassVar[str] = "leanfw-v1"
    firmware: ClassVar[str] = "1.0.0"
    max_mtu: ClassVar[int] = 247

    def __init__(
        self, name: str | None = None, *, serial: str = "0001", range_g: int = 4, **kwargs: Any
    ) -> None:
        super().__init__(name or f"{lf.NAME_PREFIX}{serial}", serial=serial, **kwargs)
        self.rate_code = lf.rate_code(int(self.rate_hz))
        self.range_code = lf.range_code(range_g)
        self.seq = 0
        self.control_writes: list[bytes] = []

    def build_services(self) -> list[Service]:
        self.control_char: Characteristic[bytes] = Characteristic(
            lf.CONTROL_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.INDICATE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_control),
        )
        self.data_char: Characteristic[bytes] = Characteristic(
            lf.DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        return [Service(lf.SERVICE_UUID, [self.control_char, self.data_char])]

    def scan_response_data(self) -> AdvertisingData:
        return AdvertisingData(
            [
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(lf.SERVICE_UUID).to_bytes(),
                )
            ]
        )

    @property
    def streaming_acc(self) -> bool:
        return self.streaming("acc")

    def _on_control(self, _connection: object, value: bytes) -> None:
        self.control_writes.append(bytes(value))
        self.spawn(self.indicate(self.control_char, self.handle_request(bytes(value))))

    def handle_request(self, data: bytes) -> bytes:
        """The response indication for one control write."""
        check = lf.validate_request(data)
        if check.request is None:
            return lf.encode_response(check.opcode, check.status)
        request, op = check.request, check.opcode
        status = lf.Status.OK
        if request.opcode is lf.Opcode.GET_CONFIG:
            return lf.encode_response(op, lf.Status.OK, self._config())
        if request.opcode is lf.Opcode.START_STREAM:
            status = self._start()
        elif request.opcode is lf.Opcode.STOP_STREAM:
            status = lf.Status.OK if self.stop_stream("acc") else lf.Status.ALREADY_IN_STATE
        elif self.streaming_acc:
            status = lf.Status.BUSY
        elif request.opcode is lf.Opcode.SET_RATE:
            assert request.code is not None
            self.rate_code = request.code
            self.rate_hz = float(lf.RATE_CODES[request.code])
        else:
            assert request.code is not None
            self.range_code = request.code
        return lf.encode_response(op, status)

    def _start(self) -> lf.Status:
        if self.streaming_acc:
            return lf.Status.ALREADY_IN_STATE
        if self.battery_percent < LOW_BATTERY_PERCENT:
            return lf.Status.LOW_BATTERY
        if self.take_refusal():
            return lf.Status.BUSY
        self.seq = 0
        self.start_stream("acc", self.data_char, self._samples_per_frame, self._frame)
        return lf.Status.OK

    def _config(self) -> lf.DeviceConfig:
        return lf.DeviceConfig(
            streaming=self.streaming_acc,
            rate_code=self.rate_code,
            range_code=self.range_code,
            max_samples=self._samples_per_frame(),
            device_time_us=self.clock.now_ns() // 1000,
        )

    def _samples_per_frame(self) -> int:
        return lf.max_samples_per_frame(self.att_mtu)

    def _frame(self, acc_g: NDArray[np.float64], t_ns: NDArray[np.int64]) -> list[bytes]:
        range_g = lf.RANGE_CODES[self.range_code]
        frame = lf.encode_frame(
            seq=self.seq,
            t_first_us=int(t_ns[0]) // 1000,
            rate_hz=lf.RATE_CODES[self.rate_code],
            range_g=range_g,
            samples=lf.quantize(acc_g, range_g),
        )
        self.seq = (self.seq + 1) & 0xFFFF
        return [frame]

    async def set_battery(self, percent: int) -> None:
        await super().set_battery(percent)
        if percent < LOW_BATTERY_PERCENT and self.stop_stream("acc"):
            event = lf.encode_event(lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY)
            await self.indicate(self.control_char, event)
