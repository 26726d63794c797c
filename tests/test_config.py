"""Configuration files: valid ones load, bad ones fail with the offending key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensorhub.config import config_to_json, demo_config, load_config, parse_config
from sensorhub.errors import ConfigError
from sensorhub.sources.base import SensorKind

GOOD = """
[session]
name = "pilot 3"
angle_rate_hz = 5

[detection]
enter_deg = 18
exit_deg = 12
min_duration_s = 1.5
levels = [{ name = "subtle", enter_deg = 10, exit_deg = 6 }]

[[participants]]
id = "A"
sensor = "Polar H10 0A1B2C3D"
calibration = { up = "+y", forward = [0, 0, 1] }
attributes = { group = "close", gender = "f", culture = "NL", age = 23 }

[[participants]]
id = "B"
sensor = "D0:5E:00:00:00:02"
kind = "movesense"
calibration = "two-pose"

dyads = [["A", "B"]]
"""


def test_a_complete_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD.replace('dyads = [["A", "B"]]\n', ""))
    path.write_text('dyads = [["A", "B"]]\n' + path.read_text())
    cfg = load_config(path)
    assert cfg.session_name == "pilot 3"
    assert [p.id for p in cfg.participants] == ["A", "B"]
    assert cfg.participants[0].calibration.method == "mounting"
    assert cfg.participants[0].attributes["culture"] == "NL"
    assert cfg.participants[1].kind is SensorKind.MOVESENSE
    assert cfg.dyads == (("A", "B"),)
    levels = {lv.name: lv for lv in cfg.detection.detector.levels}
    assert (levels["forward"].enter_deg, levels["forward"].exit_deg) == (18, 12)
    assert levels["subtle"].min_duration_s == 1.5


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"participants": [{"id": "A", "sensor": "x", "calibraton": "auto"}]}, "participants[0]"),
        ({"participants": [{"id": "A"}]}, "'sensor' is a required property"),
        ({"participants": [{"id": "A", "sensor": "x", "kind": "fitbit"}]}, "participants[0].kind"),
        ({"participants": []}, "at least one participant"),
        (
            {"participants": [{"id": "A", "sensor": "x"}, {"id": "A", "sensor": "y"}]},
            "'A' appears twice",
        ),
        ({"participants": [{"id": "A", "sensor": "x"}], "dyads": [["A", "Z"]]}, "dyads[0]"),
        (
            {"participants": [{"id": "A", "sensor": "x"}], "detection": {"exit_deg": 30}},
            "exit 30.0 above enter",
        ),
        (
            {
                "participants": [
                    {"id": "A", "sensor": "x", "calibration": {"up": "+q", "forward": "+z"}}
                ]
            },
            "participants[0].calibration.up",
        ),
        ({"participants": [{"id": "A", "sensor": "x"}], "server": {"port": 70000}}, "server.port"),
    ],
)
def test_bad_configs_name_the_key(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, source="t.toml")
    assert named in str(err.value)
    assert str(err.value).startswith("t.toml: ")


def test_unreadable_and_invalid_toml_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[session\nname=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_demo_config_pairs_participants_in_order() -> None:
    cfg = demo_config(["a", "b", "c"], [SensorKind.POLAR_H10] * 3)
    assert [p.id for p in cfg.participants] == ["p1", "p2", "p3"]
    assert cfg.dyads == (("p1", "p2"),)


# -- [mqtt] --------------------------------------------------------------------------------

ONE = {"participants": [{"id": "A", "sensor": "x"}]}


def test_mqtt_table_loads_and_builds_broker_settings(tmp_path: Path) -> None:
    password = tmp_path / "pw"
    password.write_text("s3cret\nignored\n")
    mqtt = {
        "url": "mqtt://broker.lab:1884",
        "hub_id": "room-a",
        "username": "hub-a",
        "password_file": str(password),
        "tls": True,
        "ca_file": "/etc/ca.crt",
        "tls_insecure": True,
        "keepalive_s": 30,
        "drain_timeout_s": 2.5,
    }
    config = parse_config({**ONE, "mqtt": mqtt})
    assert config.mqtt.publishing
    settings = config.mqtt.settings()
    assert (settings.host, settings.port, settings.tls, settings.tls_insecure) == (
        "broker.lab", 1884, True, True,
    )  # fmt: skip
    assert (settings.username, settings.password, settings.hub_id) == ("hub-a", "s3cret", "room-a")
    assert settings.keepalive_s == 30
    assert str(settings.ca_file) == "/etc/ca.crt"
    # The command line's URL wins; what it does not say comes from the table.
    other = config.mqtt.settings("mqtts://alice@other:8884")
    assert (other.host, other.port, other.username) == ("other", 8884, "alice")
    # tls = true and a URL without a port: the TLS port.
    assert config.mqtt.settings("mqtt://plain").port == 8883
    # Stored with every recording, and read back the same; no secret in it.
    assert parse_config(config_to_json(config)).mqtt == config.mqtt
    assert "s3cret" not in str(config_to_json(config))


def test_mqtt_is_off_without_a_url_or_when_disabled() -> None:
    assert not parse_config(ONE).mqtt.publishing
    off = parse_config({**ONE, "mqtt": {"url": "mqtt://b", "enabled": False}})
    assert not off.mqtt.publishing
    with pytest.raises(ConfigError, match="no MQTT broker"):
        parse_config(ONE).mqtt.settings()


@pytest.mark.parametrize(
    ("mqtt", "named"),
    [
        ({"url": "http://broker:1883"}, "mqtt.url"),
        ({"url": "mqtt://broker:99999"}, "mqtt.url"),
        ({"url": "mqtt://hub:secret@broker"}, "mqtt.url: no password in the config"),
        ({"hub_id": "room a"}, "mqtt.hub_id"),
        ({"hub_id": "_x"}, "mqtt.hub_id"),
        ({"password": "secret"}, "mqtt"),  # not a key: password_file is
        ({"keepalive_s": 1}, "mqtt.keepalive_s"),
        ({"keepalive_s": 1.5}, "mqtt.keepalive_s"),
        ({"drain_timeout_s": -1}, "mqtt.drain_timeout_s"),
        ({"tls": "yes"}, "mqtt.tls"),
        ({"url": "mqtt://broker", "ca_file": "/ca.crt"}, "mqtt.ca_file: TLS is off"),
        ({"url": "mqtts://broker", "key_file": "/k.pem"}, "mqtt.key_file: needs cert_file"),
        ({"username": ""}, "mqtt.username"),
    ],
)
def test_bad_mqtt_values_name_the_key(mqtt: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({**ONE, "mqtt": mqtt}, source="t.toml")
    assert named in str(err.value)
    assert str(err.value).startswith("t.toml: ")


def test_unreadable_mqtt_password_file_is_a_config_error(tmp_path: Path) -> None:
    config = parse_config({**ONE, "mqtt": {"password_file": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError, match="MQTT password file"):
        config.mqtt.settings("mqtt://broker")
