"""The websocket: Hello first, events fanned out, client requests answered in-band, bad
input answered with an error (connection stays open), abusive clients closed with a reason."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.client import ClientWebSocketResponse

from sensorhub.bus import EventBus
from sensorhub.events import EpisodeEnded, Marker

from .conftest import FakeClock, Make
from .fakehub import FakeHub

UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
TIMEOUT = 10.0  # only bounds a hang; no assertion depends on it


async def recv(ws: ClientWebSocketResponse) -> dict[str, Any]:
    msg = await ws.receive(timeout=TIMEOUT)
    assert msg.type is WSMsgType.TEXT, msg
    obj: dict[str, Any] = json.loads(msg.data)
    return obj


async def recv_until(ws: ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    while (obj := await recv(ws))["type"] != type_:
        pass
    return obj


async def expect_close(ws: ClientWebSocketResponse) -> tuple[int | None, str]:
    """Read until the server closes; the close code and reason."""
    while True:
        msg = await ws.receive(timeout=TIMEOUT)
        if msg.type is WSMsgType.CLOSE:
            return msg.data, msg.extra or ""
        if msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR):
            return ws.close_code, ""


async def until(predicate: Any) -> None:
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def until_health(client: Any, predicate: Any) -> dict[str, Any]:
    """/api/health once ``predicate`` holds (the server finishes a close after the client)."""
    for _ in range(500):
        health: dict[str, Any] = await (await client.get("/api/health")).json()
        if predicate(health):
            return health
        await asyncio.sleep(0.01)
    raise AssertionError(f"health never matched: {health}")


async def test_hello_first_then_published_events(client: Any, hub: FakeHub) -> None:
    async with client.ws_connect("/ws") as ws:
        hello = await recv(ws)
        assert hello["type"] == "hello"
        assert hello["v"] == 1
        assert [p["id"] for p in hello["participants"]] == ["p1", "p2"]
        hub.now = 3.0
        hub.angle("p1", 12.5)
        hub.episode("p2", 3.0)
        assert await recv(ws) == {
            "type": "angle", "v": 1, "participant": "p1", "t": 3.0, "forward": 12.5,
            "lateral": 0.0, "motion": False, "lying": False,
        }  # fmt: skip
        assert (await recv(ws))["type"] == "episode_start"


async def test_every_client_receives_every_event(client: Any, hub: FakeHub) -> None:
    async with client.ws_connect("/ws") as a, client.ws_connect("/ws") as b:
        await recv(a)
        await recv(b)
        for i in range(20):
            hub.bus.publish(Marker(float(i), f"m{i}"))
        for ws in (a, b):
            labels = [(await recv(ws))["label"] for _ in range(20)]
            assert labels == [f"m{i}" for i in range(20)]


async def test_add_marker_is_published_to_all_and_acknowledged(client: Any, hub: FakeHub) -> None:
    async with client.ws_connect("/ws") as a, client.ws_connect("/ws") as b:
        await recv(a)
        await recv(b)
        hub.now = 7.5
        await a.send_json({"type": "add_marker", "v": 1, "label": "question 3"})
        marker = {"type": "marker", "v": 1, "t": 7.5, "label": "question 3", "source": "dashboard"}
        assert await recv(a) == marker
        assert await recv(a) == {"type": "ack", "v": 1, "request": "add_marker", "result": marker}
        assert await recv(b) == marker
    assert hub.markers() == [Marker(7.5, "question 3", "dashboard")]


async def test_calibration_steps_and_refusal(client: Any, hub: FakeHub) -> None:
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_json({"type": "calibrate", "participant": "p1", "step": "forward"})
        err = await recv(ws)
        assert err["type"] == "error"
        assert err["code"] == "refused"
        assert "upright" in err["message"]
        await ws.send_json({"type": "calibrate", "participant": "p1", "step": "upright"})
        ack = await recv(ws)
        assert ack["request"] == "calibrate"
        assert ack["result"]["steps"] == ["upright"]
        await ws.send_json({"type": "calibrate", "participant": "nobody", "step": "upright"})
        err = await recv(ws)
        assert err["code"] == "refused"
        assert "nobody" in err["message"]


async def test_recording_unavailable_is_an_error_reply(client: Any) -> None:
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_json({"type": "recording", "on": True})
        err = await recv(ws)
        assert err["code"] == "unavailable"
        assert "store" in err["message"]


@pytest.mark.parametrize(
    ("text", "code", "needle"),
    [
        ("{not json", "bad_json", "not valid JSON"),
        ("[1, 2]", "invalid_message", "JSON object"),
        ('{"type": "launch_rocket"}', "invalid_message", "unknown message type"),
        ('{"type": "add_marker"}', "invalid_message", "missing field 'label'"),
        ('{"type": "add_marker", "label": 5}', "invalid_message", "'label'"),
        ('{"type": "add_marker", "label": "  "}', "invalid_message", "non-empty"),
        ('{"type": "recording", "on": "yes"}', "invalid_message", "'on'"),
        ('{"type": "add_marker", "label": "x", "v": 99}', "invalid_message", "version"),
        ('{"type": "subscribe", "raw": ["ghost"]}', "refused", "ghost"),
    ],
)
async def test_bad_messages_get_an_error_and_the_connection_stays_open(
    client: Any, hub: FakeHub, text: str, code: str, needle: str
) -> None:
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_str(text)
        err = await recv(ws)
        assert err["type"] == "error"
        assert err["code"] == code
        assert needle in err["message"]
        await ws.send_json({"type": "add_marker", "label": "still here"})
        assert (await recv(ws))["label"] == "still here"
    assert [m.label for m in hub.markers()] == ["still here"]


async def test_binary_messages_are_refused_politely(client: Any) -> None:
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_bytes(b"\x00\x01")
        err = await recv(ws)
        assert err["code"] == "unsupported"
        assert not ws.closed


async def test_hub_bug_is_an_error_reply_not_a_dead_connection(
    client: Any, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(on: bool) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(hub, "set_recording", broken)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_json({"type": "recording", "on": True})
        assert (await recv(ws))["code"] == "internal_error"
        hub.angle("p1", 1.0)
        assert (await recv(ws))["type"] == "angle"


async def test_unencodable_hub_answer_is_an_error_reply(
    client: Any, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.store = True
    monkeypatch.setattr(hub, "set_recording", lambda on: {"since": object()})
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_json({"type": "recording", "on": True})
        assert (await recv(ws))["code"] == "internal_error"
        assert not ws.closed


async def test_raw_subscription(client: Any, hub: FakeHub) -> None:
    async with client.ws_connect("/ws") as ws, client.ws_connect("/ws") as other:
        await recv(ws)
        await recv(other)
        await ws.send_json({"type": "subscribe", "raw": ["p2"]})
        assert await recv(ws) == {"type": "ack", "v": 1, "request": "subscribe",
                                  "result": {"raw": ["p2"]}}  # fmt: skip
        hub.bus.publish_raw("p2", [2_000_000_000], [[0.0, 0.5, 0.5]])
        hub.bus.publish(Marker(1.0, "sync"))
        assert await recv(ws) == {
            "type": "raw", "v": 1, "participant": "p2", "t": [2.0], "acc": [[0.0, 0.5, 0.5]]
        }  # fmt: skip
        assert (await recv(ws))["type"] == "marker"
        assert (await recv(other))["type"] == "marker"  # no raw for the other client


async def test_oversize_message_closes_with_1009_and_a_reason(make_client: Make) -> None:
    client = await make_client(max_message_bytes=1024)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        await ws.send_str(json.dumps({"type": "add_marker", "label": "x" * 2000}))
        code, reason = await expect_close(ws)
    assert code == WSCloseCode.MESSAGE_TOO_BIG
    assert "1024 bytes" in reason
    await until_health(client, lambda h: h["server"]["closed"] == {"too_big": 1})


async def test_flooding_client_is_closed_with_1008(make_client: Make, hub: FakeHub) -> None:
    client = await make_client(flood_rate_per_s=5.0, flood_burst=10)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        for i in range(30):  # the fake clock stands still: 30 messages "at once"
            await ws.send_json({"type": "add_marker", "label": f"m{i}"})
        code, reason = await expect_close(ws)
    assert code == WSCloseCode.POLICY_VIOLATION
    assert "flooding" in reason
    assert len(hub.markers()) == 10  # the burst was served, nothing after it


async def test_sustained_rate_below_the_limit_is_fine(
    make_client: Make, hub: FakeHub, clock: FakeClock
) -> None:
    client = await make_client(flood_rate_per_s=5.0, flood_burst=2)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        for i in range(30):
            clock.now += 0.2  # exactly the allowed rate
            await ws.send_json({"type": "add_marker", "label": f"m{i}"})
            await recv_until(ws, "ack")
        assert len(hub.markers()) == 30
        assert not ws.closed


async def test_overflowing_client_is_closed_with_1013_and_a_reason(
    make_client: Make, bus: EventBus
) -> None:
    client = await make_client(client_queue=10)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        # More undelivered non-droppable events than the queue holds: publish is synchronous,
        # so the server's sender cannot drain in between.
        for i in range(11):
            bus.publish(Marker(float(i), f"m{i}"))
        code, reason = await expect_close(ws)
    assert code == WSCloseCode.TRY_AGAIN_LATER
    assert "too slow" in reason
    async with client.ws_connect("/ws") as ws:  # ten fit
        await recv(ws)
        for i in range(10):
            bus.publish(Marker(float(i), f"m{i}"))
        assert [(await recv(ws))["label"] for _ in range(10)] == [f"m{i}" for i in range(10)]
    health = await until_health(client, lambda h: h["server"]["closed"] == {"overflow": 1})
    assert health["bus"]["overflow_disconnects"] == 1


async def open_stalled_websocket(port: int) -> socket.socket:
    """A websocket client that completes the handshake, then never reads again."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += await asyncio.wait_for(loop.sock_recv(sock, 1), TIMEOUT)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


async def test_stalled_client_is_cut_off_while_others_get_everything(
    make_client: Make, bus: EventBus
) -> None:
    """A client whose TCP window is closed blocks its own sender only: its queue overflows,
    the server gives up on the close handshake and drops the connection; a reading client
    receives every event in order meanwhile."""
    client = await make_client(client_queue=10, close_timeout_s=0.2)
    stalled = await open_stalled_websocket(client.port)
    try:
        async with client.ws_connect("/ws") as reader:
            await recv(reader)
            big = "x" * 65536
            n = 0
            while bus.overflow_disconnects == 0:
                assert n < 2000, "the stalled client never overflowed"
                bus.publish(Marker(float(n), big))
                assert (await recv(reader))["t"] == float(n)
                n += 1
            await until_health(client, lambda h: h["server"]["clients"] == 1)
            bus.publish(Marker(-1.0, "after"))
            assert (await recv(reader))["label"] == "after"
    finally:
        stalled.close()


async def test_shutdown_closes_websockets_with_going_away(make_client: Make, bus: EventBus) -> None:
    client = await make_client()
    ws = await client.ws_connect("/ws")
    await recv(ws)
    closing = asyncio.create_task(client.server.close())
    code, reason = await expect_close(ws)
    await asyncio.wait_for(closing, TIMEOUT)
    assert code == WSCloseCode.GOING_AWAY
    assert reason == "server shutting down"
    assert bus.stats()["subscribers"] == 0


async def test_events_published_before_shutdown_still_reach_clients(
    make_client: Make, bus: EventBus
) -> None:
    """The hub closes open episodes on its way down; those reach the clients before 1001."""
    client = await make_client(client_queue=5000)
    ws = await client.ws_connect("/ws", max_msg_size=0)
    await recv(ws)
    big = "x" * 20000  # enough to fill the socket buffers, so the sender is mid-queue
    for i in range(400):
        bus.publish(Marker(float(i), big))
    bus.publish(EpisodeEnded("p1", "forward", "forward", 1, 2, 1, 2, 20.0, 15.0, truncated=True))
    closing = asyncio.create_task(client.server.close())
    got = [(await recv(ws))["type"] for _ in range(401)]
    assert got == ["marker"] * 400 + ["episode_end"]
    code, reason = await expect_close(ws)
    assert reason == "server shutting down"
    assert code == WSCloseCode.GOING_AWAY
    await asyncio.wait_for(closing, TIMEOUT)


async def test_client_leaving_unsubscribes(client: Any, bus: EventBus) -> None:
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        assert bus.stats()["subscribers"] == 1
    await until(lambda: bus.stats()["subscribers"] == 0)


async def test_too_many_clients_is_503(make_client: Make) -> None:
    client = await make_client(max_clients=1)
    async with client.ws_connect("/ws") as ws:
        await recv(ws)
        resp = await client.get("/ws", headers=UPGRADE)
        assert resp.status == 503
        assert "too many clients" in (await resp.json())["message"]
