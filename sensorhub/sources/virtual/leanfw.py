"""A virtual sensor running the lab's own firmware profile, ``firmware_specs/leanfw-v1.md``.

The device side of the profile, on the codec in ``sensorhub/protocols/leanfw.py``:

- Advertising (section 3): flags, the service UUID and TX power in the ADV; ``LEAN-`` plus the
  serial's last 4 characters and the battery level (service data 0x180F) in the scan response.
- Control characteristic (section 6, write + indicate): START_STREAM, STOP_STREAM, SET_RATE,
  SET_RANGE, GET_CONFIG, each answered by one indication ``80 opcode status`` (GET_CONFIG
  with the configuration and the device time). ALREADY_IN_STATE for START while streaming or
  STOP while idle; INVALID_STATE for SET_RATE/SET_RANGE while streaming and for START while
  Acc Data notifications are off. A write of 0 or more than 20 bytes gets the ATT error
  0x0D and no indication. Configuration defaults to 50 Hz, +-4 g and survives disconnects.
- Frames (section 5): ``seq`` 0 at each START, +1 per frame *created* (frames the link could
  not take leave gaps), first-sample time in µs since boot,
  ``n = min(max_samples(MTU), rate x 0.2 s)`` samples.
- Battery (section 7): at <= 5 % START is refused with LOW_BATTERY; at <= 3 % a running stream
  stops with the event ``81 01 07``. Turning Acc Data notifications off stops the stream.
- No pairing (section 2): a pairing request is refused with "pairing not supported".
- ``refuse_starts(n)``: the next n STARTs answer BUSY ("retry after 100 ms").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from bumble import att, pairing
from bumble.core import UUID, AdvertisingData
from bumble.device import Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from sensorhub.protocols import leanfw as lf

from .radio import RadioController
from .sensor import VirtualSensor

if TYPE_CHECKING:
    from .world import VirtualRadio

__all__ = ["LOW_BATTERY_START_PERCENT", "LOW_BATTERY_STOP_PERCENT", "LeanSensor"]

#: At or below this battery level START is refused (section 7).
LOW_BATTERY_START_PERCENT = 5
#: At or below this level a running stream stops with STREAM_STOPPED / LOW_BATTERY.
LOW_BATTERY_STOP_PERCENT = 3
_MAX_CONTROL_WRITE = 20
_FRAME_SECONDS = 0.2  # no sample waits longer than this in the sensor
_ATT_INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
_BATTERY_SERVICE_16 = 0x180F


class _NoPairing(pairing.PairingDelegate):
    """leanfw-v1 has no bonding: every pairing request is refused."""

    async def accept(self) -> bool:
        return False


class LeanSensor(VirtualSensor):
    """A virtual leanfw-v1 sensor; see the module docstring."""

    kind: ClassVar[str] = "leanfw"
    default_rate_hz: ClassVar[float] = 50.0
    manufacturer: ClassVar[str] = "Lab Sensors"
    model: ClassVar[str] = "LEAN-CHEST-A"
    firmware: ClassVar[str] = "leanfw-v1/1.0.0+virtual"
    hardware: ClassVar[str | None] = "B2"
    max_mtu: ClassVar[int] = 247

    def __init__(
        self,
        name: str | None = None,
        *,
        serial: str = "D4A1F03B9E27",
        range_g: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"{lf.NAME_PREFIX}{serial[-4:]}", serial=serial, **kwargs)
        self.rate_code = lf.rate_code(int(self.rate_hz))
        self.range_code = lf.range_code(range_g)
        self.seq = 0
        self.control_writes: list[bytes] = []

    # -- GATT and advertising -------------------------------------------------------------
    async def attach(
        self, radio: VirtualRadio, device: Device, controller: RadioController
    ) -> None:
        device.pairing_config_factory = lambda _c: pairing.PairingConfig(delegate=_NoPairing())
        await super().attach(radio, device, controller)

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
        self.data_char.on("subscription", self._on_data_subscription)
        return [Service(lf.SERVICE_UUID, [self.control_char, self.data_char])]

    def advertising_data(self) -> AdvertisingData:
        return AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(lf.SERVICE_UUID).to_bytes(),
                ),
                (AdvertisingData.TX_POWER_LEVEL, bytes([0])),
            ]
        )

    def scan_response_data(self) -> AdvertisingData:
        battery = UUID.from_16_bits(_BATTERY_SERVICE_16).to_bytes() + bytes([self.battery_percent])
        return AdvertisingData(
            [
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                (AdvertisingData.SERVICE_DATA_16_BIT_UUID, battery),
            ]
        )

    # -- control --------------------------------------------------------------------------
    @property
    def streaming_acc(self) -> bool:
        return self.streaming("acc")

    def _on_control(self, _connection: object, value: bytes) -> None:
        if not 1 <= len(value) <= _MAX_CONTROL_WRITE:
            raise att.ATT_Error(error_code=_ATT_INVALID_ATTRIBUTE_VALUE_LENGTH)
        self.control_writes.append(bytes(value))
        self.spawn(self.indicate(self.control_char, self.handle_request(bytes(value))))

    def handle_request(self, data: bytes) -> bytes:
        """The response indication for one control write (section 6)."""
        check = lf.validate_request(data)
        if check.request is None:
            return lf.encode_response(check.opcode, check.status)
        request, op = check.request, check.opcode
        if request.opcode is lf.Opcode.GET_CONFIG:
            return lf.encode_response(op, lf.Status.OK, self._config())
        if request.opcode is lf.Opcode.START_STREAM:
            return lf.encode_response(op, self._start())
        if request.opcode is lf.Opcode.STOP_STREAM:
            stopped = self.stop_stream("acc")
            return lf.encode_response(op, lf.Status.OK if stopped else lf.Status.ALREADY_IN_STATE)
        if self.streaming_acc:
            return lf.encode_response(op, lf.Status.INVALID_STATE)
        assert request.code is not None
        if request.opcode is lf.Opcode.SET_RATE:
            self.rate_code = request.code
            self.rate_hz = float(lf.RATE_CODES[request.code])
        else:
            self.range_code = request.code
        return lf.encode_response(op, lf.Status.OK)

    def _start(self) -> lf.Status:
        if self.streaming_acc:
            return lf.Status.ALREADY_IN_STATE
        if not self.subscribed(self.data_char):
            return lf.Status.INVALID_STATE
        if self.battery_percent <= LOW_BATTERY_START_PERCENT:
            return lf.Status.LOW_BATTERY
        if self.take_refusal():
            return lf.Status.BUSY
        self.seq = 0
        self.start_stream("acc", self.data_char, self._samples_per_frame, self._frame)
        return lf.Status.OK

    def _on_data_subscription(self, _connection: object, notify: bool, _indicate: bool) -> None:
        if not notify:
            self.stop_stream("acc")  # as for STOP, without response or event (section 6.4)

    def _config(self) -> lf.DeviceConfig:
        return lf.DeviceConfig(
            streaming=self.streaming_acc,
            rate_code=self.rate_code,
            range_code=self.range_code,
            max_samples=lf.max_samples_per_frame(self.att_mtu),
            device_time_us=self.clock.now_ns() // 1000,
        )

    # -- frames ---------------------------------------------------------------------------
    def _samples_per_frame(self) -> int:
        per_200ms = round(lf.RATE_CODES[self.rate_code] * _FRAME_SECONDS)
        return min(lf.max_samples_per_frame(self.att_mtu), per_200ms)

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

    # -- battery --------------------------------------------------------------------------
    async def set_battery(self, percent: int) -> None:
        await super().set_battery(percent)
        if percent <= LOW_BATTERY_STOP_PERCENT and self.stop_stream("acc"):
            event = lf.encode_event(lf.EventCode.STREAM_STOPPED, lf.Status.LOW_BATTERY)
            await self.indicate(self.control_char, event)
        if self.connection is None:
            await self.start_advertising()  # the scan response carries the level
