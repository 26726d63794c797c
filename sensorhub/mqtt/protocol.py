"""What goes over MQTT: broker settings, topic names, and the message envelope.

This module is the contract between a hub's publisher (:mod:`sensorhub.mqtt.publisher`) and
the aggregator (:mod:`sensorhub.mqtt.aggregator`); ``docs/mqtt.md`` documents it for anyone
else subscribing. It is sans-I/O: nothing here touches a socket.

Topics (``<hub>`` and ``<participant>`` are :func:`topic_level` encoded)::

    sensorhub/<hub>/<participant>/<type>   angle, episode_start, episode_end, status (retained)
    sensorhub/<hub>/_session/<type>        hello (retained), dyad, marker, error, and the status
                                           of a sensor worn by no participant (retained)
    sensorhub/<hub>/_hub/state             hub (retained): online / offline; also the last will

Payload: the event exactly as the websocket sends it (``events.to_json``), plus the envelope
fields of :data:`ENVELOPE_FIELDS` (no event has such a field, but for ``hub`` in ``HubStatus``,
which means the same) — a consumer that ignores unknown
fields reads it as a plain websocket event. ``seq`` counts from 1 per hub session with no
gaps, so a consumer sees both redeliveries (QoS 1 is at-least-once) and losses.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sensorhub import events as ev
from sensorhub.errors import ConfigError, DecodeError

__all__ = [
    "ENVELOPE_FIELDS",
    "RETAINED_TYPES",
    "ROOT",
    "Envelope",
    "MqttSettings",
    "decode_message",
    "encode_message",
    "event_topic",
    "hub_state_topic",
    "parse_topic",
    "subscription",
    "topic_level",
    "validate_hub_id",
]

#: The first topic level of everything sensorhub publishes.
ROOT = "sensorhub"
#: Envelope fields added to every payload.
ENVELOPE_FIELDS = ("id", "hub", "hub_session", "seq", "ts")
#: Event types published retained: a new subscriber learns the current state at once.
RETAINED_TYPES = frozenset({ev.Hello.TYPE, ev.SensorStatus.TYPE, ev.HubStatus.TYPE})
SESSION_LEVEL = "_session"
HUB_LEVEL = "_hub"

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


def validate_hub_id(hub_id: str) -> str:
    """A hub id is one topic level people type: 1-64 of ``A-Z a-z 0-9 . _ -``, starting with
    a letter or digit. Returns it; raises ConfigError naming the rule otherwise."""
    if not _HUB_ID.fullmatch(hub_id):
        raise ConfigError(
            f"MQTT hub id {hub_id!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. room-a)"
        )
    return hub_id


def topic_level(name: str) -> str:
    """One topic level for a participant (or sensor) name.

    Participant ids are free text in the config; MQTT forbids ``+`` and ``#`` in topic
    names and ``/`` separates levels. The name is percent-encoded (``quote(safe="")``) and a
    leading ``_`` too, so no participant can collide with ``_session`` or ``_hub``.
    ``unquote`` gives the name back.
    """
    level = quote(name, safe="")
    if level.startswith("_"):
        level = "%5F" + level[1:]
    return level


def event_topic(hub_id: str, event: Any) -> str:
    """The topic an event is published on (see the module docstring)."""
    participant = getattr(event, "participant", None)
    if isinstance(event, ev.HubStatus):
        return hub_state_topic(hub_id)
    who = SESSION_LEVEL if not isinstance(participant, str) else topic_level(participant)
    return f"{ROOT}/{hub_id}/{who}/{event.TYPE}"


def hub_state_topic(hub_id: str) -> str:
    return f"{ROOT}/{hub_id}/{HUB_LEVEL}/state"


def subscription(hub_id: str | None = None) -> str:
    """The filter for everything of one hub, or of all hubs."""
    return f"{ROOT}/{hub_id or '+'}/#"


def parse_topic(topic: str) -> tuple[str, str | None, str]:
    """``(hub, participant or None, last level)`` of a sensorhub topic; DecodeError if the
    topic is not one of ours."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != ROOT or not _HUB_ID.fullmatch(parts[1]):
        raise DecodeError(f"not a sensorhub topic: {topic!r}")
    who = parts[2]
    participant = None if who in (SESSION_LEVEL, HUB_LEVEL) else unquote(who)
    return parts[1], participant, parts[3]


@dataclass(frozen=True, slots=True)
class Envelope:
    """Where a message came from: hub, hub session, and its sequence number in that session.

    ``id`` (``<hub>:<hub_session>:<seq>``) is unique across hubs and sessions: the aggregator
    drops a message whose id it has seen. ``ts`` is the hub's Unix time when the event was
    produced (for end-to-end latency; same-machine clocks only).
    """

    hub: str
    hub_session: str
    seq: int
    ts: float

    @property
    def id(self) -> str:
        return f"{self.hub}:{self.hub_session}:{self.seq}"


def encode_message(event: Any, envelope: Envelope) -> bytes:
    """The MQTT payload: the websocket JSON of ``event`` plus the envelope fields."""
    obj = ev.to_json(event)
    obj.update(
        id=envelope.id,
        hub=envelope.hub,
        hub_session=envelope.hub_session,
        seq=envelope.seq,
        ts=envelope.ts,
    )
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


def decode_message(payload: bytes) -> tuple[Any, Envelope | None]:
    """An event and its envelope (None for a message without one, such as a last will
    written by hand); DecodeError says what is wrong with a malformed payload."""
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"MQTT payload is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError(f"MQTT payload must be a JSON object, got {type(obj).__name__}")
    # A HubStatus names its hub in a field of its own, the envelope's ``hub`` included.
    event = ev.from_json(obj)
    fields = [obj.get(k) for k in ("hub", "hub_session", "seq", "ts")]
    if all(f is None for f in fields[1:]):
        return event, None
    hub, session, seq, ts = fields
    if not (
        isinstance(hub, str)
        and isinstance(session, str)
        and isinstance(seq, int)
        and not isinstance(seq, bool)
        and seq >= 1
        and isinstance(ts, int | float)
        and not isinstance(ts, bool)
    ):
        raise DecodeError(f"MQTT payload has an invalid envelope: {fields!r}")
    return event, Envelope(hub, session, seq, float(ts))


def now_ts() -> float:
    """Unix time for :attr:`Envelope.ts`."""
    return time.time()


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker: from ``--mqtt URL`` / ``--from-mqtt URL`` and the config's
    ``[mqtt]`` table (the URL wins where both say something).

    ``mqtts://`` (or ``tls = true``) turns TLS on, verified against the system's CA store or
    ``ca_file``; ``cert_file``/``key_file`` give a client certificate; ``tls_insecure`` skips
    the host name check (a lab broker with a self-signed certificate; never on the internet).
    The password comes from the URL, ``password_file`` or ``$SENSORHUB_MQTT_PASSWORD``, so it
    need not sit in a config file.
    """

    host: str
    port: int = DEFAULT_PORT
    hub_id: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    keepalive_s: int = 15

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MqttSettings:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...`` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(
                f"MQTT broker URL {url!r} is not valid: use mqtt://HOST:PORT or mqtts://HOST:PORT"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(f"MQTT broker URL {url!r}: only scheme, credentials, host and port")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"MQTT broker URL {url!r}: {exc}") from exc
        tls = parts.scheme == "mqtts"
        settings = cls(
            host=parts.hostname,
            port=port or (DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def with_password_from(self, password_file: Path | None) -> MqttSettings:
        """The password from ``password_file`` (first line) or ``$SENSORHUB_MQTT_PASSWORD``
        when the URL gave none."""
        if self.password is not None:
            return self
        if password_file is not None:
            try:
                lines = password_file.read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"MQTT password file {password_file}: {exc.strerror}") from exc
            return replace(self, password=lines[0] if lines else "")
        env = os.environ.get("SENSORHUB_MQTT_PASSWORD")
        return self if env is None else replace(self, password=env)

    @property
    def url(self) -> str:
        """The broker address for messages and logs (never the password)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def client_options(self, tls_context: ssl.SSLContext | None) -> dict[str, Any]:
        """The connection keywords of ``aiomqtt.Client`` these settings decide (hub, aggregator
        and doctor connect alike); ``tls_context`` is :meth:`tls_context`'s, made once."""
        return {
            "hostname": self.host,
            "port": self.port,
            "username": self.username,
            "password": self.password,
            "keepalive": self.keepalive_s,
            "tls_context": tls_context,
            "tls_insecure": True if self.tls and self.tls_insecure else None,
        }

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for the connection, or None without TLS; ConfigError when a
        certificate file cannot be read."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(
                    str(self.cert_file), str(self.key_file) if self.key_file else None
                )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"MQTT TLS files: {exc}") from exc
        if self.tls_insecure:
            context.check_hostname = False
        return context
