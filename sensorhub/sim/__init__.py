"""Seeded conversation simulator with ground truth (demo, virtual sensors, tests, benchmarks).

Two (generally N, paired into dyads) seated participants wear a chest accelerometer like a
Polar H10. Each leans in now and then (10-35 deg, 2-60 s, smooth onsets and offsets), often
answering the partner's lean within 0.5-5 s; they breathe, gesture and shift posture; each
sensor sits at its own mounting rotation and runs on its own drifting clock.

- :func:`simulate_session` -> :class:`SimSession`: a finite session as arrays plus truth.
- :class:`ConversationStream`: the same signal, generated on demand without end, for the
  virtual BLE sensors and the live demo (``stream.sensors[p].read(36)`` or
  ``stream.iter_chunks(0.5)``).

Both are pure functions of ``(SimConfig, seed)``: chunk sizes never change the output.
"""

from sensorhub.sim.config import SimConfig
from sensorhub.sim.plan import TruthEpisode
from sensorhub.sim.session import SimParticipant, SimSession, simulate_session
from sensorhub.sim.stream import ConversationStream, SampleChunk, SensorClock, SensorStream
from sensorhub.sim.synth import Mount

__all__ = [
    "ConversationStream",
    "Mount",
    "SampleChunk",
    "SensorClock",
    "SensorStream",
    "SimConfig",
    "SimParticipant",
    "SimSession",
    "TruthEpisode",
    "simulate_session",
]
