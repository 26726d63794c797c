"""The live dashboard in a real headless Chromium, against a scripted hub on loopback.

The page is driven only through what a person sees and does (DOM, buttons) plus the page's
read-only ``window.sensorhubDebug.snapshot()`` for counts that are not visible as text
(points held per trace). No wall-clock assertions: every wait polls for a condition with a
generous timeout.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import CDPSession, Page, expect

from sensorhub.events import (
    AddMarker,
    Angle,
    Calibrate,
    DyadEvent,
    EpisodeEnded,
    EpisodeStarted,
    ErrorEvent,
    Hello,
    Marker,
    SensorStatus,
)
from sensorhub.server.messages import Ack

from .conftest import PageErrors, serve
from .scripted_hub import ScriptedHub, angle_stream

#: Generous: a loaded CI box can be slow, but a condition that never comes still fails.
TIMEOUT_MS = 30_000
SCREENSHOT_COPY = Path("/tmp/sensorhub-dashboard-scripted.png")
#: p1's leans in the scripted scene: (onset s, end s, depth deg); the last one is still on.
P1_LEANS = [(40.0, 58.0, 24.0), (128.0, 200.0, 26.0)]


async def snapshot(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate("() => window.sensorhubDebug.snapshot()")
    return result


async def wait_js(page: Page, expression: str, arg: Any = None) -> None:
    """Wait until a JS predicate over the debug snapshot ``s`` holds."""
    body = (
        f"(arg) => {{ const s = window.sensorhubDebug?.snapshot(); return !!s && ({expression}); }}"
    )
    await page.wait_for_function(body, arg=arg, timeout=TIMEOUT_MS)


async def open_dashboard(page: Page, hub: ScriptedHub, url: str) -> None:
    await page.goto(url)
    await hub.wait_until(lambda: len(hub.clients) >= 1)
    await expect(page.locator("#conn-text")).to_have_text("Live", timeout=TIMEOUT_MS)


def scene() -> list[Any]:
    """Two and a half minutes of a conversation: p1 leans in, p2 follows, they co-lean."""
    events: list[Any] = []
    p1 = angle_stream("p1", 0, 150, leans=P1_LEANS, seed=1)
    p2 = angle_stream("p2", 0, 150, leans=[(46, 61, 22), (88, 95, -14)], seed=2)
    events += [a for pair in zip(p1, p2, strict=True) for a in pair]
    events += [
        EpisodeStarted("p1", "forward", "forward", 40.9, 41.1, 42.1),
        EpisodeStarted("p2", "forward", "forward", 47.0, 47.2, 48.2),
        DyadEvent(["p1", "p2"], "colean_start", 47.0, leader="p1", lag_s=6.1),
        EpisodeEnded("p1", "forward", "forward", 40.9, 57.4, 41.1, 57.0, 26.9, 23.5),
        DyadEvent(["p1", "p2"], "colean_end", 57.4),
        EpisodeEnded("p2", "forward", "forward", 47.0, 60.3, 47.2, 60.0, 24.8, 21.7),
        EpisodeStarted("p2", "backward", "backward", 88.6, 88.8, 89.8),
        EpisodeEnded("p2", "backward", "backward", 88.6, 94.6, 88.8, 94.3, 13.9, 12.2),
        EpisodeStarted("p1", "forward", "forward", 128.9, 129.0, 130.0),
        DyadEvent(["p1", "p2"], "correlation", 120.0, lag_s=1.2, r=0.41),
        Marker(12.0, "task 1 starts", "dashboard"),
        Marker(96.5, "interruption", "api"),
    ]
    return events + statuses(30.0) + statuses(149.0)


def statuses(t: float) -> list[SensorStatus]:
    """Both sensors streaming; p2's has a low battery and has had one gap."""
    return [
        SensorStatus("C4:7C:8D:6A:00:01", "polar_h10", "streaming", t, "p1", 87, 52.0, 7800),
        SensorStatus(
            "C4:7C:8D:6A:00:02",
            "movesense",
            "streaming",
            t,
            "p2",
            14,
            51.6,
            7700,
            gaps=1,
            missing_samples=26,
            reconnects=1,
        ),
    ]


async def test_traces_timeline_and_sensor_cards(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str], tmp_path: Path
) -> None:
    pg, errors = page
    scripted, url = hub
    await open_dashboard(pg, scripted, url)
    await scripted.broadcast(scene())

    await wait_js(pg, "s.traces.p1?.points === 1500 && s.traces.p2?.points === 1500")
    await wait_js(pg, "s.traces.p1.drawnPoints > 1000 && s.traces.p2.drawnPoints > 1000")
    # Episodes on the shared timeline, in each participant's row; the co-lean in the dyad row.
    p1_row = pg.locator('.tl-row[data-row="p:p1"] .tl-ep')
    p2_row = pg.locator('.tl-row[data-row="p:p2"] .tl-ep')
    await expect(p1_row).to_have_count(2, timeout=TIMEOUT_MS)
    await expect(p2_row).to_have_count(2)
    await expect(pg.locator(".tl-dyad .tl-colean")).to_have_count(1)
    await expect(pg.locator(".tl-dyad .tl-colean")).to_contain_text("p1 led")
    await expect(pg.locator(".tl-dyad .tl-label")).to_have_text("p1+p2")
    summary = pg.locator(".tl-summary")
    await expect(summary).to_contain_text("last co-lean 0:47: p1 led by 6.1 s")
    await expect(summary).to_contain_text("r = 0.41 at lag 1.2 s")
    # The open episode shows in the participant's header.
    await expect(pg.locator('[data-participant="p1"] .trace-state')).to_have_text("leaning in")
    # Sensor cards from status messages.
    card2 = pg.locator('.sensor-card[data-sensor="C4:7C:8D:6A:00:02"]')
    await expect(card2.locator(".sc-state")).to_have_text("streaming")
    await expect(card2).to_contain_text("14 %")
    await expect(card2).to_contain_text("26 samples missing")
    await expect(card2.locator(".sc-value.low")).to_have_count(1)  # 14 % is flagged low
    # Server markers listed newest first.
    await expect(pg.locator("#markers li").first).to_contain_text("interruption")

    # Live updates: both traces move on, and their canvases are redrawn.
    before = {
        p: await pg.locator(f'[data-participant="{p}"] canvas').screenshot() for p in ("p1", "p2")
    }
    more = angle_stream("p1", 150, 160, leans=P1_LEANS, seed=3) + angle_stream("p2", 150, 160)
    more += statuses(159.9)
    await scripted.broadcast(more)
    await wait_js(pg, "s.traces.p1.lastT >= 159.8 && s.traces.p2.lastT >= 159.8")
    await wait_js(pg, "s.now >= 159.8 && s.renders > arg", (await snapshot(pg))["renders"])
    for p in ("p1", "p2"):
        after = await pg.locator(f'[data-participant="{p}"] canvas').screenshot()
        assert after != before[p], f"trace of {p} was not redrawn with new data"

    # A screenshot of the whole scene for people (and CI artifacts).
    await wait_js(pg, "s.renders > arg", (await snapshot(pg))["renders"])
    shot = tmp_path / "sensorhub-dashboard.png"
    await pg.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert shot.stat().st_size > 10_000
    assert errors.errors == []
    assert scripted.invalid == []


async def test_marker_and_calibration_buttons_send_messages(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    pg, errors = page
    scripted, url = hub
    scripted.markers = [Marker(1.5, "before the page", "api")]  # from GET /api/markers
    await open_dashboard(pg, scripted, url)
    await scripted.broadcast(angle_stream("p1", 0, 5) + angle_stream("p2", 0, 5))

    await pg.fill("#marker-label", "coffee break")
    await pg.click("#marker-button")
    await scripted.wait_until(lambda: AddMarker("coffee break") in scripted.received)
    await pg.press("#marker-label", "Enter")  # an empty label is allowed
    await scripted.wait_until(lambda: AddMarker("marker") in scripted.received)
    # The hub echoes markers as events; the list shows them newest first.
    await scripted.broadcast(
        [Marker(4.2, "coffee break", "dashboard"), Marker(4.9, "", "dashboard")]
    )
    items = pg.locator("#markers li")
    await expect(items).to_have_count(3, timeout=TIMEOUT_MS)
    await expect(items.nth(0)).to_contain_text("(no label)")
    await expect(items.nth(1)).to_contain_text("0:04")
    await expect(items.nth(1)).to_contain_text("coffee break")
    await expect(items.nth(2)).to_contain_text("before the page")

    p2 = pg.locator('[data-participant="p2"]')
    await p2.locator("button.calib-upright").click()
    await p2.locator("button.calib-forward").click()
    await scripted.wait_until(lambda: Calibrate("p2", "forward") in scripted.received)
    # Reset needs a confirming second click.
    await p2.locator("button.calib-reset").click()
    await expect(p2.locator("button.calib-reset")).to_have_text("Sure?")
    await p2.locator("button.calib-reset").click()
    await scripted.wait_until(lambda: Calibrate("p2", "reset") in scripted.received)
    # The hub's answers (acks) are put in words; a reset shows the calibration now in use.
    await scripted.broadcast(
        [
            Ack("calibrate", {"participant": "p2", "step": "upright", "capturing_s": 3.0}),
            Ack("calibrate", {"participant": "p2", "calibration": {"method": "mounting"}}),
        ]
    )
    await expect(
        pg.locator(".notice-info").filter(has_text="sit upright and still for 3")
    ).to_have_count(1)
    await expect(p2.locator(".trace-cal")).to_have_text("calibration: mounting")
    calibrations = [m for m in scripted.received if isinstance(m, Calibrate)]
    assert calibrations == [
        Calibrate("p2", "upright"),
        Calibrate("p2", "forward"),
        Calibrate("p2", "reset"),
    ]

    # A hub error is shown, unobtrusively, without breaking anything.
    await scripted.broadcast([ErrorEvent("bad_request", "calibration needs a still participant")])
    await expect(pg.locator(".notice-error")).to_contain_text("still participant")
    assert errors.errors == []
    assert scripted.invalid == []


async def test_reconnects_after_the_hub_drops_the_socket(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    pg, errors = page
    scripted, url = hub
    await open_dashboard(pg, scripted, url)
    await scripted.broadcast(angle_stream("p1", 0, 10) + angle_stream("p2", 0, 10))
    await wait_js(pg, "s.traces.p1?.points === 100 && s.traces.p2?.points === 100")

    await scripted.drop_clients()
    await expect(pg.locator(".notice-error")).to_contain_text("hub restarting")
    await scripted.wait_until(lambda: scripted.connects >= 2 and len(scripted.clients) == 1)
    await wait_js(pg, "s.opens === 2 && s.connection === 'open'")
    await expect(pg.locator("#conn-text")).to_have_text("Live", timeout=TIMEOUT_MS)

    # Same session: the history is kept, the 5 s outage shows as a break, new data flows.
    await scripted.broadcast(angle_stream("p1", 15, 20) + angle_stream("p2", 15, 20))
    await wait_js(pg, "s.traces.p1.points === 151 && s.traces.p2.points === 151")
    await pg.click("#marker-button")
    await scripted.wait_until(lambda: AddMarker("marker") in scripted.received)
    assert errors.errors == []


async def test_a_new_session_after_reconnect_starts_afresh(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    pg, errors = page
    scripted, url = hub
    await open_dashboard(pg, scripted, url)
    await scripted.broadcast(scene())
    await expect(pg.locator(".tl-ep")).to_have_count(4, timeout=TIMEOUT_MS)

    # The hub restarts with another session and other participants.
    scripted.hello = Hello("next-session", [{"id": "q1"}], [], [], angle_rate_hz=20.0)
    await scripted.drop_clients()
    await expect(pg.locator("#session-id")).to_have_text("next-session", timeout=TIMEOUT_MS)
    await expect(pg.locator(".trace-panel")).to_have_count(1)
    await expect(pg.locator('.trace-panel[data-participant="q1"]')).to_be_visible()
    await expect(pg.locator(".tl-ep")).to_have_count(0)
    await expect(pg.locator("#markers li")).to_have_count(0)
    await expect(pg.locator(".sensor-card")).to_have_count(0)
    await scripted.broadcast(angle_stream("q1", 0, 2, rate_hz=20.0))
    await wait_js(pg, "s.traces.q1?.points === 40 && s.traces.q1.capacity === 6000")
    assert errors.errors == []


async def test_reconnects_with_backoff_while_the_hub_is_down(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    pg, _errors = page
    scripted, url = hub
    await open_dashboard(pg, scripted, url)
    # Refuse websocket upgrades for a while: the page must show it is offline and keep trying.
    refusing = True
    original = scripted.handle_ws

    async def maybe_refuse(request: web.Request) -> web.StreamResponse:
        if refusing:
            raise web.HTTPServiceUnavailable()
        return await original(request)

    scripted.handle_ws = maybe_refuse  # type: ignore[method-assign]
    await scripted.drop_clients()
    await expect(pg.locator("#conn")).to_have_class("conn conn-waiting", timeout=TIMEOUT_MS)
    await expect(pg.locator("#conn-text")).to_contain_text("Offline")
    await expect(pg.locator("#marker-button")).to_be_disabled()
    refusing = False
    await scripted.wait_until(lambda: len(scripted.clients) == 1, timeout=60)
    await expect(pg.locator("#conn-text")).to_have_text("Live", timeout=TIMEOUT_MS)
    await expect(pg.locator("#marker-button")).to_be_enabled()


def busy_session(ids: list[str], t0: int, t1: int) -> Iterator[Any]:
    """Seconds [t0, t1) of 10 Hz angles for every participant, in time order, with an episode
    every 12 s, a co-lean every 60 s and a marker every 30 s: far more than any list keeps."""
    for sec in range(t0, t1):
        for tenth in range(10):
            k = sec * 10 + tenth
            yield from (Angle(p, k / 10, 5.0 + (k % 300) / 10, 0.0) for p in ids)
        p = ids[(sec // 12) % len(ids)]
        if sec % 12 == 0:
            yield EpisodeStarted(p, "forward", "forward", sec, sec, sec + 1.0)
        if sec % 12 == 5:
            yield EpisodeEnded(p, "forward", "forward", sec - 5.0, sec, sec - 5.0, sec, 25.0, 22.0)
        if sec % 60 == 0:
            yield DyadEvent([ids[0], ids[1]], "colean_start", sec, leader=ids[0], lag_s=1.0)
        if sec % 60 == 8:
            yield DyadEvent([ids[0], ids[1]], "colean_end", sec)
        if sec % 30 == 0:
            yield Marker(sec, f"m{sec}", "api")


async def used_heap_after_gc(cdp: CDPSession) -> int:
    await cdp.send("HeapProfiler.collectGarbage")
    usage = await cdp.send("Runtime.getHeapUsage")
    return int(usage["usedSize"])


async def test_memory_stays_bounded_over_an_hour_of_four_participants(
    page: tuple[Page, PageErrors],
) -> None:
    pg, errors = page
    ids = ["p1", "p2", "p3", "p4"]
    hello = Hello(
        session="soak",
        participants=[{"id": p} for p in ids],
        sensors=[],
        dyads=[["p1", "p2"], ["p3", "p4"]],
        angle_rate_hz=10.0,
    )
    scripted = ScriptedHub(hello)
    runner, url = await serve(scripted)
    cdp = await pg.context.new_cdp_session(pg)
    try:
        await open_dashboard(pg, scripted, url)
        # Ten minutes fill every buffer; the heap then is the baseline for the next 50.
        await scripted.broadcast(busy_session(ids, 0, 600))
        await wait_js(pg, "s.stats.angles === arg", 600 * 10 * len(ids))
        await wait_js(pg, "s.renders > arg", (await snapshot(pg))["renders"])
        heap_10min = await used_heap_after_gc(cdp)

        await scripted.broadcast(busy_session(ids, 600, 3600))
        n = 3600 * 10
        await wait_js(pg, "s.stats.angles === arg", n * len(ids))
        await wait_js(pg, "s.renders > arg", (await snapshot(pg))["renders"])
        snap = await snapshot(pg)
        for p in ids:
            trace = snap["traces"][p]
            assert trace["capacity"] == 3000  # 5 minutes at 10 Hz
            assert trace["points"] == trace["capacity"]
            assert trace["updates"] == n
            assert trace["drawnPoints"] <= trace["capacity"]
        for kind in ("episodes", "coleans", "markers"):
            assert 0 < snap[kind]["stored"] <= snap[kind]["capacity"], kind
        assert await pg.locator("#markers li").count() <= snap["markers"]["capacity"]
        await expect(pg.locator("#session-clock")).to_have_text("59:59")
        # 144 000 more angles: kept in any growing array they would take several MB.
        heap_60min = await used_heap_after_gc(cdp)
        growth = heap_60min - heap_10min
        assert growth < 1_000_000, f"JS heap grew {growth} bytes from 10 to 60 minutes"
        render_ms = snap["renderMs"]
        print(f"dashboard soak: heap {heap_10min} -> {heap_60min} B, render {render_ms} ms")
        assert errors.errors == []
    finally:
        await cdp.detach()
        await runner.cleanup()


async def test_ring_buffers_keep_the_newest_in_order(
    page: tuple[Page, PageErrors], hub: tuple[ScriptedHub, str]
) -> None:
    """The fixed-size containers every trace and list is built on, in the page's own JS."""
    pg, errors = page
    _scripted, url = hub
    await pg.goto(url)
    result = await pg.evaluate(
        """async () => {
          const { RingSeries, BoundedList } = await import('/js/ring.js');
          const r = new RingSeries(5);
          for (let i = 0; i < 12; i++) r.push(i, i * 10);
          r.push(12, NaN);  // a gap
          const [xs, ys, yMin, yMax] = r.window(-Infinity);
          const l = new BoundedList(3);
          const evicted = [1, 2, 3, 4, 5].map((v) => l.push(v)).filter((v) => v !== undefined);
          return {
            xs, ys, yMin, yMax, length: r.length, lastT: r.lastT,
            from: r.window(10.5)[0],
            list: [...l], evicted, found: l.findLast((v) => v < 5),
            backing: [r.t.length, r.y.length, l.items.length],
          };
        }"""
    )
    assert result["xs"] == [8, 9, 10, 11, 12]
    assert result["ys"] == [80, 90, 100, 110, None]
    assert (result["yMin"], result["yMax"]) == (80, 110)
    assert (result["length"], result["lastT"]) == (5, 12)
    assert result["from"] == [10, 11, 12]  # one point before the window, so the line enters
    assert result["list"] == [3, 4, 5]
    assert result["evicted"] == [1, 2]
    assert result["found"] == 4
    assert result["backing"] == [5, 5, 3]  # nothing grew
    assert errors.errors == []
