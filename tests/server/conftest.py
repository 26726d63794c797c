"""Fixtures: a real EventBus, the fake hub, and the app on a loopback TestServer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sensorhub.bus import EventBus
from sensorhub.server import ServerSettings, create_app

from .fakehub import FakeHub


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def hub(bus: EventBus) -> FakeHub:
    return FakeHub(bus)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def dashboard(tmp_path: Path) -> Path:
    d = tmp_path / "live"
    d.mkdir()
    (d / "index.html").write_text("<!doctype html><title>live</title>")
    (d / "app.js").write_text("console.log('hi')")
    return d


Make = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(
    hub: FakeHub, bus: EventBus, clock: FakeClock, dashboard: Path
) -> AsyncIterator[Make]:
    """``await make_client(**settings)``: a TestClient on 127.0.0.1 for an app with those
    settings (the fake clock and a temporary dashboard unless given)."""
    clients: list[TestClient[Any, Any]] = []

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        overrides.setdefault("clock", clock)
        overrides.setdefault("dashboard_dir", dashboard)
        app = create_app(hub, bus, ServerSettings(**overrides))
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: Make) -> TestClient[Any, Any]:
    return await make_client()
