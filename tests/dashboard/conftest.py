"""Fixtures for the dashboard tests: a real headless Chromium driven by Playwright.

The browser is Debian's chromium (``apt-get install chromium``), never a downloaded one; CI
installs it. When it is missing the tests FAIL with that instruction: a browser test that
skips would count as passing without having run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright

from sensorhub.events import Hello

from .scripted_hub import ScriptedHub, make_app

CHROMIUM = Path(os.environ.get("SENSORHUB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
#: Large enough for the two-column layout; the screenshot is taken at this size.
VIEWPORT = {"width": 1440, "height": 1000}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium "
            "(apt-get install -y chromium) or set SENSORHUB_CHROMIUM; the dashboard tests "
            "need a real browser and never download one."
        )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


class PageErrors:
    """JavaScript exceptions and console errors seen by a page; tests end by asserting none."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _console(self, msg: ConsoleMessage) -> None:
        # A websocket refused while the hub is down is expected during reconnect tests.
        if msg.type == "error" and "WebSocket" not in msg.text:
            self.errors.append(f"console: {msg.text}")


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, PageErrors]]:
    context = await browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = await context.new_page()
    errors = PageErrors(page)
    try:
        yield page, errors
    finally:
        await context.close()


async def serve(hub: ScriptedHub) -> tuple[web.AppRunner, str]:
    """Start the scripted hub on a free loopback port; returns the runner and base URL."""
    runner = web.AppRunner(make_app(hub), shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def two_person_hello(session: str = "2026-11-25-lab1-s07") -> Hello:
    return Hello(
        session=session,
        participants=[
            {"id": "p1", "group": "A", "condition": "listener"},
            {"id": "p2", "group": "A", "condition": "speaker"},
        ],
        sensors=[
            {"id": "C4:7C:8D:6A:00:01", "kind": "polar_h10", "participant": "p1"},
            {"id": "C4:7C:8D:6A:00:02", "kind": "movesense", "participant": "p2"},
        ],
        dyads=[["p1", "p2"]],
        angle_rate_hz=10.0,
    )


@pytest.fixture
async def hub() -> AsyncIterator[tuple[ScriptedHub, str]]:
    hub = ScriptedHub(two_person_hello())
    runner, url = await serve(hub)
    try:
        yield hub, url
    finally:
        await runner.cleanup()
