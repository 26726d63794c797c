"""SessionData from samples: the live pipeline fed whole arrays, dyads included."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sensorhub.config import CalibrationConfig, ParticipantConfig
from sensorhub.sim import SimConfig, simulate_session
from sensorhub.store.model import SessionMeta, build_session


def test_build_session_from_simulated_samples() -> None:
    sim = simulate_session(SimConfig(n_participants=2, duration_s=180.0), seed=3)
    cfgs = [
        ParticipantConfig(
            f"p{p.index + 1}",
            f"sensor{p.index}",
            calibration=CalibrationConfig("mounting", tuple(p.mount.up), tuple(p.mount.forward)),
            attributes={"group": "A"},
        )
        for p in sim.participants
    ]
    samples = {f"p{p.index + 1}": (p.t_true_ns, p.acc_g) for p in sim.participants}
    meta = SessionMeta("s1", "test", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 180.0)
    data = build_session(meta, samples, cfgs, dyads=[("p1", "p2")])
    p1 = data.participant("p1")
    assert p1.calibration["method"] == "mounting"
    assert p1.angles.t_ns.size == p1.angles.forward.size > 180 * 45
    assert np.all(np.diff(p1.angles.t_ns) > 0)
    truth = [e for e in sim.participants[0].episodes if e.peak_deg >= 25]
    found = p1.episodes_of("forward")
    assert len(found) >= len(truth) > 0
    assert any(e.kind == "correlation" for e in data.dyad_events)
