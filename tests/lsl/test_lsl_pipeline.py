"""A simulated participant's pipeline events, through the LSL bridge, read back by pylsl:
every angle sample and every episode marker arrives, stamped at its session time."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from sensorhub import events as ev
from sensorhub.bridges.lsl import LslBridge
from sensorhub.config import CalibrationConfig, DetectionConfig, ParticipantConfig
from sensorhub.pipeline import ParticipantPipeline
from sensorhub.sim import SimConfig, simulate_session
from sensorhub.sources.base import SensorKind

TIMEOUT_S = 10.0


def _pipeline_events(duration_s: float) -> list[Any]:
    (p,) = simulate_session(SimConfig(n_participants=1, duration_s=duration_s), seed=3).participants
    cal = CalibrationConfig("mounting", tuple(p.mount.up), tuple(p.mount.forward))
    pipe = ParticipantPipeline(
        ParticipantConfig("p1", "sensor", calibration=cal), SensorKind.POLAR_H10, DetectionConfig()
    )
    t, acc = p.t_true_ns, p.acc_g
    events: list[Any] = []
    for a in range(0, t.size, 130):  # about a second of samples per chunk, like a live link
        events += pipe.process(t[a : a + 130], acc[a : a + 130]).events
    return events + pipe.flush().events


def _connect(pylsl: Any, source_id: str) -> Any:
    (info,) = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=TIMEOUT_S)
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=TIMEOUT_S)
    return inlet


def _pull_all(inlet: Any, n: int) -> tuple[list[Any], list[float]]:
    samples: list[Any] = []
    stamps: list[float] = []
    while len(samples) < n:
        chunk, times = inlet.pull_chunk(timeout=TIMEOUT_S, max_samples=n - len(samples))
        assert chunk, f"only {len(samples)} of {n} samples arrived"
        samples += chunk
        stamps += times
    return samples, stamps


def test_a_sessions_angles_and_episodes_arrive_complete_and_on_time(pylsl: Any) -> None:
    events = _pipeline_events(180.0)
    angles = [e for e in events if isinstance(e, ev.Angle)]
    episodes = [e for e in events if isinstance(e, ev.EpisodeStarted | ev.EpisodeEnded)]
    assert len(angles) > 1700
    assert any(isinstance(e, ev.EpisodeEnded) and e.level == "forward" for e in episodes)

    sid = uuid.uuid4().hex[:12]
    bridge = LslBridge(["p1"], session_id=sid)
    angle_inlet = _connect(pylsl, f"sensorhub:{sid}:p1:angles")
    marker_inlet = _connect(pylsl, f"sensorhub:{sid}:markers")
    for event in events:
        bridge.on_event(event)
    try:
        samples, stamps = _pull_all(angle_inlet, len(angles))
        np.testing.assert_array_equal(
            np.array(samples),
            np.array([[a.forward, a.lateral] for a in angles], dtype=np.float32),
        )
        session_t = np.array(stamps) - bridge.offset
        np.testing.assert_allclose(session_t, [a.t for a in angles], rtol=0, atol=0.002)
        # A regular stream at the nominal 10 Hz, in order.
        assert np.all(np.diff(session_t) > 0)
        assert np.isclose(np.median(np.diff(session_t)), 0.1, rtol=0, atol=1e-6)

        markers, marker_stamps = _pull_all(marker_inlet, len(episodes))
        assert [m[0].split()[:3] for m in markers] == [[e.TYPE, "p1", e.level] for e in episodes]
        when = [e.onset if isinstance(e, ev.EpisodeStarted) else e.end for e in episodes]
        np.testing.assert_allclose(
            np.array(marker_stamps) - bridge.offset, when, rtol=0, atol=0.002
        )
        assert bridge.errors == 0
    finally:
        bridge.close()
