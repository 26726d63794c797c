"""The air between virtual controllers: bumble's LocalLink made radio-like (with
:class:`~.controller.RadioController` on every device).

bumble's emulated link delivers every packet on the next loop iteration, never loses a peer and
accepts any advertising payload. That is too kind for testing a BLE hub, so this module adds
the three properties of a real radio that sensorhub's behaviour depends on:

- **Connection events with a packet budget.** Each side of a connection transmits only at
  connection events (every ``RadioConfig.connection_interval_s``, aligned to the connection's
  start) and at most ``packets_per_event`` link-layer packets per event and direction. A burst
  therefore queues in the controller as it would on air, and the host only learns that a packet
  left (HCI Number Of Completed Packets) when it was actually sent. One HCI ACL fragment is one
  link-layer packet: controllers use 251-octet fragments, as with Data Length Extension.
- **Supervision timeout.** A peer that goes out of range (or whose controller is removed from
  the link) stops hearing and being heard. Packets wait in the queues (the link layer would
  retransmit them) and, if the peer is not back within ``supervision_timeout_s``, both ends see
  a disconnection with reason 0x08 (connection timeout). No half-open links.
- **Legacy advertising limits.** Advertising data and scan response data are limited to 31
  bytes each when legacy PDUs are used; a longer payload is refused by the controller with HCI
  error 0x12 (invalid parameters), as real controllers do. Active scanning delivers the
  advertiser's real scan response (bumble echoes the advertising data instead), and RSSI comes
  from a per-device setting.

It also fixes two emulation gaps: ``LE Create Connection Cancel`` now really cancels (the
pending connection completes with "unknown connection identifier", so bumble's own connect
timeout works and the next connect is not refused), and the per-packet HCI debug log lines
that bumble formats eagerly are skipped unless DEBUG logging is enabled (they cost ~40 % CPU).

This module holds the link side (range, RSSI, supervision timers, delivery) and
:class:`RadioConfig`; the per-controller side is in :mod:`.controller`. Both touch bumble
internals and are pinned to bumble 0.0.236; see ``tests/sources/test_conformance.py``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bumble import core, hci, ll
from bumble.controller import AdvertisingSet, Controller
from bumble.controller import Connection as LinkConnection
from bumble.link import LocalLink

from .controller import LEGACY_ADV_MAX_BYTES, RadioController, RadioHost

__all__ = [
    "LEGACY_ADV_MAX_BYTES",
    "RadioConfig",
    "RadioController",
    "RadioHost",
    "RadioLink",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RadioConfig:
    """Timing of the virtual air. All times in seconds.

    Defaults are those of a typical Linux central talking to a chest strap: a 15 ms connection
    interval (phones and BlueZ settle between 7.5 and 30 ms), 4 packets per event and direction
    (what small controllers manage at 251 octets), and a 2 s supervision timeout (between
    BlueZ's 0.42 s and Android's 5 s).
    """

    connection_interval_s: float = 0.015
    packets_per_event: int = 4
    supervision_timeout_s: float = 2.0
    default_rssi: int = -60

    def __post_init__(self) -> None:
        if self.connection_interval_s <= 0 or self.supervision_timeout_s <= 0:
            raise ValueError("connection interval and supervision timeout must be positive")
        if self.packets_per_event < 1:
            raise ValueError("packets_per_event must be at least 1")


class RadioLink(LocalLink):
    """The shared air: range, RSSI and supervision timeouts; see the module docstring."""

    def __init__(self, config: RadioConfig | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.config = config or RadioConfig()
        self._out_of_range: set[Controller] = set()
        self._rssi: dict[Controller, int] = {}
        self._by_address: dict[hci.Address, Controller] = {}  # lookup cache, cleared on any change
        # (controller, peer address) -> pending supervision timeout
        self._timeouts: dict[tuple[Controller, hci.Address], asyncio.TimerHandle] = {}

    # -- queries used by RadioController --------------------------------------------------
    def in_range(self, controller: Controller) -> bool:
        return controller in self.controllers and controller not in self._out_of_range

    def can_hear(self, sender: Controller, peer_address: hci.Address) -> bool:
        receiver = self.find_le_controller(peer_address)
        return receiver is not None and self.in_range(sender) and self.in_range(receiver)

    def rssi_of(self, controller: Controller) -> int:
        return self._rssi.get(controller, self.config.default_rssi)

    def set_rssi(self, controller: Controller, rssi: int) -> None:
        self._rssi[controller] = rssi

    def find_le_controller(self, address: hci.Address) -> Controller | None:
        """bumble's lookup scans every controller per packet; cache it (addresses are fixed)."""
        controller = self._by_address.get(address)
        if controller is None:
            controller = super().find_le_controller(address)
            if controller is not None:
                self._by_address[address] = controller
        return controller

    def add_controller(self, controller: Controller) -> None:
        self._by_address.clear()
        super().add_controller(controller)

    def on_address_changed(self, controller: Controller) -> None:
        self._by_address.clear()
        super().on_address_changed(controller)  # type: ignore[no-untyped-call]

    def find_advertiser(self, address: hci.Address) -> tuple[Controller, AdvertisingSet] | None:
        """The controller and enabled advertising set that advertise as ``address``."""
        controller = self.find_le_controller(address)
        if controller is None:
            return None
        for adv_set in controller.advertising_sets.values():
            if adv_set.enabled and adv_set.address == address:
                return controller, adv_set
        return None

    # -- delivery -------------------------------------------------------------------------
    def send_acl_data(
        self,
        sender: Controller,
        destination: hci.Address,
        transport: core.PhysicalTransport,
        data: bytes,
    ) -> None:
        receiver = self.find_le_controller(destination)
        if receiver is None or not (self.in_range(sender) and self.in_range(receiver)):
            return  # lost in the air; only reachable via races with going out of range
        super().send_acl_data(sender, destination, transport, data)

    def send_advertising_pdu(self, sender: Controller, packet: ll.AdvertisingPdu) -> None:
        if not self.in_range(sender):
            return
        loop = asyncio.get_running_loop()
        for controller in self.controllers:
            if controller is sender or controller in self._out_of_range:
                continue
            # Only a scanning or initiating radio hears advertising (CONNECT_IND included:
            # bumble sends it as an advertising PDU, and the advertiser is not listening).
            if isinstance(packet, ll.ConnectInd) or getattr(controller, "listening", True):
                loop.call_soon(controller.on_ll_advertising_pdu, packet)

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        sender = self.find_le_controller(sender_address)
        receiver = self.find_le_controller(receiver_address)
        if sender is None or receiver is None:
            return
        if not (self.in_range(sender) and self.in_range(receiver)):
            return  # e.g. LL_TERMINATE_IND lost: the peer finds out by supervision timeout
        super().send_ll_control_pdu(sender_address, receiver_address, packet)

    # -- range and supervision ------------------------------------------------------------
    def set_in_range(self, controller: Controller, in_range: bool) -> None:
        """Move a controller out of (or back into) radio range of everyone else."""
        if in_range:
            self._out_of_range.discard(controller)
            self._cancel_timeouts(controller)
            return
        if controller in self._out_of_range:
            return
        self._out_of_range.add(controller)
        self._arm_timeouts(controller)

    def remove_controller(self, controller: Controller) -> None:
        """A controller that leaves the link vanishes: its peers time out."""
        self._arm_timeouts(controller)
        super().remove_controller(controller)
        self._by_address.clear()
        self._out_of_range.discard(controller)

    def _arm_timeouts(self, controller: Controller) -> None:
        loop = asyncio.get_running_loop()
        for peer_address, connection in list(controller.le_connections.items()):
            peer = self.find_le_controller(peer_address)
            ends = [(controller, peer_address)]
            if peer is not None:
                ends.append((peer, connection.self_address))
            for end, addr in ends:
                if (end, addr) not in self._timeouts:
                    self._timeouts[(end, addr)] = loop.call_later(
                        self.config.supervision_timeout_s, self._supervision_timeout, end, addr
                    )

    def _cancel_timeouts(self, controller: Controller) -> None:
        """Back in range in time: links whose *both* ends still exist survive. A link the
        other end gave up meanwhile (e.g. the hub disconnected) still times out here."""
        own_addresses = {c.self_address for c in controller.le_connections.values()}
        for key in list(self._timeouts):
            end, addr = key
            if (end is controller or addr in own_addresses) and self._both_ends_alive(end, addr):
                self._timeouts.pop(key).cancel()

    def _both_ends_alive(self, end: Controller, peer_address: hci.Address) -> bool:
        connection = end.le_connections.get(peer_address)
        peer = self.find_le_controller(peer_address)
        if connection is None or peer is None:
            return False
        return connection.self_address in peer.le_connections

    def _supervision_timeout(self, controller: Controller, peer_address: hci.Address) -> None:
        assert isinstance(controller, RadioController)
        self._timeouts.pop((controller, peer_address), None)
        logger.info("%s: supervision timeout on link to %s", controller.name, peer_address)
        controller.drop_connection(peer_address, hci.HCI_CONNECTION_TIMEOUT_ERROR)

    def forget_connection(self, controller: Controller, connection: LinkConnection) -> None:
        """Called when a connection ends: its supervision timer has nothing left to do."""
        handle = self._timeouts.pop((controller, connection.peer_address), None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Cancel every pending supervision timer (teardown)."""
        for handle in self._timeouts.values():
            handle.cancel()
        self._timeouts.clear()
