"""Load a recorded session as :class:`~sensorhub.store.model.SessionData`, by replaying it.

Exports and analyses of a recording are computed from exactly what a replay produces: the
same decoders, clock mapping, detectors and operator commands as the live run, so what a
researcher publishes is what the dashboard showed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub import events as ev
from sensorhub.dsp.detector import DetectorChunk
from sensorhub.hub import Hub
from sensorhub.ingest import SensorSamples
from sensorhub.pipeline import PipelineOutput
from sensorhub.sources.replay import replay_session
from sensorhub.store.model import ParticipantData, SessionData, SessionMeta

__all__ = ["load_session", "load_session_async"]


async def load_session_async(db: str | Path, session: str) -> SessionData:
    """Replay ``session`` at full speed and collect everything an analysis needs."""
    samples: dict[str, list[SensorSamples]] = defaultdict(list)
    outputs: dict[str, list[PipelineOutput]] = defaultdict(list)
    events: list[Any] = []
    hubs: list[Hub] = []

    def on_hub(hub: Hub) -> None:
        hubs.append(hub)
        hub.stage.sample_sinks.append(lambda block: samples[block.sensor].append(block))
        hub.output_sinks.append(lambda pid, out: outputs[pid].append(out))

    result = await replay_session(db, session, on_event=events.append, on_hub=on_hub)
    hub = hubs[0]
    row = result.session
    meta = SessionMeta(
        row.id,
        row.name,
        row.started_wall,
        row.duration_s or result.last_t_ns / 1e9,
        bool(row.ended_cleanly),
        row.software,
        row.config,
    )
    participants = []
    for cfg in hub.config.participants:
        blocks = samples.get(cfg.sensor, [])
        t = np.concatenate([b.t_ns for b in blocks]) if blocks else np.empty(0, np.int64)
        acc = np.concatenate([b.acc_g for b in blocks]) if blocks else np.empty((0, 3))
        chunks = [o.chunk for o in outputs.get(cfg.id, [])]
        chunk = DetectorChunk.concat(chunks) if chunks else _empty_chunk()
        pipe = hub.pipelines[cfg.id]
        rate = (t.size - 1) / ((t[-1] - t[0]) / 1e9) if t.size > 1 else 0.0
        participants.append(
            ParticipantData(
                cfg.id,
                cfg.sensor,
                pipe.kind.value,
                dict(cfg.attributes),
                pipe.calibration.describe(),
                t,
                acc,
                chunk,
                tuple(
                    e for e in events if isinstance(e, ev.EpisodeEnded) and e.participant == cfg.id
                ),
                rate,
            )
        )
    return SessionData(
        meta,
        tuple(participants),
        tuple(hub.config.dyads),
        tuple(e for e in events if isinstance(e, ev.Marker)),
        tuple(e for e in events if isinstance(e, ev.DyadEvent)),
        hub.config.detection,
    )


def _empty_chunk() -> DetectorChunk:
    f = np.empty(0, np.float64)
    b = np.empty(0, np.bool_)
    return DetectorChunk(np.empty(0, np.int64), f, f, f, b, b, [], [], [])


def load_session(db: str | Path, session: str) -> SessionData:
    """Synchronous :func:`load_session_async`, for command-line handlers."""
    return asyncio.run(load_session_async(db, session))
