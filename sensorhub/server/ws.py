"""``GET /ws``: Hello, then the client's subscription; client requests answered in-band.

Per connection three things run: a reader (client messages, flood limit), a sender (the
bus subscription, encoded once per event for all clients) and a stop future (overflow,
shutdown). Whichever finishes first decides how the socket closes:

=====  =========================================================================
1000   the client closed
1001   GOING_AWAY: the server is shutting down
1008   POLICY_VIOLATION: flooding (more messages per second than allowed)
1009   MESSAGE_TOO_BIG: a message above ``max_message_bytes``
1013   TRY_AGAIN_LATER: the client fell too far behind (its queue overflowed)
=====  =========================================================================

Everything a client sends is handled inside this module: a bad message gets an ``error``
event and the connection stays open; no client input reaches the pipeline except through
:class:`~sensorhub.server.control.HubControl`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import WSCloseCode, WSMsgType, web

from sensorhub.bus import Subscription
from sensorhub.errors import ConfigError, DecodeError, SensorhubError
from sensorhub.events import (
    CLIENT_MESSAGES,
    AddMarker,
    Calibrate,
    ErrorEvent,
    SetRecording,
    Subscribe,
    dumps,
    from_json,
)
from sensorhub.server import actions
from sensorhub.server.messages import Ack
from sensorhub.server.state import STATE, ServerState

__all__ = ["Connection", "TokenBucket", "websocket_handler"]

log = logging.getLogger(__name__)

_ids = itertools.count(1)
_REASON_BYTES = 123  # a close frame carries at most 125 bytes: 2 for the code


class TokenBucket:
    """``rate`` messages/s sustained, bursts of up to ``burst``; the clock is injected."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self._clock = rate, float(burst), clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class _LimitedWebSocket(web.WebSocketResponse[Literal[True]]):
    """aiohttp closes an oversize message with 1009 but no reason; this adds one."""

    def __init__(self, *, max_msg_size: int, **kwargs: Any) -> None:
        super().__init__(max_msg_size=max_msg_size, **kwargs)
        self._too_big = _reason(f"message too big: the limit is {max_msg_size} bytes")
        self.closed_too_big = False

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if code == WSCloseCode.MESSAGE_TOO_BIG and not message:
            message = self._too_big
            self.closed_too_big = True
        return await super().close(code=code, message=message, drain=drain)


def _reason(text: str) -> bytes:
    return text.encode()[:_REASON_BYTES]


class Connection:
    """One websocket client."""

    def __init__(self, state: ServerState, ws: _LimitedWebSocket, sub: Subscription) -> None:
        self.state, self.ws, self.sub = state, ws, sub
        self.finished = asyncio.Event()
        self._drain = False
        self._stop: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        settings = state.settings
        self._bucket = TokenBucket(settings.flood_rate_per_s, settings.flood_burst, settings.clock)
        sub.add_close_callback(self._on_sub_closed)

    def request_close(self, code: int, reason: str, *, drain: bool = False) -> None:
        """Close with ``code``; with ``drain``, after sending what is already queued."""
        if not self._stop.done():
            self._drain = drain
            self._stop.set_result((code, reason))

    def _on_sub_closed(self, sub: Subscription) -> None:
        if sub.overflowed:
            self.request_close(WSCloseCode.TRY_AGAIN_LATER, sub.closed_reason or "overflow")

    async def run(self, request: web.Request) -> None:
        """Serve until the client leaves or something asks to close, then close.

        The sender is never cancelled: a sender blocked on a full TCP window waits on a
        future that aiohttp shares with the close frame's drain, and cancelling one would
        cancel the other. Instead the subscription is closed (on shutdown: drained first), so
        the sender finishes; if it is still busy after ``close_timeout_s`` the client is not
        reading and the transport is aborted (a close frame could not reach it anyway).
        """
        reader = asyncio.create_task(self._read())
        sender = asyncio.create_task(self._send())
        waitables: set[asyncio.Future[Any]] = {reader, sender, self._stop}
        try:
            await asyncio.wait(waitables, return_when=asyncio.FIRST_COMPLETED)
            outcome = self._outcome(reader, sender)
            if self._drain:
                self.sub.drain()
            else:
                self.sub.close("connection closing")
            timeout = self.state.settings.close_timeout_s
            done, _ = await asyncio.wait({sender}, timeout=timeout)
            self.sub.close("connection closing")
            if not done:
                _abort(request)
            elif outcome is not None and not self.ws.closed:
                await _close(self.ws, request, *outcome)
        finally:
            reader.cancel()
            sender.cancel()
            await asyncio.gather(reader, sender, return_exceptions=True)

    def _outcome(
        self, reader: asyncio.Task[Any], sender: asyncio.Task[None]
    ) -> tuple[int, str] | None:
        """The close to send: asked for, or decided by the reader; ``None`` if the client left."""
        if self._stop.done():
            return self._stop.result()
        for task in (reader, sender):
            if not task.done() or task.cancelled():
                continue
            exc = task.exception()
            if exc is None:
                result: tuple[int, str] | None = task.result()
                return result
            if isinstance(exc, ConnectionError):
                return None
            log.error("websocket %s failed", self.sub.name, exc_info=exc)
            return WSCloseCode.INTERNAL_ERROR, "internal error"
        return None

    async def _send(self) -> None:
        while True:
            delivery = await self.sub.get_delivery()
            if delivery is None:
                return
            await self.ws.send_str(delivery.text)

    async def _read(self) -> tuple[int, str] | None:
        settings = self.state.settings
        async for msg in self.ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                if not self._bucket.take():
                    self.state.count_close("flood")
                    log.warning("websocket %s: flooding, closing", self.sub.name)
                    return WSCloseCode.POLICY_VIOLATION, (
                        f"flooding: more than {settings.flood_rate_per_s:g} messages/s"
                    )
                if msg.type is WSMsgType.TEXT:
                    self._handle_text(msg.data)
                else:
                    self._reply_error("unsupported", "binary messages are not supported")
            elif msg.type is WSMsgType.ERROR:
                if self.ws.closed_too_big:
                    self.state.count_close("too_big")
                    log.warning("websocket %s: message too big, closed", self.sub.name)
                return None
        return None

    def _handle_text(self, text: str) -> None:
        try:
            obj = json.loads(text)
        except ValueError as exc:
            self._reply_error("bad_json", f"not valid JSON: {exc}")
            return
        try:
            message = from_json(obj, CLIENT_MESSAGES)
            result = self._dispatch(message)
        except DecodeError as exc:
            self._reply_error("invalid_message", str(exc))
        except ConfigError as exc:
            self._reply_error("refused", str(exc))
        except SensorhubError as exc:
            self._reply_error("unavailable", str(exc))
        except Exception:  # a hub bug must not take the connection (or the hub) down
            log.exception("websocket %s: request %r failed", self.sub.name, text[:200])
            self._reply_error("internal_error", "the hub failed to handle this request")
        else:
            try:
                self.sub.send_direct(Ack(message.TYPE, result))
            except (TypeError, ValueError):  # the hub answered something that is not JSON
                log.exception("websocket %s: unencodable reply %r", self.sub.name, result)
                self._reply_error("internal_error", "the hub's answer could not be encoded")

    def _dispatch(self, message: Any) -> dict[str, Any]:
        control = self.state.control
        if isinstance(message, AddMarker):
            return actions.add_marker(control, message.label, "dashboard")
        if isinstance(message, Calibrate):
            return actions.calibrate(control, message.participant, message.step)
        if isinstance(message, SetRecording):
            return control.set_recording(message.on)
        if isinstance(message, Subscribe):
            return actions.set_raw(control, self.state.bus, self.sub, message.raw)
        raise DecodeError(f"unsupported message type {message.TYPE!r}")

    def _reply_error(self, code: str, message: str) -> None:
        self.sub.send_direct(ErrorEvent(code, message))


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


async def _close(ws: _LimitedWebSocket, request: web.Request, code: int, reason: str) -> None:
    """Close with ``code`` and ``reason``; abort the transport if the handshake stalls."""
    timeout = request.app[STATE].settings.close_timeout_s
    try:
        await asyncio.wait_for(ws.close(code=code, message=_reason(reason)), timeout * 2)
    except (TimeoutError, ConnectionError):
        _abort(request)


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    settings = state.settings
    if state.shutting_down:
        raise web.HTTPServiceUnavailable(reason="server shutting down")
    if len(state.connections) + state.upgrading >= settings.max_clients:
        raise web.HTTPServiceUnavailable(reason=f"too many clients (max {settings.max_clients})")
    ws = _LimitedWebSocket(
        max_msg_size=settings.max_message_bytes,
        heartbeat=settings.heartbeat_s,
        timeout=settings.close_timeout_s,
        compress=settings.compress,
    )
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(reason="expected a websocket upgrade")
    state.upgrading += 1  # prepare() awaits: count this client before another one checks
    try:
        await ws.prepare(request)
    finally:
        state.upgrading -= 1
    sub = state.bus.subscribe(f"ws#{next(_ids)} {request.remote}", max_queue=settings.client_queue)
    conn = Connection(state, ws, sub)
    state.connections.add(conn)
    state.connections_total += 1
    try:
        await ws.send_str(dumps(state.control.hello()))
        await conn.run(request)
    except ConnectionError:
        pass  # the client went away; nothing to close
    finally:
        if sub.overflowed:
            state.count_close("overflow")
        state.bus.unsubscribe(sub)
        state.connections.discard(conn)
        conn.finished.set()
    return ws
