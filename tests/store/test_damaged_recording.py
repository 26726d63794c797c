"""A recording cut short replays up to the damage and says where it stopped."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from sensorhub.sources.replay import replay_session
from tests.recordings import write_h10_recording

REPO = Path(__file__).resolve().parents[2]


def test_truncated_recording_replays_up_to_the_damage(tmp_path: Path) -> None:
    whole = tmp_path / "whole.sqlite"
    write_h10_recording(whole, frames=3000, commit_every=500)
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
