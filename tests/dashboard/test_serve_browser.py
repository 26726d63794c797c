"""End to end: the dashboard in headless Chromium against ``sensorhub serve --virtual 2``.

A real hub process on a free loopback port, its virtual sensors streaming a simulated
conversation. The page must show both traces updating, an episode on the timeline, and the
marker button must come back as a marker event in the list. The screenshot is kept in the
test's tmp dir and copied to /tmp/sensorhub-dashboard.png.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from .conftest import PageErrors

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT_COPY = Path("/tmp/sensorhub-dashboard.png")
#: The demo leans in every 20-60 s of session time; a loaded box runs the virtual radio
#: slower than real time, so allow several times that (the suite's per-test limit is 300 s).
EPISODE_TIMEOUT_MS = 200_000
TIMEOUT_MS = 60_000


class ServeProcess:
    def __init__(self, proc: asyncio.subprocess.Process, url: str, stderr: list[str]) -> None:
        self.proc = proc
        self.url = url
        self.stderr = stderr


async def _drain(stream: asyncio.StreamReader, sink: list[str]) -> None:
    """Keep reading so a chatty process never blocks on a full pipe."""
    while line := await stream.readline():
        sink.append(line.decode(errors="replace"))


@pytest.fixture
async def serve() -> AsyncIterator[ServeProcess]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sensorhub.cli",
        "serve",
        "--virtual",
        "2",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    out: list[str] = []
    err: list[str] = []
    drains = [asyncio.create_task(_drain(proc.stderr, err))]
    url = None
    try:
        async with asyncio.timeout(60):
            while line := (await proc.stdout.readline()).decode():
                out.append(line)
                if match := re.search(r"dashboard on (http://127\.0\.0\.1:\d+/)", line):
                    url = match.group(1)
                    break
    except TimeoutError:
        pass
    if url is None:
        proc.kill()
        await proc.wait()
        pytest.fail(f"serve did not start:\n{''.join(out)}\n{''.join(err)}")
    drains.append(asyncio.create_task(_drain(proc.stdout, out)))
    try:
        yield ServeProcess(proc, url, err)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for task in drains:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def updates(page: Page) -> dict[str, int]:
    snap = await page.evaluate("() => window.sensorhubDebug.snapshot()")
    return {pid: trace["updates"] for pid, trace in snap["traces"].items()}


async def test_dashboard_against_serve_virtual_2(
    serve: ServeProcess, page: tuple[Page, PageErrors], tmp_path: Path
) -> None:
    pg, errors = page
    await pg.goto(serve.url)
    await expect(pg.locator("#conn-text")).to_have_text("Live", timeout=TIMEOUT_MS)
    await expect(pg.locator(".trace-panel")).to_have_count(2)
    await expect(pg.locator(".sensor-card")).to_have_count(2)

    # Both traces update: their point counts keep growing, and the plots draw them.
    await pg.wait_for_function(
        "() => { const t = window.sensorhubDebug.snapshot().traces;"
        " return t.p1?.drawnPoints >= 10 && t.p2?.drawnPoints >= 10; }",
        timeout=TIMEOUT_MS,
    )
    before = await updates(pg)
    await pg.wait_for_function(
        "(b) => { const t = window.sensorhubDebug.snapshot().traces;"
        " return t.p1.updates >= b.p1 + 10 && t.p2.updates >= b.p2 + 10; }",
        arg=before,
        timeout=TIMEOUT_MS,
    )

    # The marker button produces a marker event, listed with its label and acknowledged.
    await pg.fill("#marker-label", "browser e2e")
    await pg.click("#marker-button")
    await expect(pg.locator("#markers li").first).to_contain_text("browser e2e", timeout=TIMEOUT_MS)
    await expect(pg.locator(".notice-info")).to_contain_text("added at")

    # An episode (of either partner, any level) appears on the shared timeline.
    await expect(pg.locator(".tl-participant .tl-ep").first).to_be_visible(
        timeout=EPISODE_TIMEOUT_MS
    )

    shot = tmp_path / "sensorhub-dashboard-serve.png"
    await pg.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert errors.errors == []

    serve.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await serve.proc.wait() == 0, "".join(serve.stderr)
    # The page notices the hub is gone and starts retrying.
    await expect(pg.locator("#conn")).to_have_class(re.compile("conn-(waiting|connecting)"))
