"""The one exception tree of sensorhub.

Every error that sensorhub raises on purpose derives from :class:`SensorhubError`, so a
caller (the CLI, the hub's supervisor, a test) can catch "our" failures in one place and let
programming errors propagate. Foreign exceptions (``struct.error``, numpy errors, bleak and
D-Bus errors, ``sqlite3`` and ``json`` errors) are translated at the edge where they occur,
with ``raise ... from exc`` so the original stays in the traceback. Code never matches on
message text to decide what to do; it matches on the class.

::

    SensorhubError                 root: "sensorhub refused or failed, and says why"
    ├── DecodeError                bytes from a sensor (or a recording) are malformed:
    │                              truncated, wrong length, unknown frame type, bad width...
    │                              The frame is dropped and counted; the stream goes on.
    ├── ProtocolError              a well-formed message that breaks the protocol's rules:
    │   │                          an error status from a control point, a response to a
    │   │                          request we did not send, a stream stopped by the device.
    │   └── ControlPointError      the sensor answered a control request with an error code
    │                              (``code`` and ``code_name`` attributes).
    ├── ConfigError                bad configuration or command-line input; the message names
    │                              the offending key or flag.
    └── LinkError                  the BLE link failed (bleak/BlueZ/bumble errors are mapped to
        │                          these in one place, ``sources/ble.py``). The supervisor
        │                          chooses its reconnect backoff by subclass:
        ├── DeviceNotFoundError    the sensor is not advertising (off, out of range, taken)
        ├── LinkTimeoutError       connect or a GATT operation timed out
        └── LinkSilentError        connected, but notifications stopped (watchdog)

Messages are written for a lab user reading a log line: they name what was wrong and, where
it helps, the offending value (``"PMD delta block: bit width 0 at offset 10"``).
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ControlPointError",
    "DecodeError",
    "DeviceNotFoundError",
    "LinkError",
    "LinkSilentError",
    "LinkTimeoutError",
    "ProtocolError",
    "SensorhubError",
]


class SensorhubError(Exception):
    """Root of every exception sensorhub raises deliberately."""


class DecodeError(SensorhubError):
    """Malformed bytes: a frame or record that cannot be decoded.

    Raised by every decoder in :mod:`sensorhub.protocols` instead of ``struct.error``,
    ``IndexError``, ``ValueError`` or numpy errors.
    """


class ProtocolError(SensorhubError):
    """A well-formed message that violates the protocol's expected sequence or rules."""


class ControlPointError(ProtocolError):
    """A sensor's control point answered a request with an error status.

    ``code`` is the raw status byte, ``code_name`` its symbolic name (for example
    ``"ALREADY_IN_STATE"``), ``request`` the opcode that was refused.
    """

    def __init__(self, message: str, *, code: int, code_name: str, request: int) -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.request = request


class ConfigError(SensorhubError):
    """Invalid configuration or command-line input; the message names the key."""


class LinkError(SensorhubError):
    """The BLE link failed; raised in place of bleak / BlueZ / bumble errors."""


class DeviceNotFoundError(LinkError):
    """The sensor was not found advertising within the scan timeout."""


class LinkTimeoutError(LinkError):
    """Connecting, or a GATT operation, timed out."""


class LinkSilentError(LinkError):
    """The link stayed up but no notification arrived within the watchdog period."""
