"""Builders for analysis tests: participants with constructed angle grids, simulated sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from sensorhub import events as ev
from sensorhub.analysis.demo import simulated_sessions
from sensorhub.dsp.detector import DetectorChunk
from sensorhub.store.model import ParticipantData, SessionData, SessionMeta

NS = 1_000_000_000
RATE_HZ = 50.0  # the default detector grid rate


def grid(n: int, rate_hz: float = RATE_HZ, t0_s: float = 0.0) -> NDArray[np.int64]:
    return (round(t0_s * NS) + np.arange(n) * round(NS / rate_hz)).astype(np.int64)


def episode(
    pid: str,
    onset: float,
    end: float,
    peak: float = 25.0,
    mean: float = 22.0,
    level: str = "forward",
) -> ev.EpisodeEnded:
    direction = "backward" if level == "backward" else level if level == "lying" else "forward"
    return ev.EpisodeEnded(pid, level, direction, onset, end, onset + 0.3, end - 0.3, peak, mean)


def participant(
    pid: str,
    forward: NDArray[np.float64],
    *,
    t_ns: NDArray[np.int64] | None = None,
    dynamic: NDArray[np.bool_] | None = None,
    lying: NDArray[np.bool_] | None = None,
    episodes: Sequence[ev.EpisodeEnded] = (),
    raw_t_ns: NDArray[np.int64] | None = None,
    attributes: dict[str, str | float | bool] | None = None,
) -> ParticipantData:
    """A participant whose detector output is given directly (no pipeline run)."""
    n = forward.size
    t = grid(n) if t_ns is None else t_ns
    zeros = np.zeros(n, dtype=bool)
    chunk = DetectorChunk(
        t,
        forward.astype(np.float64),
        np.zeros(n),
        np.abs(forward),
        zeros.copy() if dynamic is None else dynamic,
        zeros.copy() if lying is None else lying,
        [],
        [],
        [],
    )
    raw = t if raw_t_ns is None else raw_t_ns
    rate = (raw.size - 1) / ((raw[-1] - raw[0]) / NS) if raw.size > 1 else 0.0
    return ParticipantData(
        pid,
        f"sensor-{pid}",
        "polar_h10",
        attributes or {},
        {"method": "mounting"},
        raw,
        np.zeros((raw.size, 3)),
        chunk,
        tuple(episodes),
        rate,
    )


def session(
    sid: str,
    participants: Sequence[ParticipantData],
    dyads: Sequence[tuple[str, str]] = (),
    markers: Sequence[ev.Marker] = (),
) -> SessionData:
    duration = max(float(p.angles.t_ns[-1]) / NS for p in participants)
    meta = SessionMeta(sid, sid, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), duration)
    return SessionData(meta, tuple(participants), tuple(dyads), tuple(markers))


@pytest.fixture(scope="session")
def sim_sessions() -> list[SessionData]:
    """Two short simulated sessions (conditions alternate control/treatment)."""
    return simulated_sessions([11, 12], duration_s=240.0)
