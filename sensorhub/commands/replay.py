"""``sensorhub replay SESSION``: run a recording through the live pipeline again.

``--format jsonl`` prints every event the replay produces (angles, episodes, dyad, status and
marker events), one JSON object per line, in exactly the websocket schema. ``--serve`` shows
the replay on the dashboard as if it were live, with pause, speed and seek (``/api/replay``,
the dashboard's replay bar); at the end it holds, and a seek plays it again. A damaged
recording replays up to the damage and the command says where it stopped (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.errors import ConfigError
from sensorhub.server.app import ServerHandle, create_app, run_server
from sensorhub.server.settings import ServerSettings
from sensorhub.sources.replay import (
    ReplayControl,
    ReplayHubControl,
    ReplayResult,
    replay_session,
)
from sensorhub.store.sqlite import default_db_path

__all__ = ["ServedReplay", "register", "serve_replay"]


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number or 'max', not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def _report(result: ReplayResult) -> int:
    where = f"{result.items} items ({result.frames} frames) up to {result.last_t_ns / 1e9:.1f} s"
    if result.complete:
        print(f"replayed session {result.session.id}: {where}", file=sys.stderr)
        return 0
    print(
        f"replay of {result.session.id} stopped at item {result.last_seq} "
        f"({result.last_t_ns / 1e9:.1f} s): {result.stopped_because}",
        file=sys.stderr,
    )
    return 1


async def _run(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    counts: dict[str, int] = {}

    def on_event(event: Any) -> None:
        counts[event.TYPE] = counts.get(event.TYPE, 0) + 1
        if args.format == "jsonl":
            sys.stdout.write(ev.dumps(event) + "\n")

    if not args.serve:
        result = await replay_session(db, args.session, speed=args.speed, on_event=on_event)
        if args.format != "jsonl":
            print(", ".join(f"{n} {t}" for t, n in sorted(counts.items())))
        return _report(result)

    settings = ServerSettings(host=args.host, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with serve_replay(db, args.session, speed=args.speed, settings=settings) as served:
        handle = served.handle
        where = handle.url + (f"?token={handle.token}" if handle.token else "")
        print(f"sensorhub: replaying {args.session} on {where}", flush=True)
        if handle.token:
            print(f"sensorhub: access token {handle.token}", flush=True)
        code = 0  # stopped before the end: nothing to report
        ended = asyncio.create_task(served.control.wait_ended())
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({served.task, ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if served.task.done():  # only by failing: a held replay waits for seeks
                served.task.result()
            if ended.done():
                code = _report(ended.result())
                print("sensorhub: replay finished; seek on the dashboard to watch again, "
                      "Ctrl-C to stop serving", flush=True)  # fmt: skip
                await stop.wait()
        finally:
            ended.cancel()
            stopped.cancel()
    return code


@dataclass
class ServedReplay:
    """A replay behind a listening server: its control, its task and the server handle."""

    control: ReplayControl
    task: asyncio.Task[ReplayResult]
    handle: ServerHandle


@asynccontextmanager
async def serve_replay(
    db: str | Path, session: str, *, speed: float | None, settings: ServerSettings
) -> AsyncIterator[ServedReplay]:
    """Replay ``session`` paced at ``speed`` behind the dashboard server, with pause, speed
    and seek on ``/api/replay``; at the end the replay holds (a seek plays it again).
    Leaving the context stops the replay, then the server."""
    bus = EventBus()
    control = ReplayControl(speed=speed, hold_at_end=True)
    task = asyncio.create_task(replay_session(db, session, bus=bus, control=control))
    started = asyncio.create_task(control.wait_started())
    try:
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()  # the recording could not be opened: raise why
            raise AssertionError("a held replay returned")  # pragma: no cover
        app = create_app(ReplayHubControl(control), bus, settings)
        async with run_server(app, settings.host, settings.port) as handle:
            yield ServedReplay(control, task, handle)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        started.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("replay", help="replay a recorded session through the live pipeline")
    p.add_argument("session", help="session id, a unique prefix of it, or 'latest'")
    p.add_argument("--db", type=Path, help="session store (default: the serve default)")
    p.add_argument(
        "--speed",
        type=_speed,
        default=argparse.SUPPRESS,  # absent is not max: --serve then plays in real time
        help="1, 10, ... or max (default: max; 1 with --serve)",
    )
    p.add_argument("--format", choices=["summary", "jsonl"], default="summary")
    p.add_argument("--serve", action="store_true", help="show the replay on the dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)

    def handler(args: argparse.Namespace) -> int:
        if args.serve and args.format == "jsonl":
            raise ConfigError("--serve and --format jsonl do not go together")
        if not hasattr(args, "speed"):
            args.speed = 1.0 if args.serve else None
        return asyncio.run(_run(args))

    p.set_defaults(handler=handler)
