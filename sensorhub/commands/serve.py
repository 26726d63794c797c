"""``sensorhub serve``: run a session: sensors, lean detection, websocket and dashboard.

Without ``--config``, ``--virtual N`` runs the full demo: N virtual Polar H10s on the
in-process virtual radio, worn by simulated participants in conversation (p1..pN, paired into
dyads in order). Ctrl-C or SIGTERM ends the session cleanly: sensor streams are stopped
before disconnecting, open episodes are closed and published, and websocket clients are
closed with GOING_AWAY.

``--mqtt URL`` (or ``[mqtt] url``) also publishes every event to an MQTT broker through a
persistent outbox in the session store (``docs/mqtt.md``); ``--from-mqtt URL`` runs no
sensors at all and serves the dashboard for every hub on that broker (the aggregator).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import signal
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from sensorhub import __version__
from sensorhub.bus import EventBus
from sensorhub.commands.scan import add_virtual_arguments
from sensorhub.config import (
    HubConfig,
    MqttConfig,
    ServerConfig,
    config_to_json,
    demo_config,
    load_config,
)
from sensorhub.errors import ConfigError
from sensorhub.hub import Hub, resolve_sensors
from sensorhub.mqtt.protocol import MqttSettings, validate_hub_id
from sensorhub.mqtt.publisher import MqttPublisher, default_hub_id
from sensorhub.server.app import create_app, run_server
from sensorhub.server.settings import ServerSettings
from sensorhub.sources.base import SensorKind
from sensorhub.sources.environment import open_environment
from sensorhub.sources.live import LiveSensors, monotonic_session_clock
from sensorhub.store.sqlite import Recorder, default_db_path

if TYPE_CHECKING:
    from sensorhub.bridges.lsl import LslBridge

__all__ = ["register"]

log = logging.getLogger("sensorhub.serve")


def _settings(args: argparse.Namespace, server: ServerConfig) -> ServerSettings:
    return ServerSettings(
        host=args.host or server.host,
        port=server.port if args.port is None else args.port,
        token=server.token,
        allowed_origins=server.allowed_origins,
    ).resolved()


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _aggregate(args: argparse.Namespace, file_config: HubConfig | None) -> int:
    """``--from-mqtt URL``: no sensors; the dashboard of every hub on the broker."""
    from sensorhub.mqtt.aggregator import run_aggregator

    mqtt = (file_config.mqtt if file_config else MqttConfig()).settings(args.from_mqtt)
    server = _settings(args, file_config.server if file_config else ServerConfig())
    print(f"sensorhub: aggregating every hub on {mqtt.url}", flush=True)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    await run_aggregator(mqtt, server, stop)
    return 0


def _mqtt_target(args: argparse.Namespace, config: HubConfig) -> tuple[MqttSettings, str] | None:
    """Broker settings and hub id when this hub publishes (``--mqtt`` or ``[mqtt] url``)."""
    if not (args.mqtt or config.mqtt.publishing):
        if args.hub_id:
            raise ConfigError("--hub-id: only with --mqtt URL (or [mqtt] url in the config)")
        return None
    if args.hub_id:
        try:
            hub_id = validate_hub_id(args.hub_id)
        except ConfigError as exc:
            raise ConfigError(f"--hub-id: {exc}") from exc
    else:
        hub_id = config.mqtt.hub_id or default_hub_id()
    return config.mqtt.settings(args.mqtt), hub_id


async def _serve(args: argparse.Namespace) -> int:
    if args.mqtt and args.from_mqtt:
        raise ConfigError(
            "--mqtt and --from-mqtt: choose one (a hub publishes to a broker; the aggregator "
            "subscribes to every hub on it)"
        )
    if args.from_mqtt:
        return await _aggregate(args, load_config(args.config) if args.config else None)
    if args.config is None and not args.virtual:
        raise ConfigError("give a session config (--config FILE.toml) or --virtual N for a demo")
    file_config = load_config(args.config) if args.config else None
    loop = asyncio.get_running_loop()
    async with open_environment(args.virtual, kinds=args.virtual_kinds, seed=args.seed) as env:
        config = file_config or demo_config(
            [name for name, _ in env.virtual_sensors], [kind for _, kind in env.virtual_sensors]
        )
        settings = _settings(args, config.server)
        mqtt_target = _mqtt_target(args, config)
        kinds, devices = await resolve_sensors(config, env)
        now_ns = monotonic_session_clock()
        started_wall = dt.datetime.now(dt.UTC)  # the wall-clock anchor of session time 0
        targets = [(p.sensor, kinds[p.sensor]) for p in config.participants]
        stage = LiveSensors(targets, backends=env.backends, now_ns=now_ns, devices=devices)
        bus = EventBus()
        session_id = new_session_id()
        recorder = (
            None if args.no_record else _recorder(args, config, kinds, session_id, started_wall)
        )
        hub = Hub(
            config, stage, bus, now_ns=now_ns, kinds=kinds, recorder=recorder, session_id=session_id
        )
        if recorder is not None:

            def store_failed(message: str) -> None:  # called from the writer thread
                loop.call_soon_threadsafe(hub.store_failed, message)

            recorder.on_error = store_failed
        app = create_app(hub, bus, settings)
        stop = asyncio.Event()
        _stop_on_signals(stop)
        async with run_server(app, settings.host, settings.port) as handle:
            where = handle.url + (f"?token={handle.token}" if handle.token else "")
            print(f"sensorhub: session {hub.session_id} ({config.session_name})", flush=True)
            if recorder is not None:
                print(f"sensorhub: recording to {recorder.path}", flush=True)
            print(f"sensorhub: dashboard on {where}", flush=True)
            if handle.token:
                print(f"sensorhub: access token {handle.token}", flush=True)
            lsl_bridge = _lsl_bridge(args, config, hub)
            publisher = None
            if mqtt_target is not None:
                publisher = await _publisher(args, config, hub, *mqtt_target)
            hub.start()
            try:
                await stop.wait()
            finally:
                print("sensorhub: stopping: sensor streams first, then clients", flush=True)
                try:
                    await hub.close()
                    if lsl_bridge is not None:  # after close: truncated episode ends go out too
                        await asyncio.to_thread(lsl_bridge.close, hub.now_ns() / 1e9)
                finally:
                    if publisher is not None:  # likewise; then it drains for a bounded time
                        await publisher.close()
    return 0


async def _publisher(
    args: argparse.Namespace, config: HubConfig, hub: Hub, mqtt: MqttSettings, hub_id: str
) -> MqttPublisher:
    """The hub's MQTT publisher, its outbox opened, wired to every event the hub publishes
    (the session's ``hello`` first) and to ``/api/health``."""
    publisher = MqttPublisher(
        mqtt,
        hub_id=hub_id,
        hub_session=hub.session_id,
        db_path=args.db or default_db_path(),
        session_name=config.session_name,
        drain_timeout_s=config.mqtt.drain_timeout_s,
    )
    await publisher.start()
    publisher.on_event(hub.hello())
    hub.event_sinks.append(publisher.on_event)
    hub.health_providers["mqtt"] = publisher.health
    print(f"sensorhub: publishing events to {mqtt.url} as hub {hub_id}", flush=True)
    return publisher


def _lsl_bridge(args: argparse.Namespace, config: HubConfig, hub: Hub) -> LslBridge | None:
    """LSL outlets when asked for (``--lsl`` or ``[lsl] enabled``); session t=0 is mapped to
    LSL's clock now, just before the hub starts."""
    if not (args.lsl or config.lsl.enabled):
        return None
    from sensorhub.bridges.lsl import LslBridge  # loads liblsl: only when asked for

    bridge = LslBridge(
        [p.id for p in config.participants],
        session_id=hub.session_id,
        session_name=config.session_name,
        angle_rate_hz=config.angle_rate_hz,
        session_now_s=hub.now_ns() / 1e9,
        api_config=args.lsl_config or config.lsl.api_config,
    )
    hub.event_sinks.append(bridge.on_event)
    print("sensorhub: LSL outlets open (one angle stream per participant, markers)", flush=True)
    return bridge


def new_session_id() -> str:
    """Sortable and unique: UTC start time, then random bits (``20261125T213000-3fa9c1``)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def _recorder(
    args: argparse.Namespace,
    config: HubConfig,
    kinds: dict[str, SensorKind],
    session_id: str,
    started_wall: dt.datetime,
) -> Recorder:
    participants = [
        {
            "id": p.id,
            "sensor": p.sensor,
            "kind": kinds[p.sensor].value,
            "attributes": dict(p.attributes),
        }
        for p in config.participants
    ]
    return Recorder(
        args.db or default_db_path(),
        session_id=session_id,
        name=config.session_name,
        started_wall=started_wall,
        software=f"sensorhub {__version__}",
        config=config_to_json(config),
        participants=participants,
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run a session with the live dashboard")
    p.add_argument("--config", metavar="FILE.toml", help="session configuration (see README)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, help="TCP port (default 8080; 0 picks a free one)")
    p.add_argument("--seed", type=int, default=1, help="seed of the --virtual demo conversation")
    p.add_argument("--db", type=Path, help=f"session store (default {default_db_path()})")
    p.add_argument("--no-record", action="store_true", help="do not record this session")
    p.add_argument("--lsl", action="store_true", help="open LSL outlets (needs sensorhub[lsl])")
    p.add_argument("--lsl-config", metavar="FILE", help="lsl_api.cfg for liblsl")
    p.add_argument(
        "--mqtt",
        metavar="URL",
        help="also publish every event to this MQTT broker (mqtt://HOST:PORT, mqtts://...)",
    )
    p.add_argument(
        "--hub-id",
        metavar="ID",
        help="this hub's name on the broker (default: [mqtt] hub_id, else the host name)",
    )
    p.add_argument(
        "--from-mqtt",
        metavar="URL",
        help="no sensors: serve the dashboard for every hub publishing to this broker",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_virtual_arguments(p)

    def handler(args: argparse.Namespace) -> int:
        logging.basicConfig(
            level=args.log_level, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
        )
        return asyncio.run(_serve(args))

    p.set_defaults(handler=handler)
