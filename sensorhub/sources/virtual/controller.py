"""Emulated controllers that transmit at connection events (see :mod:`.radio`).

:class:`RadioController` changes bumble's emulated controller where a hub's behaviour depends
on it: queued transmission at connection events within a packet budget (HCI Number Of
Completed Packets only when a packet went on air), refusal of legacy advertising payloads over
31 bytes, real scan responses and per-device RSSI, a working LE Create Connection Cancel. It
and :class:`RadioHost` also skip bumble's eager per-packet debug formatting (~40 % of the CPU)
unless DEBUG logging is on. Pinned to bumble 0.0.236 (``tests/sources/test_conformance.py``).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bumble import hci, ll
from bumble.controller import Connection as LinkConnection
from bumble.controller import Controller
from bumble.host import Host

if TYPE_CHECKING:
    from .radio import RadioLink

__all__ = ["LEGACY_ADV_MAX_BYTES", "LL_MAX_OCTETS", "RadioController", "RadioHost"]

logger = logging.getLogger(__name__)
_BUMBLE_HOST_LOG = logging.getLogger("bumble.host")
_BUMBLE_CONTROLLER_LOG = logging.getLogger("bumble.controller")

#: Maximum advertising (and scan response) data with legacy PDUs, Core Vol 6 Part B 2.3.1.
LEGACY_ADV_MAX_BYTES = 31

#: Link-layer payload octets with Data Length Extension; also the HCI ACL fragment size.
LL_MAX_OCTETS = 251

_EXT_REPORT = hci.HCI_LE_Extended_Advertising_Report_Event
_ADV_PROPS = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties


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
