"""The dashboard of an aggregator (serve --from-mqtt) in a real headless Chromium.

A later ``hello`` with ``aggregator: true`` (a new hub came online) adds participants without
losing the traces already shown; the hub health panel appears with the first ``hub`` event and
stays hidden on a single hub's dashboard.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from sensorhub.events import Hello, HubStatus

from .conftest import PageErrors, serve
from .scripted_hub import ScriptedHub, angle_stream
from .test_dashboard import TIMEOUT_MS, open_dashboard, wait_js

SCREENSHOT_COPY = Path("/tmp/sensorhub-dashboard-aggregator.png")


def aggregator_hello(hubs: dict[str, list[str]]) -> Hello:
    participants: list[dict[str, Any]] = [
        {"id": f"{hub}/{p}", "hub": hub} for hub, people in hubs.items() for p in people
    ]
    dyads = [[f"{hub}/{p}" for p in people[:2]] for hub, people in hubs.items()]
    return Hello("aggregator-1", participants, [], dyads, aggregator=True)


async def test_new_hub_adds_participants_and_hub_panel(
    page: tuple[Page, PageErrors], tmp_path: Path
) -> None:
    pg, errors = page
    scripted = ScriptedHub(aggregator_hello({"room-a": ["p1", "p2"]}))
    runner, url = await serve(scripted)
    try:
        await open_dashboard(pg, scripted, url)
        await expect(pg.locator("#hubs-card")).to_be_hidden()
        now = time.time()
        await scripted.broadcast(
            [HubStatus("room-a", "online", session="A1", name="lab a", last_seen=now, events=7)]
        )
        await scripted.broadcast(angle_stream("room-a/p1", 0, 30, seed=1))
        await scripted.broadcast(angle_stream("room-a/p2", 0, 30, seed=2))
        await wait_js(pg, "s.traces['room-a/p1']?.points === 300")

        # room-b comes online: a new hello on the same socket merges, nothing is lost.
        await scripted.broadcast(
            [
                aggregator_hello({"room-a": ["p1", "p2"], "room-b": ["p1"]}),
                HubStatus("room-b", "online", session="B1", last_seen=now, duplicates=2),
            ]
        )
        await scripted.broadcast(angle_stream("room-b/p1", 30, 40, seed=3))
        await scripted.broadcast(angle_stream("room-a/p1", 30, 40, seed=1))
        await wait_js(pg, "s.traces['room-b/p1']?.points === 100")
        await wait_js(pg, "s.traces['room-a/p1'].points === 400")
        await wait_js(pg, "s.traces['room-a/p2'].points === 300")
        await expect(pg.locator(".trace-panel")).to_have_count(3)
        assert scripted.connects == 1  # merged on the same socket, not a reconnect
        await expect(pg.locator(".calib")).to_have_count(3)
        await expect(pg.locator(".calib").first).to_be_hidden()  # hubs calibrate themselves

        # One card per hub with its figures; a last will turns it offline, it stays listed.
        await wait_js(pg, "s.hubPanelShown && Object.keys(s.hubs).length === 2")
        card_a = pg.locator('.hub-card[data-hub="room-a"]')
        card_b = pg.locator('.hub-card[data-hub="room-b"]')
        await expect(card_a.locator(".sc-state")).to_have_text("online", timeout=TIMEOUT_MS)
        await expect(card_a.locator('[data-stat="events"]')).to_have_text("7")
        await expect(card_b.locator('[data-stat="duplicates"]')).to_have_text("2")
        await scripted.broadcast(
            [HubStatus("room-b", "offline", session="B1", reason="connection lost", missing=4)]
        )
        await expect(card_b.locator(".sc-state")).to_have_text("offline", timeout=TIMEOUT_MS)
        await expect(card_b.locator(".sc-reason")).to_have_text("connection lost")
        await expect(card_b.locator('[data-stat="missing"]')).to_have_text("4")
        await expect(card_b).to_have_class("hub-card st-bad")
        await expect(pg.locator('.trace-panel[data-participant="room-b/p1"]')).to_be_visible()

        shot = tmp_path / "aggregator.png"
        await pg.screenshot(path=str(shot), full_page=True)
        SCREENSHOT_COPY.write_bytes(shot.read_bytes())
        assert errors.errors == []
        assert scripted.invalid == []
    finally:
        await runner.cleanup()


async def test_single_hub_second_hello_still_restarts_and_no_hub_panel(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    pg, errors = page
    scripted, url = hub
    await open_dashboard(pg, scripted, url)
    await scripted.broadcast(angle_stream("p1", 0, 10))
    await wait_js(pg, "s.traces.p1?.points === 100")
    await scripted.broadcast([scripted.hello])  # a replay seeking back: start over
    await wait_js(pg, "s.traces.p1?.points === 0")
    await expect(pg.locator("#hubs-card")).to_be_hidden()
    snap = await pg.evaluate("() => window.sensorhubDebug.snapshot()")
    assert snap["aggregator"] is False
    assert snap["hubPanelShown"] is False
    assert errors.errors == []
