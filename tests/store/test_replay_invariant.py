"""Replay is live: a recorded `serve --virtual 2` session replays to the same events.

One real serve process records ~40 s of a simulated conversation (with a marker added through
the API), then the recording is replayed at max speed through the same decoders, clock
mapping and detectors. Angles must be bit-identical, episodes, markers and dyad events
identical. Status events are excluded: they are ticks of the live wall clock.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sensorhub import events as ev
from sensorhub.sources.replay import replay_session
from sensorhub.store.sqlite import load_events
from tests.serve_process import start_serve

REPO = Path(__file__).resolve().parents[2]
COMPARED = {"angle", "episode_start", "episode_end", "dyad", "marker"}


async def add_marker(url: str, label: str) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(url + "api/markers", json={"label": label}) as resp,
    ):
        assert resp.status in (200, 201), await resp.text()


def by_stream(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Events per (type, participant or dyad), in order: the order across participants may
    differ between runs (it depends on how frames were batched), the order within may not."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["type"] in COMPARED:
            who = e.get("participant") or ",".join(e.get("dyad", [])) or "-"
            out[(e["type"], who)].append(e)
    return dict(out)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("rec")
    db = workdir / "sessions.sqlite"
    serve = start_serve(workdir, "--virtual", "2")
    proc, url = serve.proc, serve.url
    try:
        time.sleep(15)
        asyncio.run(add_marker(url, "question 1"))
        time.sleep(25)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 0, serve.stderr
    finally:
        serve.stop()
    return db


def test_replay_yields_the_live_events(recorded: Path) -> None:
    conn = sqlite3.connect(recorded)
    (sid,) = conn.execute("SELECT id FROM sessions").fetchone()
    live = load_events(conn, sid)
    conn.close()
    replayed: list[dict[str, Any]] = []
    result = asyncio.run(
        replay_session(recorded, sid, on_event=lambda e: replayed.append(ev.to_json(e)))
    )
    assert result.complete
    live_streams, replay_streams = by_stream(live), by_stream(replayed)
    assert ("angle", "p1") in live_streams
    assert ("angle", "p2") in live_streams
    assert ("marker", "-") in live_streams
    assert len(live_streams[("angle", "p1")]) > 300
    # JSON round trip of floats is exact, so == on the dicts is bit-identity of the angles.
    assert replay_streams.keys() == live_streams.keys()
    for key, stream in live_streams.items():
        assert replay_streams[key] == stream, key


def test_replay_cli_prints_websocket_schema_jsonl(recorded: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sensorhub.cli", "replay", "latest", "--db", str(recorded),
         "--format", "jsonl"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    assert len(lines) > 600
    for line in lines:
        obj = json.loads(line)
        ev.from_json(obj)  # every line is a valid websocket message
    assert "replayed session" in out.stderr


def test_sessions_lists_the_recording(recorded: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sensorhub.cli", "sessions", "--db", str(recorded), "--json"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    (row,) = json.loads(out.stdout)
    assert row["ended_cleanly"] is True
    assert [p["id"] for p in row["participants"]] == ["p1", "p2"]
    assert row["duration_s"] > 30
    assert row["frames"] > 100


def test_load_session_gives_the_model_exports_and_analyses_read(recorded: Path) -> None:
    from sensorhub.store.load import load_session

    data = load_session(recorded, "latest")
    assert [p.id for p in data.participants] == ["p1", "p2"]
    assert data.dyads == (("p1", "p2"),)
    assert [m.label for m in data.markers] == ["question 1"]
    for p in data.participants:
        assert p.t_ns.size > 30 * 190  # ~40 s at 200 Hz
        assert p.acc_g.shape == (p.t_ns.size, 3)
        assert p.sample_rate_hz == pytest.approx(200, rel=0.02)
        assert p.angles.t_ns.size == p.angles.forward.size > 30 * 45
    assert data.meta.ended_cleanly


@pytest.mark.parametrize("fmt", ["csv", "bids"])
def test_a_recording_exports(recorded: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / fmt
    subprocess.run(
        [sys.executable, "-m", "sensorhub.cli", "export", "latest", "--db", str(recorded),
         "--format", fmt, "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    if fmt == "csv":
        assert (out / "p1" / "samples.csv").stat().st_size > 100_000
        assert "question 1" in (out / "markers.csv").read_text()
    else:
        assert sorted(p.name for p in out.glob("sub-*")) == ["sub-p1", "sub-p2"]
        assert (out / "participants.tsv").is_file()
