"""run_server / start_server: a real listener on a free loopback port, stopped cleanly; and
the fake hub really is a HubControl (the seam the hub implements)."""

from __future__ import annotations

import asyncio
import inspect

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError
from sensorhub.server import HubControl, ServerSettings, create_app, run_server, start_server

from .fakehub import FakeHub


def test_fake_hub_implements_the_protocol_with_the_same_signatures(hub: FakeHub) -> None:
    assert isinstance(hub, HubControl)
    for name, member in inspect.getmembers(HubControl, inspect.isfunction):
        if name.startswith("_"):
            continue
        theirs = inspect.signature(member)
        ours = inspect.signature(getattr(FakeHub, name))
        assert list(ours.parameters) == list(theirs.parameters), name


async def test_serves_then_stops_with_going_away(hub: FakeHub, bus: EventBus) -> None:
    app = create_app(hub, bus, ServerSettings(port=0))
    async with run_server(app, "127.0.0.1", 0) as handle, aiohttp.ClientSession() as http:
        assert handle.port > 0
        assert handle.url == f"http://127.0.0.1:{handle.port}/"
        assert handle.token is None
        async with http.get(f"{handle.url}api/health") as resp:
            assert resp.status == 200
        ws = await http.ws_connect(f"{handle.url}ws")
        assert (await ws.receive_json())["type"] == "hello"
        hub.angle("p1", 5.0)
        assert (await ws.receive_json())["type"] == "angle"
        stopping = asyncio.create_task(handle.stop())
        msg = await ws.receive(timeout=10)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == WSCloseCode.GOING_AWAY
        await asyncio.wait_for(stopping, 10)
        await ws.close()
        assert bus.stats()["subscribers"] == 0
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{handle.url}api/health")


async def test_generated_token_is_returned_on_the_handle(hub: FakeHub, bus: EventBus) -> None:
    # Configured for the LAN, but bound to loopback here: only the token logic matters.
    app = create_app(hub, bus, ServerSettings(host="0.0.0.0", port=0))
    handle = await start_server(app, "127.0.0.1", 0)
    try:
        assert handle.token
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{handle.url}api/session") as resp:
                assert resp.status == 401
            headers = {"Authorization": f"Bearer {handle.token}"}
            async with http.get(f"{handle.url}api/session", headers=headers) as resp:
                assert resp.status == 200
    finally:
        await handle.stop()


async def test_port_in_use_is_a_config_error(hub: FakeHub, bus: EventBus) -> None:
    first = await start_server(create_app(hub, bus, ServerSettings()), "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match="cannot listen"):
            await start_server(create_app(hub, bus, ServerSettings()), "127.0.0.1", first.port)
    finally:
        await first.stop()
