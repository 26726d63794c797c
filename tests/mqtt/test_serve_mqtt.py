"""`sensorhub serve --mqtt` as a real process against a real Mosquitto: a killed hub leaves
its last will, a stopped one says so and drains its outbox; the CLI's MQTT flags."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from sensorhub import events as ev
from sensorhub.cli import main
from sensorhub.mqtt import protocol as mp
from sensorhub.mqtt.protocol import MqttSettings
from sensorhub.server.settings import ServerSettings
from tests.mqtt.observer import Observer, observing
from tests.mqtt_broker import Mosquitto
from tests.serve_process import start_serve

pytestmark = pytest.mark.timeout(90)

HUB = "t1"


def states(observer: Observer) -> list[ev.HubStatus]:
    return [o.event for o in observer.seen if isinstance(o.event, ev.HubStatus)]


async def retained_state(port: int) -> ev.HubStatus:
    """What a subscriber arriving now learns of the hub."""
    async with observing(port, mp.hub_state_topic(HUB), "late") as late:
        await late.wait_for(lambda: bool(states(late)))
    (observed,) = [o for o in late.seen if o.retain]
    assert isinstance(observed.event, ev.HubStatus)
    return observed.event


async def watch_hub_then(broker: Mosquitto, tmp_path: Path, sig: signal.Signals) -> Any:
    serve = start_serve(tmp_path, "--virtual", "2", "--mqtt", broker.url, "--hub-id", HUB)
    try:
        async with observing(broker.port, mp.subscription(HUB)) as obs:
            await obs.wait_for(lambda: any(s.state == "online" for s in states(obs)))
            await obs.wait_for(lambda: sum(o.topic.endswith("/angle") for o in obs.seen) >= 20)
            serve.proc.send_signal(sig)
            await asyncio.to_thread(serve.proc.wait, 30)
            await obs.wait_for(lambda: states(obs)[-1].state == "offline")
        return serve, obs, await retained_state(broker.port)
    finally:
        serve.stop()


async def test_a_killed_hub_is_marked_offline_by_its_last_will(
    broker: Mosquitto, tmp_path: Path
) -> None:
    serve, obs, retained = await watch_hub_then(broker, tmp_path, signal.SIGKILL)
    assert serve.proc.returncode == -signal.SIGKILL
    online = next(s for s in states(obs) if s.state == "online")
    hello = next(o for o in obs.seen if isinstance(o.event, ev.Hello))
    assert hello.envelope is not None
    assert hello.envelope.seq == 1
    assert online.session == hello.envelope.hub_session == hello.event.session
    last = states(obs)[-1]
    assert (last.state, last.reason, last.session) == ("offline", "connection lost", online.session)
    assert last == retained


async def test_a_stopped_hub_says_so_and_publishes_everything_first(
    broker: Mosquitto, tmp_path: Path
) -> None:
    serve, obs, retained = await watch_hub_then(broker, tmp_path, signal.SIGTERM)
    assert serve.proc.returncode == 0, serve.stderr
    out = serve.proc.stdout.read() if serve.proc.stdout else ""
    assert f"publishing events to {broker.url} as hub {HUB}" in out
    assert (retained.state, retained.reason) == ("offline", "stopped")
    seq = sorted({o.envelope.seq for o in obs.seen if o.envelope is not None})
    assert seq == list(range(1, seq[-1] + 1))  # drained at stop: nothing left behind
    # The final sensor statuses of the shutdown are among the last events published.
    last_status = [o.event for o in obs.seen if isinstance(o.event, ev.SensorStatus)][-1]
    assert last_status.state != "streaming"
    for leak in ("Task was destroyed", "never retrieved", "Traceback", "Unclosed"):
        assert leak not in serve.stderr, serve.stderr


def test_mqtt_and_from_mqtt_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--virtual", "1", "--mqtt", "mqtt://127.0.0.1:1", "--from-mqtt",
                 "mqtt://127.0.0.1:1"])  # fmt: skip
    assert code == 1
    assert "--mqtt and --from-mqtt" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--mqtt", "http://127.0.0.1:1883"], "mqtt://HOST:PORT"),
        (["--mqtt", "mqtt://127.0.0.1:1883", "--hub-id", "room a"], "--hub-id"),
        (["--hub-id", "room-a"], "--hub-id: only with --mqtt"),
    ],
)
def test_bad_mqtt_flags_are_config_errors(
    args: list[str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--virtual", "1", "--port", "0", "--db", str(tmp_path / "s.db"), *args])
    assert code == 1
    assert named in capsys.readouterr().err


def test_from_mqtt_runs_the_aggregator_with_the_configs_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[MqttSettings, ServerSettings]] = []

    async def fake_run_aggregator(
        mqtt: MqttSettings, server: ServerSettings, stop: asyncio.Event
    ) -> None:
        calls.append((mqtt, server))

    monkeypatch.setattr("sensorhub.mqtt.aggregator.run_aggregator", fake_run_aggregator)
    password = tmp_path / "pw"
    password.write_text("s3cret\n")
    config = tmp_path / "agg.toml"
    config.write_text(
        '[[participants]]\nid = "A"\nsensor = "x"\n'
        f'[mqtt]\nusername = "viewer"\npassword_file = "{password}"\n'
        "[server]\nport = 9999\n"
    )
    code = main(["serve", "--config", str(config), "--from-mqtt", "mqtts://broker.lab:8884",
                 "--port", "0"])  # fmt: skip
    assert code == 0
    ((mqtt, server),) = calls
    assert (mqtt.host, mqtt.port, mqtt.tls) == ("broker.lab", 8884, True)
    assert (mqtt.username, mqtt.password) == ("viewer", "s3cret")
    assert (server.host, server.port) == ("127.0.0.1", 0)
    out = capsys.readouterr().out
    assert "mqtts://broker.lab:8884" in out
    assert "s3cret" not in out
