"""A recording cut short replays up to the damage and says where it stopped."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sensorhub.config import config_to_json, demo_config
from sensorhub.protocols import polar_pmd
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.replay import replay_session
from sensorhub.store.sqlite import COMMIT_INTERVAL_S, Recorder

REPO = Path(__file__).resolve().parents[2]
SENSOR = "Polar H10 00000001"


def make_recording(path: Path, frames: int = 3000) -> None:
    config = demo_config([SENSOR], [SensorKind.POLAR_H10])
    rec = Recorder(
        path,
        session_id="rec",
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
    for k in range(frames):
        last = t0 + ((k + 1) * 36 - 1) * 5_000_000
        payload = polar_pmd.encode_data_frame(samples, timestamp_ns=last)
        rec.item(RawFrame(SENSOR, polar_pmd.PMD_DATA_UUID, payload, (k + 1) * 180_000_000))
        if k % 500 == 499:
            time.sleep(COMMIT_INTERVAL_S * 1.2)  # commit by commit, as a live session writes
    rec.close(duration_ns=frames * 180_000_000)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_truncated_recording_replays_up_to_the_damage(tmp_path: Path) -> None:
    whole = tmp_path / "whole.sqlite"
    make_recording(whole)
    cut = tmp_path / "cut.sqlite"
    shutil.copyfile(whole, cut)
    with open(cut, "r+b") as f:
        f.truncate(cut.stat().st_size * 9 // 10)  # the last tenth of the file is gone

    full = asyncio.run(replay_session(whole, "rec"))
    assert full.complete
    assert full.items == 3003

    damaged = asyncio.run(replay_session(cut, "rec"))
    assert not damaged.complete
    assert "damaged after item" in damaged.stopped_because
    assert 100 < damaged.items < full.items
    assert damaged.last_seq == damaged.items  # every row before the damage was replayed

    out = subprocess.run(
        [sys.executable, "-m", "sensorhub.cli", "replay", "rec", "--db", str(cut)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert f"stopped at item {damaged.last_seq}" in out.stderr


def test_garbage_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 50)
    out = subprocess.run(
        [sys.executable, "-m", "sensorhub.cli", "replay", "latest", "--db", str(bad)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 1
    assert "not a usable SQLite database" in out.stderr
