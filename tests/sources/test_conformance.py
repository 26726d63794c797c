"""Pins the bleak and bumble internals the virtual radio relies on.

If one of these fails after an upgrade, read the changelog of that library and adapt
``sensorhub/sources/virtual/`` before touching the test. bumble changes its emulation between
0.0.x releases, so it is pinned exactly.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import bleak
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import BaseBleakScanner
from bleak.backends.service import BleakGATTService
from bumble import controller, device, host, link

from sensorhub.sources.virtual.backend import VirtualClient


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_bumble_is_the_pinned_version() -> None:
    assert version("bumble") == "0.0.236"


def test_bleak_scanner_base_helpers() -> None:
    for name in ("create_or_update_device", "call_detection_callbacks", "is_allowed_uuid"):
        assert callable(getattr(BaseBleakScanner, name))
    assert _params(BaseBleakScanner.create_or_update_device) == [
        "self",
        "key",
        "address",
        "name",
        "details",
        "adv",
    ]
    assert _params(BaseBleakScanner.__init__) == ["self", "detection_callback", "service_uuids"]


def test_bleak_client_base_and_gatt_objects() -> None:
    assert _params(BaseBleakClient.__init__) == [
        "self",
        "address_or_ble_device",
        "disconnected_callback",
        "timeout",
        "kwargs",
    ]
    assert _params(BleakGATTCharacteristic.__init__) == [
        "self",
        "obj",
        "handle",
        "uuid",
        "properties",
        "max_write_without_response_size",
        "service",
    ]
    assert _params(BleakGATTDescriptor.__init__) == [
        "self",
        "obj",
        "handle",
        "uuid",
        "characteristic",
    ]
    assert _params(BleakGATTService.__init__) == ["self", "obj", "handle", "uuid"]
    assert CHARACTERISTIC_PROPERTIES[0x10] == "notify"
    assert CHARACTERISTIC_PROPERTIES[0x20] == "indicate"


def test_bleak_forwards_backend_kwargs() -> None:
    """radio= and mtu= reach the backend; services= arrives normalised."""
    seen: dict[str, object] = {}

    class Probe(VirtualClient):
        def __init__(self, *args: object, **kwargs: object) -> None:
            seen.update(kwargs)

    bleak.BleakClient("00:00:00:00:00:01", services=["180d"], backend=Probe, radio=None, mtu=0)
    assert seen["mtu"] == 0
    assert "radio" in seen
    assert seen["services"] == {"0000180d-0000-1000-8000-00805f9b34fb"}


def test_bumble_internals_used() -> None:
    ctrl = controller.Controller
    for name in (
        "pending_le_connection",
        "le_acl_data_packet_length",
        "on_hci_le_create_connection_cancel_command",
        "on_hci_le_set_extended_advertising_data_command",
        "on_hci_le_set_extended_scan_response_data_command",
        "on_hci_le_set_extended_scan_parameters_command",
        "on_advertising_pdu",
        "on_le_disconnected",
        "create_le_connection",
        "find_le_connection_by_handle",
    ):
        assert hasattr(ctrl, name), name
    assert "assembler" in inspect.getsource(controller.Connection.__post_init__)
    assert "scan_response_data" in controller.AdvertisingSet.__dataclass_fields__
    for name in (
        "send_acl_data",
        "send_advertising_pdu",
        "send_ll_control_pdu",
        "find_le_controller",
    ):
        assert hasattr(link.LocalLink, name), name
    for name in ("on_hci_event_packet", "on_hci_acl_data_packet", "snooper", "hci_sink"):
        assert name in inspect.getsource(host.Host), name
    assert hasattr(device.Connection, "drain")
    assert hasattr(device.Device, "notify_subscriber")


def test_public_surface_is_pinned() -> None:
    import sensorhub.sources.virtual as virtual

    assert sorted(virtual.__all__) == [
        "ConstantPosture",
        "CsvMotion",
        "LEGACY_ADV_MAX_BYTES",
        "LeanSensor",
        "MotionSource",
        "Movesense",
        "PolarH10",
        "RadioConfig",
        "RadioLink",
        "SENSOR_KINDS",
        "SensorStats",
        "VirtualClient",
        "VirtualRadio",
        "VirtualScanner",
        "VirtualSensor",
        "as_motion_source",
        "conversation_sensors",
        "current_radio",
        "make_sensors",
    ]
    assert all(hasattr(virtual, name) for name in virtual.__all__)
