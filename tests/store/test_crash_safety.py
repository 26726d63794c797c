"""A recording survives SIGKILL: integrity ok, marked abnormal, frames up to 1 s before kept.

A real `serve --virtual 2` process records for a while and is killed with SIGKILL (no
cleanup runs). Afterwards the store must pass `PRAGMA integrity_check`, the session must be
reported as ended abnormally, and every frame the virtual sensors sent up to 1 s before the
kill must be there: the stored frames of each sensor decode without a gap, and the last one
was received less than 1 s (the 0.5 s commit interval plus margin) before the kill.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

from sensorhub.ingest import SensorDecoder
from sensorhub.sources.base import LinkState, LinkStatus, RawFrame, SensorKind
from sensorhub.store.sqlite import connect, iter_items, list_sessions, recover_abnormal
from tests.serve_process import start_serve


def test_sigkill_loses_at_most_the_last_second(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite"
    serve = start_serve(tmp_path, "--virtual", "2")
    proc = serve.proc
    time.sleep(12)
    killed_at = dt.datetime.now(dt.UTC)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()

    conn = connect(db, create=False)
    (row,) = list_sessions(conn)
    assert row.ended_cleanly is None  # not ended yet: nobody has looked since the crash
    assert recover_abnormal(conn) == [row.id]
    (row,) = list_sessions(conn)
    assert row.ended_cleanly is False
    assert row.end_reason is not None
    assert "abnormal" in row.end_reason

    kinds = {p["sensor"]: SensorKind(p["kind"]) for p in row.participants}
    decoders = {s: SensorDecoder(s, k) for s, k in kinds.items()}
    last_frame: dict[str, int] = {}
    for _, item in iter_items(conn, row.id):
        if isinstance(item, LinkStatus) and item.state is LinkState.STARTING:
            decoders[item.sensor].restart()
        elif isinstance(item, RawFrame):
            decoders[item.sensor].feed(item)
            last_frame[item.sensor] = item.receive_ns
    conn.close()
    assert set(last_frame) == set(kinds)
    for sensor, dec in decoders.items():
        assert dec.stats.gaps == 0, (sensor, dec.stats.gap_list)
        assert dec.stats.malformed == 0
        assert dec.stats.frames > 20
        last_wall = row.started_wall + dt.timedelta(microseconds=last_frame[sensor] / 1000)
        lag = (killed_at - last_wall).total_seconds()
        assert lag < 1.0, f"{sensor}: last stored frame {lag:.2f} s before the kill"
    assert json.dumps(row.config)  # the config needed to replay it was stored
