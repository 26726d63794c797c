"""Each refusal: 401 without / with a wrong token, 403 for a foreign Origin or Host, and a
token that is mandatory (generated if need be) on a non-loopback address."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import WSServerHandshakeError

from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError
from sensorhub.server import ServerSettings, create_app, server_settings
from sensorhub.server.settings import is_loopback

from .conftest import Make
from .fakehub import FakeHub

TOKEN = "s3cret-token-for-tests"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.168.1.10", False), ("::", False), ("lab-pc.local", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_without_token_gets_a_generated_one(hub: FakeHub, bus: EventBus) -> None:
    app = create_app(hub, bus, ServerSettings(host="0.0.0.0"))
    token = server_settings(app).token
    assert token is not None
    assert len(token) >= 24
    other = server_settings(create_app(hub, bus, ServerSettings(host="0.0.0.0"))).token
    assert other != token
    assert server_settings(create_app(hub, bus, ServerSettings())).token is None


def test_configured_token_is_kept_and_checked() -> None:
    assert ServerSettings(host="0.0.0.0", token=TOKEN).resolved().token == TOKEN
    with pytest.raises(ConfigError, match=r"server\.token"):
        ServerSettings(token="short")
    with pytest.raises(ConfigError, match=r"server\.port"):
        ServerSettings(port=70000)
    with pytest.raises(ConfigError, match=r"server\.client_queue"):
        ServerSettings(client_queue=0)


@pytest.fixture
async def secured(make_client: Make) -> Any:
    """An app configured for a LAN address (token required), reached over loopback."""
    return await make_client(host="0.0.0.0", token=TOKEN)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/session"), ("GET", "/api/participants"), ("GET", "/api/sensors"),
     ("GET", "/api/markers"), ("POST", "/api/markers"), ("POST", "/api/recording"),
     ("POST", "/api/calibration/p1/upright")],
)  # fmt: skip
async def test_api_needs_the_token(secured: Any, hub: FakeHub, method: str, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-123"}):
        resp = await secured.request(method, path, headers=headers, json={"label": "x"})
        assert resp.status == 401
        assert (await resp.json())["code"] == "unauthorized"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # the query form is for websockets only
    assert (await secured.request(method, f"{path}?token={TOKEN}")).status == 401
    assert hub.markers() == []
    assert hub.calibration["p1"] == []


async def test_api_with_bearer_token(secured: Any, hub: FakeHub) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    resp = await secured.post("/api/markers", json={"label": "ok"}, headers=auth)
    assert resp.status == 201
    assert [m.label for m in hub.markers()] == ["ok"]


async def test_health_and_dashboard_need_no_token(secured: Any) -> None:
    assert (await secured.get("/api/health")).status == 200
    assert (await secured.get("/")).status == 200


async def test_websocket_needs_the_token(secured: Any) -> None:
    for url in ("/ws", "/ws?token=wrong-token-123"):
        with pytest.raises(WSServerHandshakeError) as info:
            await secured.ws_connect(url)
        assert info.value.status == 401
    async with secured.ws_connect(f"/ws?token={TOKEN}") as ws:
        assert (await ws.receive_json())["type"] == "hello"
    async with secured.ws_connect("/ws", headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        assert (await ws.receive_json())["type"] == "hello"


async def test_loopback_without_token_is_open(client: Any) -> None:
    assert (await client.get("/api/participants")).status == 200
    async with client.ws_connect("/ws") as ws:
        assert (await ws.receive_json())["type"] == "hello"


async def test_websocket_origin_is_checked(client: Any) -> None:
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws", headers={"Origin": "http://evil.example"})
    assert info.value.status == 403
    own = f"http://127.0.0.1:{client.port}"
    async with client.ws_connect("/ws", headers={"Origin": own}) as ws:
        assert (await ws.receive_json())["type"] == "hello"


async def test_allowed_origins_extend_the_default(make_client: Make) -> None:
    client = await make_client(allowed_origins=("http://dashboard.lab:3000",))
    async with client.ws_connect("/ws", headers={"Origin": "http://dashboard.lab:3000"}) as ws:
        assert (await ws.receive_json())["type"] == "hello"


async def test_cross_site_post_is_refused(client: Any, hub: FakeHub) -> None:
    resp = await client.post(
        "/api/markers", json={"label": "csrf"}, headers={"Origin": "http://evil.example"}
    )
    assert resp.status == 403
    assert "origin" in (await resp.json())["message"]
    assert hub.markers() == []


async def test_dns_rebinding_host_is_refused_on_loopback(client: Any) -> None:
    port = client.port
    resp = await client.get("/api/participants", headers={"Host": f"evil.example:{port}"})
    assert resp.status == 403
    assert "host" in (await resp.json())["message"]
    # a same-origin page on the rebound name is refused too
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect(
            "/ws", headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        )
    assert info.value.status == 403
    ok = await client.get("/api/participants", headers={"Host": f"localhost:{port}"})
    assert ok.status == 200
