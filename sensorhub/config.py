"""Session configuration: one TOML file (plus CLI flags), validated once, then frozen.

The file's structure is checked with a JSON Schema (:data:`CONFIG_SCHEMA`, via the
``jsonschema`` library), so a typo in a key is an error naming that key rather than a setting
silently ignored; values are then checked for meaning (unique ids, a dyad naming a
participant that does not exist, exit above enter). Every error is a
:class:`~sensorhub.errors.ConfigError` whose message names the key, e.g.
``participants[1].calibration.up: 'sideways' is not an axis``.

An example covering every option is ``deploy/sensorhub.example.toml``. Without a file,
``--virtual N`` builds a demo configuration: N simulated participants wearing virtual H10s,
paired into dyads in order.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from sensorhub.dsp.detector import DEFAULT_LEVELS, DetectorConfig
from sensorhub.dsp.episodes import LevelSpec
from sensorhub.dsp.inclination import parse_axis
from sensorhub.errors import ConfigError
from sensorhub.mqtt.protocol import DEFAULT_TLS_PORT, MqttSettings, validate_hub_id
from sensorhub.sources.base import SensorKind

__all__ = [
    "CONFIG_SCHEMA",
    "CalibrationConfig",
    "DetectionConfig",
    "HubConfig",
    "LslConfig",
    "MqttConfig",
    "ParticipantConfig",
    "ServerConfig",
    "config_to_json",
    "demo_config",
    "load_config",
    "parse_config",
]

_NUM = {"type": "number"}
_POS = {"type": "number", "exclusiveMinimum": 0}
_AXIS = {
    "oneOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
    ]
}
_LEVEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "enter_deg", "exit_deg"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "direction": {"enum": ["forward", "backward"]},
        "enter_deg": _NUM,
        "exit_deg": _NUM,
        "min_duration_s": {"type": "number", "minimum": 0},
        "merge_gap_s": {"type": "number", "minimum": 0},
    },
}

#: The structure of a configuration file (JSON Schema, draft 2020-12).
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "session": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string"},
                "angle_rate_hz": _POS,
                "status_interval_s": _POS,
            },
        },
        "detection": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enter_deg": _NUM,
                "exit_deg": _NUM,
                "min_duration_s": {"type": "number", "minimum": 0},
                "merge_gap_s": {"type": "number", "minimum": 0},
                "backward_enter_deg": _NUM,
                "backward_exit_deg": _NUM,
                "levels": {"type": "array", "items": _LEVEL},
                "auto_calibration_s": _POS,
            },
        },
        "participants": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "sensor"],
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "sensor": {"type": "string", "minLength": 1},
                    "kind": {"enum": [k.value for k in SensorKind]},
                    "calibration": {
                        "oneOf": [
                            {"enum": ["auto", "two-pose"]},
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["up", "forward"],
                                "properties": {"up": _AXIS, "forward": _AXIS},
                            },
                        ]
                    },
                    "attributes": {
                        "type": "object",
                        "additionalProperties": {"type": ["string", "number", "boolean"]},
                    },
                },
            },
        },
        "dyads": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
        },
        "lsl": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "api_config": {"type": "string", "minLength": 1},
            },
        },
        "mqtt": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "url": {"type": "string", "minLength": 1},
                "hub_id": {"type": "string"},
                "username": {"type": "string", "minLength": 1},
                "password_file": {"type": "string", "minLength": 1},
                "tls": {"type": "boolean"},
                "ca_file": {"type": "string", "minLength": 1},
                "cert_file": {"type": "string", "minLength": 1},
                "key_file": {"type": "string", "minLength": 1},
                "tls_insecure": {"type": "boolean"},
                # MQTT's keep alive is 16 bits; below 5 s a busy Wi-Fi link drops for nothing.
                "keepalive_s": {"type": "integer", "minimum": 5, "maximum": 65535},
                "drain_timeout_s": {"type": "number", "minimum": 0, "maximum": 600},
            },
        },
        "server": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "host": {"type": "string"},
                "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                "token": {"type": "string", "minLength": 16},
                "allowed_origins": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
}

#: Nominal mounting per kind: the axis that points up and the one that points forward (out of
#: the chest) when the sensor is worn as its maker intends. Used before a participant is
#: calibrated and to sign the fallback calibration's forward axis.
NOMINAL_MOUNTING: dict[SensorKind, tuple[str, str]] = {
    SensorKind.POLAR_H10: ("+y", "+z"),
    SensorKind.MOVESENSE: ("+y", "+z"),
    SensorKind.LEANFW: ("+y", "+z"),  # leanfw-v1.md: x left, y up, z forward
    # Imported files: an assumption, not a fact about the file (most chest straps, Polar H10
    # included, wear y up and z out of the chest). ``auto`` calibration starts from it and
    # signs its forward axis with it; give the file's real axes (``sensorhub import --up
    # --forward``, a ``mounting`` calibration) when they are known.
    SensorKind.IMPORTED: ("+y", "+z"),
}


@dataclass(frozen=True, slots=True)
class CalibrationConfig:
    """``auto``: nominal mounting, then the fallback from the first ``auto_calibration_s`` of
    data; ``two-pose``: nominal mounting until the dashboard's upright/forward steps;
    ``mounting``: the given axes, fixed."""

    method: str = "auto"
    up: str | tuple[float, ...] | None = None
    forward: str | tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class ParticipantConfig:
    id: str
    sensor: str
    kind: SensorKind | None = None
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    attributes: Mapping[str, str | float | bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DetectionConfig:
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    #: Seconds of data the ``auto`` calibration waits for. A minute of conversation holds
    #: enough still, upright stretches for the fallback's modal-posture estimate.
    auto_calibration_s: float = 60.0


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LslConfig:
    """LSL outlets (``pip install 'sensorhub[lsl]'``): ``api_config`` is an lsl_api.cfg path
    (``sensorhub/bridges/lsl_api.cfg`` keeps discovery on this machine)."""

    enabled: bool = False
    api_config: str | None = None


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Publishing to an MQTT broker (``docs/mqtt.md``): on when ``url`` is set (unless
    ``enabled = false``) or ``serve --mqtt URL`` gives one. The password is never in this
    file: ``password_file``, or ``$SENSORHUB_MQTT_PASSWORD``. ``hub_id`` defaults to the host
    name (``serve --hub-id``). ``serve --from-mqtt`` uses the credentials and TLS options."""

    enabled: bool | None = None
    url: str | None = None
    hub_id: str | None = None
    username: str | None = None
    password_file: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = 15
    drain_timeout_s: float = 5.0

    @property
    def publishing(self) -> bool:
        """Whether ``serve`` publishes without ``--mqtt``."""
        return self.url is not None and self.enabled is not False

    def settings(self, url: str | None = None) -> MqttSettings:
        """Broker settings for ``url`` (else this table's ``url``; ConfigError without one).
        What the URL says (credentials, ``mqtts``) wins; this table fills in the rest."""
        url = url or self.url
        if url is None:
            raise ConfigError("no MQTT broker: give --mqtt URL or [mqtt] url")
        base = MqttSettings.from_url(url)
        tls = base.tls or self.tls
        port = base.port
        if tls and not base.tls and urlsplit(url).port is None:
            port = DEFAULT_TLS_PORT  # tls = true and a URL without a port: the TLS port
        settings = dataclasses.replace(
            base,
            port=port,
            hub_id=self.hub_id,
            username=base.username or self.username,
            tls=tls,
            ca_file=Path(self.ca_file) if self.ca_file else None,
            cert_file=Path(self.cert_file) if self.cert_file else None,
            key_file=Path(self.key_file) if self.key_file else None,
            tls_insecure=self.tls_insecure,
            keepalive_s=self.keepalive_s,
        )
        return settings.with_password_from(Path(self.password_file) if self.password_file else None)


@dataclass(frozen=True, slots=True)
class HubConfig:
    participants: tuple[ParticipantConfig, ...]
    dyads: tuple[tuple[str, str], ...] = ()
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    lsl: LslConfig = field(default_factory=LslConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    session_name: str = "session"
    angle_rate_hz: float = 10.0
    status_interval_s: float = 1.0

    def participant_for_sensor(self, sensor: str) -> ParticipantConfig | None:
        for p in self.participants:
            if p.sensor == sensor:
                return p
        return None


def load_config(path: str | Path) -> HubConfig:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config {p} is not valid TOML: {exc}") from exc
    return parse_config(raw, source=str(p))


def _where(error: jsonschema.ValidationError) -> str:
    parts = []
    for item in error.absolute_path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts).lstrip(".") or "(top level)"


def parse_config(raw: Mapping[str, Any], *, source: str = "config") -> HubConfig:
    """Validate a parsed configuration mapping and build the frozen :class:`HubConfig`."""
    validator = jsonschema.Draft202012Validator(CONFIG_SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(f"{source}: {_where(first)}: {first.message}{more}")
    participants = tuple(
        _participant(p, f"{source}: participants[{i}]")
        for i, p in enumerate(raw.get("participants", []))
    )
    if not participants:
        raise ConfigError(f"{source}: participants: at least one participant is required")
    _unique([p.id for p in participants], "participants[].id", source)
    _unique([p.sensor for p in participants], "participants[].sensor", source)
    ids = {p.id for p in participants}
    dyads = []
    for i, pair in enumerate(raw.get("dyads", [])):
        for member in pair:
            if member not in ids:
                raise ConfigError(f"{source}: dyads[{i}]: unknown participant {member!r}")
        if pair[0] == pair[1]:
            raise ConfigError(f"{source}: dyads[{i}]: a dyad needs two different participants")
        dyads.append((pair[0], pair[1]))
    session = raw.get("session", {})
    server = raw.get("server", {})
    lsl = raw.get("lsl", {})
    return HubConfig(
        participants=participants,
        dyads=tuple(dyads),
        detection=_detection(raw.get("detection", {}), source),
        server=ServerConfig(
            host=server.get("host", "127.0.0.1"),
            port=server.get("port", 8080),
            token=server.get("token"),
            allowed_origins=tuple(server.get("allowed_origins", ())),
        ),
        lsl=LslConfig(bool(lsl.get("enabled", False)), lsl.get("api_config")),
        mqtt=_mqtt(raw.get("mqtt", {}), source),
        session_name=session.get("name", "session"),
        angle_rate_hz=float(session.get("angle_rate_hz", 10.0)),
        status_interval_s=float(session.get("status_interval_s", 1.0)),
    )


def _mqtt(raw: Mapping[str, Any], source: str) -> MqttConfig:
    config = MqttConfig(**raw)
    if config.url is not None:
        try:
            settings = MqttSettings.from_url(config.url)
        except ConfigError as exc:
            raise ConfigError(f"{source}: mqtt.url: {exc}") from exc
        if settings.password is not None:
            raise ConfigError(
                f"{source}: mqtt.url: no password in the config file (it is stored with every "
                "recording); use password_file or $SENSORHUB_MQTT_PASSWORD"
            )
        tls_keys = [k for k in ("ca_file", "cert_file", "key_file", "tls_insecure") if raw.get(k)]
        if tls_keys and not (settings.tls or config.tls):
            raise ConfigError(
                f"{source}: mqtt.{tls_keys[0]}: TLS is off; use an mqtts:// url or tls = true"
            )
    if config.hub_id is not None:
        try:
            validate_hub_id(config.hub_id)
        except ConfigError as exc:
            raise ConfigError(f"{source}: mqtt.hub_id: {exc}") from exc
    if config.key_file and not config.cert_file:
        raise ConfigError(f"{source}: mqtt.key_file: needs cert_file (the client certificate)")
    return config


def _unique(values: Sequence[str], key: str, source: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{source}: {key}: {v!r} appears twice")
        seen.add(v)


def _participant(raw: Mapping[str, Any], where: str) -> ParticipantConfig:
    cal = raw.get("calibration", "auto")
    if isinstance(cal, str):
        calibration = CalibrationConfig(method=cal)
    else:
        up = cal["up"] if isinstance(cal["up"], str) else tuple(cal["up"])
        fwd = cal["forward"] if isinstance(cal["forward"], str) else tuple(cal["forward"])
        for name, axis in (("up", up), ("forward", fwd)):
            try:
                parse_axis(axis, name)
            except ConfigError as exc:
                raise ConfigError(f"{where}.calibration.{name}: {exc}") from exc
        calibration = CalibrationConfig("mounting", up, fwd)
    kind = SensorKind(raw["kind"]) if "kind" in raw else None
    return ParticipantConfig(
        id=raw["id"],
        sensor=raw["sensor"],
        kind=kind,
        calibration=calibration,
        attributes=dict(raw.get("attributes", {})),
    )


def _detection(raw: Mapping[str, Any], source: str) -> DetectionConfig:
    forward, backward = DEFAULT_LEVELS
    try:
        forward = LevelSpec(
            "forward",
            "forward",
            float(raw.get("enter_deg", forward.enter_deg)),
            float(raw.get("exit_deg", forward.exit_deg)),
            float(raw.get("min_duration_s", forward.min_duration_s)),
            float(raw.get("merge_gap_s", forward.merge_gap_s)),
        )
        backward = LevelSpec(
            "backward",
            "backward",
            float(raw.get("backward_enter_deg", backward.enter_deg)),
            float(raw.get("backward_exit_deg", backward.exit_deg)),
            forward.min_duration_s,
            forward.merge_gap_s,
        )
        extra = tuple(
            LevelSpec(
                lv["name"],
                lv.get("direction", "forward"),
                float(lv["enter_deg"]),
                float(lv["exit_deg"]),
                float(lv.get("min_duration_s", forward.min_duration_s)),
                float(lv.get("merge_gap_s", forward.merge_gap_s)),
            )
            for lv in raw.get("levels", [])
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: detection: {exc}") from exc
    levels = (forward, backward, *extra)
    _unique([lv.name for lv in levels], "detection.levels[].name", source)
    detector = DetectorConfig(levels=levels)
    return DetectionConfig(detector, float(raw.get("auto_calibration_s", 60.0)))


def demo_config(sensor_names: Sequence[str], kinds: Sequence[SensorKind]) -> HubConfig:
    """The ``--virtual N`` demo: p1..pN wearing the virtual sensors, paired in order."""
    participants = tuple(
        ParticipantConfig(f"p{i + 1}", name, kind, attributes={"role": "demo"})
        for i, (name, kind) in enumerate(zip(sensor_names, kinds, strict=True))
    )
    ids = [p.id for p in participants]
    dyads = tuple((ids[i], ids[i + 1]) for i in range(0, len(ids) - 1, 2))
    # The simulated participants sit upright for their first 15 s (SimConfig.settle_s), so 20 s
    # of data are enough for the automatic calibration, and the demo reads true angles sooner
    # than with the 60 s a real session allows for.
    detection = DetectionConfig(auto_calibration_s=20.0)
    return HubConfig(
        participants=participants, dyads=dyads, session_name="demo", detection=detection
    )


def config_to_json(config: HubConfig) -> dict[str, Any]:
    """The configuration as the raw mapping a file would hold (``parse_config`` reads it back
    to an equal HubConfig): stored with every recording so a replay runs the same settings."""
    levels = {lv.name: lv for lv in config.detection.detector.levels}
    forward, backward = levels["forward"], levels["backward"]
    participants: list[dict[str, Any]] = []
    for p in config.participants:
        entry: dict[str, Any] = {"id": p.id, "sensor": p.sensor, "attributes": dict(p.attributes)}
        if p.kind is not None:
            entry["kind"] = p.kind.value
        cal = p.calibration
        if cal.method == "mounting" and cal.up is not None and cal.forward is not None:
            entry["calibration"] = {
                "up": cal.up if isinstance(cal.up, str) else list(cal.up),
                "forward": cal.forward if isinstance(cal.forward, str) else list(cal.forward),
            }
        else:
            entry["calibration"] = cal.method
        participants.append(entry)
    return {
        "session": {
            "name": config.session_name,
            "angle_rate_hz": config.angle_rate_hz,
            "status_interval_s": config.status_interval_s,
        },
        "detection": {
            "enter_deg": forward.enter_deg,
            "exit_deg": forward.exit_deg,
            "min_duration_s": forward.min_duration_s,
            "merge_gap_s": forward.merge_gap_s,
            "backward_enter_deg": backward.enter_deg,
            "backward_exit_deg": backward.exit_deg,
            "levels": [
                {
                    "name": lv.name,
                    "direction": lv.direction,
                    "enter_deg": lv.enter_deg,
                    "exit_deg": lv.exit_deg,
                    "min_duration_s": lv.min_duration_s,
                    "merge_gap_s": lv.merge_gap_s,
                }
                for lv in config.detection.detector.levels
                if lv.name not in ("forward", "backward")
            ],
            "auto_calibration_s": config.detection.auto_calibration_s,
        },
        "participants": participants,
        "dyads": [list(d) for d in config.dyads],
        "lsl": {"enabled": config.lsl.enabled}
        | ({"api_config": config.lsl.api_config} if config.lsl.api_config else {}),
        # No secret in it: a password is never part of the [mqtt] table.
        "mqtt": {
            f.name: getattr(config.mqtt, f.name)
            for f in dataclasses.fields(config.mqtt)
            if getattr(config.mqtt, f.name) is not None
        },
    }
