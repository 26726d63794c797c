"""The MQTT contract (sensorhub.mqtt.protocol): topics, envelope, settings; and the broker
fixture itself against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiomqtt
import pytest

from sensorhub import events as ev
from sensorhub.errors import ConfigError, DecodeError
from sensorhub.mqtt import protocol as mp
from tests.mqtt_broker import Mosquitto


def test_topics_follow_the_documented_scheme() -> None:
    angle = ev.Angle("p1", 1.5, 12.0, -1.0)
    assert mp.event_topic("room-a", angle) == "sensorhub/room-a/p1/angle"
    status = ev.SensorStatus("H10 A", "polar_h10", "streaming", 2.0, participant="p 2/x")
    assert mp.event_topic("room-a", status) == "sensorhub/room-a/p%202%2Fx/status"
    assert mp.event_topic("r", ev.Marker(1.0, "start")) == "sensorhub/r/_session/marker"
    assert mp.event_topic("r", ev.DyadEvent(["a", "b"], "correlation", 3.0)) == (
        "sensorhub/r/_session/dyad"
    )
    assert mp.event_topic("r", ev.HubStatus("r", "online")) == "sensorhub/r/_hub/state"
    assert mp.parse_topic("sensorhub/r/p%202%2Fx/status") == ("r", "p 2/x", "status")
    assert mp.parse_topic("sensorhub/r/_session/marker") == ("r", None, "marker")
    with pytest.raises(DecodeError):
        mp.parse_topic("other/r/p1/angle")


@pytest.mark.parametrize("name", ["_session", "_hub", "+", "#", "a/b", "ä ö", "_x"])
def test_no_participant_name_can_leave_its_level_or_collide(name: str) -> None:
    level = mp.topic_level(name)
    assert not set(level) & set("/+#")
    assert not level.startswith("_")
    topic = mp.event_topic("h", ev.Angle(name, 0.0, 0.0, 0.0))
    assert mp.parse_topic(topic) == ("h", name, "angle")


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a+b", "x" * 65, "room a"])
def test_bad_hub_ids_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(ConfigError, match="letters, digits"):
        mp.validate_hub_id(bad)


def test_envelope_round_trip_and_ignorable_by_websocket_clients() -> None:
    event = ev.EpisodeStarted("p1", "forward", "forward", 10.0, 10.2, 12.0)
    env = mp.Envelope("room-a", "S1", 7, 1795729800.25)
    payload = mp.encode_message(event, env)
    assert mp.decode_message(payload) == (event, env)
    assert env.id == "room-a:S1:7"
    # A plain websocket consumer (from_json ignores unknown fields) reads the same event.
    assert ev.from_json(json.loads(payload)) == event
    # No event type may use an envelope field for something else.
    for cls in ev.EVENT_TYPES.values():
        clash = set(cls.__dataclass_fields__) & set(mp.ENVELOPE_FIELDS)
        assert clash <= ({"hub"} if cls is ev.HubStatus else set()), cls


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1]", "JSON object"),
        (b'{"type":"nope"}', "unknown message type"),
        (
            b'{"type":"marker","t":1,"label":"x","hub":"h","hub_session":"s","seq":0,"ts":1}',
            "envelope",
        ),
        (
            b'{"type":"marker","t":1,"label":"x","hub":"h","hub_session":"s","seq":true,"ts":1}',
            "envelope",
        ),
    ],
)
def test_malformed_payloads_raise_decode_error(payload: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        mp.decode_message(payload)


def test_a_hand_written_will_has_no_envelope() -> None:
    will = json.dumps(ev.to_json(ev.HubStatus("h", "offline", reason="connection lost")))
    event, env = mp.decode_message(will.encode())
    assert env is None
    assert event == ev.HubStatus("h", "offline", reason="connection lost")


def test_settings_from_url() -> None:
    s = mp.MqttSettings.from_url("mqtt://127.0.0.1:1884", hub_id="room-a")
    assert (s.host, s.port, s.tls, s.hub_id, s.username) == (
        "127.0.0.1",
        1884,
        False,
        "room-a",
        None,
    )
    t = mp.MqttSettings.from_url("mqtts://lab%40x:p%3Aw@broker.lab")
    assert (t.port, t.tls, t.username, t.password) == (8883, True, "lab@x", "p:w")
    assert t.url == "mqtts://broker.lab:8883"  # never the password
    assert isinstance(t.tls_context(), ssl.SSLContext)
    assert s.tls_context() is None
    for bad in ["http://x", "mqtt://", "mqtt://h:99999", "mqtt://h/topic"]:
        with pytest.raises(ConfigError, match="MQTT broker URL"):
            mp.MqttSettings.from_url(bad)


def test_password_from_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = mp.MqttSettings.from_url("mqtt://h")
    f = tmp_path / "pw"
    f.write_text("s3cret\nignored\n")
    assert s.with_password_from(f).password == "s3cret"
    monkeypatch.setenv("SENSORHUB_MQTT_PASSWORD", "fromenv")
    assert s.with_password_from(None).password == "fromenv"
    with pytest.raises(ConfigError, match="password file"):
        s.with_password_from(tmp_path / "missing")
    with pytest.raises(ConfigError, match="TLS files"):
        mp.MqttSettings("h", tls=True, ca_file=tmp_path / "missing.pem").tls_context()


async def test_broker_fixture_delivers_retained_messages_across_a_restart(
    broker: Mosquitto,
) -> None:
    settings = mp.MqttSettings.from_url(broker.url)
    async with aiomqtt.Client(settings.host, settings.port) as client:
        await client.publish("sensorhub/h/_hub/state", b"online", qos=1, retain=True)
    broker.stop()
    broker.start()
    async with aiomqtt.Client(settings.host, settings.port) as client:
        await client.subscribe(mp.subscription("h"), qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(client.messages))
    assert (str(message.topic), message.payload, message.retain) == (
        "sensorhub/h/_hub/state",
        b"online",
        True,
    )


def test_client_options_are_what_every_connection_uses() -> None:
    plain = mp.MqttSettings.from_url("mqtt://hub:pw@127.0.0.1:1884", keepalive_s=30)
    assert plain.client_options(None) == {
        "hostname": "127.0.0.1",
        "port": 1884,
        "username": "hub",
        "password": "pw",
        "keepalive": 30,
        "tls_context": None,
        "tls_insecure": None,
    }
    secure = mp.MqttSettings.from_url("mqtts://broker.lab", tls_insecure=True)
    context = secure.tls_context()
    assert context is not None
    assert context.check_hostname is False
    options = secure.client_options(context)
    assert options["tls_context"] is context
    assert options["tls_insecure"] is True
    # tls_insecure means nothing without TLS: it is not passed on.
    assert mp.MqttSettings("h", tls_insecure=True).client_options(None)["tls_insecure"] is None
