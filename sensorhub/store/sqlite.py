"""The session store: one SQLite file (stdlib ``sqlite3``, WAL) per lab machine.

What is kept, per session: its configuration and software version, participants and their
attributes, sensors, every raw frame exactly as received (BLOB, receive time, sensor,
characteristic), every link state change, every command that changes processing (a
calibration step), markers and every event the live run published. Frames, link changes and
commands share one per-session sequence number in arrival order, so a replay feeds the
pipeline exactly what the live run fed it, in the same order.

Writes never happen on the event loop: :class:`Recorder` hands rows to a writer thread that
commits at least every :data:`COMMIT_INTERVAL_S` (0.5 s), so a crash loses at most that
window. WAL with ``synchronous=NORMAL`` survives a killed process (the OS has every committed
page); it trades only the last commits on power loss for much cheaper commits.

A session whose process died is found by :func:`recover_abnormal` (its pid is gone) and marked
as ended abnormally, with its end set to its last frame.

Schema changes are migrations: ``MIGRATIONS[n]`` takes a database from version n to n + 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import queue
import shutil
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from sensorhub.errors import ConfigError, SensorhubError
from sensorhub.sources.base import Command, Item, LinkState, LinkStatus, RawFrame, SensorKind

__all__ = [
    "COMMIT_INTERVAL_S",
    "Recorder",
    "SessionRow",
    "StoreError",
    "connect",
    "default_db_path",
    "iter_items",
    "list_sessions",
    "open_for_reading",
    "recover_abnormal",
]

log = logging.getLogger(__name__)

#: Upper bound on what a crash can lose (the issue's requirement: at least every 0.5 s).
COMMIT_INTERVAL_S = 0.5
#: Rows per executemany; bounds the time the writer holds the write lock.
MAX_BATCH = 5000
#: Frames kept in memory while the disk refuses writes (disk full, I/O error): ~10 minutes of
#: four H10s. Beyond that the oldest are dropped, counted and reported.
MAX_BACKLOG = 200_000

MIGRATIONS: list[str] = [
    # 0 -> 1: the first schema.
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        started_wall TEXT NOT NULL,
        ended_wall TEXT,
        duration_ns INTEGER,
        ended_cleanly INTEGER,
        end_reason TEXT,
        software TEXT NOT NULL,
        config_json TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL
    );
    CREATE TABLE participants (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        id TEXT NOT NULL,
        sensor TEXT NOT NULL,
        kind TEXT NOT NULL,
        attributes_json TEXT NOT NULL,
        PRIMARY KEY (session_id, id)
    );
    CREATE TABLE items (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        kind INTEGER NOT NULL,          -- 0 frame, 1 link state, 2 command
        sensor TEXT NOT NULL,
        t_ns INTEGER NOT NULL,          -- receive time on the session clock
        characteristic TEXT,            -- frames: characteristic UUID
        payload BLOB,                   -- frames: the bytes as received
        info TEXT,                      -- link state / command as JSON
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        session_id TEXT NOT NULL REFERENCES sessions(id),
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        json TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

FRAME, LINK, COMMAND = 0, 1, 2


class StoreError(SensorhubError):
    """The session store cannot be used (path, permissions, disk, lock, corruption)."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: str
    name: str
    started_wall: dt.datetime
    duration_s: float | None
    ended_cleanly: bool | None  # None: still running
    end_reason: str | None
    software: str
    config: dict[str, Any]
    participants: list[dict[str, Any]]
    episodes: int
    frames: int


def default_db_path() -> Path:
    """Where sessions are recorded unless ``--db`` says otherwise (the user's data folder)."""
    return Path(platformdirs.user_data_dir("sensorhub")) / "sessions.sqlite"


def connect(path: str | Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and migrate) a store; StoreError names the problem and the path."""
    p = Path(path)
    if create:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder for {p}: {exc.strerror}") from exc
    elif not p.exists():
        raise StoreError(f"no session store at {p}")
    try:
        conn = sqlite3.connect(p, timeout=5.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        _migrate(conn)
    except sqlite3.OperationalError as exc:
        raise StoreError(f"session store {p}: {_explain(exc)}") from exc
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"session store {p} is not a usable SQLite database: {exc}") from exc
    return conn


def open_for_reading(path: str | Path) -> tuple[sqlite3.Connection, str]:
    """Open a store to read a recording, even a damaged one; returns (connection, note).

    A file cut short (a full disk, a copy interrupted) is refused by SQLite outright: its
    header still counts the missing pages. Then a copy is read instead, with the header's page
    count marked stale so SQLite sizes the database from the file itself; everything before
    the damage reads normally and a read that reaches it raises, which the replay reports.
    ``note`` says when that happened ("" otherwise).
    """
    try:
        return connect(path, create=False), ""
    except StoreError as exc:
        if not isinstance(exc.__cause__, sqlite3.DatabaseError):
            raise
        original = exc
    p = Path(path)
    copy = Path(tempfile.mkdtemp(prefix="sensorhub-damaged-")) / p.name
    shutil.copyfile(p, copy)
    with open(copy, "r+b") as f:
        header = bytearray(f.read(100))
        if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
            raise original
        counter = int.from_bytes(header[24:28], "big")
        f.seek(92)  # "version-valid-for": differing from the change counter voids the size
        f.write(((counter + 1) & 0xFFFFFFFF).to_bytes(4, "big"))
    try:
        conn = sqlite3.connect(copy, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT id FROM sessions LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        raise original from None
    note = f"{p} is damaged ({original.__cause__}); reading what precedes the damage"
    return conn, note


def _explain(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"{text} (the file or its folder is read-only)"
    if "locked" in text or "busy" in text:
        return f"{text} (another process holds a write lock on it)"
    if "full" in text:
        return f"{text} (the disk is full)"
    if "unable to open" in text:
        return f"{text} (check the path and its permissions)"
    return text


def _migrate(conn: sqlite3.Connection) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"store schema version {version} is newer than this sensorhub ({SCHEMA_VERSION}); "
            "upgrade sensorhub"
        )
    for target in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _now_wall() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_abnormal(conn: sqlite3.Connection) -> list[str]:
    """Mark sessions of dead processes on this host as ended abnormally; returns their ids."""
    host = socket.gethostname()
    rows = conn.execute(
        "SELECT id, pid, started_wall FROM sessions WHERE ended_wall IS NULL AND host = ?",
        (host,),
    ).fetchall()
    recovered = []
    for sid, pid, started in rows:
        if pid == os.getpid() or _pid_alive(int(pid)):
            continue
        last = conn.execute("SELECT MAX(t_ns) FROM items WHERE session_id = ?", (sid,)).fetchone()[
            0
        ]
        duration = int(last or 0)
        ended = dt.datetime.fromisoformat(started) + dt.timedelta(microseconds=duration / 1000)
        conn.execute(
            "UPDATE sessions SET ended_wall = ?, duration_ns = ?, ended_cleanly = 0, "
            "end_reason = 'abnormal: the recording process died' WHERE id = ?",
            (ended.isoformat(), duration, sid),
        )
        recovered.append(sid)
    return recovered


_SESSIONS_QUERY = (
    "SELECT id, name, started_wall, duration_ns, ended_cleanly, end_reason, software, "
    "config_json, ended_wall FROM sessions ORDER BY started_wall"
)


def list_sessions(conn: sqlite3.Connection) -> list[SessionRow]:
    """Every session, oldest first, with participant and episode counts."""
    return [_session_row(conn, row) for row in conn.execute(_SESSIONS_QUERY).fetchall()]


def _session_row(conn: sqlite3.Connection, row: tuple[Any, ...]) -> SessionRow:
    """A ``sessions`` row with its participants and counts (which read the session's items)."""
    sid = row[0]
    parts = [
        {"id": p, "sensor": s, "kind": k, "attributes": json.loads(a)}
        for p, s, k, a in conn.execute(
            "SELECT id, sensor, kind, attributes_json FROM participants WHERE session_id=?",
            (sid,),
        )
    ]
    episodes = _count(
        conn, "SELECT COUNT(*) FROM events WHERE session_id=? AND type='episode_end'", sid
    )
    frames = _count(conn, "SELECT COUNT(*) FROM items WHERE session_id=? AND kind=0", sid)
    duration = row[3]
    if duration is None:
        duration = _count(conn, "SELECT MAX(t_ns) FROM items WHERE session_id=?", sid)
    return SessionRow(
        sid,
        row[1],
        dt.datetime.fromisoformat(row[2]),
        None if duration is None else duration / 1e9,
        None if row[8] is None else bool(row[4]),
        row[5],
        row[6],
        json.loads(row[7]),
        parts,
        episodes if episodes is not None else -1,
        frames if frames is not None else -1,
    )


def _count(conn: sqlite3.Connection, query: str, sid: str) -> int | None:
    """An aggregate over a session's rows; None where a damaged file cannot answer."""
    try:
        value = conn.execute(query, (sid,)).fetchone()[0]
    except sqlite3.DatabaseError:
        return None
    return None if value is None else int(value)


def find_session(conn: sqlite3.Connection, session: str) -> SessionRow:
    """A session by id or unique id prefix, or ``latest``.

    Matched on the ``sessions`` table alone; only the session found is counted (counting
    every session reads every recording in the store).
    """
    rows = conn.execute(_SESSIONS_QUERY).fetchall()
    if session == "latest" and rows:
        return _session_row(conn, rows[-1])
    hits = [r for r in rows if r[0].startswith(session)]
    if len(hits) != 1:
        known = ", ".join(r[0] for r in rows[-5:]) or "none"
        what = "no" if not hits else "more than one"
        raise ConfigError(f"{what} session matches {session!r} (recent: {known})")
    return _session_row(conn, hits[0])


def iter_items(conn: sqlite3.Connection, session_id: str) -> Iterator[tuple[int, Item]]:
    """The recorded item stream of a session, in arrival order: (seq, item).

    On a damaged file it yields every row before the damage (rows are then read one at a
    time from the last good one) and raises :class:`StoreError` saying where it stopped.
    """
    query = (
        "SELECT seq, kind, sensor, t_ns, characteristic, payload, info FROM items "
        "WHERE session_id = ? AND seq > ? ORDER BY seq"
    )
    last = 0
    batch = 4096
    while True:
        try:
            rows = conn.execute(query, (session_id, last)).fetchmany(batch)
        except sqlite3.DatabaseError as exc:
            if batch > 1:
                batch = 1  # close in on the damage row by row
                continue
            raise StoreError(f"recording damaged after item {last}: {exc}") from exc
        if not rows:
            return
        for seq, kind, sensor, t_ns, char, payload, info in rows:
            if kind == FRAME:  # the common case, without a call
                yield seq, RawFrame(sensor, char or "", payload or b"", t_ns)
            else:
                yield seq, _item(kind, sensor, t_ns, info)
            last = seq


def _item(kind: int, sensor: str, t_ns: int, info: str | None) -> Item:
    """A link status or command row (iter_items builds frames itself)."""
    data = json.loads(info or "{}")
    if kind == LINK:
        return LinkStatus(
            sensor,
            SensorKind(data["kind"]),
            LinkState(data["state"]),
            t_ns,
            data.get("reason", ""),
            reconnects=data.get("reconnects", 0),
        )
    return Command(sensor, t_ns, data["name"], data.get("args", {}))


def _row(session_id: str, seq: int, item: Item) -> tuple[Any, ...]:
    if isinstance(item, RawFrame):
        return (
            session_id, seq, FRAME, item.sensor, item.receive_ns, item.characteristic,
            item.payload, None,
        )  # fmt: skip
    if isinstance(item, LinkStatus):
        info = {
            "kind": item.kind.value,
            "state": item.state.value,
            "reason": item.reason,
            "reconnects": item.reconnects,
        }
        return (session_id, seq, LINK, item.sensor, item.at_ns, None, None, json.dumps(info))
    command = {"name": item.name, "args": item.args}
    return (session_id, seq, COMMAND, item.sensor, item.t_ns, None, None, json.dumps(command))


class Recorder:
    """Records one session through a writer thread; nothing here blocks the event loop.

    ``item(x)`` and ``event(json_text, type)`` only append to a queue. The writer commits at
    least every :data:`COMMIT_INTERVAL_S`. If the disk refuses a write (full, I/O error, lock),
    rows are kept and retried each interval, ``on_error`` is called (once per failure
    episode, from the writer thread) and the live view goes on.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        session_id: str,
        name: str,
        started_wall: dt.datetime,
        software: str,
        config: dict[str, Any],
        participants: list[dict[str, Any]],
        on_error: Callable[[str], None] | None = None,
        max_pages: int | None = None,
    ) -> None:
        """``max_pages`` caps the file's size in pages (SQLite's ``max_page_count``): a
        quota for small disks, and how the tests reproduce a full disk."""
        self.path = Path(path)
        self.session_id = session_id
        #: Called (from the writer thread) when the disk first refuses a write.
        self.on_error = on_error
        self._conn = connect(self.path)
        if max_pages is not None:
            self._conn.execute(f"PRAGMA max_page_count={int(max_pages)}")
        recover_abnormal(self._conn)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO sessions (id, name, started_wall, software, config_json, host, pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    session_id, name, started_wall.isoformat(), software, json.dumps(config),
                    socket.gethostname(), os.getpid(),
                ),
            )  # fmt: skip
            self._conn.executemany(
                "INSERT INTO participants VALUES (?, ?, ?, ?, ?)",
                [
                    (session_id, p["id"], p["sensor"], p["kind"], json.dumps(p["attributes"]))
                    for p in participants
                ],
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._conn.close()
            raise StoreError(f"session store {self.path}: {_explain(exc)}") from exc
        self._queue: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._seq = 0
        self._event_seq = 0
        self.recording = True
        self.written_items = 0
        self.written_events = 0
        self.dropped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # -- producers (event loop) ----------------------------------------------------------

    def item(self, item: Item) -> None:
        if not self.recording:
            return
        self._seq += 1
        self._queue.put(("item", _row(self.session_id, self._seq, item)))

    def event(self, event_type: str, json_text: str) -> None:
        if not self.recording:
            return
        self._event_seq += 1
        self._queue.put(("event", (self.session_id, self._event_seq, event_type, json_text)))

    def close(self, *, duration_ns: int, cleanly: bool = True, reason: str = "stopped") -> None:
        """Flush everything, mark the session ended, stop the writer (blocking: call in a
        thread from async code)."""
        self._queue.put(("end", (duration_ns, cleanly, reason)))
        self._queue.put(None)
        self._thread.join()
        self._conn.close()

    # -- writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        items: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        end: tuple[int, bool, str] | None = None
        deadline = time.monotonic() + COMMIT_INTERVAL_S
        stop = False
        while not stop:
            timeout = max(deadline - time.monotonic(), 0.0)
            try:
                entry = self._queue.get(timeout=timeout)
                while entry is not None:
                    kind, row = entry
                    if kind == "item":
                        items.append(row)
                    elif kind == "event":
                        events.append(row)
                    else:
                        end = row
                    if len(items) + len(events) >= MAX_BATCH:
                        break
                    entry = self._queue.get_nowait()
                stop = entry is None
            except queue.Empty:
                pass
            if stop or time.monotonic() >= deadline or len(items) + len(events) >= MAX_BATCH:
                if self._commit(items, events, end):
                    items, events, end = [], [], None
                else:
                    self._bound_backlog(items)
                deadline = time.monotonic() + COMMIT_INTERVAL_S
        if items or events or end:  # final attempt failed: say so loudly
            log.error("session store: %d rows could not be written: %s", len(items), self.error)

    def _commit(
        self,
        items: list[tuple[Any, ...]],
        events: list[tuple[Any, ...]],
        end: tuple[int, bool, str] | None,
    ) -> bool:
        if not (items or events or end):
            return True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", items)
            self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", events)
            if end is not None:
                duration, cleanly, reason = end
                self._conn.execute(
                    "UPDATE sessions SET ended_wall=?, duration_ns=?, ended_cleanly=?, "
                    "end_reason=? WHERE id=?",
                    (_now_wall(), duration, int(cleanly), reason, self.session_id),
                )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            message = f"session store {self.path}: {_explain(exc)}"
            if self.error is None:
                log.error("%s; keeping rows in memory and retrying", message)
                if self.on_error is not None:
                    self.on_error(message)
            self.error = message
            return False
        if self.error is not None:
            log.warning("session store writable again: backlog written")
            self.error = None
        self.written_items += len(items)
        self.written_events += len(events)
        return True

    def _bound_backlog(self, items: list[tuple[Any, ...]]) -> None:
        excess = len(items) - MAX_BACKLOG
        if excess > 0:
            del items[:excess]
            self.dropped += excess
            log.error("session store: dropped %d unwritable rows (disk refused them)", excess)


def load_events(conn: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    """The events a session published, in publication order (as JSON objects)."""
    return [
        json.loads(text)
        for (text,) in conn.execute(
            "SELECT json FROM events WHERE session_id=? ORDER BY seq", (session_id,)
        )
    ]
