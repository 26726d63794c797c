"""Replay a recorded session through the very same decoders, clock mapping and detectors.

A recording holds the item stream the live run's decode stage saw: every raw frame with its
original receive time, every link change and every operator command, in arrival order. A
replay rebuilds the session's configuration from the recording, puts the items into a fresh
:class:`~sensorhub.sources.live.DecodeStage` behind a fresh :class:`~sensorhub.hub.Hub`, and
so produces the events the live run produced (DESIGN invariant 1, pinned by a test).

Pacing: ``speed`` 1 replays in real time, 10 ten times faster, ``None`` ("max") as fast as
the pipeline goes (items are fed in large batches; every stage is chunking-invariant, so the
batch size changes no result). The replay clock is the receive time of the item being fed.

A :class:`ReplayControl` pauses, re-paces and seeks a running replay (``replay --serve``: the
dashboard's replay bar, ``/api/replay``). It is honoured between items. Seeking forward feeds
the items up to the target without pacing; seeking backward starts over with a fresh hub (the
pipelines' state cannot run backwards), fed at max speed up to the target. Events produced
while seeking are published as usual, and a restart publishes the new hub's ``hello`` on the
bus so that pages start their view over. :class:`ReplayHubControl` is the server's
:class:`~sensorhub.server.control.HubControl` for such a replay: it forwards to whichever hub
is current.

A truncated or partly corrupt recording replays up to the damage; :class:`ReplayResult` says
where it stopped and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.config import HubConfig, parse_config
from sensorhub.errors import SensorhubError
from sensorhub.hub import Hub
from sensorhub.sources.base import Item, RawFrame, SensorKind, item_time
from sensorhub.sources.live import DecodeStage
from sensorhub.store.sqlite import (
    SessionRow,
    StoreError,
    find_session,
    iter_items,
    open_for_reading,
    recover_abnormal,
)

__all__ = [
    "ReplayClock",
    "ReplayControl",
    "ReplayHubControl",
    "ReplayResult",
    "open_replay",
    "replay_session",
]

#: Items fed between two drains at max speed: large enough to amortise per-call overhead,
#: small enough to keep memory flat for hour-long recordings.
MAX_SPEED_BATCH = 20_000
#: Items handed to the decode stage per list at max speed.
HAND_OVER = 2_000
#: Items fed between two drains while websocket clients watch (a seek, max speed): a fast
#: stretch publishes in one go what a live run spreads over minutes; smaller steps let each
#: client's sender keep up instead of its queue overflowing (which disconnects it).
CLIENT_BATCH = 1_000
#: After such a step, wait until every client's queue is at most this fraction full...
CATCH_UP_FILL = 0.25
#: ...but never longer than this per step: a stuck client must not stall the replay.
CATCH_UP_MAX_S = 0.5
NS = 1_000_000_000


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


def _check_speed(speed: float | None) -> float | None:
    """A replay speed: a finite factor > 0, or ``None`` for max; else ``ValueError``."""
    if speed is None:
        return None
    if isinstance(speed, bool) or not math.isfinite(speed) or speed <= 0:
        raise ValueError(f"speed must be a positive number or max, not {speed!r}")
    return float(speed)


class ReplayControl:
    """Pause, speed and seek of a running replay; positions are session seconds.

    The methods only record the request and wake the replay, which applies it before the
    next item: they are synchronous and safe to call from request handlers. With
    ``hold_at_end`` the replay does not return at the end of the recording: it closes the
    hub (as the live run ended) and waits for a seek, which replays again from the start.
    ``clock`` is the monotonic seconds the pacing counts in.
    """

    def __init__(
        self,
        *,
        speed: float | None = None,
        hold_at_end: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hold_at_end = hold_at_end
        #: The hub replaying now (a new one after every backward seek), ``None`` before.
        self.hub: Hub | None = None
        #: How the last pass over the recording ended (set when it reaches the end).
        self.result: ReplayResult | None = None
        #: Passes started over (a backward seek, or any seek once the end was reached).
        self.restarts = 0
        self._speed = _check_speed(speed)
        self._clock = clock
        self._paused = False
        self._seek_ns: int | None = None
        self._restart = False
        self._position_ns = 0
        self._duration_ns = 0
        #: (monotonic s, session ns) the pacing counts from; ``None``: from the next item.
        self._anchor: tuple[float, int] | None = None
        self._changed = asyncio.Event()
        self._started = asyncio.Event()
        self._ended = asyncio.Event()

    # -- requests (the API) -----------------------------------------------------------------

    def pause(self) -> None:
        """Hold feeding after the current item; the position stops advancing."""
        self._paused = True
        self._poke()

    def resume(self) -> None:
        """Continue from the current position, paced from now."""
        self._paused = False
        self._anchor = None
        self._poke()

    def set_speed(self, speed: float | None) -> None:
        """A new pacing factor (``None``: max), counted from the current position."""
        self._speed = _check_speed(speed)
        self._anchor = None
        self._poke()

    def seek(self, t_s: float) -> None:
        """Go to session time ``t_s`` (clamped to the recording). Paused stays paused."""
        if isinstance(t_s, bool) or not math.isfinite(t_s):
            raise ValueError(f"seek target must be a number of seconds, not {t_s!r}")
        target = min(max(round(t_s * NS), 0), self._duration_ns)
        if self._ended.is_set() or target < self._position_ns:
            self._restart = True
        self._seek_ns = target
        self._anchor = None
        self._poke()

    def state(self) -> dict[str, Any]:
        """``position_s``, ``duration_s``, ``speed`` (a number or ``"max"``), ``paused``,
        ``seeking`` (feeding fast up to a seek target) and ``finished``."""
        return {
            "position_s": round(self._position_ns / NS, 3),
            "duration_s": round(self._duration_ns / NS, 3),
            "speed": "max" if self._speed is None else self._speed,
            "paused": self._paused,
            "seeking": self._seek_ns is not None,
            "finished": self._ended.is_set(),
        }

    # -- waiting (the command) --------------------------------------------------------------

    async def wait_started(self) -> Hub:
        """The first hub, once the replay has built it."""
        await self._started.wait()
        assert self.hub is not None
        return self.hub

    async def wait_ended(self) -> ReplayResult:
        """The result of the pass that reaches the end of the recording (``hold_at_end``)."""
        await self._ended.wait()
        assert self.result is not None
        return self.result

    # -- the replay's side ------------------------------------------------------------------

    def _poke(self) -> None:
        self._changed.set()

    def _begin(self, hub: Hub, duration_ns: int) -> None:
        """A pass starts (a kept seek target is then reached at max speed)."""
        self.hub = hub
        self._duration_ns = max(duration_ns, 0)
        self._position_ns = 0
        self._restart = False
        self._anchor = None
        self._ended.clear()
        self._started.set()

    @property
    def _free_running(self) -> bool:
        """Nothing to wait for: the feeding loop may skip :meth:`_turn` (max speed)."""
        return self._speed is None and not self._paused and self._seek_ns is None

    def _fed(self, t_ns: int) -> None:
        self._position_ns = max(self._position_ns, t_ns)

    def _end(self, result: ReplayResult) -> None:
        self.result = result
        self._ended.set()
        self._poke()

    async def _turn(self, t_ns: int, drain: Callable[[], Awaitable[None]]) -> bool:
        """Wait until the item at ``t_ns`` is due; False: stop, a backward seek starts over.

        Before any wait the stage is drained, so what was fed is shown while we hold.
        """
        while True:
            self._changed.clear()  # a request arriving during the awaits below sets it again
            if self._restart:
                return False
            if self._seek_ns is not None:
                if t_ns < self._seek_ns:
                    return True
                self._position_ns = max(self._position_ns, self._seek_ns)
                self._seek_ns = None
                self._anchor = None
            if self._paused:
                await drain()
                await self._changed.wait()
                continue
            if self._speed is None:
                return True
            if self._anchor is None:
                self._anchor = (self._clock(), self._position_ns)
            wall0, t0 = self._anchor
            due = wall0 + (t_ns - t0) / NS / self._speed
            if due <= self._clock():
                return True
            await drain()
            delay = due - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), delay)

    async def _wait_for_seek(self) -> None:
        while not self._restart:
            self._changed.clear()
            await self._changed.wait()


class ReplayHubControl:
    """The server's :class:`~sensorhub.server.control.HubControl` for a controlled replay.

    Forwards every call to the hub replaying now (a backward seek replaces it) and offers
    :meth:`replay_control`, which the server's ``/api/replay`` routes look for.
    """

    def __init__(self, control: ReplayControl) -> None:
        self._control = control

    def replay_control(self) -> ReplayControl:
        return self._control

    @property
    def hub(self) -> Hub:
        hub = self._control.hub
        if hub is None:
            raise SensorhubError("the replay has not started yet")
        return hub

    def hello(self) -> ev.Hello:
        return self.hub.hello()

    def session_info(self) -> dict[str, Any]:
        return self.hub.session_info()

    def participants(self) -> list[dict[str, Any]]:
        return self.hub.participants()

    def sensors(self) -> list[dict[str, Any]]:
        return self.hub.sensors()

    def markers(self) -> list[ev.Marker]:
        return self.hub.markers()

    def add_marker(self, label: str, source: str) -> ev.Marker:
        return self.hub.add_marker(label, source)

    def calibrate(self, participant: str, step: str) -> dict[str, Any]:
        return self.hub.calibrate(participant, step)

    def set_recording(self, on: bool) -> dict[str, Any]:
        return self.hub.set_recording(on)

    def health(self) -> dict[str, Any]:
        return self.hub.health()


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


def _duration_ns(conn: sqlite3.Connection, row: SessionRow) -> int:
    """Session time of the last recorded item (the recorded duration on a damaged file)."""
    try:
        (last,) = conn.execute(
            "SELECT MAX(t_ns) FROM items WHERE session_id = ?", (row.id,)
        ).fetchone()
    except sqlite3.DatabaseError:
        last = None
    if last is None:
        return round((row.duration_s or 0.0) * NS)
    return int(last)


async def _let_clients_catch_up(bus: EventBus) -> None:
    """Give the websocket senders time to send what a fast stretch published (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_MAX_S
    while loop.time() < deadline and any(
        s.depth > s.max_queue * CATCH_UP_FILL for s in bus.subscriptions
    ):
        await asyncio.sleep(0.005)


async def _feed(
    conn: sqlite3.Connection,
    row: SessionRow,
    hub: Hub,
    clock: ReplayClock,
    control: ReplayControl,
) -> tuple[ReplayResult, bool]:
    """One pass over the recording; True with the result when a backward seek stopped it."""
    hub.start()
    items = frames = last_seq = 0
    complete, why, restart = True, "", False
    # At max speed items go to the decode stage in lists (one queue entry each): every stage
    # downstream is chunking-invariant, so only the per-item overhead changes.
    held: list[Item] = []

    def hand_over() -> None:
        if held:
            control._fed(clock.t_ns)
            hub.stage.put_many(held.copy())
            held.clear()

    try:
        for seq, item in iter_items(conn, row.id):
            t = item_time(item)
            free = control._free_running
            if not free:
                hand_over()
                if not await control._turn(t, hub.stage.drain):
                    restart = True
                    break
            if t > clock.t_ns:
                clock.t_ns = t
            held.append(item)
            items += 1
            frames += type(item) is RawFrame
            last_seq = seq
            if not free or len(held) >= HAND_OVER:
                hand_over()
            if items % (CLIENT_BATCH if hub.bus.subscriptions else MAX_SPEED_BATCH) == 0:
                hand_over()
                await hub.stage.drain()
                await _let_clients_catch_up(hub.bus)
    except StoreError as exc:
        complete, why = False, str(exc)
    finally:
        if not restart:
            hand_over()  # what was read before the end (or the damage) is replayed
        else:
            # Abandoned, not ended: what closing publishes (truncated episodes, dyad
            # summaries) belongs to no timeline the pages will show, so it goes nowhere.
            hub.bus = EventBus()
            hub.event_sinks.clear()
        await hub.close(reason="replay")
        conn.close()
    return ReplayResult(row, items, frames, last_seq, clock.t_ns, complete, why), restart


async def replay_session(
    db: str | Path,
    session: str,
    *,
    speed: float | None = None,
    bus: EventBus | None = None,
    on_event: Callable[[Any], None] | None = None,
    on_hub: Callable[[Hub], None] | None = None,
    control: ReplayControl | None = None,
) -> ReplayResult:
    """Replay ``session`` (id, unique prefix or ``latest``) from the store at ``db``.

    ``control`` (which then sets the speed; ``speed`` is ignored) pauses, re-paces and seeks
    the replay while it runs. ``on_hub`` is called with every hub the replay builds: one,
    plus one per backward seek (whose events also go to ``on_event``).
    """
    control = ReplayControl(speed=speed) if control is None else control
    bus = EventBus() if bus is None else bus
    passes = 0
    while True:
        conn, row, hub, clock = open_replay(db, session, bus=bus)
        if on_event is not None:
            hub.event_sinks.append(on_event)
        if on_hub is not None:
            on_hub(hub)
        try:
            duration = _duration_ns(conn, row)
        except BaseException:
            conn.close()
            raise
        control._begin(hub, duration)
        if passes:
            control.restarts += 1
            bus.publish(hub.hello())  # pages forget the abandoned pass and start over
        passes += 1
        result, restart = await _feed(conn, row, hub, clock, control)
        if restart:
            continue
        control._end(result)
        if not control.hold_at_end:
            return result
        await control._wait_for_seek()
