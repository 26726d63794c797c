"""The one event schema: websocket, store, replay and MQTT all speak it.

Every event is a frozen dataclass with a literal ``TYPE`` tag and the schema version
``SCHEMA_VERSION``. On the wire an event is a JSON object with ``"type"`` and ``"v"`` plus its
fields. Evolution rules (as msgspec's): a new field always gets a default, so an older
message still decodes; a field is never renamed or re-typed within a major version; a
consumer ignores fields it does not know.

Times are seconds on the *session clock* (``t``, ``onset`` ...; float, ns resolution kept by
JSON's round-trip float repr). Angles are degrees, positive forward (and to the right for
``lateral``).

:func:`to_json` / :func:`from_json` are the codec; :func:`json_schema` derives a JSON Schema
from the dataclass, and ``docs/websocket.md`` is checked against it by a test.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

from sensorhub.errors import DecodeError

__all__ = [
    "CLIENT_MESSAGES",
    "EVENT_TYPES",
    "MAX_MARKER_LABEL_CHARS",
    "SCHEMA_VERSION",
    "AddMarker",
    "Angle",
    "Calibrate",
    "DyadEvent",
    "EpisodeEnded",
    "EpisodeStarted",
    "ErrorEvent",
    "Event",
    "Hello",
    "HubStatus",
    "Marker",
    "SensorStatus",
    "SetRecording",
    "Subscribe",
    "from_json",
    "json_schema",
    "to_json",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Hello:
    """First message on every websocket connection: what this session is.

    ``aggregator`` is true on an aggregator of several hubs (``serve --from-mqtt``): it sends
    a new ``hello`` on the same connection whenever hubs bring new participants, and a client
    merges it into what it shows instead of starting over.
    """

    TYPE: ClassVar[str] = "hello"
    session: str
    participants: list[dict[str, Any]]
    sensors: list[dict[str, Any]]
    dyads: list[list[str]]
    angle_rate_hz: float = 10.0
    replay: bool = False
    aggregator: bool = False


@dataclass(frozen=True, slots=True)
class Angle:
    """A participant's trunk angles, decimated for display (default 10 Hz)."""

    TYPE: ClassVar[str] = "angle"
    participant: str
    t: float
    forward: float
    lateral: float
    motion: bool = False
    lying: bool = False

    @classmethod
    def fast(
        cls, participant: str, t: float, forward: float, lateral: float, motion: bool, lying: bool
    ) -> Angle:
        """``Angle(participant, t, forward, lateral, motion=motion, lying=lying)``, in half the
        time: the pipeline builds one per display tick (72,000 an hour for two people).

        A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
        (its own ``__setattr__`` refuses); this writes the slots through their member
        descriptors instead, which is what that call ends up doing. The result is an
        ordinary, equally immutable ``Angle`` (a test pins it equal to the constructor's and
        the parameters to the fields). No check or conversion is skipped: the dataclass
        ``__init__`` has none.
        """
        angle: Angle = _new(cls)
        _angle_participant(angle, participant)
        _angle_t(angle, t)
        _angle_forward(angle, forward)
        _angle_lateral(angle, lateral)
        _angle_motion(angle, motion)
        _angle_lying(angle, lying)
        return angle


_new = object.__new__
# The slot member descriptors' setters, bound once (see Angle.fast).
_angle_participant, _angle_t, _angle_forward, _angle_lateral, _angle_motion, _angle_lying = (
    Angle.__dict__[f.name].__set__ for f in dataclasses.fields(Angle)
)


@dataclass(frozen=True, slots=True)
class EpisodeStarted:
    """An episode was confirmed (min duration reached) at ``confirmed``; it began at ``onset``."""

    TYPE: ClassVar[str] = "episode_start"
    participant: str
    level: str
    direction: str
    onset: float
    crossing: float
    confirmed: float


@dataclass(frozen=True, slots=True)
class EpisodeEnded:
    """A finished episode, with its peak and mean angle (degrees in the level's direction)."""

    TYPE: ClassVar[str] = "episode_end"
    participant: str
    level: str
    direction: str
    onset: float
    end: float
    crossing: float
    exit: float
    peak_deg: float
    mean_deg: float
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class DyadEvent:
    """A dyad measure: co-lean start/end (with who led and the lag), a followed onset, or a
    windowed lagged correlation."""

    TYPE: ClassVar[str] = "dyad"
    dyad: list[str]
    kind: Literal["colean_start", "colean_end", "onset_followed", "correlation"]
    t: float
    leader: str | None = None
    lag_s: float | None = None
    r: float | None = None


@dataclass(frozen=True, slots=True)
class SensorStatus:
    """A sensor's health: sent on every link state change and once a second."""

    TYPE: ClassVar[str] = "status"
    sensor: str
    kind: str
    state: str
    t: float
    participant: str | None = None
    battery_pct: int | None = None
    rate_hz: float | None = None
    samples: int = 0
    gaps: int = 0
    missing_samples: int = 0
    malformed: int = 0
    duplicates: int = 0
    reconnects: int = 0
    reason: str = ""


#: The longest marker label anyone accepts (the API, a hub, an aggregator), in characters.
MAX_MARKER_LABEL_CHARS = 200


@dataclass(frozen=True, slots=True)
class Marker:
    """A researcher's marker (from the dashboard or the API) at session time ``t``."""

    TYPE: ClassVar[str] = "marker"
    t: float
    label: str
    source: str = "api"


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """Something went wrong that a person should see; ``code`` is a stable identifier."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    t: float | None = None


@dataclass(frozen=True, slots=True)
class HubStatus:
    """A hub's health on an MQTT broker (see ``docs/mqtt.md``).

    A hub publishes it retained on ``sensorhub/<hub>/_hub/state``: ``online`` when it connects
    (with its session and outbox backlog), ``offline`` when it stops cleanly, and, as its
    broker-held last will, ``offline`` with reason ``connection lost`` when it dies. An
    aggregator forwards it to its websocket clients with what it counted itself: ``events``
    received, ``duplicates`` dropped (QoS 1 redeliveries) and ``missing`` sequence numbers.
    ``last_seen`` is Unix time (seconds) of the hub's newest message.
    """

    TYPE: ClassVar[str] = "hub"
    hub: str
    state: Literal["online", "offline"]
    session: str | None = None
    name: str = ""
    reason: str = ""
    outbox: int = 0
    last_seen: float | None = None
    events: int = 0
    duplicates: int = 0
    missing: int = 0


# -- client -> server -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddMarker:
    TYPE: ClassVar[str] = "add_marker"
    label: str


@dataclass(frozen=True, slots=True)
class Calibrate:
    """Run a calibration step for a participant: ``upright`` then ``forward`` (two-pose)."""

    TYPE: ClassVar[str] = "calibrate"
    participant: str
    step: Literal["upright", "forward", "reset"]


@dataclass(frozen=True, slots=True)
class SetRecording:
    TYPE: ClassVar[str] = "recording"
    on: bool


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Change what this client receives, e.g. full-rate raw samples for one participant."""

    TYPE: ClassVar[str] = "subscribe"
    raw: list[str] = field(default_factory=list)


Event = (
    Hello
    | Angle
    | EpisodeStarted
    | EpisodeEnded
    | DyadEvent
    | SensorStatus
    | Marker
    | ErrorEvent
    | HubStatus
)
ClientMessage = AddMarker | Calibrate | SetRecording | Subscribe

#: Every server -> client event by ``type`` tag; a new event class is added to ``Event`` only.
EVENT_TYPES: dict[str, type[Any]] = {cls.TYPE: cls for cls in get_args(Event)}
CLIENT_MESSAGES: dict[str, type[Any]] = {cls.TYPE: cls for cls in get_args(ClientMessage)}


def to_json(event: Any) -> dict[str, Any]:
    """The wire form: ``{"type": ..., "v": 1, **fields}``."""
    out: dict[str, Any] = {"type": event.TYPE, "v": SCHEMA_VERSION}
    for f in dataclasses.fields(event):
        out[f.name] = getattr(event, f.name)
    return out


def dumps(event: Any) -> str:
    """Compact JSON text of an event (no NaN: it is not JSON)."""
    return json.dumps(to_json(event), separators=(",", ":"), allow_nan=False)


def from_json(obj: Any, registry: dict[str, type[Any]] | None = None) -> Any:
    """Decode and validate one message; DecodeError names what is wrong.

    Unknown fields are ignored (forward compatibility); missing required fields, wrong
    types, an unknown ``type`` or a newer major ``v`` are errors.
    """
    registry = EVENT_TYPES if registry is None else registry
    if not isinstance(obj, dict):
        raise DecodeError(f"message must be a JSON object, got {type(obj).__name__}")
    tag = obj.get("type")
    cls = registry.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise DecodeError(f"unknown message type {tag!r} (known: {sorted(registry)})")
    version = obj.get("v", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise DecodeError(f"{tag}: unsupported schema version {version!r}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in obj:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise DecodeError(f"{tag}: missing field {f.name!r}")
            continue
        value = obj[f.name]
        if not _matches(value, hints[f.name]):
            raise DecodeError(f"{tag}: field {f.name!r} has invalid value {value!r}")
        kwargs[f.name] = value
    return cls(**kwargs)


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return any(_matches(value, arg) for arg in get_args(hint))
    if origin is Literal:
        return value in get_args(hint)
    if origin is list:
        (item,) = get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return False


def _schema_of(hint: Any) -> dict[str, Any]:
    origin = get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return {"anyOf": [_schema_of(a) for a in get_args(hint)]}
    if origin is Literal:
        return {"enum": list(get_args(hint))}
    if origin is list:
        return {"type": "array", "items": _schema_of(get_args(hint)[0])}
    if origin is dict:
        return {"type": "object"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is type(None):
        return {"type": "null"}
    return {}


def json_schema(cls: type[Any]) -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for one message class, derived from its fields."""
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {
        "type": {"const": cls.TYPE},
        "v": {"type": "integer", "minimum": 1},
    }
    required = ["type", "v"]
    for f in dataclasses.fields(cls):
        props[f.name] = _schema_of(hints[f.name])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": cls.TYPE,
        "description": " ".join((cls.__doc__ or "").split()),
        "type": "object",
        "properties": props,
        "required": required,
    }
