"""`sensorhub serve --virtual 2` as a real process, watched through its websocket."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.serve_process import ServeProcess, start_serve


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[ServeProcess]:
    serve = start_serve(tmp_path, "--virtual", "2")
    try:
        yield serve
    finally:
        serve.stop()


async def watch(url: str, limit_s: float) -> dict[str, object]:
    seen: dict[str, object] = {"angles": set(), "types": set()}
    async with aiohttp.ClientSession() as session, session.ws_connect(url + "ws") as ws:
        first = json.loads((await ws.receive(timeout=10)).data)
        seen["hello"] = first

        async def read() -> None:
            async for msg in ws:
                event = json.loads(msg.data)
                seen["types"].add(event["type"])  # type: ignore[attr-defined]
                if event["type"] == "angle":
                    seen["angles"].add(event["participant"])  # type: ignore[attr-defined]
                if event["type"] == "episode_start" and len(seen["angles"]) == 2:  # type: ignore[arg-type]
                    seen["episode"] = event
                    return

        await asyncio.wait_for(read(), limit_s)
    return seen


def test_demo_streams_angles_and_an_episode_then_stops_cleanly_on_sigterm(
    serve_process: ServeProcess,
) -> None:
    proc = serve_process.proc
    seen = asyncio.run(watch(serve_process.url, limit_s=90))
    hello = seen["hello"]
    assert isinstance(hello, dict)
    assert hello["type"] == "hello"
    assert [p["id"] for p in hello["participants"]] == ["p1", "p2"]
    assert hello["dyads"] == [["p1", "p2"]]
    assert seen["angles"] == {"p1", "p2"}
    assert "status" in seen["types"]  # type: ignore[operator]
    assert "episode" in seen
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    err = serve_process.stderr
    assert proc.returncode == 0, err
    assert "stopping: sensor streams first" in out
    for leak in ("Task was destroyed", "never retrieved", "Traceback", "Unclosed"):
        assert leak not in err, err
