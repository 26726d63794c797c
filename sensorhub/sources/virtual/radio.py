"""The air between virtual controllers: bumble's LocalLink and Controller, made radio-like.

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

Everything here touches bumble internals and is pinned to bumble 0.0.236; see
``tests/sources/test_bumble_conformance.py``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field

from bumble import core, hci, ll
from bumble.controller import AdvertisingSet, Controller
from bumble.controller import Connection as LinkConnection
from bumble.host import Host
from bumble.link import LocalLink

__all__ = [
    "LEGACY_ADV_MAX_BYTES",
    "RadioConfig",
    "RadioController",
    "RadioHost",
    "RadioLink",
]

logger = logging.getLogger(__name__)
_BUMBLE_HOST_LOG = logging.getLogger("bumble.host")
_BUMBLE_CONTROLLER_LOG = logging.getLogger("bumble.controller")

#: Maximum advertising (and scan response) data with legacy PDUs, Core Vol 6 Part B 2.3.1.
LEGACY_ADV_MAX_BYTES = 31

#: Link-layer payload octets with Data Length Extension; also the HCI ACL fragment size.
LL_MAX_OCTETS = 251

_EXT_REPORT = hci.HCI_LE_Extended_Advertising_Report_Event
_ADV_PROPS = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties


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


@dataclass(slots=True)
class _AirQueue:
    """One direction of one connection: fragments waiting for a connection event."""

    anchor: float
    fragments: collections.deque[hci.HCI_AclDataPacket] = field(default_factory=collections.deque)
    event: asyncio.TimerHandle | None = None
    sent: int = 0
    busy_events: int = 0  # connection events that carried at least one packet


class RadioHost(Host):
    """bumble Host without the eager per-packet debug formatting (unless DEBUG is on)."""

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper is not None or _BUMBLE_HOST_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.hci_sink is not None:
            self.hci_sink.on_packet(bytes(packet))

    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if self.snooper is not None or _BUMBLE_HOST_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
            return
        # Same dispatch as Host.on_hci_packet, minus the f-string.
        if isinstance(packet, hci.HCI_Event):
            self.on_hci_event_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        else:
            super().on_hci_packet(packet)


class RadioController(Controller):
    """An emulated controller that transmits at connection events; see the module docstring."""

    le_acl_data_packet_length = LL_MAX_OCTETS
    supported_max_tx_octets = LL_MAX_OCTETS
    supported_max_rx_octets = LL_MAX_OCTETS
    suggested_max_tx_octets = LL_MAX_OCTETS

    def __init__(self, name: str, *, link: RadioLink, public_address: str) -> None:
        super().__init__(name, link=link, public_address=public_address)
        self.radio: RadioLink = link
        self._air: dict[hci.Address, _AirQueue] = {}  # by peer address
        self._active_scan = True

    # -- HCI fast path --------------------------------------------------------------------
    def on_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _BUMBLE_CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().on_hci_packet(packet)
        elif isinstance(packet, hci.HCI_AclDataPacket):
            self.on_hci_acl_data_packet(packet)
        elif isinstance(packet, hci.HCI_Command):
            self.on_hci_command_packet(packet)
        else:
            super().on_hci_packet(packet)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if _BUMBLE_CONTROLLER_LOG.isEnabledFor(logging.DEBUG):
            super().send_hci_packet(packet)
        elif self.host is not None:
            asyncio.get_running_loop().call_soon(self.host.on_packet, bytes(packet))

    # -- connection events ----------------------------------------------------------------
    def on_hci_acl_data_packet(self, packet: hci.HCI_AclDataPacket) -> None:
        connection = self.find_le_connection_by_handle(packet.connection_handle)
        if connection is None:
            super().on_hci_acl_data_packet(packet)  # classic, or a stale handle (logged)
            return
        loop = asyncio.get_running_loop()
        queue = self._air.get(connection.peer_address)
        if queue is None:
            queue = self._air[connection.peer_address] = _AirQueue(anchor=loop.time())
        queue.fragments.append(packet)
        if queue.event is None:
            self._schedule_event(connection.peer_address, queue)

    def _schedule_event(self, peer: hci.Address, queue: _AirQueue) -> None:
        loop = asyncio.get_running_loop()
        interval = self.radio.config.connection_interval_s
        elapsed = loop.time() - queue.anchor
        next_event = queue.anchor + (int(elapsed / interval) + 1) * interval
        queue.event = loop.call_at(next_event, self._on_connection_event, peer)

    def _on_connection_event(self, peer: hci.Address) -> None:
        queue = self._air.get(peer)
        connection = self.le_connections.get(peer)
        if queue is None or connection is None:
            return
        queue.event = None
        if self.radio.can_hear(self, peer):
            budget = min(self.radio.config.packets_per_event, len(queue.fragments))
            for _ in range(budget):
                connection.assembler.feed_packet(queue.fragments.popleft())
            queue.sent += budget
            queue.busy_events += 1
            self.send_hci_packet(
                hci.HCI_Number_Of_Completed_Packets_Event(
                    connection_handles=[connection.handle], num_completed_packets=[budget]
                )
            )
        # Out of range: keep everything queued, the link layer retransmits at later events.
        if queue.fragments:
            self._schedule_event(peer, queue)

    def air_stats(self, peer: hci.Address) -> tuple[int, int, int]:
        """(packets queued, packets sent, busy connection events) on the link to ``peer``."""
        queue = self._air.get(peer)
        if queue is None:
            return (0, 0, 0)
        return (len(queue.fragments), queue.sent, queue.busy_events)

    def on_le_disconnected(self, connection: LinkConnection, reason: int) -> None:
        queue = self._air.pop(connection.peer_address, None)
        if queue is not None and queue.event is not None:
            queue.event.cancel()
        self.radio.forget_connection(self, connection)
        super().on_le_disconnected(connection, reason)

    def drop_connection(self, peer: hci.Address, reason: int) -> None:
        """Tear down the connection to ``peer`` locally, as a supervision timeout does."""
        connection = self.le_connections.get(peer)
        if connection is not None:
            self.on_le_disconnected(connection, reason)

    # -- connection creation --------------------------------------------------------------
    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        """Really cancel (bumble 0.0.236 ignores the command and stays pending forever)."""
        if self.pending_le_connection is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        pending = self.pending_le_connection
        self.pending_le_connection = None
        # Core Vol 4 Part E 7.8.13: Command Complete first, then LE Connection Complete with
        # "unknown connection identifier"; call_soon keeps that order.
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    # -- advertising limits ---------------------------------------------------------------
    def _uses_legacy_pdus(self, handle: int) -> bool:
        adv_set = self.advertising_sets.get(handle)
        if adv_set is None or adv_set.parameters is None:
            return True
        props = int(adv_set.parameters.advertising_event_properties)
        return bool(props & _ADV_PROPS.USE_LEGACY_ADVERTISING_PDUS)

    def on_hci_le_set_extended_advertising_data_command(
        self, command: hci.HCI_LE_Set_Extended_Advertising_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if (
            self._uses_legacy_pdus(command.advertising_handle)
            and len(command.advertising_data) > LEGACY_ADV_MAX_BYTES
        ):
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
            )
        return super().on_hci_le_set_extended_advertising_data_command(command)

    def on_hci_le_set_extended_scan_response_data_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Response_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if (
            self._uses_legacy_pdus(command.advertising_handle)
            and len(command.scan_response_data) > LEGACY_ADV_MAX_BYTES
        ):
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
            )
        return super().on_hci_le_set_extended_scan_response_data_command(command)

    def on_hci_le_set_advertising_data_command(
        self, command: hci.HCI_LE_Set_Advertising_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if len(command.advertising_data) > LEGACY_ADV_MAX_BYTES:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
            )
        return super().on_hci_le_set_advertising_data_command(command)

    def on_hci_le_set_scan_response_data_command(
        self, command: hci.HCI_LE_Set_Scan_Response_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if len(command.scan_response_data) > LEGACY_ADV_MAX_BYTES:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_COMMAND_PARAMETERS_ERROR
            )
        return super().on_hci_le_set_scan_response_data_command(command)

    # -- scanning -------------------------------------------------------------------------
    @property
    def listening(self) -> bool:
        """Scanning or initiating: only then does the radio hear advertising."""
        return bool(self.le_scan_enable) or self.pending_le_connection is not None

    def on_hci_le_set_extended_scan_parameters_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Parameters_Command
    ) -> hci.HCI_StatusReturnParameters:
        self._active_scan = bool(command.scan_types) and command.scan_types[0] == 1
        return super().on_hci_le_set_extended_scan_parameters_command(command)

    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        """Report legacy-PDU advertising with the real scan response and configured RSSI."""
        if not self.listening:
            return
        found = self.radio.find_advertiser(pdu.advertiser_address)
        if (
            not isinstance(pdu, ll.AdvExtInd)
            or pdu.periodic_advertising_data is not None
            or found is None
            or found[1].parameters is None
        ):
            super().on_advertising_pdu(pdu)
            return
        advertiser, adv_set = found
        assert adv_set.parameters is not None
        if self.le_scan_enable:
            props = int(adv_set.parameters.advertising_event_properties)
            flags = _EXT_REPORT.EventType.LEGACY_ADVERTISING_PDU_USED
            if props & _ADV_PROPS.CONNECTABLE_ADVERTISING:
                flags |= _EXT_REPORT.EventType.CONNECTABLE_ADVERTISING
            if props & _ADV_PROPS.SCANNABLE_ADVERTISING:
                flags |= _EXT_REPORT.EventType.SCANNABLE_ADVERTISING
            rssi = self.radio.rssi_of(advertiser)
            reports = [self._report(pdu.advertiser_address, flags, rssi, pdu.data)]
            if self._active_scan and props & _ADV_PROPS.SCANNABLE_ADVERTISING:
                flags |= _EXT_REPORT.EventType.SCAN_RESPONSE
                scan_rsp = bytes(adv_set.scan_response_data)
                reports.append(self._report(pdu.advertiser_address, flags, rssi, scan_rsp))
            for report in reports:
                self.send_hci_packet(_EXT_REPORT([report]))
        pending = self.pending_le_connection
        if pending is not None and pending.peer_address == pdu.advertiser_address:
            self.create_le_connection(pdu.advertiser_address)

    @staticmethod
    def _report(
        address: hci.Address, flags: int, rssi: int, data: bytes
    ) -> hci.HCI_LE_Extended_Advertising_Report_Event.Report:
        return _EXT_REPORT.Report(
            event_type=flags,
            address_type=address.address_type,
            address=address,
            primary_phy=hci.Phy.LE_1M,
            secondary_phy=0,
            advertising_sid=0xFF,
            tx_power=_EXT_REPORT.TX_POWER_INFORMATION_NOT_AVAILABLE,
            rssi=rssi,
            periodic_advertising_interval=0,
            direct_address_type=0,
            direct_address=hci.Address.ANY,
            data=data,
        )


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
