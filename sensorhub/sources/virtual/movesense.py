"""A virtual Movesense running the GATT SensorData Protocol (GSP) sample firmware.

Behaviour (``../shared/reference/ble-protocols.md`` section 3; codec in
``sensorhub/protocols/movesense.py``):

- Commands on the write characteristic (``firmware_specs/movesense-gsp.md``): HELLO (answered
  ``01 ref 'Hello'``), SUBSCRIBE by client reference to ``/Meas/Acc/<rate>`` and UNSUBSCRIBE
  by reference. As in the sample firmware, the only answer to a subscription is 507 ("no free
  slot") for a fifth one; success is silent (the data starts) and so is failure (an
  unsupported rate or unknown resource: the data never comes). UNSUBSCRIBE is never answered.
- DATA notifications: u32 ms timestamp of the *first* sample (local clock since power-on,
  wrapping) and float32 m/s^2 triplets; a value longer than ``MTU - 3`` (at most 155) is
  split into DATA + DATA_PART2.
- Every subscription is dropped on disconnect: the hub must subscribe again.
- ``refuse_starts(n)``: the next n SUBSCRIBEs answer 507, the only error the sample has.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from bumble.core import UUID, AdvertisingData
from bumble.gatt import Characteristic, CharacteristicValue, Service
from numpy.typing import NDArray

from sensorhub.errors import DecodeError
from sensorhub.protocols import movesense as gsp
from sensorhub.protocols.base import STANDARD_GRAVITY

from .sensor import VirtualSensor

__all__ = ["Movesense"]

_NO_FREE_SLOT = 507
_U32 = 1 << 32


class Movesense(VirtualSensor):
    """A virtual Movesense sensor; see the module docstring."""

    kind: ClassVar[str] = "movesense"
    default_rate_hz: ClassVar[float] = 52.0
    manufacturer: ClassVar[str] = "Movesense"
    model: ClassVar[str] = "Movesense MD"
    firmware: ClassVar[str] = "2.2.1"
    max_mtu: ClassVar[int] = 158

    def __init__(
        self,
        name: str | None = None,
        *,
        serial: str = "174630000192",
        samples_per_message: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or f"Movesense {serial}", serial=serial, **kwargs)
        self.samples_per_message = samples_per_message
        self.subscriptions: dict[int, int] = {}  # ref -> rate (Hz)
        self.commands: list[bytes] = []

    def build_services(self) -> list[Service]:
        self.command_char: Characteristic[bytes] = Characteristic(
            gsp.GSP_COMMAND_UUID,
            Characteristic.Properties.WRITE | Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_command),
        )
        self.data_char: Characteristic[bytes] = Characteristic(
            gsp.GSP_DATA_UUID, Characteristic.Properties.NOTIFY, Characteristic.READABLE, b""
        )
        return [Service(gsp.GSP_SERVICE_UUID, [self.command_char, self.data_char])]

    def scan_response_data(self) -> AdvertisingData:
        return AdvertisingData(
            [
                (
                    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                    UUID(gsp.GSP_SERVICE_UUID).to_bytes(),
                )
            ]
        )

    def _on_command(self, _connection: object, value: bytes) -> None:
        self.commands.append(bytes(value))
        reply = self.handle_command(bytes(value))
        if reply is not None:
            self.spawn(self.notify(self.data_char, reply))

    def handle_command(self, data: bytes) -> bytes | None:
        """Apply one command; returns the COMMAND_RESULT to notify, if any."""
        try:
            command = gsp.parse_command(data)
        except DecodeError:
            return None  # the sample firmware ignores what it cannot parse
        ref = command.ref
        if command.command is gsp.Command.HELLO:
            return gsp.encode_hello_response(ref)
        if command.command is gsp.Command.UNSUBSCRIBE:
            self.subscriptions.pop(ref, None)
            self.stop_stream(f"ref{ref}")
            return None
        if ref not in self.subscriptions and len(self.subscriptions) >= gsp.MAX_SUBSCRIPTIONS:
            return gsp.encode_command_result(ref, _NO_FREE_SLOT)
        if self.take_refusal():
            return gsp.encode_command_result(ref, _NO_FREE_SLOT)
        assert command.path is not None
        try:
            rate = gsp.acc_rate_from_path(command.path)
        except ValueError:
            return None  # unknown resource: the sensor's API refuses, the sample says nothing
        if rate not in gsp.ACC_RATES_HZ:
            return None  # 501 inside the sensor; the slot is freed and nothing is sent
        self.subscriptions[ref] = rate
        self.start_stream(
            f"ref{ref}",
            self.data_char,
            lambda: self.samples_per_message,
            lambda acc, t_ns: self._data(ref, acc, t_ns, rate),
            rate_hz=rate,
        )
        return None

    def _data(
        self, ref: int, acc_g: NDArray[np.float64], t_ns: NDArray[np.int64], rate: int
    ) -> list[bytes]:
        # t_ns are the samples' times; Movesense stamps the first one, in ms, wrapping.
        first_ms = (int(t_ns[0]) // 1_000_000) % _U32
        payload = gsp.encode_acc_payload(first_ms, acc_g * STANDARD_GRAVITY)
        max_len = min(gsp.MAX_NOTIFICATION_LEN, self.att_mtu - 3)
        return gsp.encode_data(ref, payload, max_len=max_len)

    def on_disconnected(self) -> None:
        self.subscriptions.clear()  # streams were stopped by the base class
