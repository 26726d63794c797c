"""The replay bar: shown for replays only; its buttons and slider drive ``/api/replay``.

A short recording (one simulated H10, 180 s of session time) is served by
:func:`sensorhub.commands.replay.serve_replay`, what ``replay --serve`` runs, and opened in
headless Chromium. The API's state is the judge of what a click did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from sensorhub.commands.replay import ServedReplay
from tests.recordings import replay_server, replay_state, write_h10_recording

from .conftest import PageErrors
from .scripted_hub import ScriptedHub

TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay-bar") / "sessions.sqlite"
    write_h10_recording(path, frames=1000)
    return path


@pytest.fixture
async def served(recording: Path) -> AsyncIterator[tuple[ServedReplay, aiohttp.ClientSession]]:
    async with replay_server(recording) as pair:
        yield pair


api_state = replay_state


async def page_now(page: Page) -> float:
    now = await page.evaluate("() => window.sensorhubDebug.snapshot().now")
    return -1.0 if now is None else float(now)


async def test_the_bar_drives_the_replay(
    served: tuple[ServedReplay, aiohttp.ClientSession], page: tuple[Page, PageErrors]
) -> None:
    replay, http = served
    pg, errors = page
    await pg.goto(replay.handle.url)
    bar = pg.locator("#replay-bar")
    await expect(bar).to_be_visible(timeout=TIMEOUT_MS)
    await expect(pg.locator("#replay-position")).to_contain_text("/ 3:00", timeout=TIMEOUT_MS)
    await expect(pg.locator('[data-speed="10"]')).to_have_attribute("aria-pressed", "true")

    toggle = pg.locator("#replay-toggle")
    await toggle.click()
    await expect(toggle).to_have_attribute("data-paused", "true", timeout=TIMEOUT_MS)
    assert (await api_state(http))["paused"]
    await expect(pg.locator("#replay-status")).to_have_text("paused")

    await pg.locator('[data-speed="max"]').click()
    await expect(pg.locator('[data-speed="max"]')).to_have_attribute(
        "aria-pressed", "true", timeout=TIMEOUT_MS
    )
    assert (await api_state(http))["speed"] == "max"
    await toggle.click()
    await expect(toggle).to_have_attribute("data-paused", "false", timeout=TIMEOUT_MS)
    assert not (await api_state(http))["paused"]

    # At max speed the page follows the replay to the end of the recording...
    await pg.wait_for_function(
        "() => (window.sensorhubDebug.snapshot().now ?? 0) > 150", timeout=TIMEOUT_MS
    )
    await toggle.click()
    await expect(toggle).to_have_attribute("data-paused", "true", timeout=TIMEOUT_MS)
    # ...and a seek back with the slider starts the page over at the target.
    await pg.locator("#replay-seek").evaluate(
        "(el) => { el.value = '40'; el.dispatchEvent(new Event('change')); }"
    )
    await pg.wait_for_function(
        "() => { const n = window.sensorhubDebug.snapshot().now; return n !== null && n < 50; }",
        timeout=TIMEOUT_MS,
    )
    state = await api_state(http)
    assert state["position_s"] == 40.0
    assert state["paused"]
    assert replay.control.restarts == 1
    await expect(pg.locator("#replay-position")).to_have_text("0:40 / 3:00", timeout=TIMEOUT_MS)
    assert 30 < await page_now(pg) <= 40.0
    assert errors.errors == []


async def test_no_bar_in_a_live_session(
    hub: tuple[ScriptedHub, str], page: tuple[Page, PageErrors]
) -> None:
    scripted, url = hub
    pg, errors = page
    await pg.goto(url)
    await scripted.wait_until(lambda: len(scripted.clients) >= 1)
    await expect(pg.locator("#conn-text")).to_have_text("Live", timeout=TIMEOUT_MS)
    await expect(pg.locator("#session-id")).to_have_text("2026-11-25-lab1-s07")
    await expect(pg.locator("#replay-bar")).to_be_hidden()
    snap = await pg.evaluate("() => window.sensorhubDebug.snapshot().replay")
    assert snap["shown"] is False
    assert snap["requests"] == 0
    assert errors.errors == []
