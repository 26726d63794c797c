"""`sensorhub serve --virtual 2` as a real process, watched through its websocket."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    db = str(tmp_path / "sessions.sqlite")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensorhub.cli",
            "serve",
            "--virtual",
            "2",
            "--port",
            "0",
            "--db",
            db,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


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
    serve_process: tuple[subprocess.Popen[str], str],
) -> None:
    proc, url = serve_process
    seen = asyncio.run(watch(url, limit_s=90))
    hello = seen["hello"]
    assert isinstance(hello, dict)
    assert hello["type"] == "hello"
    assert [p["id"] for p in hello["participants"]] == ["p1", "p2"]
    assert hello["dyads"] == [["p1", "p2"]]
    assert seen["angles"] == {"p1", "p2"}
    assert "status" in seen["types"]  # type: ignore[operator]
    assert "episode" in seen
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopping: sensor streams first" in out
    for leak in ("Task was destroyed", "never retrieved", "Traceback", "Unclosed"):
        assert leak not in err, err
