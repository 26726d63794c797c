"""The REST API and the static dashboard: answers, and JSON errors with proper statuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from sensorhub.bus import EventBus
from sensorhub.events import Marker

from .conftest import Make
from .fakehub import FakeHub


async def error_of(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["type"] == "error"
    assert body["v"] == 1
    assert isinstance(body["code"], str)
    message: str = body["message"]
    return message


async def test_health_shows_bus_server_and_hub(client: Any, bus: EventBus) -> None:
    sub = bus.subscribe("someone")
    bus.publish(Marker(1.0, "m"))
    body = await (await client.get("/api/health")).json()
    assert body["status"] == "ok"
    assert body["hub"] == {"pipelines": 2, "sensors": 2}
    assert body["server"]["clients"] == 0
    assert body["bus"]["queue_depth_max"] == 1
    assert body["bus"]["clients"][0]["name"] == "someone"
    bus.unsubscribe(sub)


async def test_session_participants_sensors(client: Any) -> None:
    assert (await (await client.get("/api/session")).json())["session"] == "fake-session"
    parts = (await (await client.get("/api/participants")).json())["participants"]
    assert [p["id"] for p in parts] == ["p1", "p2"]
    sensors = (await (await client.get("/api/sensors")).json())["sensors"]
    assert [s["participant"] for s in sensors] == ["p1", "p2"]


async def test_markers_post_then_get(client: Any, hub: FakeHub, bus: EventBus) -> None:
    sub = bus.subscribe("watcher")
    hub.now = 12.0
    resp = await client.post("/api/markers", json={"label": "break"})
    assert resp.status == 201
    created = await resp.json()
    assert created == {"type": "marker", "v": 1, "t": 12.0, "label": "break", "source": "api"}
    listed = (await (await client.get("/api/markers")).json())["markers"]
    assert listed == [created]
    assert sub.get_nowait() == Marker(12.0, "break", "api")  # published to the bus too


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"data": b"{oops", "headers": {"Content-Type": "application/json"}}, "not valid JSON"),
        ({"json": ["label"]}, "JSON object"),
        ({"json": {}}, "non-empty"),
        ({"json": {"label": 3}}, "non-empty"),
        ({"json": {"label": "x" * 201}}, "longer than 200"),
        ({"data": b'{"label": "x"}', "headers": {"Content-Type": "text/plain"}}, "Content-Type"),
    ],
)
async def test_bad_marker_bodies_are_400(client: Any, kwargs: dict[str, Any], needle: str) -> None:
    message = await error_of(await client.post("/api/markers", **kwargs), 400)
    assert needle in message


async def test_request_too_large_is_413(make_client: Make) -> None:
    client = await make_client(max_request_bytes=1000)
    resp = await client.post("/api/markers", json={"label": "x" * 2000})
    await error_of(resp, 413)


async def test_calibration_endpoints(client: Any, hub: FakeHub) -> None:
    message = await error_of(await client.post("/api/calibration/p1/forward"), 409)
    assert "upright" in message
    resp = await client.post("/api/calibration/p1/upright")
    assert resp.status == 200
    assert (await resp.json())["steps"] == ["upright"]
    assert (await (await client.post("/api/calibration/p1/forward")).json())["complete"] is True
    assert "ghost" in await error_of(await client.post("/api/calibration/ghost/upright"), 404)
    assert "sideways" in await error_of(await client.post("/api/calibration/p1/sideways"), 404)
    assert hub.calibration["p1"] == ["upright", "forward"]


async def test_recording(make_client: Make, hub: FakeHub) -> None:
    client = await make_client()
    message = await error_of(await client.post("/api/recording", json={"on": True}), 503)
    assert "store" in message
    hub.store = True
    resp = await client.post("/api/recording", json={"on": True})
    assert await resp.json() == {"recording": True}
    assert hub.recording
    assert "'on'" in await error_of(await client.post("/api/recording", json={"on": 1}), 400)


async def test_unknown_api_path_is_404_json(client: Any) -> None:
    await error_of(await client.get("/api/nothing"), 404)


async def test_wrong_method_is_405_json(client: Any) -> None:
    resp = await client.delete("/api/markers")
    await error_of(resp, 405)
    assert "GET" in resp.headers["Allow"]


async def test_plain_get_on_ws_is_400(client: Any) -> None:
    assert "websocket" in await error_of(await client.get("/ws"), 400)


async def test_dashboard_index_and_files(client: Any) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert "<title>live</title>" in await resp.text()
    assert (await client.get("/app.js")).status == 200
    await error_of(await client.get("/missing.js"), 404)


async def test_path_traversal_is_refused(client: Any, dashboard: Path) -> None:
    (dashboard.parent / "secret.txt").write_text("no")
    (dashboard / "link.txt").symlink_to(dashboard.parent / "secret.txt")
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/link.txt"):
        resp = await client.get(URL(path, encoded=True))
        assert resp.status == 404, path
        assert await resp.text() != "no"


async def test_missing_dashboard_is_a_clear_503(make_client: Make, tmp_path: Path) -> None:
    client = await make_client(dashboard_dir=tmp_path / "nowhere")
    message = await error_of(await client.get("/"), 503)
    assert "index.html" in message
    assert (await client.get("/api/health")).status == 200  # the API still works


async def test_hub_bug_is_a_500_json_error(
    client: Any, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(hub, "session_info", broken)
    assert "internal error" in await error_of(await client.get("/api/session"), 500)
    assert (await client.get("/api/health")).status == 200


async def test_odd_static_paths_are_404(client: Any) -> None:
    await error_of(await client.get(URL("/a%00b", encoded=True)), 404)
    await error_of(await client.get("/" + "x" * 5000), 404)


def test_public_surface_is_pinned() -> None:
    import sensorhub.bus
    import sensorhub.server

    assert sensorhub.server.__all__ == [
        "Ack",
        "HubControl",
        "ServerHandle",
        "ServerSettings",
        "create_app",
        "run_server",
        "server_settings",
        "start_server",
    ]
    assert sensorhub.bus.__all__ == ["Delivery", "EventBus", "RawSamples", "Subscription"]
