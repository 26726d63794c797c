"""``sensorhub serve --from-mqtt URL``: one dashboard for every hub on a broker.

The aggregator subscribes to ``sensorhub/+/#`` and serves the usual websocket, API and
dashboard over what it receives (:class:`~sensorhub.mqtt.view.AggregateView` does the
bookkeeping; this module is the I/O around it). No Bluetooth is involved.

**Nothing lost, nothing shown twice.** The subscription is QoS 1 in a *persistent* MQTT
session (MQTT 5, ``clean_start=False``, a session expiry of :data:`SESSION_EXPIRY_S`) under a
stable client id (:func:`aggregator_client_id`). While the aggregator is away (its connection
dropped, the broker restarted with persistence on, the aggregator process restarted within the
expiry) the broker queues the hubs' messages for it and delivers them on reconnection. QoS 1
may deliver a message more than once; the aggregator drops copies by envelope id
(``<hub>:<hub_session>:<seq>``) and counts them (``duplicates``), and counts sequence numbers
that never came (``missing``).

**Reconnection** with exponential backoff (:data:`BACKOFF_INITIAL_S` to :data:`BACKOFF_MAX_S`);
the broker link's state is in ``GET /api/health`` (``hub.broker``) and a lost link is an
``error`` event on the websocket. Malformed messages are counted (``hub.malformed``) and
logged at most every :data:`LOG_EVERY_S`; they never stop the aggregator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError, SensorhubError
from sensorhub.mqtt.protocol import MqttSettings, subscription
from sensorhub.mqtt.view import AggregateView, Malformed
from sensorhub.server.app import create_app, run_server
from sensorhub.server.settings import ServerSettings

__all__ = ["Aggregator", "aggregator_client_id", "run_aggregator"]

log = logging.getLogger(__name__)

#: How long the broker keeps the aggregator's session (and queues messages for it) while it is
#: away. An hour covers a broker restart, a network outage and an aggregator restart; an
#: aggregator gone longer starts afresh rather than reading an hour of backlog.
SESSION_EXPIRY_S = 3600
#: First reconnection delay: a restarting broker is usually back within a second.
BACKOFF_INITIAL_S = 0.5
#: Longest delay between attempts: a dashboard should not stay stale much longer than the
#: broker's outage, and one connection attempt every 15 s costs the broker nothing.
BACKOFF_MAX_S = 15.0
#: Seconds between periodic ``hub`` events (counts, last seen) on the websocket.
STATUS_INTERVAL_S = 2.0
#: Malformed messages are logged at most this often (a broken publisher may send thousands).
LOG_EVERY_S = 10.0
#: How long a connection attempt (and the clean disconnect) may take.
CONNECT_TIMEOUT_S = 10.0

ReconnectWait = Callable[[float], Awaitable[None]]


def aggregator_client_id(mqtt: MqttSettings) -> str:
    """The aggregator's MQTT client id, stable across restarts so its session persists:
    ``sensorhub-aggregator-<name>``, where name is ``mqtt.hub_id`` when given (to run two
    aggregators on one machine) and the host name otherwise."""
    name = mqtt.hub_id or socket.gethostname() or "host"
    return "sensorhub-aggregator-" + re.sub(r"[^A-Za-z0-9._-]", "-", name)[:64]


class _RateLimitedLog:
    """Log a recurring problem at most every ``every_s`` seconds, with how many were quiet."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self._next = -float("inf")
        self._quiet = 0

    def warning(self, message: str, *args: Any) -> None:
        now = self.clock()
        if now < self._next:
            self._quiet += 1
            return
        if self._quiet:
            message += f" ({self._quiet} more since the last report)"
        log.warning(message, *args)
        self._quiet = 0
        self._next = now + self.every_s


class Aggregator:
    """The hubs of one broker, as a :class:`~sensorhub.server.control.HubControl`.

    ``wall`` is Unix time (injected for tests); ``reconnect_wait(delay)`` waits before a
    reconnection attempt (tests pass one they control; the default sleeps ``delay`` or until
    :meth:`run`'s stop event).
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        bus: EventBus,
        *,
        client_id: str | None = None,
        wall: Callable[[], float] = time.time,
        reconnect_wait: ReconnectWait | None = None,
        status_interval_s: float = STATUS_INTERVAL_S,
    ) -> None:
        self.mqtt = mqtt
        self.bus = bus
        self.client_id = client_id or aggregator_client_id(mqtt)
        self.session_id = "aggregator-" + uuid.uuid4().hex[:12]
        self.view = AggregateView(self.session_id, wall)
        self.started = dt.datetime.fromtimestamp(self.view.start_wall, dt.UTC)
        self.status_interval_s = status_interval_s
        self._reconnect_wait = reconnect_wait
        self._tls = mqtt.tls_context()  # ConfigError now, not at the first connection
        self._stop: asyncio.Event | None = None
        self._malformed_log = _RateLimitedLog(LOG_EVERY_S)
        self.broker_state = "connecting"
        self.connects = 0
        self.disconnects = 0
        self.last_error = ""
        self.next_retry_s: float | None = None
        self.received = 0
        self.internal_errors = 0

    # -- running --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the broker (reconnecting as needed) until ``stop`` is set."""
        self._stop = stop
        tasks = [
            asyncio.create_task(self._follow_broker(), name="mqtt-aggregator"),
            asyncio.create_task(self._tick(), name="mqtt-hub-status"),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.broker_state = "stopped"

    async def _follow_broker(self) -> None:
        delay = BACKOFF_INITIAL_S
        first = True
        while True:
            try:
                async with self._client() as client:
                    delay = BACKOFF_INITIAL_S
                    # Retained messages (each hub's hello, state and statuses) are what a
                    # fresh aggregator needs; on a reconnection into a kept session they
                    # would only repeat, so the broker sends them only if the subscription
                    # is new (MQTT 5 retain handling 1: the session was lost).
                    options = SubscribeOptions(qos=1, retainHandling=0 if first else 1)
                    await client.subscribe(subscription(), options=options)
                    first = False
                    self._connected()  # connected means subscribed: messages flow
                    async for message in client.messages:
                        self._on_message(message)
            except aiomqtt.MqttError as exc:
                self._disconnected(str(exc))
            except Exception as exc:  # a bug here must not end the reconnection loop
                log.exception("MQTT connection failed unexpectedly")
                self._disconnected(f"internal error: {exc!r}")
            self.next_retry_s = delay
            await self._wait(delay)
            self.next_retry_s = None
            delay = min(delay * 2, BACKOFF_MAX_S)

    def _client(self) -> aiomqtt.Client:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        self.broker_state = "connecting"
        return aiomqtt.Client(
            **self.mqtt.client_options(self._tls),
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            timeout=CONNECT_TIMEOUT_S,
        )

    async def _wait(self, delay: float) -> None:
        if self._reconnect_wait is not None:
            await self._reconnect_wait(delay)
            return
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), delay)

    def _connected(self) -> None:
        self.broker_state = "connected"
        self.connects += 1
        log.info("connected to the MQTT broker %s as %s", self.mqtt.url, self.client_id)

    def _disconnected(self, why: str) -> None:
        was = self.broker_state
        self.broker_state = "disconnected"
        self.last_error = why
        if was == "connected":
            self.disconnects += 1
            log.warning("lost the MQTT broker %s: %s; reconnecting", self.mqtt.url, why)
            self.bus.publish(
                ev.ErrorEvent("mqtt", f"lost the MQTT broker {self.mqtt.url}: {why}", self._t())
            )
        else:
            log.info("MQTT broker %s unreachable: %s", self.mqtt.url, why)

    def _t(self) -> float:
        return round(self.view.now(), 6)

    def _on_message(self, message: aiomqtt.Message) -> None:
        self.received += 1
        topic = message.topic.value
        payload = message.payload
        try:
            if not isinstance(payload, bytes | bytearray):
                raise Malformed("payload", f"{topic}: payload is not bytes")
            events = self.view.handle(topic, bytes(payload), retained=bool(message.retain))
        except Malformed as exc:
            self.view.count_malformed(exc.kind, str(exc))
            self._malformed_log.warning("malformed MQTT message (%s): %s", exc.kind, exc)
            return
        except Exception:  # an aggregator bug must not stop the other hubs' stream
            self.internal_errors += 1
            log.exception("MQTT message on %s could not be handled", topic)
            return
        for event in events:
            self.bus.publish(event)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.status_interval_s)
            for status in self.view.statuses():
                self.bus.publish(status)

    # -- HubControl -----------------------------------------------------------------------

    def hello(self) -> ev.Hello:
        return self.view.hello()

    def session_info(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "name": f"aggregator of {self.mqtt.url}",
            "started": self.started.isoformat(),
            "started_unix": self.view.start_wall,
            "elapsed_s": self._t(),
            "software": f"sensorhub {__version__}",
            "recording": False,
            "store": None,
            "replay": False,
            "aggregator": True,
            "broker": self.mqtt.url,
            "hubs": self.view.hubs_health(),
        }

    def participants(self) -> list[dict[str, Any]]:
        return self.view.participants()

    def sensors(self) -> list[dict[str, Any]]:
        return self.view.sensors()

    def markers(self) -> list[ev.Marker]:
        return self.view.all_markers()

    def add_marker(self, label: str, source: str) -> ev.Marker:
        """A marker of the aggregator's own (source ``aggregator``); hubs do not see it."""
        label = label.strip()
        if not label or len(label) > ev.MAX_MARKER_LABEL_CHARS:
            raise ConfigError(f"a marker label is 1 to {ev.MAX_MARKER_LABEL_CHARS} characters")
        marker = self.view.add_marker(label)
        self.bus.publish(marker)
        return marker

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        hub = participant.split("/", 1)[0]
        raise ConfigError(
            f"calibrate {participant} on its hub's own dashboard (hub {hub}): the aggregator "
            "only shows what the hubs publish"
        )

    def set_recording(self, on: bool) -> dict[str, Any]:
        raise SensorhubError(
            "the aggregator does not record: each hub records its own session "
            "(serve --db on the hub)"
        )

    def health(self) -> dict[str, Any]:
        return {
            "aggregator": True,
            "broker": {
                "url": self.mqtt.url,
                "client_id": self.client_id,
                "state": self.broker_state,
                "connects": self.connects,
                "disconnects": self.disconnects,
                "last_error": self.last_error,
                "next_retry_s": self.next_retry_s,
                "received": self.received,
            },
            "malformed": dict(self.view.malformed),
            "last_malformed": self.view.last_malformed,
            "internal_errors": self.internal_errors,
            "hubs": self.view.hubs_health(),
        }


async def run_aggregator(mqtt: MqttSettings, server: ServerSettings, stop: asyncio.Event) -> None:
    """Serve the dashboard and websocket for all hubs on ``mqtt`` until ``stop`` is set.

    Prints where the dashboard is (``sensorhub: dashboard on URL``) once it listens.
    """
    bus = EventBus()
    aggregator = Aggregator(mqtt, bus)
    app = create_app(aggregator, bus, server)
    async with run_server(app) as handle:
        where = handle.url + (f"?token={handle.token}" if handle.token else "")
        print(
            f"sensorhub: aggregator of {mqtt.url} (MQTT client id {aggregator.client_id})",
            flush=True,
        )
        print(f"sensorhub: dashboard on {where}", flush=True)
        if handle.token:
            print(f"sensorhub: access token {handle.token}", flush=True)
        await aggregator.run(stop)
        print("sensorhub: stopping the aggregator", flush=True)
