"""Bad store paths, locks and a full disk: clear errors at start, no loss mid-session."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from sensorhub.cli import main
from sensorhub.sources.base import RawFrame
from sensorhub.store.sqlite import Recorder, StoreError, connect, iter_items


def recorder(path: Path, **kwargs: object) -> Recorder:
    return Recorder(
        path,
        session_id="s1",
        name="t",
        started_wall=dt.datetime.now(dt.UTC),
        software="test",
        config={},
        participants=[{"id": "p1", "sensor": "H10", "kind": "polar_h10", "attributes": {}}],
        **kwargs,  # type: ignore[arg-type]
    )


def frames(n: int, start: int = 0) -> list[RawFrame]:
    return [RawFrame("H10", "char", bytes(200), (start + i) * 1_000_000) for i in range(n)]


def stored(path: Path) -> int:
    conn = connect(path, create=False)
    n = sum(1 for _ in iter_items(conn, "s1"))
    conn.close()
    return n


def test_a_path_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the folder"):
        recorder(blocker / "sessions.sqlite")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "sessions.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        recorder(bad)


def test_a_locked_database_is_a_clear_error_at_start(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="another process holds a write lock"):
            recorder(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_serve_refuses_to_start_on_an_unusable_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = main(["serve", "--virtual", "1", "--port", "0", "--db", str(blocker / "s.sqlite")])
    assert code == 1
    assert "cannot create the folder" in capsys.readouterr().err


def test_a_lock_mid_session_is_reported_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    errors: list[str] = []
    rec = recorder(path, on_error=errors.append)
    for f in frames(100):
        rec.item(f)
    time.sleep(1.0)  # committed
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    for f in frames(100, start=100):
        rec.item(f)
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        time.sleep(0.1)
    holder.execute("ROLLBACK")
    holder.close()
    assert errors, "the writer never reported the lock"
    assert "locked" in errors[0]
    rec.close(duration_ns=200_000_000)
    assert rec.error is None
    assert stored(path) == 200


def test_a_full_disk_mid_session_is_reported_and_rows_are_kept_for_retry(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite"
    errors: list[str] = []
    rec = recorder(path, on_error=errors.append, max_pages=40)
    for f in frames(2000):
        rec.item(f)
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert errors
    assert "full" in errors[0]
    assert rec.error is not None
    # Free space again (raise the quota, as clearing a disk would): the backlog is written.
    rec._conn.execute("PRAGMA max_page_count=100000")
    rec.close(duration_ns=1)
    assert rec.error is None
    assert stored(path) == 2000
