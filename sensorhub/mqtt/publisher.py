"""A hub's side of MQTT: every event into a persistent outbox, published in order with QoS 1.

:class:`MqttPublisher` is a hub event sink (``hub.event_sinks.append(publisher.on_event)``).
``on_event`` runs on the event loop and only numbers the event (its :class:`~sensorhub.mqtt.
protocol.Envelope`: hub, hub session, ``seq`` from 1 without gaps, Unix ``ts``) and appends it
to a list; one database thread encodes and writes those lists to the outbox table
(:mod:`sensorhub.mqtt.outbox`), a batch at a time, so a hub's ~100 events/s cost the loop a
few microseconds each.

One task owns the broker connection (aiomqtt). On connect it publishes the hub's ``online``
state (retained; its last will is ``offline`` / ``connection lost``), then reads the outbox in
``id`` order and publishes each row with QoS 1, up to :data:`MAX_INFLIGHT` at once (paho sends
them in the order given), deleting rows as their PUBACKs arrive. When the broker goes away the
unacknowledged rows are sent again after the reconnect (same envelope: at-least-once, a
consumer de-duplicates by ``id``); the live dashboard never waits for any of this. Rows left
by an earlier run (the hub stopped while the broker was down) have lower ids, so they go first.

:meth:`MqttPublisher.close` (after ``hub.close()``, so truncated episode ends are in the
outbox) drains for ``drain_timeout_s``, publishes ``offline`` / ``stopped`` and disconnects;
what is left stays in the outbox for the next start, and the log says how many.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import paho.mqtt.client as mqtt_client

from sensorhub import events as ev
from sensorhub.errors import DecodeError
from sensorhub.mqtt import protocol as mp
from sensorhub.mqtt.outbox import Outbox, OutboxError, OutboxRow

__all__ = ["MqttPublisher", "default_hub_id"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Publishes awaiting their PUBACK at once. One at a time would cost a round trip per event
#: (a broker 20 ms away would cap a hub at 50 events/s); paho sends them in the order given.
MAX_INFLIGHT = 32
#: Outbox rows read per query.
FETCH_BATCH = 256
#: Reconnect backoff: the first retry comes soon (a broker restart takes about a second), then
#: doubles up to a cap short enough that a returning broker is used within seconds.
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 5.0
#: A publish without its PUBACK after this long means the connection is dead (reconnect).
ACK_TIMEOUT_S = 10.0
#: How long a connection attempt waits for the broker's CONNACK.
CONNECT_TIMEOUT_S = 10.0
#: Retry interval of an outbox write the disk refused (full, I/O error, locked).
DISK_RETRY_S = 1.0
#: Events kept in memory while the outbox cannot be written (about 15 minutes of a busy hub);
#: beyond this the oldest are dropped and counted (health ``dropped``; consumers see the gap).
MAX_UNWRITTEN = 100_000
#: At close: how long the final ``offline`` message and the disconnect may take, and how long
#: events still in memory may take to reach the outbox file.
STOP_TIMEOUT_S = 3.0
FLUSH_TIMEOUT_S = 5.0
#: Default of ``[mqtt] drain_timeout_s``: how long close() keeps publishing the backlog.
DRAIN_TIMEOUT_S = 5.0
#: While connected and caught up, how often the ``online`` state is re-checked: when it
#: announced a backlog that has since drained to zero (an outbox after an outage), it is
#: published again, so the retained state and the aggregator's outbox column do not stay stale.
STATE_REFRESH_S = 1.0


def default_hub_id() -> str:
    """This machine's host name (first label) made into a valid hub id, or ``hub``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname().split(".")[0])
    name = name.lstrip("._-")[:64]
    return mp.validate_hub_id(name) if name else "hub"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiomqtt.MqttCodeError) and exc.rc in (
        mqtt_client.MQTT_ERR_NO_CONN,
        mqtt_client.MQTT_ERR_CONN_LOST,
    ):
        return "the connection closed"
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text


class MqttPublisher:
    """Publishes a hub's events to a broker through the outbox in ``db_path``.

    Call :meth:`start` on the running loop, register :meth:`on_event` as an event sink, and
    :meth:`close` at the end. :meth:`health` is for ``/api/health``.
    """

    def __init__(
        self,
        settings: mp.MqttSettings,
        *,
        hub_id: str,
        hub_session: str,
        db_path: str | Path,
        session_name: str = "",
        drain_timeout_s: float = DRAIN_TIMEOUT_S,
        max_inflight: int = MAX_INFLIGHT,
        backoff_s: tuple[float, float] = (BACKOFF_FIRST_S, BACKOFF_MAX_S),
        clock: Callable[[], float] = mp.now_ts,
    ) -> None:
        self.settings = settings
        self.hub_id = mp.validate_hub_id(hub_id)
        self.hub_session = hub_session
        self.session_name = session_name
        self.db_path = Path(db_path)
        self.drain_timeout_s = drain_timeout_s
        self._max_inflight = max(1, max_inflight)
        self._backoff = backoff_s
        self._clock = clock
        self._tls = settings.tls_context()  # a bad certificate path fails now, not per retry
        self._client_id = f"sensorhub-{self.hub_id}-{uuid.uuid4().hex[:8]}"
        self._state_topic = mp.hub_state_topic(self.hub_id)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "mqtt-outbox")
        self._outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()  # new rows are in the outbox
        #: An ``offline`` for this hub arrived while connected: say ``online`` again.
        self._stale_will = False
        # Events numbered but not yet written (on_event -> database thread).
        self._seq = 0
        self._accepting = True
        self._unwritten: list[tuple[Any, mp.Envelope]] = []
        self._writing = False
        self._write_retry: asyncio.TimerHandle | None = None
        self._disk_failed = False
        # Acknowledged rows to delete.
        self._to_delete: list[int] = []
        self._deleting = False
        # Sending: the last row handed to paho, those awaiting PUBACK (in id order), and ids
        # acknowledged above the oldest unacknowledged one (not to be sent again on rewind).
        self._cursor = 0
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._acked: set[int] = set()
        # Health.
        self.connected = False
        self.backlog = 0
        #: The outbox backlog the retained ``online`` state last announced.
        self._announced_backlog = 0
        self.published = 0
        self.reconnects = 0
        self.dropped = 0
        self.last_error: str | None = None
        self._ever_connected = False
        self._failures = 0
        self._outage_since: float | None = None
        self._logged_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the outbox (OutboxError if it cannot be) and start publishing."""
        self._loop = asyncio.get_running_loop()
        try:
            self._outbox = await self._db(Outbox.open, self.db_path)
            waiting = await self._db(self._outbox.count, self.hub_id)
            others = await self._db(self._outbox.count, None) - waiting
        except OutboxError:
            self._executor.shutdown(wait=False)
            raise
        self.backlog += waiting
        if waiting:
            log.warning(
                "MQTT outbox %s: %d events of an earlier run of hub %s wait; they go first",
                self.db_path, waiting, self.hub_id,
            )  # fmt: skip
        if others:
            log.warning(
                "MQTT outbox %s: %d events of other hub ids wait for a hub with that id",
                self.db_path, others,
            )  # fmt: skip
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")
        self._schedule_write()

    async def close(self) -> None:
        """Drain for ``drain_timeout_s``, say ``offline`` (stopped), disconnect; what was not
        acknowledged stays in the outbox for the next start."""
        if self._task is None:
            self._executor.shutdown(wait=False)
            return
        loop = self._loop
        deadline = loop.time() + self.drain_timeout_s
        while self.backlog > 0 and loop.time() < deadline and not self._task.done():
            await asyncio.sleep(0.05)
        self._accepting = False
        self._stop.set()
        done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        flush_deadline = loop.time() + FLUSH_TIMEOUT_S
        while (
            self._unwritten or self._writing or self._to_delete or self._deleting
        ) and loop.time() < flush_deadline:
            await asyncio.sleep(0.02)
        if self._write_retry is not None:
            self._write_retry.cancel()
        lost = len(self._unwritten)
        waiting = self.backlog - lost
        if lost:
            log.error(
                "MQTT outbox %s: %d events could not be written and are lost (%s)",
                self.db_path, lost, self.last_error,
            )  # fmt: skip
        if waiting > 0:
            log.warning(
                "MQTT: %d events not published to %s stay in the outbox %s; the next start "
                "of hub %s publishes them first",
                waiting, self.settings.url, self.db_path, self.hub_id,
            )  # fmt: skip
        else:
            log.info("MQTT: every event published to %s", self.settings.url)
        if self._outbox is not None:
            await self._db(self._outbox.close)
        self._executor.shutdown(wait=False)

    def health(self) -> dict[str, Any]:
        """For ``/api/health``: connection, backlog and counters."""
        return {
            "broker": self.settings.url,
            "hub_id": self.hub_id,
            "connected": self.connected,
            "outbox": self.backlog,
            "inflight": len(self._inflight),
            "published": self.published,
            "reconnects": self.reconnects,
            "dropped": self.dropped,
            "last_error": self.last_error,
            "outbox_path": str(self.db_path),
        }

    # -- producer side (event loop; never blocks, never raises) ---------------------------

    def on_event(self, event: Any) -> None:
        """Number ``event`` and queue it for the outbox."""
        try:
            if isinstance(event, ev.HubStatus):
                return  # the hub's state is the publisher's own, not an event to relay
            if not self._accepting:
                self.dropped += 1
                log.error("MQTT publisher closed: a %s event is not published", event.TYPE)
                return
            self._seq += 1
            envelope = mp.Envelope(self.hub_id, self.hub_session, self._seq, self._clock())
            self._unwritten.append((event, envelope))
            self.backlog += 1
            if len(self._unwritten) > MAX_UNWRITTEN:
                excess = len(self._unwritten) - MAX_UNWRITTEN
                del self._unwritten[:excess]
                self.dropped += excess
                self.backlog -= excess
            self._schedule_write()
        except Exception:  # a sink must never break the hub
            log.exception("MQTT publisher: event not queued")

    def _schedule_write(self) -> None:
        if (
            self._writing
            or self._outbox is None
            or self._write_retry is not None
            or not self._unwritten
        ):
            return
        batch, self._unwritten = self._unwritten, []
        self._writing = True
        fut = self._loop.run_in_executor(self._executor, self._outbox.append, self.hub_id, batch)
        fut.add_done_callback(functools.partial(self._written, batch))

    def _written(self, batch: list[tuple[Any, mp.Envelope]], fut: asyncio.Future[int]) -> None:
        self._writing = False
        exc: BaseException | None = asyncio.CancelledError() if fut.cancelled() else None
        if exc is None:
            exc = fut.exception()
        if exc is None:
            if self._disk_failed:
                self._disk_failed = False
                log.warning("MQTT outbox %s: writable again", self.db_path)
            self._wake.set()
            self._schedule_write()
            return
        if not isinstance(exc, OutboxError):  # a bug: do not retry the same batch forever
            log.error("MQTT outbox: %d events not written", len(batch), exc_info=exc)
            self.dropped += len(batch)
            self.backlog -= len(batch)
            self._schedule_write()
            return
        self._unwritten[:0] = batch
        self.last_error = str(exc)
        if not self._disk_failed:
            self._disk_failed = True
            log.error("%s; events are kept in memory and the write retried", exc)
        self._write_retry = self._loop.call_later(DISK_RETRY_S, self._retry_write)

    def _retry_write(self) -> None:
        self._write_retry = None
        self._schedule_write()

    def _schedule_delete(self) -> None:
        if self._deleting or self._outbox is None or not self._to_delete:
            return
        ids, self._to_delete = self._to_delete, []
        self._deleting = True
        fut = self._loop.run_in_executor(self._executor, self._outbox.delete, ids)
        fut.add_done_callback(functools.partial(self._deleted, ids))

    def _deleted(self, ids: list[int], fut: asyncio.Future[None]) -> None:
        self._deleting = False
        if not fut.cancelled() and fut.exception() is not None:
            # Not fatal: the rows would be published again by the next start (duplicates).
            log.warning("MQTT outbox: acknowledged rows not deleted: %s", fut.exception())
            self._to_delete[:0] = ids
            self._loop.call_later(DISK_RETRY_S, self._schedule_delete)
            return
        self._schedule_delete()

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # -- the broker connection ------------------------------------------------------------

    def _state(self, state: str, reason: str = "") -> bytes:
        status = ev.HubStatus(
            self.hub_id,
            "online" if state == "online" else "offline",
            session=self.hub_session,
            name=self.session_name,
            reason=reason,
            outbox=self.backlog,
        )
        return ev.dumps(status).encode()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._connection()
            except (aiomqtt.MqttError, OSError, OutboxError) as exc:
                self._lost(exc)
            except Exception as exc:  # a bug must not end publishing for the whole session
                log.exception("MQTT publisher: unexpected error")
                self._lost(exc)
            else:
                return
            finally:
                self.connected = False
            if self._stop.is_set():
                return
            first, cap = self._backoff
            delay = min(first * 2**self._failures, cap)
            self._failures += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _client(self) -> aiomqtt.Client:
        will = ev.HubStatus(
            self.hub_id, "offline", session=self.hub_session, name=self.session_name,
            reason="connection lost",
        )  # fmt: skip
        client = aiomqtt.Client(
            **self.settings.client_options(self._tls),
            identifier=self._client_id,
            will=aiomqtt.Will(self._state_topic, ev.dumps(will).encode(), qos=1, retain=True),
            timeout=CONNECT_TIMEOUT_S,
            max_inflight_messages=self._max_inflight,
        )
        client.pending_calls_threshold = self._max_inflight + 16  # no warning for the pipeline
        return client

    async def _connection(self) -> None:
        """One connection: returns after a clean stop, raises when the connection is lost."""
        client = self._client()
        try:
            await self._connected_session(client)
        finally:
            # The broken connection's error is re-raised by whichever of our tasks saw it
            # first; mark it retrieved so asyncio does not report it as never retrieved.
            disconnected = getattr(client, "_disconnected", None)
            if isinstance(disconnected, asyncio.Future) and disconnected.done():
                with contextlib.suppress(asyncio.CancelledError):
                    disconnected.exception()

    async def _connected_session(self, client: aiomqtt.Client) -> None:
        async with client:
            self._connected()
            await self._announce(client)
            await client.subscribe(self._state_topic, qos=1)
            broken: asyncio.Future[None] = self._loop.create_future()
            slots = asyncio.Semaphore(self._max_inflight)
            watcher = asyncio.create_task(self._watch(client))
            sender = asyncio.create_task(self._send(client, slots, broken))
            stopper = asyncio.create_task(self._stop.wait())
            tasks: set[asyncio.Future[Any]] = {watcher, sender, stopper, broken}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (watcher, sender, stopper):
                    task.cancel()
                await asyncio.gather(watcher, sender, stopper, return_exceptions=True)
                await self._rewind()
            for fut in (broken, watcher, sender):
                error = fut.exception() if fut in done and not fut.cancelled() else None
                if error is not None:
                    raise error
            if broken.done() and not broken.cancelled():
                broken.exception()  # retrieved: it lost the race to another ending
            if stopper not in done:
                raise aiomqtt.MqttError("connection ended")
            await client.publish(
                self._state_topic,
                self._state("offline", reason="stopped"),
                qos=1,
                retain=True,
                timeout=STOP_TIMEOUT_S,
            )
            self.connected = False

    async def _send(
        self, client: aiomqtt.Client, slots: asyncio.Semaphore, broken: asyncio.Future[None]
    ) -> None:
        """Publish outbox rows in id order, a bounded number awaiting PUBACK at once."""
        assert self._outbox is not None
        while True:
            self._wake.clear()
            if self._stale_will:  # seen by _watch, which must not block on publishing
                self._stale_will = False
                await self._announce(client)
            rows = await self._db(self._outbox.fetch, self.hub_id, self._cursor, FETCH_BATCH)
            if not rows:
                # Caught up: "online, outbox 0" once an announced backlog has drained. Only
                # at zero: events not yet written to the outbox count in the backlog but are
                # not rows yet, and announcing each such passing figure would be noise.
                if not self._inflight and self.backlog == 0 and self._announced_backlog:
                    await self._announce(client)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), STATE_REFRESH_S)
                continue
            for row in rows:
                if row.id in self._acked:
                    self._cursor = row.id
                    continue
                await slots.acquire()
                self._cursor = row.id
                self._inflight[row.id] = asyncio.create_task(
                    self._publish(client, row, slots, broken)
                )

    async def _publish(
        self,
        client: aiomqtt.Client,
        row: OutboxRow,
        slots: asyncio.Semaphore,
        broken: asyncio.Future[None],
    ) -> None:
        try:
            await client.publish(
                row.topic, row.payload, qos=1, retain=row.retain, timeout=ACK_TIMEOUT_S
            )
        except aiomqtt.MqttError as exc:
            if not broken.done():
                broken.set_exception(exc)
            return
        finally:
            slots.release()
        self._inflight.pop(row.id, None)
        self.published += 1
        self.backlog -= 1
        self._acked.add(row.id)
        if len(self._acked) > 4 * self._max_inflight:
            floor = next(iter(self._inflight), self._cursor + 1) - 1
            self._acked = {i for i in self._acked if i > floor}
        self._to_delete.append(row.id)
        self._schedule_delete()

    async def _rewind(self) -> None:
        """After a connection ends: send every unacknowledged row again on the next one."""
        pending = list(self._inflight.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._inflight:
            self._cursor = next(iter(self._inflight)) - 1
        self._inflight.clear()
        self._acked = {i for i in self._acked if i > self._cursor}

    async def _watch(self, client: aiomqtt.Client) -> None:
        """Ends (MqttError) when the connection drops. While connected, an ``offline`` on
        this hub's state topic is a stale last will (an earlier connection that died after
        this one began): say ``online`` again, so the retained state is true."""
        async for message in client.messages:
            if message.retain or not isinstance(message.payload, bytes | bytearray):
                continue
            try:
                event, _ = mp.decode_message(bytes(message.payload))
            except DecodeError:
                continue
            if isinstance(event, ev.HubStatus) and event.state == "offline":
                if event.session != self.hub_session:
                    log.warning(
                        "MQTT: hub id %s was reported offline by session %s (%s); "
                        "is another hub using this id?",
                        self.hub_id, event.session, event.reason or "no reason",
                    )  # fmt: skip
                # Said by the sender: this task is what notices a dropped connection (the
                # message iterator ends), so it must never wait for a PUBACK itself.
                self._stale_will = True
                self._wake.set()

    async def _announce(self, client: aiomqtt.Client) -> None:
        """Publish ``online`` (retained) with the current outbox backlog."""
        self._announced_backlog = self.backlog
        await client.publish(self._state_topic, self._state("online"), qos=1, retain=True)

    # -- connection state and its log -----------------------------------------------------

    def _connected(self) -> None:
        if self._ever_connected:
            self.reconnects += 1
        if self._logged_error is not None and self._outage_since is not None:
            log.warning(
                "MQTT broker %s reachable again after %.1f s; publishing %d waiting events",
                self.settings.url, time.monotonic() - self._outage_since, self.backlog,
            )  # fmt: skip
        else:
            what = "reconnected" if self._ever_connected else "connected"
            log.info("MQTT: %s to %s as hub %s", what, self.settings.url, self.hub_id)
        self._ever_connected = True
        self._outage_since = None
        self._logged_error = None
        self._failures = 0
        self.connected = True

    def _lost(self, exc: BaseException) -> None:
        """Log an outage loudly once (and a changed reason), not per retry. A connection
        that drops is only an outage when reconnecting fails: a blip is logged quietly."""
        message = _describe(exc)
        self.last_error = message
        if self._outage_since is None:
            self._outage_since = time.monotonic()
        if self.connected:
            log.info(
                "MQTT: connection to %s dropped (%s); reconnecting", self.settings.url, message
            )
        elif self._logged_error is None:
            log.error(
                "MQTT broker %s unreachable (%s): events wait in the outbox %s and are "
                "published when it is back; retrying every %g s at most",
                self.settings.url, message, self.db_path, self._backoff[1],
            )  # fmt: skip
            self._logged_error = message
        elif message != self._logged_error:
            log.warning("MQTT broker %s still unreachable, now: %s", self.settings.url, message)
            self._logged_error = message
        else:
            log.debug("MQTT broker %s still unreachable: %s", self.settings.url, message)
