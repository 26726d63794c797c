"""EventBus: fan-out, the overflow policy (coalesce angles, never drop the rest), raw
subscriptions and the counters /api/health shows."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import numpy as np
import pytest

from sensorhub.bus import EventBus, RawSamples, Subscription
from sensorhub.events import Angle, EpisodeEnded, EpisodeStarted, Marker, SensorStatus


def drain(sub: Subscription) -> list[Any]:
    out = []
    while (event := sub.get_nowait()) is not None:
        out.append(event)
    return out


def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = EventBus()
    a, b = bus.subscribe("a"), bus.subscribe("b")
    events = [Marker(float(i), f"m{i}") for i in range(5)]
    for e in events:
        bus.publish(e)
    assert drain(a) == events
    assert drain(b) == events
    assert bus.stats()["published"] == 5


def test_angles_coalesce_to_the_latest_per_participant() -> None:
    bus = EventBus()
    sub = bus.subscribe("slow")
    for i in range(100):
        bus.publish(Angle("p1", i / 10, float(i), 0.0))
        bus.publish(Angle("p2", i / 10, -float(i), 0.0))
    assert sub.depth == 2
    got = drain(sub)
    assert got == [Angle("p1", 9.9, 99.0, 0.0), Angle("p2", 9.9, -99.0, 0.0)]
    assert sub.angles_coalesced == 198
    assert bus.stats()["angles_coalesced"] == 198


def test_coalesced_angle_keeps_publication_order_with_other_events() -> None:
    """The newer angle goes to the back: a client never sees an angle older than an
    episode event that was published after it."""
    bus = EventBus()
    sub = bus.subscribe("c")
    start = EpisodeStarted("p1", "forward", "forward", 1.0, 1.2, 2.0)
    bus.publish(Angle("p1", 1.9, 10.0, 0.0))
    bus.publish(start)
    bus.publish(Angle("p1", 2.1, 12.0, 0.0))
    assert drain(sub) == [start, Angle("p1", 2.1, 12.0, 0.0)]


def test_episode_and_status_events_are_never_dropped_below_the_limit() -> None:
    bus = EventBus()
    sub = bus.subscribe("c", max_queue=300)
    kept = []
    for i in range(100):
        bus.publish(Angle("p1", i, i, 0.0))
        e = EpisodeEnded("p1", "forward", "forward", i, i + 1, i, i + 1, 20.0, 15.0)
        s = SensorStatus("H10", "polar_h10", "streaming", float(i))
        bus.publish(e)
        bus.publish(s)
        kept += [e, s]
    got = drain(sub)
    assert [g for g in got if not isinstance(g, Angle)] == kept
    assert [g for g in got if isinstance(g, Angle)] == [Angle("p1", 99, 99, 0.0)]
    assert not sub.closed


async def test_overflow_closes_the_subscription_with_a_reason() -> None:
    bus = EventBus()
    slow, fast = bus.subscribe("slow", max_queue=10), bus.subscribe("fast", max_queue=10)
    closed = []
    slow.add_close_callback(closed.append)
    for i in range(11):
        bus.publish(Marker(float(i), "x"))
        assert fast.get_nowait() == Marker(float(i), "x")
    assert slow.closed
    assert slow.overflowed
    assert "more than 10 undelivered" in (slow.closed_reason or "")
    assert closed == [slow]
    assert await slow.get() is None
    assert not fast.closed
    stats = bus.stats()
    assert stats["overflow_disconnects"] == 1
    assert stats["subscribers"] == 1
    bus.publish(Marker(99.0, "after"))  # the closed subscription is gone from the fan-out
    assert fast.get_nowait() == Marker(99.0, "after")


def test_angles_alone_never_overflow_and_memory_stays_bounded() -> None:
    bus = EventBus()
    sub = bus.subscribe("never-reads", max_queue=5)
    for i in range(10_000):
        bus.publish(Angle(f"p{i % 4}", i, i, 0.0))
    assert not sub.closed
    assert sub.depth == 4
    assert len(sub._items) < 200  # killed slots are compacted


async def test_get_waits_for_the_next_event() -> None:
    bus = EventBus()
    sub = bus.subscribe("c")
    task = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    assert not task.done()
    bus.publish(Marker(1.0, "m"))
    assert await asyncio.wait_for(task, 5) == Marker(1.0, "m")


async def test_unsubscribe_wakes_a_waiting_get_with_none() -> None:
    bus = EventBus()
    sub = bus.subscribe("c")
    task = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    bus.unsubscribe(sub)
    assert await asyncio.wait_for(task, 5) is None
    assert sub.closed_reason == "unsubscribed"
    assert bus.stats()["subscribers"] == 0


def test_delivery_text_is_encoded_once_and_shared() -> None:
    bus = EventBus()
    a, b = bus.subscribe("a"), bus.subscribe("b")
    bus.publish(Marker(1.5, "m"))
    da, db = a._pop(), b._pop()
    assert da is db is not None
    assert json.loads(da.text) == {
        "type": "marker",
        "v": 1,
        "t": 1.5,
        "label": "m",
        "source": "api",
    }


def test_unencodable_event_is_dropped_and_counted_not_raised() -> None:
    bus = EventBus()
    sub = bus.subscribe("c")
    bus.publish(Angle("p1", 1.0, math.nan, 0.0))
    bus.publish(Marker(2.0, "ok"))
    assert drain(sub) == [Marker(2.0, "ok")]
    assert bus.stats()["unencodable"] == 1


def test_raw_samples_go_only_to_subscribed_clients() -> None:
    bus = EventBus()
    raw, plain = bus.subscribe("raw"), bus.subscribe("plain")
    bus.set_raw(raw, ["p1"])
    t_ns = np.array([1_000_000_000, 1_005_000_000], dtype=np.int64)
    acc = np.array([[0.0, 0.1, 0.99], [0.01, 0.1, 0.98]])
    bus.publish_raw("p1", t_ns, acc)
    bus.publish_raw("p2", t_ns, acc)
    assert drain(plain) == []
    assert drain(raw) == [RawSamples("p1", [1.0, 1.005], acc.tolist())]
    bus.set_raw(raw, [])
    bus.publish_raw("p1", t_ns, acc)
    assert drain(raw) == []
    assert bus.stats()["raw_published"] == 1


def test_publish_raw_without_subscribers_does_no_work() -> None:
    bus = EventBus()
    bus.subscribe("plain")
    bus.publish_raw("p1", "not an array", None)  # never converted: nobody asked
    assert bus.raw_published == 0


def test_raw_backlog_drops_the_oldest_block() -> None:
    bus = EventBus(max_raw=3)
    sub = bus.subscribe("raw")
    bus.set_raw(sub, ["p1"])
    for i in range(10):
        bus.publish_raw("p1", [i * 1_000_000_000], [[0.0, 0.0, 1.0]])
    got = drain(sub)
    assert [r.t for r in got] == [[7.0], [8.0], [9.0]]
    assert sub.raw_dropped == 7
    assert bus.stats()["raw_dropped"] == 7


def test_close_callback_errors_do_not_reach_the_publisher() -> None:
    bus = EventBus()
    sub = bus.subscribe("c", max_queue=1)

    def broken(_sub: Subscription) -> None:
        raise RuntimeError("consumer bug")

    sub.add_close_callback(broken)
    bus.publish(Marker(1.0, "a"))
    bus.publish(Marker(2.0, "b"))  # overflows; the callback raises; publish does not
    assert sub.closed


def test_max_queue_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_queue"):
        EventBus().subscribe("c", max_queue=0)


def test_health_stats_list_every_client() -> None:
    bus = EventBus()
    sub = bus.subscribe("ws#1")
    bus.publish(Marker(1.0, "a"))
    bus.publish(Marker(2.0, "b"))
    stats = bus.stats()
    assert stats["queue_depth_max"] == 2
    assert stats["queue_depth_total"] == 2
    assert stats["clients"][0]["name"] == "ws#1"
    assert stats["clients"][0]["depth"] == 2
    sub.get_nowait()
    assert bus.stats()["clients"][0]["delivered"] == 1
