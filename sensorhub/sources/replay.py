"""Replay a recorded session through the very same decoders, clock mapping and detectors.

A recording holds the item stream the live run's decode stage saw: every raw frame with its
original receive time, every link change and every operator command, in arrival order. A
replay rebuilds the session's configuration from the recording, puts the items into a fresh
:class:`~sensorhub.sources.live.DecodeStage` behind a fresh :class:`~sensorhub.hub.Hub`, and
so produces the events the live run produced (DESIGN invariant 1, pinned by a test).

Pacing: ``speed`` 1 replays in real time, 10 ten times faster, ``None`` ("max") as fast as
the pipeline goes (items are fed in large batches; every stage is chunking-invariant, so the
batch size changes no result). The replay clock is the receive time of the item being fed.

A truncated or partly corrupt recording replays up to the damage; :class:`ReplayResult` says
where it stopped and why.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorhub.bus import EventBus
from sensorhub.config import HubConfig, parse_config
from sensorhub.hub import Hub
from sensorhub.sources.base import Item, LinkStatus, RawFrame, SensorKind
from sensorhub.sources.live import DecodeStage
from sensorhub.store.sqlite import (
    SessionRow,
    StoreError,
    find_session,
    iter_items,
    open_for_reading,
    recover_abnormal,
)

__all__ = ["ReplayClock", "ReplayResult", "open_replay", "replay_session"]

#: Items fed between two drains at max speed: large enough to amortise per-call overhead,
#: small enough to keep memory flat for hour-long recordings.
MAX_SPEED_BATCH = 20_000


class ReplayClock:
    """Session time during a replay: the receive time of the item being fed."""

    def __init__(self) -> None:
        self.t_ns = 0

    def __call__(self) -> int:
        return self.t_ns


@dataclass(frozen=True, slots=True)
class ReplayResult:
    session: SessionRow
    items: int
    frames: int
    last_seq: int
    last_t_ns: int
    complete: bool
    stopped_because: str = ""


def _t(item: Item) -> int:
    if isinstance(item, RawFrame):
        return item.receive_ns
    if isinstance(item, LinkStatus):
        return item.at_ns
    return item.t_ns


def open_replay(
    db: str | Path, session: str, *, bus: EventBus | None = None
) -> tuple[sqlite3.Connection, SessionRow, Hub, ReplayClock]:
    """Open a recording and build the hub that will replay it (not started yet)."""
    conn, damage = open_for_reading(db)
    if not damage:
        recover_abnormal(conn)
    row = find_session(conn, session)
    if damage:
        row = dataclasses.replace(row, end_reason=damage)
    config: HubConfig = parse_config(row.config, source=f"session {row.id} config")
    kinds = {p["sensor"]: SensorKind(p["kind"]) for p in row.participants}
    clock = ReplayClock()
    targets = [(p.sensor, kinds[p.sensor]) for p in config.participants]
    stage = DecodeStage(targets, now_ns=clock)
    hub = Hub(
        config,
        stage,
        bus or EventBus(),
        now_ns=clock,
        kinds=kinds,
        session_id=row.id,
        replay=True,
    )
    hub.started_wall = row.started_wall
    return conn, row, hub, clock


async def replay_session(
    db: str | Path,
    session: str,
    *,
    speed: float | None = None,
    bus: EventBus | None = None,
    on_event: Callable[[Any], None] | None = None,
    on_hub: Callable[[Hub], None] | None = None,
) -> ReplayResult:
    """Replay ``session`` (id, unique prefix or ``latest``) from the store at ``db``."""
    conn, row, hub, clock = open_replay(db, session, bus=bus)
    if on_event is not None:
        hub.event_sinks.append(on_event)
    if on_hub is not None:
        on_hub(hub)
    hub.start()
    items = frames = last_seq = 0
    complete, why = True, ""
    started = time.monotonic()
    first_t: int | None = None
    try:
        for seq, item in iter_items(conn, row.id):
            t = _t(item)
            first_t = t if first_t is None else first_t
            if speed is not None:
                due = started + (t - first_t) / 1e9 / speed
                delay = due - time.monotonic()
                if delay > 0:
                    await hub.stage.drain()
                    await asyncio.sleep(delay)
            clock.t_ns = max(clock.t_ns, t)
            hub.stage.put(item)
            items += 1
            frames += isinstance(item, RawFrame)
            last_seq = seq
            if items % MAX_SPEED_BATCH == 0:
                await hub.stage.drain()
    except StoreError as exc:
        complete, why = False, str(exc)
    finally:
        await hub.close(reason="replay")
        conn.close()
    return ReplayResult(row, items, frames, last_seq, clock.t_ns, complete, why)
