"""The event bus: one publisher (the hub's pipelines), many slow or fast consumers.

``publish`` is synchronous and O(subscribers): it encodes the event once, then offers it to
every :class:`Subscription`, a bounded per-client queue with an explicit overflow policy
(DESIGN principle 9, and the websockets docs on broadcast: never let one slow client hold
the sender):

* ``Angle`` events *coalesce*: a subscription holds at most one undelivered angle per
  participant, the latest. A slow client sees fewer angle updates, never stale ones. A newer
  angle replaces the pending one and moves to the back of the queue, so the client still
  receives events in publication order.
* ``RawSamples`` (opt-in, full rate) are bounded separately: beyond ``max_raw`` undelivered
  blocks the oldest block is dropped and counted. The client sees the gap in ``t``.
* Every other event (episodes, dyad, status, markers, errors) is never dropped. If more than
  ``max_queue`` of them are undelivered, the subscription is closed as *overflowed* with a
  reason, and the server disconnects that client (close code 1013, "try again later").

Nothing a consumer does can make ``publish`` block or raise. Call ``publish`` and
``publish_raw`` from the event loop's thread (from another thread use
``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from sensorhub.events import Angle, dumps

__all__ = ["Delivery", "EventBus", "RawSamples", "Subscription"]

log = logging.getLogger(__name__)

#: Undelivered raw blocks kept per client before the oldest is dropped. A Polar H10 frame
#: holds ~36 samples at 200 Hz, so 256 blocks are ~45 s of one participant's signal.
DEFAULT_MAX_RAW = 256

_KEPT, _ANGLE, _RAW = 0, 1, 2


@dataclass(frozen=True, slots=True)
class RawSamples:
    """Full-rate raw acceleration of one participant, sent only to clients that subscribed
    (``subscribe`` with ``raw``). ``t`` is session time in seconds, ``acc`` one ``[x, y, z]``
    row in g (device axes) per entry of ``t``."""

    TYPE: ClassVar[str] = "raw"
    participant: str
    t: list[float]
    acc: list[list[float]]


class Delivery:
    """One published message and its wire text, encoded once and shared by all clients."""

    __slots__ = ("event", "text")

    def __init__(self, event: Any, text: str) -> None:
        self.event = event
        self.text = text


class _Slot:
    """A queue entry. Coalesced angles and dropped raw blocks are killed in place
    (``delivery = None``) instead of being searched for and removed from the deque."""

    __slots__ = ("delivery", "kind")

    def __init__(self, delivery: Delivery, kind: int) -> None:
        self.delivery: Delivery | None = delivery
        self.kind = kind


class Subscription:
    """A per-client bounded queue; create with :meth:`EventBus.subscribe`."""

    def __init__(self, bus: EventBus, name: str, max_queue: int, max_raw: int) -> None:
        self.name = name
        self.max_queue = max_queue
        self.max_raw = max_raw
        self.raw: frozenset[str] = frozenset()
        self.angles_coalesced = 0
        self.raw_dropped = 0
        self.delivered = 0
        self.peak_depth = 0
        #: Why the subscription ended (``None`` while open).
        self.closed_reason: str | None = None
        self.overflowed = False
        self._draining = False
        self._bus = bus
        self._items: deque[_Slot] = deque()
        self._angle_slots: dict[str, _Slot] = {}
        self._raw_slots: deque[_Slot] = deque()
        self._kept = 0
        self._dead = 0
        self._waiter: asyncio.Future[None] | None = None
        self._on_close: list[Callable[[Subscription], None]] = []

    # -- consumer side ---------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Undelivered messages (coalesced angles count once)."""
        return len(self._items) - self._dead

    @property
    def closed(self) -> bool:
        return self.closed_reason is not None

    async def get(self) -> Any | None:
        """The next event, or ``None`` once the subscription is closed (see ``closed_reason``)."""
        delivery = await self.get_delivery()
        return None if delivery is None else delivery.event

    async def get_delivery(self) -> Delivery | None:
        """Like :meth:`get`, with the event's JSON text (encoded once for all clients)."""
        while True:
            delivery = self._pop()
            if delivery is not None:
                return delivery
            if self.closed or self._draining:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def get_nowait(self) -> Any | None:
        """The next event if one is queued, else ``None``."""
        delivery = self._pop()
        return None if delivery is None else delivery.event

    def add_close_callback(self, callback: Callable[[Subscription], None]) -> None:
        """Call ``callback(self)`` when the subscription closes (overflow or unsubscribe).

        Runs synchronously inside ``publish``: keep it cheap (schedule, don't work).
        """
        if self.closed:
            callback(self)
        else:
            self._on_close.append(callback)

    def send_direct(self, message: Any) -> None:
        """Queue a message for this client only (a reply), never dropped."""
        self._offer(Delivery(message, dumps(message)), _KEPT)

    # -- publisher side --------------------------------------------------------------

    def _offer(self, delivery: Delivery, kind: int) -> None:
        if self.closed:
            return
        slot = _Slot(delivery, kind)
        if kind == _ANGLE:
            key = delivery.event.participant
            old = self._angle_slots.get(key)
            if old is not None:
                old.delivery = None
                self._dead += 1
                self.angles_coalesced += 1
                self._bus.angles_coalesced += 1
            self._angle_slots[key] = slot
        elif kind == _RAW:
            self._raw_slots.append(slot)
            if len(self._raw_slots) > self.max_raw:
                self._raw_slots.popleft().delivery = None
                self._dead += 1
                self.raw_dropped += 1
                self._bus.raw_dropped += 1
        else:
            self._kept += 1
        self._items.append(slot)
        depth = self.depth
        if depth > self.peak_depth:
            self.peak_depth = depth
        if self._kept > self.max_queue:
            self.overflowed = True
            self._bus._overflowed(self)
            self.close(f"client too slow: more than {self.max_queue} undelivered events")
            return
        if self._dead > 64 and self._dead > len(self._items) // 2:
            self._compact()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _pop(self) -> Delivery | None:
        items = self._items
        while items:
            slot = items.popleft()
            delivery = slot.delivery
            if delivery is None:
                self._dead -= 1
                continue
            if slot.kind == _ANGLE:
                key = delivery.event.participant
                if self._angle_slots.get(key) is slot:
                    del self._angle_slots[key]
            elif slot.kind == _RAW:
                self._raw_slots.popleft()
            else:
                self._kept -= 1
            self.delivered += 1
            return delivery
        return None

    def _compact(self) -> None:
        """Drop killed slots so a client that stops reading holds bounded memory."""
        self._items = deque(s for s in self._items if s.delivery is not None)
        self._dead = 0

    def drain(self) -> None:
        """Take no new events; ``get`` returns what is queued, then ``None``.

        For a graceful end (server shutdown): events published before it, such as the
        episodes the hub closes on its way down, still reach the client. Call :meth:`close`
        once the consumer is done.
        """
        if self.closed or self._draining:
            return
        self._draining = True
        self._bus._forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self, reason: str) -> None:
        """End the subscription: pending messages are discarded, ``get`` returns ``None``."""
        if self.closed:
            return
        self.closed_reason = reason
        self._items.clear()
        self._angle_slots.clear()
        self._raw_slots.clear()
        self._kept = self._dead = 0
        self._bus._forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        callbacks, self._on_close = self._on_close, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a consumer's bug must not reach the publisher
                log.exception("close callback of subscription %s failed", self.name)

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "depth": self.depth,
            "peak_depth": self.peak_depth,
            "delivered": self.delivered,
            "angles_coalesced": self.angles_coalesced,
            "raw_dropped": self.raw_dropped,
            "raw": sorted(self.raw),
        }


class EventBus:
    """Fan-out of events to subscriptions; see the module docstring for the policy."""

    def __init__(self, *, max_raw: int = DEFAULT_MAX_RAW) -> None:
        self.max_raw = max_raw
        self.published = 0
        self.raw_published = 0
        self.unencodable = 0
        self.angles_coalesced = 0
        self.raw_dropped = 0
        self.overflow_disconnects = 0
        self._subs: dict[Subscription, None] = {}  # insertion-ordered set
        self._snapshot: tuple[Subscription, ...] = ()
        self._raw_index: dict[str, dict[Subscription, None]] = {}

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return self._snapshot

    def subscribe(self, name: str, *, max_queue: int = 1000) -> Subscription:
        if max_queue < 1:
            raise ValueError(f"max_queue must be >= 1, got {max_queue}")
        sub = Subscription(self, name, max_queue, self.max_raw)
        self._subs[sub] = None
        self._snapshot = tuple(self._subs)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close("unsubscribed")

    def set_raw(self, sub: Subscription, participants: Iterable[str]) -> None:
        """Replace the set of participants whose raw samples ``sub`` receives."""
        if sub.closed:
            return
        for participant in sub.raw:
            self._raw_index.get(participant, {}).pop(sub, None)
        sub.raw = frozenset(participants)
        for participant in sub.raw:
            self._raw_index.setdefault(participant, {})[sub] = None
        self._raw_index = {p: subs for p, subs in self._raw_index.items() if subs}

    def publish(self, event: Any) -> None:
        """Offer ``event`` to every subscriber. Never blocks; never raises for a client."""
        self.published += 1
        subs = self._snapshot
        if not subs:
            return
        try:
            text = dumps(event)
        except (TypeError, ValueError) as exc:  # NaN or a non-JSON field: a publisher bug
            self.unencodable += 1
            if self.unencodable == 1 or self.unencodable % 1000 == 0:
                log.warning("dropped unencodable %s (%d so far): %s", event, self.unencodable, exc)
            return
        delivery = Delivery(event, text)
        kind = _ANGLE if type(event) is Angle else _KEPT
        for sub in subs:
            sub._offer(delivery, kind)

    def publish_raw(self, participant: str, t_ns: npt.ArrayLike, acc_g: npt.ArrayLike) -> None:
        """Full-rate samples (session-clock ns, (N, 3) g) to clients that asked for them.

        A dictionary lookup when nobody subscribed to ``participant``.
        """
        subs = self._raw_index.get(participant)
        if not subs:
            return
        self.raw_published += 1
        t_s = (np.asarray(t_ns, dtype=np.int64) / 1e9).tolist()
        acc = np.asarray(acc_g, dtype=np.float64).reshape(-1, 3).tolist()
        message = RawSamples(participant, t_s, acc)
        try:
            delivery = Delivery(message, dumps(message))
        except ValueError:  # NaN in the samples
            self.unencodable += 1
            return
        for sub in tuple(subs):
            sub._offer(delivery, _RAW)

    def stats(self) -> dict[str, Any]:
        """Counters for ``/api/health``."""
        depths = [s.depth for s in self._snapshot]
        return {
            "subscribers": len(depths),
            "published": self.published,
            "raw_published": self.raw_published,
            "unencodable": self.unencodable,
            "queue_depth_max": max(depths, default=0),
            "queue_depth_total": sum(depths),
            "angles_coalesced": self.angles_coalesced,
            "raw_dropped": self.raw_dropped,
            "overflow_disconnects": self.overflow_disconnects,
            "clients": [s.stats() for s in self._snapshot],
        }

    # -- called by Subscription ----------------------------------------------------------

    def _overflowed(self, sub: Subscription) -> None:
        self.overflow_disconnects += 1
        log.warning("subscription %s overflowed (max_queue %d)", sub.name, sub.max_queue)

    def _forget(self, sub: Subscription) -> None:
        if sub in self._subs:
            del self._subs[sub]
            self._snapshot = tuple(self._subs)
        for participant in sub.raw:
            subs = self._raw_index.get(participant)
            if subs is not None:
                subs.pop(sub, None)
                if not subs:
                    del self._raw_index[participant]
