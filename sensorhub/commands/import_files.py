"""``sensorhub import PATH...``: existing acceleration files as a recorded session in the store.

Each file (the layouts ``sensorhub detect`` reads: unit-named CSV columns, or Polar Sensor
Logger ACC exports) becomes one participant wearing an ``imported`` sensor; all files share
one session clock (see :func:`~sensorhub.store.importing.read_import`). The samples are stored
in the session's item stream as sample blocks (:mod:`sensorhub.protocols.samples`) of
:data:`BLOCK_S` of data each, received at their last sample's time, after a ``streaming`` link
status at each file's first sample and before a ``stopped`` one at its last. So ``sessions``,
``replay``, ``export`` and ``analyze`` treat the session like any recording.

Like a live run, the import feeds that item stream through a hub (the same decoders and
pipelines a replay builds) with the recorder attached, so the session's stored events -- the
episode counts ``sessions`` shows -- are exactly what a replay of it produces.

Every file is read and checked, and the configuration validated, before the store is opened:
a bad file gets one line naming the file and the reason (exit status 1) and no session is
created. A store that fails while writing has the partial session removed again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.bus import EventBus
from sensorhub.commands.serve import new_session_id
from sensorhub.config import (
    CalibrationConfig,
    HubConfig,
    ParticipantConfig,
    config_to_json,
    parse_config,
)
from sensorhub.dsp.inclination import parse_axis
from sensorhub.errors import ConfigError
from sensorhub.hub import Hub
from sensorhub.protocols.samples import SAMPLES_UUID, encode_block
from sensorhub.sources.base import Item, LinkState, LinkStatus, RawFrame, SensorKind, item_time
from sensorhub.sources.live import DecodeStage
from sensorhub.sources.replay import ReplayClock
from sensorhub.store.importing import ImportedFile, ImportedFiles, read_import
from sensorhub.store.sqlite import Recorder, StoreError, connect, default_db_path

__all__ = ["BLOCK_S", "build_config", "import_items", "register"]

NS = 1_000_000_000
#: Seconds of samples per stored block: about what a live sensor sends per second, so a
#: replay paces and seeks an imported session as smoothly as a recorded one.
BLOCK_S = 1.0
#: Upper bound on samples per block (a 1 s window of a very fast file is split further).
MAX_BLOCK_SAMPLES = 4096
#: Items fed between two drains of the decode stage (memory stays flat for long files).
_DRAIN_EVERY = 20_000


def parse_value(text: str) -> str | float | bool:
    """An attribute value: a JSON number or ``true``/``false`` as such, anything else text
    (so ``01`` stays the text ``"01"``)."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and np.isfinite(value):
        return value
    return text


def parse_attributes(specs: Sequence[str], ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``KEY=VALUE`` for every participant, ``ID:KEY=VALUE`` for one (later ones win)."""
    out: dict[str, dict[str, Any]] = {pid: {} for pid in ids}
    for spec in specs:
        key, sep, raw = spec.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--attr {spec!r}: expected KEY=VALUE or ID:KEY=VALUE")
        who, colon, name = key.partition(":")
        if colon and who not in out:
            raise ConfigError(f"--attr {spec!r}: no participant {who!r} (have {', '.join(ids)})")
        name = name if colon else key
        if not name.strip():
            raise ConfigError(f"--attr {spec!r}: empty attribute name")
        for pid in [who] if colon else ids:
            out[pid][name.strip()] = parse_value(raw.strip())
    return out


def parse_dyads(specs: Sequence[str]) -> list[tuple[str, str]]:
    dyads = []
    for spec in specs:
        parts = [p.strip() for p in spec.split(",")]
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"--dyad {spec!r}: expected two participant ids, A,B")
        dyads.append((parts[0], parts[1]))
    return dyads


def build_config(
    read: ImportedFiles,
    *,
    name: str,
    up: str | None = None,
    forward: str | None = None,
    attributes: dict[str, dict[str, Any]] | None = None,
    dyads: Sequence[tuple[str, str]] = (),
) -> HubConfig:
    """The session's configuration, validated exactly as a replay will read it back.

    Without ``up``/``forward`` each participant is calibrated ``auto`` from the ``imported``
    kind's nominal mounting (an assumption: y up, z forward); with both, that mounting.
    """
    if (up is None) != (forward is None):
        raise ConfigError("give both --up and --forward (the file's mounting), or neither")
    for flag, value in (("--up", up), ("--forward", forward)):
        if value is not None:
            parse_axis(value, flag)
    calibration = (
        CalibrationConfig("mounting", up, forward) if up is not None else CalibrationConfig()
    )
    attributes = attributes or {}
    config = HubConfig(
        participants=tuple(
            ParticipantConfig(
                f.participant,
                f.sensor,
                SensorKind.IMPORTED,
                calibration,
                attributes.get(f.participant, {}),
            )
            for f in read.files
        ),
        dyads=tuple(dyads),
        session_name=name,
    )
    return parse_config(config_to_json(config), source="import")


def _blocks(f: ImportedFile) -> list[tuple[int, int]]:
    """(start, stop) sample indices of the file's blocks: :data:`BLOCK_S` windows of time."""
    t = f.t_ns
    edges = np.arange(int(t[0]) + round(BLOCK_S * NS), int(t[-1]) + 1, round(BLOCK_S * NS))
    cuts = [0, *np.searchsorted(t, edges, side="left").tolist(), int(t.size)]
    out = []
    for a, b in itertools.pairwise(cuts):
        for start in range(a, b, MAX_BLOCK_SAMPLES):
            out.append((start, min(start + MAX_BLOCK_SAMPLES, b)))
    return out


def import_items(read: ImportedFiles) -> list[Item]:
    """Every file's link statuses and sample blocks, merged in receive-time order."""
    keyed: list[tuple[int, int, int, Item]] = []
    for i, f in enumerate(read.files):
        reason = f"imported from {Path(f.path).name} ({f.layout})"
        first, last = int(f.t_ns[0]), int(f.t_ns[-1])
        keyed.append(
            (
                first,
                0,
                i,
                LinkStatus(f.sensor, SensorKind.IMPORTED, LinkState.STREAMING, first, reason),
            )
        )
        for start, stop in _blocks(f):
            payload = encode_block(f.t_ns[start:stop], f.acc_g[start:stop])
            t = int(f.t_ns[stop - 1])
            keyed.append((t, 1, i, RawFrame(f.sensor, SAMPLES_UUID, payload, t)))
        keyed.append(
            (last, 2, i, LinkStatus(f.sensor, SensorKind.IMPORTED, LinkState.STOPPED, last, reason))
        )
    keyed.sort(key=lambda k: k[:3])  # stable: a file's blocks keep their order
    return [item for *_, item in keyed]


async def record_import(
    db: Path, session_id: str, config: HubConfig, read: ImportedFiles, items: Sequence[Item]
) -> tuple[Recorder, int]:
    """Record ``items`` as session ``session_id`` through a hub; returns the recorder (closed)
    and the number of episodes the pipelines found."""
    kinds = {p.sensor: SensorKind.IMPORTED for p in config.participants}
    recorder = Recorder(
        db,
        session_id=session_id,
        name=config.session_name,
        started_wall=read.started,
        software=f"sensorhub {__version__} (import)",
        config=config_to_json(config),
        participants=[
            {"id": p.id, "sensor": p.sensor, "kind": SensorKind.IMPORTED.value,
             "attributes": dict(p.attributes)}
            for p in config.participants
        ],
    )  # fmt: skip
    clock = ReplayClock()
    stage = DecodeStage([(s, k) for s, k in kinds.items()], now_ns=clock)
    # replay=True: no wall-clock status ticker, so the stored events are exactly a replay's.
    hub = Hub(
        config, stage, EventBus(), now_ns=clock, kinds=kinds, recorder=recorder,
        session_id=session_id, replay=True,
    )  # fmt: skip
    hub.started_wall = read.started
    episodes = 0

    def count(event: Any) -> None:
        nonlocal episodes
        episodes += isinstance(event, ev.EpisodeEnded)

    hub.event_sinks.append(count)
    hub.start()
    try:
        for n, item in enumerate(items, 1):
            clock.t_ns = max(clock.t_ns, item_time(item))
            stage.put(item)
            if n % _DRAIN_EVERY == 0:
                await stage.drain()
        clock.t_ns = max(clock.t_ns, read.last_ns)
    finally:
        await hub.close(reason="imported")
    if hub.pipeline_errors:
        print(
            f"sensorhub import: warning: {hub.pipeline_errors} pipeline errors (see the log); "
            "the samples are stored, the events may be incomplete",
            file=sys.stderr,
        )
    return recorder, episodes


def _discard(db: Path, session_id: str) -> None:
    """Remove a session that could not be written completely (best effort)."""
    with contextlib.suppress(StoreError, sqlite3.Error):
        conn = connect(db, create=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for table in ("items", "events", "participants"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            conn.execute("COMMIT")
        finally:
            conn.close()


def _run(args: argparse.Namespace) -> int:
    try:
        read = read_import(args.paths, args.participant)
    except ValueError as exc:
        raise ConfigError(f"--participant: {exc}") from exc
    ids = [f.participant for f in read.files]
    config = build_config(
        read,
        name=args.name or ", ".join(Path(p).name for p in args.paths),
        up=args.up,
        forward=args.forward,
        attributes=parse_attributes(args.attr or [], ids),
        dyads=parse_dyads(args.dyad or []),
    )
    items = import_items(read)
    db = Path(args.db) if args.db else default_db_path()
    session_id = new_session_id()
    try:
        recorder, episodes = asyncio.run(record_import(db, session_id, config, read, items))
    except BaseException:
        _discard(db, session_id)
        raise
    if recorder.error is not None or recorder.dropped:
        _discard(db, session_id)
        raise StoreError(f"import not stored: {recorder.error or 'rows were dropped'}")
    samples = sum(f.t_ns.size for f in read.files)
    print(session_id)
    print(
        f"sensorhub import: {len(read.files)} file(s) as session {session_id} in {db}: "
        f"participants {', '.join(ids)}; {samples} samples, "
        f"{read.duration_s:.1f} s, {episodes} episodes",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import",
        help="import acceleration files as a recorded session",
        description=(
            "Store acceleration files (t_s/t_ms + ax_g/ax_mg/ax_ms2 columns, as sensorhub "
            "detect reads and export --format csv writes, or Polar Sensor Logger ACC exports) "
            "as one session, one participant per file, so sessions, replay, export and "
            "analyze work on them as on a recording. Prints the new session's id."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="one file per participant")
    p.add_argument("--db", type=Path, help=f"session store (default {default_db_path()})")
    p.add_argument(
        "--participant",
        action="append",
        metavar="ID",
        help="participant id of each file, in order (default: the file name without extension)",
    )
    p.add_argument(
        "--attr",
        action="append",
        metavar="[ID:]KEY=VALUE",
        help="participant attribute (all participants, or only ID); numbers stay numbers",
    )
    p.add_argument("--up", metavar="AXIS|x,y,z", help="upright direction in the file's axes")
    p.add_argument("--forward", metavar="AXIS|x,y,z", help="forward (out of the chest)")
    p.add_argument("--dyad", action="append", metavar="A,B", help="two participants in a dyad")
    p.add_argument("--name", help="session name (default: the file names)")
    p.set_defaults(handler=_run)
