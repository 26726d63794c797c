"""The hub's MQTT publisher against a real Mosquitto, watched by a plain aiomqtt subscriber:
complete and ordered delivery, broker outages, the persistent outbox, TLS and passwords."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.config import parse_config
from sensorhub.mqtt import protocol as mp
from sensorhub.mqtt.publisher import MqttPublisher
from tests.mqtt.observer import Observed, observing, wait_for
from tests.mqtt_broker import Mosquitto, free_port

pytestmark = pytest.mark.timeout(60)

HUB = "room-a"
SESSION = "S1"


def make_event(i: int) -> Any:
    """A varied, deterministic stream: angles of two participants, a status now and then,
    markers and dyad events on the session level."""
    t = i / 10
    if i % 25 == 0:
        return ev.SensorStatus("H10 A", "polar_h10", "streaming", t, participant="p1", samples=i)
    if i % 17 == 0:
        return ev.Marker(t, f"marker {i}")
    if i % 13 == 0:
        return ev.DyadEvent(["p1", "p2"], "correlation", t, r=0.5)
    return ev.Angle("p1" if i % 2 else "p2", t, float(i % 30), -1.0)


def publisher(broker: Mosquitto, db: Path, **kwargs: Any) -> MqttPublisher:
    kwargs.setdefault("hub_session", SESSION)
    return MqttPublisher(
        mp.MqttSettings.from_url(broker.url),
        hub_id=kwargs.pop("hub_id", HUB),
        db_path=db,
        session_name="pilot",
        backoff_s=(0.1, 0.5),
        **kwargs,
    )


def seqs(observed: list[Observed]) -> list[int]:
    return [o.envelope.seq for o in observed if o.envelope is not None]


def assert_at_least_once_in_order(observed: list[Observed], n: int) -> list[Observed]:
    """Every seq 1..n arrived; de-duplicated by id they are in order; a duplicate is only
    ever of an id already delivered. Returns the de-duplicated messages."""
    first: dict[str, Observed] = {}
    for o in observed:
        assert o.envelope is not None
        if o.envelope.id in first:
            assert o.event == first[o.envelope.id].event  # a redelivery, not a new event
            continue
        first[o.envelope.id] = o
    unique = list(first.values())
    assert seqs(unique) == list(range(1, n + 1))
    return unique


def outbox_rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM mqtt_outbox").fetchone()[0])


async def test_events_arrive_complete_in_order_on_their_topics(
    broker: Mosquitto, tmp_path: Path
) -> None:
    events = [make_event(i) for i in range(1, 301)]
    pub = publisher(broker, tmp_path / "s.sqlite", clock=lambda: 1795729800.0)
    async with observing(broker.port, mp.subscription(HUB)) as obs:
        await pub.start()
        # Connected and announced before the first event: "online" then says outbox 0, and
        # no later figure is worth announcing again (a backlog announced at connect would be,
        # once drained).
        await obs.wait_for(lambda: any(isinstance(o.event, ev.HubStatus) for o in obs.seen))
        for event in events:
            pub.on_event(event)
        await obs.wait_for(lambda: len(obs.enveloped()) >= len(events))
        await pub.close()
        await obs.wait_for(lambda: obs.seen[-1].event == ev.HubStatus(
            HUB, "offline", SESSION, "pilot", "stopped"))  # fmt: skip
    got = obs.enveloped()
    assert seqs(got) == list(range(1, len(events) + 1))  # no broker trouble: exactly once
    assert [o.event for o in got] == events
    for o, event in zip(got, events, strict=True):
        assert o.envelope == mp.Envelope(HUB, SESSION, o.envelope.seq, 1795729800.0)
        assert o.topic == mp.event_topic(HUB, event)
    assert {o.topic for o in got} >= {
        "sensorhub/room-a/p1/angle",
        "sensorhub/room-a/p2/angle",
        "sensorhub/room-a/p1/status",
        "sensorhub/room-a/_session/marker",
        "sensorhub/room-a/_session/dyad",
    }
    states = [o.event for o in obs.seen if isinstance(o.event, ev.HubStatus)]
    assert [s.state for s in states] == ["online", "offline"]
    assert states[0].session == SESSION
    assert states[0].outbox == 0
    assert pub.health()["published"] == len(events)
    assert pub.health()["outbox"] == 0
    assert outbox_rows(tmp_path / "s.sqlite") == 0
    # Retained: a subscriber arriving now learns the last status and the hub's state.
    async with observing(broker.port, mp.subscription(HUB), "late") as late:
        await late.wait_for(lambda: len(late.seen) >= 2)
        await asyncio.sleep(0.3)  # nothing else is retained
    retained = {o.topic: o for o in late.seen}
    assert set(retained) == {"sensorhub/room-a/p1/status", "sensorhub/room-a/_hub/state"}
    assert all(o.retain for o in late.seen)
    last_status = [e for e in events if isinstance(e, ev.SensorStatus)][-1]
    assert retained["sensorhub/room-a/p1/status"].event == last_status
    assert retained["sensorhub/room-a/_hub/state"].event.reason == "stopped"


async def test_broker_restart_mid_stream_loses_nothing_and_the_live_bus_goes_on(
    broker: Mosquitto, tmp_path: Path
) -> None:
    bus = EventBus()
    dashboard = bus.subscribe("dashboard", max_queue=10_000)
    live: list[Any] = []

    async def read_dashboard() -> None:
        while (event := await dashboard.get()) is not None:
            live.append(event)

    pub = publisher(broker, tmp_path / "s.sqlite")
    produced: list[Any] = []

    async def produce(n: int) -> None:
        for _ in range(n):
            event = make_event(len(produced) + 1)
            produced.append(event)
            bus.publish(event)  # what the hub does: the bus, then every sink
            pub.on_event(event)
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(read_dashboard())
    async with observing(broker.port, mp.subscription(HUB)) as obs:
        await pub.start()
        await produce(100)
        await obs.wait_for(lambda: len(obs.enveloped()) >= 50)
        outage = asyncio.create_task(produce(300))  # events keep coming through the outage
        await asyncio.sleep(0.2)
        await asyncio.to_thread(broker.stop)
        await obs.wait_for(lambda: not pub.connected and pub.health()["last_error"] is not None)
        await asyncio.sleep(1.0)  # a few reconnect attempts against a closed port
        during = len(produced)
        assert pub.health()["outbox"] > 0  # waiting, not lost
        await asyncio.sleep(0.05)
        assert live[:during] == produced[:during]  # the live view never waited for the broker
        await asyncio.to_thread(broker.start)
        await outage
        await produce(50)
        n = len(produced)
        await obs.wait_for(lambda: len({o.envelope.id for o in obs.enveloped()}) >= n)  # type: ignore[union-attr]

        def online_backlogs() -> list[int]:
            return [
                o.event.outbox
                for o in obs.seen
                if isinstance(o.event, ev.HubStatus) and o.event.state == "online"
            ]

        # "online" with the backlog at the reconnect, then again once it has drained.
        await obs.wait_for(lambda: online_backlogs()[-1] == 0 and max(online_backlogs()) > 0)
        await pub.close()
    reader.cancel()
    unique = assert_at_least_once_in_order(obs.enveloped(), n)
    assert [o.event for o in unique] == produced
    health = pub.health()
    assert health["reconnects"] >= 1
    assert health["outbox"] == 0
    assert outbox_rows(tmp_path / "s.sqlite") == 0


async def test_outbox_of_a_run_stopped_while_the_broker_was_down_goes_first(
    broker: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "s.sqlite"
    broker.stop()
    first = publisher(broker, db, hub_session="S1", drain_timeout_s=0.2)
    await first.start()
    old = [make_event(i) for i in range(1, 41)]
    for event in old:
        first.on_event(event)
    with caplog.at_level(logging.WARNING, logger="sensorhub.mqtt.publisher"):
        await first.close()
    assert outbox_rows(db) == len(old)
    assert f"{len(old)} events not published" in caplog.text

    broker.start()
    async with observing(broker.port, mp.subscription(HUB)) as obs:
        second = publisher(broker, db, hub_session="S2")
        await second.start()
        assert second.health()["outbox"] == len(old)
        new = [make_event(i) for i in range(100, 120)]
        for event in new:
            second.on_event(event)
        total = len(old) + len(new)
        await obs.wait_for(lambda: len(obs.enveloped()) >= total)
        await second.close()
    got = obs.enveloped()
    assert [(o.envelope.hub_session, o.envelope.seq) for o in got] == [  # type: ignore[union-attr]
        ("S1", i) for i in range(1, len(old) + 1)
    ] + [("S2", i) for i in range(1, len(new) + 1)]
    assert [o.event for o in got] == old + new
    assert outbox_rows(db) == 0


async def test_outbox_rows_of_another_hub_id_are_left_alone(
    broker: Mosquitto, tmp_path: Path
) -> None:
    db = tmp_path / "s.sqlite"
    broker.stop()
    other = publisher(broker, db, hub_id="room-b", drain_timeout_s=0)
    await other.start()
    other.on_event(make_event(1))
    await other.close()
    broker.start()
    async with observing(broker.port, mp.subscription()) as obs:
        pub = publisher(broker, db)
        await pub.start()
        pub.on_event(make_event(2))
        await obs.wait_for(lambda: len(obs.enveloped()) >= 1)
        await pub.close()
    assert {o.envelope.hub for o in obs.enveloped()} == {HUB}  # type: ignore[union-attr]
    assert outbox_rows(db) == 1  # room-b's event waits for room-b


# -- credentials and TLS -------------------------------------------------------------------


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1, with the openssl command-line tool."""
    folder.mkdir()
    f = {n: folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")}
    ext = folder / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", "-x509", *ec, "-keyout", f["ca.key"], "-out", f["ca.crt"],
         "-days", "2", "-subj", "/CN=sensorhub test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])  # fmt: skip
    run(["openssl", "req", *ec, "-keyout", f["server.key"], "-out", f["server.csr"],
         "-subj", "/CN=127.0.0.1"])  # fmt: skip
    run(["openssl", "x509", "-req", "-in", f["server.csr"], "-CA", f["ca.crt"],
         "-CAkey", f["ca.key"], "-CAcreateserial", "-out", f["server.crt"], "-days", "2",
         "-extfile", ext])  # fmt: skip
    return f


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, dict[str, Path]]]:
    """A broker with a password file and a TLS listener (its own CA); no anonymous access."""
    certs = make_certificates(tmp_path / "certs")
    passwd = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", passwd, "hub", "s3cret"], check=True, capture_output=True
    )
    passwd.chmod(0o600)
    tls_port = free_port()
    extra = (
        f"password_file {passwd}\n"
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {certs['ca.crt']}\ncertfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
    )
    with Mosquitto(tmp_path / "broker", extra_config=extra, allow_anonymous=False) as b:
        yield b, tls_port, certs
        print(f"--- mosquitto log ---\n{b.log()}")


async def test_tls_and_password_from_a_file(
    secure_broker: tuple[Mosquitto, int, dict[str, Path]], tmp_path: Path
) -> None:
    broker, tls_port, certs = secure_broker
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("s3cret\n")
    config = parse_config(
        {
            "participants": [{"id": "p1", "sensor": "x"}],
            "mqtt": {
                "url": f"mqtts://127.0.0.1:{tls_port}",
                "username": "hub",
                "password_file": str(password_file),
                "ca_file": str(certs["ca.crt"]),
            },
        }
    )
    settings = config.mqtt.settings()
    assert (settings.tls, settings.username, settings.password) == (True, "hub", "s3cret")
    pub = MqttPublisher(settings, hub_id=HUB, hub_session=SESSION, db_path=tmp_path / "s.sqlite")
    creds = {"username": "hub", "password": "s3cret"}
    async with observing(broker.port, mp.subscription(HUB), **creds) as obs:
        await pub.start()
        events = [make_event(i) for i in range(1, 21)]
        for event in events:
            pub.on_event(event)
        await obs.wait_for(lambda: len(obs.enveloped()) >= len(events))
        await pub.close()
    assert [o.event for o in obs.enveloped()] == events
    assert f"on port {tls_port}" in broker.log_path.read_text()  # TLS, not the plain port


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"password": "wrong"}, "not authori"),  # Mosquitto refuses: CONNACK 5
        ({"ca_file": None}, "certificate verify failed"),  # our CA is not the system's
    ],
)
async def test_refused_connections_are_logged_once_and_in_health_without_crashing(
    secure_broker: tuple[Mosquitto, int, dict[str, Path]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    expected: str,
) -> None:
    _, tls_port, certs = secure_broker
    settings = dataclasses.replace(
        mp.MqttSettings.from_url(f"mqtts://hub:s3cret@127.0.0.1:{tls_port}"),
        ca_file=certs["ca.crt"],
    )
    settings = dataclasses.replace(settings, **change)
    caplog.set_level(logging.DEBUG, logger="sensorhub.mqtt.publisher")
    pub = MqttPublisher(
        settings,
        hub_id=HUB,
        hub_session=SESSION,
        db_path=tmp_path / "s.sqlite",
        backoff_s=(0.05, 0.1),
        drain_timeout_s=0,
    )
    await pub.start()
    pub.on_event(make_event(1))

    def retried() -> bool:
        return sum("still unreachable" in r.message for r in caplog.records) >= 3

    await wait_for(retried)
    health = pub.health()
    assert health["connected"] is False
    assert expected in health["last_error"].lower()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.message for r in errors]  # loudly, but once
    assert "unreachable" in errors[0].message
    assert expected in errors[0].message.lower()
    await pub.close()
    assert outbox_rows(tmp_path / "s.sqlite") == 1  # kept for the next start


class CuttableProxy:
    """A TCP relay in front of the broker that can swallow what the hub sends (publishes
    that reach nobody and are never acknowledged) and then drop the connection: a network
    cut, with the broker and its subscribers unaffected."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.blackhole = False
        self.refusing = False
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, to_broker: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await r.read(65536):
                    if not (to_broker and self.blackhole):
                        w.write(data)
                        await w.drain()
            w.close()

        for task in (pipe(reader, up_writer, True), pipe(up_reader, writer, False)):
            self.tasks.add(asyncio.create_task(task))

    def drop(self) -> None:
        """Close every relayed connection and refuse new ones."""
        self.refusing = True
        for w in self.writers:
            w.close()
        self.writers.clear()

    def restore(self) -> None:
        self.blackhole = self.refusing = False

    async def close(self) -> None:
        self.drop()
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_publishes_lost_in_a_network_cut_are_sent_again(
    broker: Mosquitto, tmp_path: Path
) -> None:
    proxy = CuttableProxy(broker.port)
    port = await proxy.start()
    pub = MqttPublisher(
        mp.MqttSettings("127.0.0.1", port),
        hub_id=HUB,
        hub_session=SESSION,
        db_path=tmp_path / "s.sqlite",
        backoff_s=(0.1, 0.3),
    )
    produced = [make_event(i) for i in range(1, 101)]
    try:
        async with observing(broker.port, mp.subscription(HUB)) as obs:
            await pub.start()
            for event in produced[:50]:
                pub.on_event(event)
            await obs.wait_for(lambda: len(obs.enveloped()) >= 50)
            proxy.blackhole = True
            for event in produced[50:80]:
                pub.on_event(event)
            # Sent, never acknowledged: exactly what a broken link leaves behind.
            await wait_for(lambda: pub.health()["inflight"] == 30)
            proxy.drop()
            await wait_for(lambda: not pub.connected)
            proxy.restore()
            for event in produced[80:]:
                pub.on_event(event)
            await obs.wait_for(
                lambda: len({o.envelope.id for o in obs.enveloped() if o.envelope}) >= 100
            )
            await pub.close()
    finally:
        await proxy.close()
    unique = assert_at_least_once_in_order(obs.enveloped(), len(produced))
    assert [o.event for o in unique] == produced
    assert pub.health()["reconnects"] == 1


def make_client_certificate(certs: dict[str, Path]) -> tuple[Path, Path]:
    """A client certificate signed by the test CA of :func:`make_certificates`."""
    folder = certs["ca.crt"].parent
    key, csr, crt = folder / "client.key", folder / "client.csr", folder / "client.crt"
    ext = folder / "client.ext"
    ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = functools.partial(subprocess.run, check=True, capture_output=True)
    run(["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=room-a"])
    run(["openssl", "x509", "-req", "-in", csr, "-CA", certs["ca.crt"],
         "-CAkey", certs["ca.key"], "-CAcreateserial", "-out", crt, "-days", "2",
         "-extfile", ext])  # fmt: skip
    return crt, key


async def test_client_certificate_for_a_broker_that_requires_one(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "certs")
    client_crt, client_key = make_client_certificate(certs)
    mtls_port = free_port()
    extra = (
        f"listener {mtls_port} 127.0.0.1\n"
        f"cafile {certs['ca.crt']}\ncertfile {certs['server.crt']}\nkeyfile {certs['server.key']}\n"
        "require_certificate true\n"
    )
    with Mosquitto(tmp_path / "broker", extra_config=extra) as broker:
        config = parse_config(
            {
                "participants": [{"id": "p1", "sensor": "x"}],
                "mqtt": {
                    "url": f"mqtts://127.0.0.1:{mtls_port}",
                    "ca_file": str(certs["ca.crt"]),
                    "cert_file": str(client_crt),
                    "key_file": str(client_key),
                },
            }
        )
        pub = MqttPublisher(
            config.mqtt.settings(), hub_id=HUB, hub_session=SESSION, db_path=tmp_path / "s.sqlite"
        )
        async with observing(broker.port, mp.subscription(HUB)) as obs:
            await pub.start()
            events = [make_event(i) for i in range(1, 11)]
            for event in events:
                pub.on_event(event)
            await obs.wait_for(lambda: len(obs.enveloped()) >= len(events))
            await pub.close()
        assert [o.event for o in obs.enveloped()] == events
        # The same broker refuses a hub without the certificate, and the hub says why.
        bare = dataclasses.replace(config.mqtt.settings(), cert_file=None, key_file=None)
        refused = MqttPublisher(
            bare,
            hub_id=HUB,
            hub_session="S2",
            db_path=tmp_path / "s2.sqlite",
            backoff_s=(0.05, 0.1),
            drain_timeout_s=0,
        )
        await refused.start()
        await wait_for(lambda: refused.health()["last_error"] is not None)
        assert refused.health()["connected"] is False
        await refused.close()
        assert "peer did not return a certificate" in broker.log()
