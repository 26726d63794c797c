"""A finished session in memory: what exports and analyses are computed from.

:class:`SessionData` holds, per participant, the raw samples on the session clock and what
the *same* streaming detector the live service runs makes of them (angles on its uniform grid,
episodes), plus markers, dyads and every dyad event. It is built by :func:`build_session`
from samples, whatever their origin: a replayed recording, an imported file, or the
simulator in tests. So an export or analysis of a recording uses exactly the code path the
live run used (DESIGN invariant: replay is live).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub import events as ev
from sensorhub.config import DetectionConfig, ParticipantConfig
from sensorhub.dsp.detector import DetectorChunk
from sensorhub.pipeline import DyadPipeline, ParticipantPipeline, PipelineOutput
from sensorhub.sources.base import SensorKind

__all__ = ["ParticipantData", "SessionData", "SessionMeta", "build_session"]


@dataclass(frozen=True, slots=True)
class SessionMeta:
    """Who, when and how: the session-level facts every output carries."""

    id: str
    name: str
    started: dt.datetime  # wall-clock anchor of session time 0 (UTC)
    duration_s: float
    ended_cleanly: bool = True
    software: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class ParticipantData:
    """One participant: raw samples, the detector's output on them, and their episodes.

    ``t_ns``/``acc_g``: raw samples (session ns; g, device axes). ``angles``: the detector's
    uniform grid (``t_ns``, ``forward``, ``lateral``, ``inclination``, ``dynamic``,
    ``lying``). ``episodes``: every finished episode of every level (``level`` tells which).
    """

    id: str
    sensor: str
    kind: str
    attributes: Mapping[str, str | float | bool]
    calibration: Mapping[str, Any]
    t_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]
    angles: DetectorChunk
    episodes: tuple[ev.EpisodeEnded, ...]
    sample_rate_hz: float

    def episodes_of(self, level: str) -> list[ev.EpisodeEnded]:
        return [e for e in self.episodes if e.level == level]


@dataclass(frozen=True, slots=True, eq=False)
class SessionData:
    meta: SessionMeta
    participants: tuple[ParticipantData, ...]
    dyads: tuple[tuple[str, str], ...]
    markers: tuple[ev.Marker, ...] = ()
    dyad_events: tuple[ev.DyadEvent, ...] = ()
    detection: DetectionConfig = field(default_factory=DetectionConfig)

    def participant(self, pid: str) -> ParticipantData:
        for p in self.participants:
            if p.id == pid:
                return p
        raise KeyError(pid)


def build_session(
    meta: SessionMeta,
    samples: Mapping[str, tuple[NDArray[np.int64], NDArray[np.float64]]],
    participants: Sequence[ParticipantConfig],
    *,
    kinds: Mapping[str, SensorKind] | None = None,
    dyads: Sequence[tuple[str, str]] = (),
    markers: Sequence[ev.Marker] = (),
    detection: DetectionConfig | None = None,
) -> SessionData:
    """Run each participant's samples through the live pipeline (fed whole) and collect.

    ``samples`` maps participant id to ``(t_ns, acc_g)``; ``kinds`` maps participant id to
    the sensor kind (default Polar H10), which sets the nominal mounting for calibration.
    """
    detection = detection or DetectionConfig()
    kinds = kinds or {}
    out: list[ParticipantData] = []
    outputs: dict[str, PipelineOutput] = {}
    for cfg in participants:
        t, acc = samples[cfg.id]
        kind = kinds.get(cfg.id, SensorKind.POLAR_H10)
        pipe = ParticipantPipeline(cfg, kind, detection)
        result = PipelineOutput.concat([pipe.process(t, acc), pipe.flush()])
        outputs[cfg.id] = result
        episodes = tuple(e for e in result.events if isinstance(e, ev.EpisodeEnded))
        rate = (t.size - 1) / ((t[-1] - t[0]) / 1e9) if t.size > 1 else 0.0
        out.append(
            ParticipantData(
                cfg.id,
                cfg.sensor,
                kind.value,
                dict(cfg.attributes),
                pipe.calibration.describe(),
                t,
                acc,
                result.chunk,
                episodes,
                rate,
            )
        )
    dyad_events: list[ev.DyadEvent] = []
    for a, b in dyads:
        pipe_d = DyadPipeline(a, b)
        dyad_events += pipe_d.feed(a, outputs[a])
        dyad_events += pipe_d.feed(b, outputs[b])
        dyad_events += pipe_d.finish()
    return SessionData(
        meta, tuple(out), tuple(dyads), tuple(markers), tuple(dyad_events), detection
    )
