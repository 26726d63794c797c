"""The event schema: codec round trip, validation of bad input, schema derivation."""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Any

import pytest

from sensorhub import events as ev
from sensorhub.errors import DecodeError

EXAMPLES: list[Any] = [
    ev.Hello("s1", [{"id": "p1", "group": "A"}], [{"id": "H10 1"}], [["p1", "p2"]]),
    ev.Angle("p1", 12.345678901, 21.5, -3.25, motion=True),
    ev.EpisodeStarted("p1", "forward", "forward", 10.0, 10.4, 12.0),
    ev.EpisodeEnded("p1", "forward", "forward", 10.0, 20.0, 10.4, 19.5, 28.0, 24.0),
    ev.DyadEvent(["p1", "p2"], "colean_start", 15.0, leader="p2", lag_s=1.5),
    ev.SensorStatus("H10 1", "polar_h10", "streaming", 3.0, battery_pct=80, rate_hz=199.9),
    ev.Marker(4.0, "question 3", "dashboard"),
    ev.ErrorEvent("bad_message", "nope"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.TYPE)
def test_round_trip_through_json_text(event: Any) -> None:
    wire = json.loads(ev.dumps(event))
    assert wire["type"] == event.TYPE
    assert wire["v"] == ev.SCHEMA_VERSION
    assert ev.from_json(wire) == event


def test_floats_survive_bit_identically() -> None:
    angle = ev.Angle("p", 0.1 + 0.2, 1 / 3, -2 / 7)
    back = ev.from_json(json.loads(ev.dumps(angle)))
    assert (back.t, back.forward, back.lateral) == (angle.t, angle.forward, angle.lateral)


@pytest.mark.parametrize(
    "args",
    [("p1", 12.345678901, 21.5, -3.25, True, False), ("p", 0.1 + 0.2, 1 / 3, -2 / 7, False, True)],
)
def test_angle_fast_is_the_constructor(args: tuple[Any, ...]) -> None:
    normal = ev.Angle(*args[:4], motion=args[4], lying=args[5])
    fast = ev.Angle.fast(*args)
    assert type(fast) is ev.Angle
    assert fast == normal
    assert hash(fast) == hash(normal)
    assert dataclasses.astuple(fast) == dataclasses.astuple(normal)
    assert ev.dumps(fast) == ev.dumps(normal)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.t = 0.0  # type: ignore[misc]


def test_angle_fast_takes_every_field_in_order() -> None:
    """A field added to Angle must be added to Angle.fast too (it sets the slots itself)."""
    fields = [f.name for f in dataclasses.fields(ev.Angle)]
    params = list(inspect.signature(ev.Angle.fast).parameters)
    assert params == fields


@pytest.mark.parametrize(
    ("message", "complaint"),
    [
        ([1, 2], "JSON object"),
        ({"type": "launch_rocket"}, "unknown message type"),
        ({"type": "angle", "v": 99}, "unsupported schema version"),
        ({"type": "angle", "v": 1, "t": 1.0}, "missing field 'participant'"),
        (
            {"type": "angle", "participant": "p", "t": "soon", "forward": 1, "lateral": 2},
            "field 't'",
        ),
        (
            {"type": "angle", "participant": "p", "t": 1, "forward": True, "lateral": 2},
            "field 'forward'",
        ),
        ({"type": "dyad", "dyad": ["a"], "kind": "hug", "t": 1}, "field 'kind'"),
    ],
)
def test_invalid_messages_are_named(message: Any, complaint: str) -> None:
    with pytest.raises(DecodeError, match=complaint):
        ev.from_json(message)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = ev.to_json(ev.Marker(1.0, "x")) | {"colour": "red"}
    assert ev.from_json(msg) == ev.Marker(1.0, "x")


def test_client_messages_use_their_own_registry() -> None:
    msg = {"type": "calibrate", "participant": "p1", "step": "upright"}
    assert ev.from_json(msg, ev.CLIENT_MESSAGES) == ev.Calibrate("p1", "upright")
    with pytest.raises(DecodeError):
        ev.from_json(ev.to_json(EXAMPLES[1]), ev.CLIENT_MESSAGES)


@pytest.mark.parametrize("cls", [*ev.EVENT_TYPES.values(), *ev.CLIENT_MESSAGES.values()])
def test_schema_lists_every_field_and_requires_those_without_default(cls: type[Any]) -> None:
    schema = ev.json_schema(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(schema["properties"]) == names | {"type", "v"}
    for f in dataclasses.fields(cls):
        has_default = f.default is not dataclasses.MISSING or (
            f.default_factory is not dataclasses.MISSING
        )
        assert (f.name in schema["required"]) is not has_default
