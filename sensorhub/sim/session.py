"""Finite simulated sessions: the stream read to ``config.duration_s``, with the truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensorhub.sim.config import SimConfig
from sensorhub.sim.plan import TruthEpisode
from sensorhub.sim.stream import ConversationStream, SensorClock
from sensorhub.sim.synth import Mount

__all__ = ["SimParticipant", "SimSession", "simulate_session"]


@dataclass(frozen=True, slots=True, eq=False)
class SimParticipant:
    """One participant's recording and ground truth.

    ``t_device_ns`` (device clock) and ``acc_g`` (N, 3, device axes, quantised to whole mG)
    are what a sensor delivers; ``t_true_ns``, ``forward_deg`` and ``lateral_deg`` are the
    session-clock time and true trunk angles of each sample. ``up`` and ``forward`` are the
    body axes in device coordinates (for explicit calibration). ``episodes`` holds every
    planned lean that begins before the session ends; one may run past the end.
    """

    index: int
    partner: int | None
    t_device_ns: NDArray[np.int64]
    t_true_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]
    forward_deg: NDArray[np.float64]
    lateral_deg: NDArray[np.float64]
    episodes: tuple[TruthEpisode, ...]
    mount: Mount
    clock: SensorClock

    @property
    def up(self) -> NDArray[np.float64]:
        return self.mount.up

    @property
    def forward(self) -> NDArray[np.float64]:
        return self.mount.forward

    @property
    def forward_episodes(self) -> tuple[TruthEpisode, ...]:
        return tuple(e for e in self.episodes if e.direction == "forward")


@dataclass(frozen=True, slots=True, eq=False)
class SimSession:
    """A simulated session; participants are paired (0, 1), (2, 3), ..."""

    config: SimConfig
    seed: int
    participants: tuple[SimParticipant, ...]

    @property
    def duration_s(self) -> float:
        return self.config.duration_s

    def dyads(self) -> list[tuple[int, int]]:
        n = len(self.participants)
        return [(a, a + 1) for a in range(0, n - 1, 2)]


def simulate_session(config: SimConfig, seed: int) -> SimSession:
    """Simulate ``config.duration_s`` seconds; identical to reading a stream of the same seed."""
    stream = ConversationStream(config, seed)
    end_ns = round(config.duration_s * 1e9)
    people = []
    for p, sensor in enumerate(stream.sensors):
        chunk = sensor.read_until(end_ns)
        people.append(
            SimParticipant(
                index=p,
                partner=stream.partner(p),
                t_device_ns=chunk.t_device_ns,
                t_true_ns=chunk.t_true_ns,
                acc_g=chunk.acc_g,
                forward_deg=chunk.forward_deg,
                lateral_deg=chunk.lateral_deg,
                episodes=tuple(stream.truth_episodes(p, config.duration_s)),
                mount=stream.mounts[p],
                clock=stream.clocks[p],
            )
        )
    return SimSession(config=config, seed=seed, participants=tuple(people))
