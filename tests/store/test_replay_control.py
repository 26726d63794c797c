"""A replay served as if live: pause, speed and seek through ``/api/replay``.

A short recording (one simulated H10, 180 s of session time) is replayed behind the real
server app by :func:`sensorhub.commands.replay.serve_replay` (what ``replay --serve`` runs),
and the replay is driven over HTTP exactly as the dashboard's replay bar drives it.
Waits are for conditions with generous timeouts; a paused replay is watched for a while
(it would have advanced by several frames in that time) without timing anything.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sensorhub.bus import EventBus
from sensorhub.commands.replay import ServedReplay, serve_replay
from sensorhub.server.app import create_app, run_server
from sensorhub.server.settings import ServerSettings
from tests.recordings import replay_server, replay_state, write_h10_recording
from tests.server.fakehub import FakeHub

REPO = Path(__file__).resolve().parents[2]
FRAMES = 1000  # 0.18 s each: 180 s of session time
DURATION_S = FRAMES * 0.18
WAIT_S = 15.0


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "sessions.sqlite"
    write_h10_recording(path, frames=FRAMES)
    return path


@pytest.fixture
async def served(recording: Path) -> AsyncIterator[tuple[ServedReplay, aiohttp.ClientSession]]:
    async with replay_server(recording) as pair:
        yield pair


state = replay_state


async def act(http: aiohttp.ClientSession, action: str, value: Any = None) -> dict[str, Any]:
    async with http.post("/api/replay", json={"action": action, "value": value}) as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def until(
    http: aiohttp.ClientSession, ok: Callable[[dict[str, Any]], bool], what: str
) -> dict[str, Any]:
    """Poll the replay state until ``ok`` holds (generous timeout)."""
    last: dict[str, Any] = {}

    async def poll() -> dict[str, Any]:
        nonlocal last
        while True:
            last = await state(http)
            if ok(last):
                return last
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), WAIT_S)
    except TimeoutError:
        raise AssertionError(f"replay never reached: {what}; last state {last}") from None


async def test_pause_resume_speed_and_seek(
    served: tuple[ServedReplay, aiohttp.ClientSession],
) -> None:
    replay, http = served
    first = await state(http)
    assert first["duration_s"] == pytest.approx(DURATION_S)
    assert first["speed"] == 10.0
    assert not first["paused"]
    assert not first["finished"]
    moving = await until(http, lambda s: s["position_s"] > 1.0, "advancing at 10x")

    paused = await act(http, "pause")
    assert paused["paused"]
    assert paused["position_s"] >= moving["position_s"]
    held = paused["position_s"]
    # At 10x the replay would cover several seconds of session time meanwhile.
    for _ in range(10):
        await asyncio.sleep(0.1)
        assert (await state(http))["position_s"] == held

    resumed = await act(http, "resume")
    assert not resumed["paused"]
    await until(http, lambda s: s["position_s"] > held + 0.5, "advancing after resume")

    # Forward seek at speed 1: lands at the target, then goes on slowly.
    assert (await act(http, "speed", 1))["speed"] == 1.0
    await act(http, "seek", 120)
    landed = await until(http, lambda s: not s["seeking"], "forward seek landed")
    assert 120.0 <= landed["position_s"] < 125.0
    assert replay.control.restarts == 0

    # Backward seek while paused: a fresh pass fed up to 30 s, held there.
    await act(http, "pause")
    await act(http, "seek", 30.5)
    back = await until(http, lambda s: not s["seeking"], "backward seek landed")
    assert back["position_s"] == 30.5
    assert back["paused"]
    assert replay.control.restarts == 1
    for _ in range(5):
        await asyncio.sleep(0.1)
        assert (await state(http))["position_s"] == 30.5

    # Max speed to the end: the replay holds there, and a seek plays it again.
    await act(http, "speed", "max")
    assert (await act(http, "resume"))["speed"] == "max"
    end = await until(http, lambda s: s["finished"], "the end")
    assert end["position_s"] == pytest.approx(DURATION_S)
    assert replay.control.result is not None
    assert replay.control.result.complete
    await act(http, "pause")
    await act(http, "seek", 10)
    again = await until(http, lambda s: not s["seeking"], "seek after the end")
    assert again["position_s"] == 10.0
    assert not again["finished"]
    assert replay.control.restarts == 2


async def test_backward_seek_says_hello_again(
    served: tuple[ServedReplay, aiohttp.ClientSession],
) -> None:
    """Pages learn that the replay started over: a second ``hello`` on their socket."""
    _, http = served
    await act(http, "speed", "max")
    await until(http, lambda s: s["position_s"] > 60, "past 60 s")
    async with http.ws_connect("/ws") as ws:
        hello = json.loads(await ws.receive_str(timeout=WAIT_S))
        assert hello["type"] == "hello"
        assert hello["replay"] is True
        await act(http, "seek", 5)

        async def next_hello() -> dict[str, Any]:
            while True:
                msg = json.loads(await ws.receive_str())
                if msg["type"] == "hello":
                    return msg  # type: ignore[no-any-return]

        again = await asyncio.wait_for(next_hello(), WAIT_S)
        assert again["session"] == hello["session"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "jump"}, "action must be one of"),
        ({"action": "speed", "value": -1}, "speed must be above 0"),
        ({"action": "speed", "value": "fast"}, "speed must be a number or 'max'"),
        ({"action": "speed", "value": True}, "speed must be a number"),
        ({"action": "seek", "value": "abc"}, "must be a number"),
        ({"action": "seek", "value": -3}, "at least 0 s"),
        ({"action": "seek"}, "must be a number"),
        (["pause"], "must be a JSON object"),
    ],
)
async def test_bad_requests_get_400(
    served: tuple[ServedReplay, aiohttp.ClientSession], body: Any, message: str
) -> None:
    _, http = served
    async with http.post("/api/replay", json=body) as resp:
        assert resp.status == 400
        error = await resp.json()
        assert error["type"] == "error"
        assert message in error["message"]
    assert not (await state(http))["paused"]  # nothing changed


async def test_a_cross_site_page_cannot_pause(
    served: tuple[ServedReplay, aiohttp.ClientSession],
) -> None:
    _, http = served
    headers = {"Origin": "http://evil.example"}
    async with http.post("/api/replay", json={"action": "pause"}, headers=headers) as resp:
        assert resp.status == 403
    assert not (await state(http))["paused"]


async def test_token_applies(recording: Path) -> None:
    settings = ServerSettings(host="127.0.0.1", port=0, token="s3cret-token")
    async with (
        serve_replay(recording, "rec", speed=1.0, settings=settings) as served,
        aiohttp.ClientSession(served.handle.url) as http,
    ):
        async with http.get("/api/replay") as resp:
            assert resp.status == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        async with http.post("/api/replay", json={"action": "pause"}, headers=auth) as resp:
            assert resp.status == 200
            assert (await resp.json())["paused"]


async def test_a_live_session_has_no_replay_control() -> None:
    bus = EventBus()
    settings = ServerSettings(host="127.0.0.1", port=0)
    async with (
        run_server(create_app(FakeHub(bus), bus, settings)) as handle,
        aiohttp.ClientSession(handle.url) as http,
    ):
        for request in (
            http.get("/api/replay"),
            http.post("/api/replay", json={"action": "pause"}),
        ):
            async with request as resp:
                assert resp.status == 404
                assert "not a replay" in (await resp.json())["message"]


@pytest.mark.parametrize(
    ("speed_args", "speed"), [(["--speed", "10"], 10.0), (["--speed", "max"], "max"), ([], 1.0)]
)
def test_replay_serve_command(
    recording: Path, tmp_path: Path, speed_args: list[str], speed: float | str
) -> None:
    """``sensorhub replay --serve`` listens, answers /api/replay and stops on SIGTERM;
    without ``--speed`` it plays in real time, ``--speed max`` stays max."""
    err = tmp_path / "replay.stderr"
    with open(err, "w") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensorhub.cli", "replay", "rec", "--db", str(recording),
             "--serve", "--port", "0", *speed_args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=err_file, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        for line in proc.stdout:
            match = re.search(r"replaying rec on (http://127\.0\.0\.1:\d+/)", line)
            if match:
                url = match.group(1)
                break
        assert url is not None, err.read_text()

        async def check() -> None:
            async with aiohttp.ClientSession(url) as http:
                assert (await act(http, "pause"))["paused"]
                assert (await state(http))["speed"] == speed

        asyncio.run(check())
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_long_seek_does_not_overflow_watching_clients(tmp_path: Path) -> None:
    """A seek publishes minutes of events at once; a client with a small queue (150 here)
    that reads as fast as it can must still get every marker, not be disconnected."""
    db = tmp_path / "marked.sqlite"
    count = write_h10_recording(db, frames=3000, session_id="marked", marker_every=10)
    settings = ServerSettings(host="127.0.0.1", port=0, client_queue=150)
    async with (
        serve_replay(db, "marked", speed=1.0, settings=settings) as served,
        aiohttp.ClientSession(served.handle.url) as http,
    ):
        await act(http, "pause")
        async with http.ws_connect("/ws") as ws:
            assert json.loads(await ws.receive_str(timeout=WAIT_S))["type"] == "hello"
            await act(http, "seek", 10_000)  # clamped to the end
            seen: list[str] = []

            async def read_markers() -> None:
                while len(seen) < count:
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.TEXT, (msg.type, msg.extra, len(seen))
                    event = json.loads(msg.data)
                    if event["type"] == "marker":
                        seen.append(event["label"])

            await asyncio.wait_for(read_markers(), WAIT_S * 2)
        assert seen == [f"m{k}" for k in range(0, 3000, 10)]
        landed = await until(http, lambda s: not s["seeking"], "seek to the end")
        assert landed["position_s"] == pytest.approx(3000 * 0.18)


async def test_a_seek_waits_for_a_slow_reader(tmp_path: Path) -> None:
    """Between steps of a fast stretch the replay lets readers catch up (here a bus reader
    that takes a few loop turns per event), instead of overflowing their queue."""
    db = tmp_path / "marked.sqlite"
    count = write_h10_recording(db, frames=3000, session_id="marked", marker_every=10)
    settings = ServerSettings(host="127.0.0.1", port=0)
    async with (
        serve_replay(db, "marked", speed=1.0, settings=settings) as served,
        aiohttp.ClientSession(served.handle.url) as http,
    ):
        await act(http, "pause")
        assert served.control.hub is not None
        sub = served.control.hub.bus.subscribe("slow reader", max_queue=150)
        markers: list[str] = []

        async def read_slowly() -> None:
            while len(markers) < count:
                event = await sub.get()
                assert event is not None, sub.closed_reason
                if event.TYPE == "marker":
                    markers.append(event.label)
                for _ in range(3):
                    await asyncio.sleep(0)

        reader = asyncio.create_task(read_slowly())
        await act(http, "seek", 10_000)
        await asyncio.wait_for(reader, WAIT_S * 2)
        assert not sub.overflowed
        assert len(markers) == count
