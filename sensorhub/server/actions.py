"""Client requests, shared by the websocket and the REST API: validate, then ask the hub.

Malformed input raises :class:`~sensorhub.errors.DecodeError`; the hub's refusals
(:class:`~sensorhub.errors.ConfigError`, other :class:`~sensorhub.errors.SensorhubError`)
pass through for the caller to map (error reply, HTTP 409 / 503).
"""

from __future__ import annotations

from typing import Any, get_args, get_type_hints

from sensorhub.bus import EventBus, Subscription
from sensorhub.errors import ConfigError, DecodeError
from sensorhub.events import MAX_MARKER_LABEL_CHARS, Calibrate, to_json
from sensorhub.server.control import HubControl

__all__ = [
    "CALIBRATION_STEPS",
    "MAX_LABEL_CHARS",
    "add_marker",
    "calibrate",
    "participant_ids",
    "set_raw",
]

MAX_LABEL_CHARS = MAX_MARKER_LABEL_CHARS
#: The steps the schema allows (``Calibrate.step``), in order of use.
CALIBRATION_STEPS: tuple[str, ...] = get_args(get_type_hints(Calibrate)["step"])


def participant_ids(control: HubControl) -> list[str]:
    return [str(p.get("id")) for p in control.participants()]


def add_marker(control: HubControl, label: Any, source: str) -> dict[str, Any]:
    if not isinstance(label, str) or not label.strip():
        raise DecodeError("marker label must be a non-empty string")
    if len(label) > MAX_LABEL_CHARS:
        raise DecodeError(f"marker label longer than {MAX_LABEL_CHARS} characters")
    return to_json(control.add_marker(label.strip(), source))


def calibrate(control: HubControl, participant: str, step: str) -> dict[str, Any]:
    if step not in CALIBRATION_STEPS:
        raise DecodeError(f"unknown calibration step {step!r} (known: {list(CALIBRATION_STEPS)})")
    known = participant_ids(control)
    if participant not in known:
        raise ConfigError(f"unknown participant {participant!r} (known: {known})")
    return control.calibrate(participant, step)


def set_raw(
    control: HubControl, bus: EventBus, sub: Subscription, raw: list[str]
) -> dict[str, Any]:
    known = participant_ids(control)
    unknown = [p for p in raw if p not in known]
    if unknown:
        raise ConfigError(f"unknown participant(s) {unknown} (known: {known})")
    bus.set_raw(sub, raw)
    return {"raw": sorted(sub.raw)}
