"""The aggregator (serve --from-mqtt) against a real Mosquitto, fed by fake hubs made of plain
aiomqtt publishes (protocol.encode_message), read back on its real websocket and API.

No wall-clock assertions: every wait polls for a condition with a generous timeout.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.mqtt import protocol as mp
from sensorhub.mqtt.aggregator import Aggregator
from sensorhub.mqtt.seqtrack import SeqTracker
from sensorhub.server.app import create_app, run_server
from sensorhub.server.settings import ServerSettings
from tests.mqtt_broker import Mosquitto
from tests.serve_process import ServeProcess, start_serve

TIMEOUT_S = 20.0
REPO = Path(__file__).resolve().parents[2]


# -- the sequence tracker (pure) ------------------------------------------------------------


def test_tracker_drops_copies_counts_gaps_and_lets_late_arrivals_fill_them() -> None:
    t = SeqTracker()
    assert [t.accept(s) for s in (1, 2, 3, 2, 3)] == [True, True, True, False, False]
    assert (t.duplicates, t.missing) == (2, 0)
    assert t.accept(7)  # 4, 5, 6 missing
    assert t.missing == 3
    assert t.accept(5)
    assert not t.accept(5)
    assert (t.missing, t.duplicates) == (2, 3)


def test_tracker_baseline_and_retained_snapshot() -> None:
    t = SeqTracker()
    # Joining mid-session: retained hello (1) and status (40), then the live stream at 100.
    assert t.accept(1, retained=True)
    assert t.accept(40, retained=True)
    assert t.accept(100)
    assert t.accept(101)
    assert t.missing == 0
    # A re-subscription repeats the retained messages: dropped, not counted.
    assert not t.accept(40, retained=True)
    assert not t.accept(101, retained=True)
    assert t.duplicates == 0
    # A live copy of a retained message is a redelivery.
    assert not t.accept(40)
    assert t.duplicates == 1


def test_the_aggregator_imports_no_bluetooth() -> None:
    code = (
        "import sys, sensorhub.mqtt.aggregator; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('bleak', 'bumble', 'dbus_fast')"
        " or m.startswith(('sensorhub.sources', 'sensorhub.hub'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- fixtures -------------------------------------------------------------------------------


class FakeHub:
    """A hub's MQTT side: numbered, enveloped events on the documented topics."""

    def __init__(self, client: aiomqtt.Client, hub: str, session: str | None = None) -> None:
        self.client = client
        self.hub = hub
        self.session = session or f"S-{uuid.uuid4().hex[:6]}"
        self.seq = 0
        self.t0 = time.time()

    def encode(self, event: Any, seq: int | None = None) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        return mp.encode_message(event, mp.Envelope(self.hub, self.session, seq, time.time()))

    async def send(self, event: Any, *, seq: int | None = None) -> bytes:
        payload = self.encode(event, seq)
        await self.raw(mp.event_topic(self.hub, event), payload, event.TYPE in mp.RETAINED_TYPES)
        return payload

    async def raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)

    async def start(self, participants: tuple[str, ...] = ("p1", "p2")) -> None:
        await self.send(ev.HubStatus(self.hub, "online", session=self.session, name="lab"))
        hello = ev.Hello(
            self.session,
            [{"id": p, "sensor": f"H10 {p}"} for p in participants],
            [],
            [list(participants[:2])],
        )
        await self.send(hello)


def hub_client(url: str, hub: str, **kwargs: Any) -> aiomqtt.Client:
    settings = mp.MqttSettings.from_url(url)
    will = aiomqtt.Will(
        mp.hub_state_topic(hub),
        json.dumps(ev.to_json(ev.HubStatus(hub, "offline", reason="connection lost"))),
        qos=1,
        retain=True,
    )
    identifier = f"hub-{hub}"
    return aiomqtt.Client(settings.host, settings.port, identifier=identifier, will=will, **kwargs)


class RecordingBus(EventBus):
    """Every event the aggregator publishes (a subscription would coalesce angles)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    def publish(self, event: Any) -> None:
        self.events.append(event)
        super().publish(event)


class WsReader:
    """Everything the aggregator's websocket sends, collected in the background."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    def of(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        return [
            m
            for m in self.messages
            if m["type"] == type_ and all(m.get(k) == v for k, v in match.items())
        ]


async def until(predicate: Callable[[], Any], what: str, timeout: float = TIMEOUT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Running:
    def __init__(self, agg: Aggregator, base: str, http: aiohttp.ClientSession) -> None:
        self.agg, self.base, self.http = agg, base, http
        self.gate = asyncio.Event()
        self.gate.set()

    async def get(self, path: str) -> Any:
        async with self.http.get(self.base + path) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def connect(self) -> WsReader:
        ws = await self.http.ws_connect(self.base + "ws")
        return WsReader(ws)

    async def wait_connected(self, count: int = 1) -> None:
        await until(
            lambda: self.agg.broker_state == "connected" and self.agg.connects >= count,
            f"aggregator connection #{count}",
        )


@pytest.fixture
async def running(broker: Mosquitto) -> AsyncIterator[Running]:
    bus = EventBus()
    holder: dict[str, Running] = {}

    async def gated_wait(delay: float) -> None:
        await holder["r"].gate.wait()
        await asyncio.sleep(min(delay, 0.05))

    agg = Aggregator(
        mp.MqttSettings.from_url(broker.url),
        bus,
        client_id=f"test-aggregator-{uuid.uuid4().hex[:6]}",
        reconnect_wait=gated_wait,
        status_interval_s=0.5,
    )
    app = create_app(agg, bus, ServerSettings(port=0))
    stop = asyncio.Event()
    async with run_server(app) as handle, aiohttp.ClientSession() as http:
        r = holder["r"] = Running(agg, handle.url, http)
        task = asyncio.create_task(agg.run(stop))
        try:
            await r.wait_connected()
            yield r
        finally:
            r.gate.set()
            stop.set()
            await task


# -- behaviour ------------------------------------------------------------------------------


async def test_two_hubs_arrive_complete_in_order_namespaced(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as ca, hub_client(broker.url, "room-b") as cb:
        a, b = FakeHub(ca, "room-a"), FakeHub(cb, "room-b")
        await a.start()
        await b.start(("p1", "p3"))
        for i in range(200):
            await a.send(ev.Angle("p1", i / 10, float(i), 0.0))
            await b.send(ev.Angle("p3", i / 10, -float(i), 0.0))
        await a.send(ev.EpisodeStarted("p2", "forward", "forward", 1.0, 1.2, 3.0))
        await b.send(ev.DyadEvent(["p1", "p3"], "colean_start", 5.0, leader="p3", lag_s=0.4))
        await b.send(ev.SensorStatus("H10 p3", "polar_h10", "streaming", 20.0, participant="p3"))
        await a.send(ev.Marker(19.0, "task 1", "dashboard"))
        await until(lambda: reader.of("marker"), "the hub's marker")

    # A hello per participant-set change, merged by the dashboard, lists every hub's people.
    hellos = reader.of("hello")
    assert all(h["aggregator"] for h in hellos)
    ids = [p["id"] for p in hellos[-1]["participants"]]
    assert ids == ["room-a/p1", "room-a/p2", "room-b/p1", "room-b/p3"]
    assert {p["hub"] for p in hellos[-1]["participants"]} == {"room-a", "room-b"}
    assert hellos[-1]["dyads"] == [["room-a/p1", "room-a/p2"], ["room-b/p1", "room-b/p3"]]

    for name, sign in (("room-a/p1", 1), ("room-b/p3", -1)):
        angles = reader.of("angle", participant=name)
        assert [m["forward"] for m in angles] == [sign * float(i) for i in range(200)]
        ts = [m["t"] for m in angles]
        assert ts == sorted(ts)
        # One fixed offset per hub session: durations survive exactly (to rounding).
        assert ts[-1] - ts[0] == pytest.approx(19.9, abs=1e-5)
    assert reader.of("episode_start", participant="room-a/p2")
    (dyad,) = reader.of("dyad")
    assert dyad["dyad"] == ["room-b/p1", "room-b/p3"]
    assert dyad["leader"] == "room-b/p3"
    (status,) = reader.of("status")
    assert status["sensor"] == "room-b/H10 p3"
    assert status["participant"] == "room-b/p3"
    (marker,) = reader.of("marker")
    assert (marker["label"], marker["source"]) == ("task 1", "room-a/dashboard")

    # Both hubs online, with their counts; sensors and markers over the API too.
    await until(lambda: len({m["hub"] for m in reader.of("hub", state="online")}) == 2, "hubs")
    health = (await running.get("api/health"))["hub"]
    assert health["hubs"]["room-a"]["events"] == 2 + 200 + 2
    assert health["hubs"]["room-b"]["duplicates"] == 0
    assert health["hubs"]["room-b"]["missing"] == 0
    assert health["broker"]["state"] == "connected"
    sensors = (await running.get("api/sensors"))["sensors"]
    assert [s["sensor"] for s in sensors] == ["room-b/H10 p3"]
    markers = (await running.get("api/markers"))["markers"]
    assert [m["source"] for m in markers] == ["room-a/dashboard"]
    participants = (await running.get("api/participants"))["participants"]
    assert len(participants) == 4
    await reader.ws.close()


async def test_redeliveries_dropped_and_counted_gaps_counted(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as client:
        hub = FakeHub(client, "room-a")
        await hub.start()
        sent = [await hub.send(ev.Angle("p1", i / 10, float(i), 0.0)) for i in range(10)]
        topic = mp.event_topic("room-a", ev.Angle("p1", 0, 0, 0))
        for payload in sent[3:6]:  # the publisher's outbox sends three again
            await hub.raw(topic, payload)
        hub.seq += 4  # four lost on the way
        for i in range(10, 15):
            await hub.send(ev.Angle("p1", i / 10, float(i), 0.0))
        await hub.send(ev.Marker(2.0, "end"))
        await until(lambda: reader.of("marker"), "the last event")
    forwards = [m["forward"] for m in reader.of("angle")]
    assert forwards == [float(i) for i in range(15)]
    health = (await running.get("api/health"))["hub"]["hubs"]["room-a"]
    assert (health["duplicates"], health["missing"]) == (3, 4)
    await until(
        lambda: any(m["duplicates"] == 3 and m["missing"] == 4 for m in reader.of("hub")),
        "a hub event with the counts",
    )
    await reader.ws.close()


KILLED_HUB = """
import asyncio, json, sys, time
import aiomqtt
from sensorhub import events as ev
from sensorhub.mqtt import protocol as mp

async def main(port):
    will = aiomqtt.Will(mp.hub_state_topic("room-k"), json.dumps(ev.to_json(
        ev.HubStatus("room-k", "offline", reason="connection lost"))), qos=1, retain=True)
    async with aiomqtt.Client("127.0.0.1", port, identifier="hub-room-k", will=will,
                              keepalive=5) as c:
        env = mp.Envelope("room-k", "K1", 1, time.time())
        await c.publish(mp.hub_state_topic("room-k"), mp.encode_message(
            ev.HubStatus("room-k", "online", session="K1"), env), qos=1, retain=True)
        print("online", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(int(sys.argv[1])))
"""


async def test_killed_hub_last_will_shows_offline(running: Running, broker: Mosquitto) -> None:
    reader = await running.connect()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_HUB, str(broker.port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "online"
        await until(lambda: reader.of("hub", hub="room-k", state="online"), "hub online")
        proc.kill()  # SIGKILL: no DISCONNECT, the broker publishes the will
        await asyncio.to_thread(proc.wait)
        await until(lambda: reader.of("hub", hub="room-k", state="offline"), "the last will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    offline = reader.of("hub", hub="room-k", state="offline")[0]
    assert offline["reason"] == "connection lost"
    assert offline["session"] == "K1"  # the will has none: the last known session stays
    health = (await running.get("api/health"))["hub"]["hubs"]["room-k"]
    assert health["state"] == "offline"
    assert health["reason"] == "connection lost"
    # An offline hub stays visible, in the periodic hub events too.
    count = len(reader.of("hub", hub="room-k", state="offline"))
    await until(lambda: len(reader.of("hub", hub="room-k", state="offline")) > count, "repeat")
    await reader.ws.close()


async def test_broker_restart_nothing_lost_nothing_duplicated(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as client:
        hub = FakeHub(client, "room-a")
        await hub.start()
        for i in range(50):
            await hub.send(ev.Angle("p1", i / 10, float(i), 0.0))
    running.gate.clear()  # the aggregator stays away until the test lets it back
    broker.stop()
    await until(lambda: running.agg.broker_state == "disconnected", "the aggregator noticing")
    health = (await running.get("api/health"))["hub"]["broker"]
    assert health["state"] == "disconnected"
    assert health["disconnects"] == 1
    broker.start()
    # Published while the aggregator is away: queued in its persistent session.
    async with hub_client(broker.url, "room-a") as client:
        hub.client = client
        for i in range(50, 100):
            await hub.send(ev.Angle("p1", i / 10, float(i), 0.0))
        await hub.send(ev.Marker(10.0, "after the restart"))
    assert running.agg.broker_state == "disconnected"
    running.gate.set()
    await running.wait_connected(2)
    await until(lambda: reader.of("marker"), "the queued messages")
    forwards = [m["forward"] for m in reader.of("angle")]
    assert forwards == [float(i) for i in range(100)]
    hub_health = (await running.get("api/health"))["hub"]["hubs"]["room-a"]
    assert hub_health["missing"] == 0
    assert reader.of("error", code="mqtt")  # the dashboard was told the broker went away
    await reader.ws.close()


async def test_aggregator_restart_reads_its_persistent_session(broker: Mosquitto) -> None:
    """Another aggregator process with the same client id gets what was sent meanwhile."""
    client_id = f"test-aggregator-{uuid.uuid4().hex[:6]}"
    settings = mp.MqttSettings.from_url(broker.url)

    class Instance:
        def __init__(self) -> None:
            self.bus = RecordingBus()
            self.agg = Aggregator(settings, self.bus, client_id=client_id)
            self.stop = asyncio.Event()
            self.task = asyncio.create_task(self.agg.run(self.stop))

        async def angles(self, count: int) -> list[float]:
            def angles() -> list[float]:
                return [e.forward for e in self.bus.events if isinstance(e, ev.Angle)]

            await until(lambda: len(angles()) >= count, f"{count} angles")
            got = angles()
            self.stop.set()
            await self.task
            return got

    first = Instance()
    await until(lambda: first.agg.broker_state == "connected", "subscribed")
    async with hub_client(broker.url, "room-a") as client:
        hub = FakeHub(client, "room-a")
        await hub.start()
        for i in range(10):
            await hub.send(ev.Angle("p1", i / 10, float(i), 0.0))
        assert await first.angles(10) == [float(i) for i in range(10)]
        for i in range(10, 20):  # no aggregator connected: queued in its session
            await hub.send(ev.Angle("p1", i / 10, float(i), 0.0))
    second = Instance()
    assert await second.angles(10) == [float(i) for i in range(10, 20)]
    # A fresh process has no de-dup state: the retained snapshot (hello, state) and the
    # queued stream still give no angle twice; its counts start from what it saw.
    health = second.agg.health()["hubs"]["room-a"]
    assert health["duplicates"] == 0
    assert health["missing"] == 0


async def test_malformed_messages_counted_aggregator_keeps_going(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as client:
        hub = FakeHub(client, "room-a")
        await hub.start()
        await hub.raw("sensorhub/room-a/p1/angle", b"{not json")
        await hub.raw("sensorhub/room-a/p1/angle", b'{"type": "angle", "v": 1}')
        await hub.raw("sensorhub/room-a/p1/angle", json.dumps(["a"]).encode())
        await hub.raw("sensorhub/room-a/p1/nonsense", hub.encode(ev.Angle("p1", 0, 1, 0)))
        await hub.raw("sensorhub/room-a/extra/level/x", hub.encode(ev.Angle("p1", 0, 1, 0)))
        bare = json.dumps(ev.to_json(ev.Angle("p1", 0, 1, 0))).encode()  # no envelope
        await hub.raw("sensorhub/room-a/p1/angle", bare)
        await hub.raw("sensorhub/room-b/p1/angle", hub.encode(ev.Angle("p1", 0, 1, 0)))
        await hub.send(ev.Angle("p1", 1.0, 42.0, 0.0))
        await until(lambda: reader.of("angle"), "the valid angle after the bad ones")
    (angle,) = reader.of("angle")
    assert angle["forward"] == 42.0
    health = (await running.get("api/health"))["hub"]
    assert health["malformed"] == {"payload": 3, "topic": 2, "envelope": 2}
    assert health["internal_errors"] == 0
    await reader.ws.close()


async def test_marker_on_the_aggregator_and_hub_only_requests(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as client:
        await FakeHub(client, "room-a").start()
    await until(lambda: any(m.get("participants") for m in reader.of("hello")), "participants")
    await reader.ws.send_json({"type": "add_marker", "label": "break"})
    await until(lambda: reader.of("marker"), "the marker")
    (marker,) = reader.of("marker")
    assert (marker["label"], marker["source"]) == ("break", "aggregator")
    (ack,) = reader.of("ack")
    assert ack["result"]["source"] == "aggregator"
    markers = (await running.get("api/markers"))["markers"]
    assert [(m["label"], m["source"]) for m in markers] == [("break", "aggregator")]

    await reader.ws.send_json({"type": "calibrate", "participant": "room-a/p1", "step": "upright"})
    await reader.ws.send_json({"type": "recording", "on": True})
    await until(lambda: len(reader.of("error")) >= 2, "two refusals")
    refused, unavailable = reader.of("error")[:2]
    assert refused["code"] == "refused"
    assert "hub's own dashboard" in refused["message"]
    assert unavailable["code"] == "unavailable"
    assert "records its own" in unavailable["message"]
    # Over the API too (the slash in the id percent-encoded).
    async with running.http.post(running.base + "api/calibration/room-a%2Fp1/upright") as resp:
        assert resp.status == 409
        assert "hub's own dashboard" in (await resp.json())["message"]
    await reader.ws.close()


async def test_late_hub_brings_a_new_hello_on_the_same_socket(
    running: Running, broker: Mosquitto
) -> None:
    reader = await running.connect()
    async with hub_client(broker.url, "room-a") as ca:
        await FakeHub(ca, "room-a").start()
        await until(lambda: len(reader.of("hello")) >= 2, "a second hello")
        async with hub_client(broker.url, "room-b") as cb:
            await FakeHub(cb, "room-b").start(("q1",))
            await until(
                lambda: any(
                    "room-b/q1" in [p["id"] for p in h["participants"]] for h in reader.of("hello")
                ),
                "room-b's participants in a hello",
            )
    hellos = reader.of("hello")
    assert len({h["session"] for h in hellos}) == 1  # one aggregator session throughout
    assert [p["id"] for p in hellos[-1]["participants"]] == ["room-a/p1", "room-a/p2", "room-b/q1"]
    await reader.ws.close()


# -- end to end: real hubs (serve --mqtt) and a real aggregator (serve --from-mqtt) ---------


async def test_end_to_end_two_serve_hubs_and_an_aggregator(
    broker: Mosquitto, tmp_path: Path
) -> None:
    procs: list[ServeProcess] = []
    try:
        for hub in ("h1", "h2"):
            (tmp_path / hub).mkdir()
            args = ("--virtual", "2", "--mqtt", broker.url, "--hub-id", hub)
            procs.append(await asyncio.to_thread(start_serve, tmp_path / hub, *args))
        (tmp_path / "agg").mkdir()
        agg = await asyncio.to_thread(start_serve, tmp_path / "agg", "--from-mqtt", broker.url)
        procs.append(agg)
        async with aiohttp.ClientSession() as http:
            reader = WsReader(await http.ws_connect(agg.url + "ws"))
            names = {"h1/p1", "h1/p2", "h2/p1", "h2/p2"}
            await until(
                lambda: {m["participant"] for m in reader.of("angle")} >= names,
                "angles of both hubs' participants",
                timeout=30,
            )
            await until(
                lambda: {m["hub"] for m in reader.of("hub", state="online")} >= {"h1", "h2"},
                "both hubs online",
            )
            hello = reader.of("hello")[-1]
            assert hello["aggregator"] is True
            assert {p["id"] for p in hello["participants"]} >= names

            procs[0].stop()  # SIGKILL hub h1: the broker publishes its last will
            await until(lambda: reader.of("hub", hub="h1", state="offline"), "h1's last will")
            assert reader.of("hub", hub="h1", state="offline")[-1]["reason"] == "connection lost"
            async with http.get(agg.url + "api/health") as resp:
                hubs = (await resp.json())["hub"]["hubs"]
            assert hubs["h1"]["state"] == "offline"
            assert hubs["h2"]["state"] == "online"
            assert hubs["h2"]["duplicates"] == 0
            assert hubs["h2"]["missing"] == 0
            await reader.ws.close()
    finally:
        for proc in procs:
            proc.stop()
