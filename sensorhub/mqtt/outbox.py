"""The MQTT outbox: events waiting for the broker, in a table of the session store's file.

Every event a hub publishes is first appended here and deleted only once the broker has
acknowledged it (QoS 1 PUBACK), so a broker outage, or a hub that dies while the broker is
down, loses nothing: the rows are published, in ``id`` order, when the broker is back (by the
next run, if this one has ended).

The table lives in the same SQLite file as the sessions (``serve --db``), through a
connection of its own; the store's schema and migrations know nothing of it. ``id`` is
``AUTOINCREMENT`` so ids only grow, even after every row has been deleted: the publisher reads
"rows after the last one I sent". Every method runs on the publisher's one database thread,
never on the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorhub import events as ev
from sensorhub.errors import SensorhubError
from sensorhub.mqtt import protocol as mp

__all__ = ["Outbox", "OutboxError", "OutboxRow"]

log = logging.getLogger(__name__)

#: How long a write waits for another writer (the session recorder) to release the file.
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mqtt_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hub TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS mqtt_outbox_hub ON mqtt_outbox (hub, id)
"""


class OutboxError(SensorhubError):
    """The outbox file cannot be opened or written (the message names the path)."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    retain: bool


def encode(hub_id: str, event: Any, envelope: mp.Envelope) -> tuple[str, bytes, bool]:
    """Topic, payload and retain flag of one event.

    An event that cannot be encoded (a NaN that slipped into a float) is replaced by an
    ``error`` event with the same envelope, so the hub's ``seq`` stays without gaps and a
    consumer sees what happened.
    """
    try:
        payload = mp.encode_message(event, envelope)
    except (TypeError, ValueError) as exc:
        log.error(
            "MQTT: cannot encode a %s event (%s); publishing an error instead", event.TYPE, exc
        )
        event = ev.ErrorEvent("mqtt_encode", f"a {event.TYPE} event could not be encoded: {exc}")
        payload = mp.encode_message(event, envelope)
    return mp.event_topic(hub_id, event), payload, event.TYPE in mp.RETAINED_TYPES


class Outbox:
    """One connection to the outbox table. Not thread-safe: use it from one thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: str | Path) -> Outbox:
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(p, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA.split(";"):
                conn.execute(statement)
        except OSError as exc:
            raise OutboxError(f"MQTT outbox {p}: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise OutboxError(f"MQTT outbox {p}: {exc}") from exc
        return cls(conn, p)

    def append(self, hub_id: str, batch: list[tuple[Any, mp.Envelope]]) -> int:
        """Encode and append events in one transaction; returns the number appended."""
        now = time.time()
        rows = []
        for event, envelope in batch:
            topic, payload, retain = encode(hub_id, event, envelope)
            rows.append((hub_id, topic, payload, int(retain), now))
        self._write(
            "INSERT INTO mqtt_outbox (hub, topic, payload, retain, created) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        return len(rows)

    def delete(self, ids: list[int]) -> None:
        """Forget acknowledged rows."""
        self._write("DELETE FROM mqtt_outbox WHERE id = ?", [(i,) for i in ids])

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(sql, rows)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise OutboxError(f"MQTT outbox {self.path}: {exc}") from exc

    def fetch(self, hub_id: str, after_id: int, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows of ``hub_id`` with ids above ``after_id``, oldest first."""
        try:
            cur = self._conn.execute(
                "SELECT id, topic, payload, retain FROM mqtt_outbox WHERE hub = ? AND id > ? "
                "ORDER BY id LIMIT ?",
                (hub_id, after_id, limit),
            )
            return [OutboxRow(i, t, bytes(p), bool(r)) for i, t, p, r in cur.fetchall()]
        except sqlite3.Error as exc:
            raise OutboxError(f"MQTT outbox {self.path}: {exc}") from exc

    def count(self, hub_id: str | None = None) -> int:
        """Rows waiting for ``hub_id`` (all hubs: None)."""
        try:
            if hub_id is None:
                row = self._conn.execute("SELECT COUNT(*) FROM mqtt_outbox").fetchone()
            else:
                row = self._conn.execute(
                    "SELECT COUNT(*) FROM mqtt_outbox WHERE hub = ?", (hub_id,)
                ).fetchone()
        except sqlite3.Error as exc:
            raise OutboxError(f"MQTT outbox {self.path}: {exc}") from exc
        return int(row[0])

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
