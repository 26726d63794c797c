"""Small, flat recordings for store and replay tests, and a replay server to drive them.

One writer serves the damaged-file tests (which need the file written commit by commit, as a
live session writes it), the replay-control tests (markers in the item stream) and the
dashboard's replay-bar tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from sensorhub.commands.replay import ServedReplay, serve_replay
from sensorhub.config import config_to_json, demo_config
from sensorhub.protocols import polar_pmd
from sensorhub.server.settings import ServerSettings
from sensorhub.sources.base import Command, LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.store.sqlite import COMMIT_INTERVAL_S, Recorder

SENSOR = "Polar H10 00000001"
FRAME_NS = 180_000_000  # 36 samples at 200 Hz


def write_h10_recording(
    path: Path,
    *,
    frames: int,
    session_id: str = "rec",
    marker_every: int | None = None,
    commit_every: int | None = None,
) -> int:
    """One still H10 streaming ``frames`` frames; optionally a marker command every
    ``marker_every`` frames, and a pause for a commit every ``commit_every`` frames.
    Returns the number of markers written; the WAL is checkpointed into the file."""
    config = demo_config([SENSOR], [SensorKind.POLAR_H10])
    rec = Recorder(
        path,
        session_id=session_id,
        name="t",
        started_wall=dt.datetime.now(dt.UTC),
        software="test",
        config=config_to_json(config),
        participants=[{"id": "p1", "sensor": SENSOR, "kind": "polar_h10", "attributes": {}}],
    )
    for state in (LinkState.CONNECTING, LinkState.STARTING, LinkState.STREAMING):
        rec.item(LinkStatus(SENSOR, SensorKind.POLAR_H10, state, 0))
    samples = np.tile(np.array([[0, 1000, 0]], dtype=np.int16), (36, 1))
    t0 = 599_616_000_000_000_000
    markers = 0
    for k in range(frames):
        at = (k + 1) * FRAME_NS
        last = t0 + ((k + 1) * 36 - 1) * 5_000_000
        payload = polar_pmd.encode_data_frame(samples, timestamp_ns=last)
        rec.item(RawFrame(SENSOR, polar_pmd.PMD_DATA_UUID, payload, at))
        if marker_every is not None and k % marker_every == 0:
            rec.item(Command("", at, "marker", {"label": f"m{k}", "source": "test"}))
            markers += 1
        if commit_every is not None and k % commit_every == commit_every - 1:
            time.sleep(COMMIT_INTERVAL_S * 1.2)  # commit by commit, as a live session writes
    rec.close(duration_ns=frames * FRAME_NS)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return markers


@contextlib.asynccontextmanager
async def replay_server(
    recording: Path, session: str = "rec", *, speed: float | None = 10.0
) -> AsyncIterator[tuple[ServedReplay, aiohttp.ClientSession]]:
    """``replay --serve`` on a free loopback port, with an HTTP session to its API."""
    settings = ServerSettings(host="127.0.0.1", port=0)
    async with (
        serve_replay(recording, session, speed=speed, settings=settings) as served,
        aiohttp.ClientSession(served.handle.url) as http,
    ):
        yield served, http


async def replay_state(http: aiohttp.ClientSession) -> dict[str, Any]:
    """GET /api/replay, which must answer 200."""
    async with http.get("/api/replay") as resp:
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body
