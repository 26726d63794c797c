"""A virtual Polar H10: PMD accelerometer stream, Heart Rate with RR, Battery, Device Info.

Behaves as the real strap does towards a hub (``docs: ../shared/reference/ble-protocols.md``
section 1, ``sensorhub/protocols/polar_pmd.py``):

- The control point (read / write / indicate) answers every request with an ``F0``
  indication: settings query (ACC: 25/50/100/200 Hz, 16 bit, 2/4/8 G; ECG: 130 Hz, 14 bit),
  START that must carry sample rate, resolution *and* range (else INVALID_PARAMETER; a value
  not offered gives INVALID_SAMPLE_RATE / INVALID_RESOLUTION / INVALID_RANGE), STOP, status,
  ALREADY_IN_STATE for a START while streaming or a STOP while stopped, INVALID_OP_CODE for
  unknown opcodes. Responses are indications: if the hub did not enable them, they are lost
  (the real strap's behaviour that trips up new clients).
- Raw int16 ACC frames (type 0x01, mG) filled to ``MTU - 3`` bytes (36 samples at the H10's
  maximum MTU of 232), each stamped with the sensor-clock time of its *last* sample. The
  clock is unset: it starts at 2019-01-01T00:00 (PMD epoch 2000) at power-on.
- ``device_stop()`` ends the ACC stream from the sensor's side with a ``01 02`` message.
- ``refuse_starts(n)``: the next n STARTs answer ``refusal_code`` (default INVALID_STATE).
- ``stale_stream_after_drop=True``: after an unexpected link loss the measurement stays
  "running" inside the sensor, so the next START answers ALREADY_IN_STATE until a STOP (seen
  on Polar devices, polar-ble-sdk #186).
- Heart Rate Measurement notifies once a second (with RR intervals) while subscribed.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import numpy as np
from bumble.core import UUID, AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from sensorhub.errors import DecodeError
from sensorhub.protocols import gatt as gatt_codec
from sensorhub.protocols import polar_pmd as pmd

from .sensor import VirtualSensor

__all__ = ["PolarH10"]

#: 2019-01-01T00:00:00 in ns since 2000-01-01: where an unset H10 clock starts.
UNSET_CLOCK_NS = 599_616_000_000_000_000

_ACC = pmd.MeasurementType.ACC
_ECG = pmd.MeasurementType.ECG
_ACC_OFFER = pmd.PmdSettings(sample_rates=(25, 50, 100, 200), resolutions=(16,), ranges=(2, 4, 8))
_ECG_OFFER = pmd.PmdSettings(sample_rates=(130,), resolutions=(14,))
_OFFERS: dict[int, pmd.PmdSettings] = {_ACC: _ACC_OFFER, _ECG: _ECG_OFFER}
_POLAR_COMPANY_ID = 0x006B
_HR_PERIOD_S = 1.0


class PolarH10(VirtualSensor):
    """A virtual Polar H10; see the module docstring."""

    kind: ClassVar[str] = "polar_h10"
    default_rate_hz: ClassVar[float] = 200.0
    clock_epoch_ns: ClassVar[int] = UNSET_CLOCK_NS
    manufacturer: ClassVar[str] = "Polar Electro Oy"
    model: ClassVar[str] = "Polar H10"
    firmware: ClassVar[str] = "3.1.1"
    max_mtu: ClassVar[int] = 232

    def __init__(
        self,
        name: str | None = None,
        *,
        serial: str = "A1B2C3D4",
        heart_rate_bpm: int = 72,
        refusal_code: int = pmd.ErrorCode.INVALID_STATE,
        stale_stream_after_drop: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"Polar H10 {serial}", serial=serial, **kwargs)
        self.heart_rate_bpm = heart_rate_bpm
        self.refusal_code = refusal_code
        self.stale_stream_after_drop = stale_stream_after_drop
        #: (rate, range) of the running ACC measurement, or None.
        self.acc_settings: tuple[int, int] | None = None
        self.control_writes: list[bytes] = []

    # -- GATT -----------------------------------------------------------------------------
    def build_services(self) -> list[Service]:
        self.cp_char: Characteristic[bytes] = Characteristic(
            pmd.PMD_CONTROL_POINT_UUID,
            Characteristic.Properties.READ
            | Characteristic.Properties.WRITE
            | Characteristic.Properties.INDICATE,
            Characteristic.READABLE | Characteristic.WRITEABLE,
            CharacteristicValue(
                read=lambda _c: pmd.build_features({_ECG, _ACC}), write=self._on_cp_write
            ),
        )
        self.data_char: Characteristic[bytes] = Characteristic(
            pmd.PMD_DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        self.hr_char: Characteristic[bytes] = Characteristic(
            gatt_codec.HEART_RATE_MEASUREMENT_UUID,
            Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            b"",
        )
        self.hr_char.on("subscription", self._on_hr_subscription)
        location: Characteristic[bytes] = Characteristic(
            gatt_codec.BODY_SENSOR_LOCATION_UUID,
            Characteristic.Properties.READ,
            Characteristic.READABLE,
            bytes((gatt_codec.BodySensorLocation.CHEST,)),
        )
        return [
            Service(gatt_codec.HEART_RATE_SERVICE_UUID, [self.hr_char, location]),
            Service(pmd.PMD_SERVICE_UUID, [self.cp_char, self.data_char]),
        ]

    def advertising_data(self) -> AdvertisingData:
        return AdvertisingData(
            [
                (AdvertisingData.FLAGS, bytes([0x06])),
                (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                (
                    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                    UUID.from_16_bits(0x180D).to_bytes(),  # Heart Rate, as the strap
                ),
            ]
        )

    def scan_response_data(self) -> AdvertisingData:
        return AdvertisingData(
            [(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, _POLAR_COMPANY_ID.to_bytes(2, "little"))]
        )

    # -- control point --------------------------------------------------------------------
    def _on_cp_write(self, _connection: object, value: bytes) -> None:
        self.control_writes.append(bytes(value))
        self.spawn(self.indicate(self.cp_char, self.handle_request(bytes(value))))

    def handle_request(self, data: bytes) -> bytes:
        """The ``F0`` response the strap sends for one control point write."""
        try:
            request = pmd.parse_request(data)
        except DecodeError:
            opcode = data[0] if data else 0
            return pmd.build_cp_response(opcode, 0, pmd.ErrorCode.INVALID_LENGTH)
        op, mtype = request.opcode, request.measurement_type or 0
        if op == pmd.Opcode.GET_MEASUREMENT_SETTINGS:
            offer = _OFFERS.get(mtype)
            if offer is None:
                return pmd.build_cp_response(op, mtype, pmd.ErrorCode.NOT_SUPPORTED)
            return pmd.build_cp_response(op, mtype, parameters=pmd.encode_settings(offer))
        if op == pmd.Opcode.REQUEST_MEASUREMENT_START:
            return pmd.build_cp_response(
                op, mtype, self._start(mtype, request.settings), parameters=b"\x01"
            )
        if op == pmd.Opcode.STOP_MEASUREMENT:
            if mtype != _ACC or self.acc_settings is None:
                return pmd.build_cp_response(op, mtype, pmd.ErrorCode.ALREADY_IN_STATE)
            self._stop_acc()
            return pmd.build_cp_response(op, mtype)
        if op == pmd.Opcode.GET_MEASUREMENT_STATUS:
            active = bytes((0x40 | _ACC,)) if self.acc_settings is not None else b""
            return pmd.build_cp_response(op, 0, parameters=active)
        return pmd.build_cp_response(op, mtype, pmd.ErrorCode.INVALID_OP_CODE)

    def _start(self, mtype: int, settings: pmd.PmdSettings) -> int:
        """Start a measurement; returns the status byte."""
        if mtype != _ACC:  # the virtual strap streams ACC only
            return (
                pmd.ErrorCode.NOT_SUPPORTED
                if mtype == _ECG
                else pmd.ErrorCode.INVALID_MEASUREMENT_TYPE
            )
        if self.acc_settings is not None:
            return pmd.ErrorCode.ALREADY_IN_STATE
        if not (settings.sample_rates and settings.resolutions and settings.ranges):
            return pmd.ErrorCode.INVALID_PARAMETER
        checks = (
            (settings.sample_rates[0], _ACC_OFFER.sample_rates, pmd.ErrorCode.INVALID_SAMPLE_RATE),
            (settings.resolutions[0], _ACC_OFFER.resolutions, pmd.ErrorCode.INVALID_RESOLUTION),
            (settings.ranges[0], _ACC_OFFER.ranges, pmd.ErrorCode.INVALID_RANGE),
        )
        for value, offered, error in checks:
            if value not in offered:
                return error
        if self.take_refusal():
            return self.refusal_code
        rate, range_g = settings.sample_rates[0], settings.ranges[0]
        self.acc_settings = (rate, range_g)
        self.start_stream(
            "acc", self.data_char, self._samples_per_frame, self._acc_frame, rate_hz=rate
        )
        return pmd.ErrorCode.SUCCESS

    def _stop_acc(self) -> None:
        self.acc_settings = None
        self.stop_stream("acc")

    async def device_stop(self) -> None:
        """The strap ends the ACC stream on its own and says so (``01 02``)."""
        if self.acc_settings is None:
            return
        self._stop_acc()
        await self.indicate(self.cp_char, pmd.build_measurement_stopped((_ACC,)))

    # -- frames ---------------------------------------------------------------------------
    def _samples_per_frame(self) -> int:
        return pmd.raw_samples_per_frame(self.att_mtu)

    def _acc_frame(self, acc_g: NDArray[np.float64], t_ns: NDArray[np.int64]) -> list[bytes]:
        assert self.acc_settings is not None
        full_scale_mg = self.acc_settings[1] * 1000
        mg = np.clip(np.rint(acc_g * 1000.0), -full_scale_mg, full_scale_mg - 1).astype(np.int16)
        return [pmd.encode_data_frame(mg, timestamp_ns=int(t_ns[-1]))]

    # -- heart rate -----------------------------------------------------------------------
    def _on_hr_subscription(self, _connection: object, notify: bool, _indicate: bool) -> None:
        if notify:
            self.spawn(self._heart_rate_loop())

    async def _heart_rate_loop(self) -> None:
        rr = round(60.0 / self.heart_rate_bpm * gatt_codec.RR_UNITS_PER_SECOND)
        while self.connection is not None and self.subscribed(self.hr_char):
            await asyncio.sleep(_HR_PERIOD_S / self.time_scale)
            value = gatt_codec.HeartRate(bpm=self.heart_rate_bpm, contact=True, rr_raw=(rr,))
            if self.connection is not None and not self.silent:
                await self.device.notify_subscriber(
                    self.connection, self.hr_char, gatt_codec.encode_heart_rate(value)
                )

    def on_disconnected(self) -> None:
        if self.acc_settings is not None and not self.stale_stream_after_drop:
            self.acc_settings = None
