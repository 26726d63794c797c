"""`VirtualRadio`: the object that owns the virtual air, the central and the peripherals.

One :class:`RadioLink`, one central (emulated controller + bumble Host + Device) that the bleak
backend drives, and one emulated controller + Device per virtual peripheral, all on the running
event loop. Use it as an async context manager; on exit every peripheral stops its tasks,
every link is closed and every timer is cancelled.

The backend finds the radio through the ``radio=`` keyword that bleak forwards to backends,
else through :func:`current_radio` (a ContextVar set by ``__aenter__``, with the single open
radio as fallback for code running in another context, e.g. a pytest fixture's).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from bumble import hci
from bumble.device import Device
from bumble.transport.common import AsyncPipeSink

from .radio import RadioConfig, RadioController, RadioHost, RadioLink

if TYPE_CHECKING:
    from .backend import VirtualClient, VirtualScanner

__all__ = ["Peripheral", "VirtualRadio", "current_radio"]

logger = logging.getLogger(__name__)

_current: contextvars.ContextVar[VirtualRadio | None] = contextvars.ContextVar(
    "sensorhub_virtual_radio", default=None
)
_open_radios: list[VirtualRadio] = []

CENTRAL_ADDRESS = "C0:5E:00:00:00:01"

#: How long close() waits for HCI command/response pairs still in flight (advertising restarts
#: after a disconnection): bumble's Host logs InvalidStateError if the loop ends first.
_SETTLE_S = 0.05


class Peripheral(Protocol):
    """What the radio needs from a virtual peripheral (see :class:`VirtualSensor`)."""

    name: str

    async def attach(
        self, radio: VirtualRadio, device: Device, controller: RadioController
    ) -> None:
        """Build the GATT server on ``device`` and start advertising."""

    async def close(self) -> None:
        """Stop every task and timer the peripheral owns."""


def current_radio() -> VirtualRadio:
    """The radio of the current context, else the only open one; raises if ambiguous."""
    radio = _current.get()
    if radio is not None:
        return radio
    if len(_open_radios) == 1:
        return _open_radios[0]
    raise RuntimeError(
        "no unique open VirtualRadio: use `async with VirtualRadio()` or pass radio= to bleak"
    )


class VirtualRadio:
    """The virtual air with its central and peripherals.

    >>> async with VirtualRadio(sensors=[PolarH10("Polar H10 A1")]) as radio:  # doctest: +SKIP
    ...     device = await BleakScanner.find_device_by_name("Polar H10 A1", **radio.scanner_kwargs)
    ...     async with BleakClient(device, **radio.client_kwargs) as client: ...
    """

    def __init__(
        self, config: RadioConfig | None = None, *, sensors: Iterable[Peripheral] = ()
    ) -> None:
        self.config = config or RadioConfig()
        self._initial = list(sensors)
        self.peripherals: list[Peripheral] = []
        self._next_address = 1
        self._link: RadioLink | None = None
        self._central: Device | None = None
        self._central_controller: RadioController | None = None
        self._token: contextvars.Token[VirtualRadio | None] | None = None
        #: bumble's emulated controller holds one pending create-connection at a time.
        self.connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._scan_users: dict[object, bool] = {}  # user -> wants active scanning
        self._scan_active: bool | None = None  # None: not scanning

    # -- what bleak needs -----------------------------------------------------------------
    @property
    def scanner_backend(self) -> type[VirtualScanner]:
        from .backend import VirtualScanner

        return VirtualScanner

    @property
    def client_backend(self) -> type[VirtualClient]:
        from .backend import VirtualClient

        return VirtualClient

    @property
    def scanner_kwargs(self) -> dict[str, Any]:
        """``BleakScanner(**radio.scanner_kwargs)``: backend class plus this radio."""
        return {"backend": self.scanner_backend, "radio": self}

    @property
    def client_kwargs(self) -> dict[str, Any]:
        """``BleakClient(device, **radio.client_kwargs)``."""
        return {"backend": self.client_backend, "radio": self}

    @property
    def link(self) -> RadioLink:
        if self._link is None:
            raise RuntimeError("VirtualRadio is not open")
        return self._link

    @property
    def central(self) -> Device:
        if self._central is None:
            raise RuntimeError("VirtualRadio is not open")
        return self._central

    @property
    def central_controller(self) -> RadioController:
        if self._central_controller is None:
            raise RuntimeError("VirtualRadio is not open")
        return self._central_controller

    # -- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> VirtualRadio:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the link and the central, then attach the sensors given to the constructor."""
        self._link = RadioLink(self.config)
        self._central, self._central_controller = self._make_device("central", CENTRAL_ADDRESS)
        await self._central.power_on()
        self._token = _current.set(self)
        _open_radios.append(self)
        for sensor in self._initial:
            await self.add(sensor)

    def _make_device(self, name: str, address: str) -> tuple[Device, RadioController]:
        controller = RadioController(name, link=self.link, public_address=address)
        host = RadioHost(controller, AsyncPipeSink(controller))
        return Device(name=name, address=hci.Address(address), host=host), controller

    def allocate_address(self) -> str:
        n = self._next_address
        self._next_address += 1
        return f"D0:5E:00:00:{(n >> 8) & 0xFF:02X}:{n & 0xFF:02X}"

    async def add(self, peripheral: Peripheral) -> Peripheral:
        """Put a peripheral on the air: its own controller and Device, then ``attach``."""
        address = self.allocate_address()
        device, controller = self._make_device(peripheral.name, address)
        await device.power_on()
        await peripheral.attach(self, device, controller)
        self.peripherals.append(peripheral)
        return peripheral

    async def close(self) -> None:
        """Disconnect everything, stop every peripheral and cancel every timer."""
        for peripheral in self.peripherals:
            with contextlib.suppress(Exception):
                await peripheral.close()
        if self._central is not None:
            for connection in list(self._central.connections.values()):
                with contextlib.suppress(Exception):
                    await connection.disconnect()
            with contextlib.suppress(Exception):
                if self._central.is_scanning:
                    await self._central.stop_scanning()
        await asyncio.sleep(_SETTLE_S)
        if self._link is not None:
            self._link.close()
        if self._token is not None:
            with contextlib.suppress(ValueError):  # closed from another context
                _current.reset(self._token)
            self._token = None
        if self in _open_radios:
            _open_radios.remove(self)

    # -- shared scanning (reference-counted across BleakScanner instances) ----------------
    async def acquire_scan(self, user: object, *, active: bool) -> None:
        async with self._scan_lock:
            self._scan_users[user] = active
            await self._apply_scan_mode()

    async def release_scan(self, user: object) -> None:
        async with self._scan_lock:
            self._scan_users.pop(user, None)
            await self._apply_scan_mode()

    async def _apply_scan_mode(self) -> None:
        wanted = any(self._scan_users.values()) if self._scan_users else None
        if wanted == self._scan_active:
            return
        if self._scan_active is not None:
            await self.central.stop_scanning()
        if wanted is not None:
            # filter_duplicates=False: bleak wants every advertisement (RSSI updates).
            await self.central.start_scanning(active=wanted, filter_duplicates=False)
        self._scan_active = wanted
