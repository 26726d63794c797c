"""Participant and dyad pipelines on simulated conversations: events, chunking, calibration."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from sensorhub import events as ev
from sensorhub.config import CalibrationConfig, DetectionConfig, ParticipantConfig
from sensorhub.pipeline import DyadPipeline, ParticipantPipeline, PipelineOutput
from sensorhub.sim import SimConfig, simulate_session
from sensorhub.sources.base import SensorKind


@pytest.fixture(scope="module")
def session() -> Any:
    return simulate_session(SimConfig(n_participants=2, duration_s=240.0), seed=5)


def run(
    participant: Any, cal: CalibrationConfig, chunks: list[int] | None = None
) -> tuple[list[Any], list[PipelineOutput]]:
    cfg = ParticipantConfig(f"p{participant.index + 1}", "sensor", calibration=cal)
    pipe = ParticipantPipeline(cfg, SensorKind.POLAR_H10, DetectionConfig(auto_calibration_s=30))
    t, acc = participant.t_true_ns, participant.acc_g
    bounds = np.cumsum([0, *(chunks or [t.size])])
    outputs = [pipe.process(t[a:b], acc[a:b]) for a, b in itertools.pairwise(bounds)]
    outputs.append(pipe.flush())
    return [e for o in outputs for e in o.events], outputs


def mounting(p: Any) -> CalibrationConfig:
    return CalibrationConfig("mounting", tuple(p.mount.up), tuple(p.mount.forward))


def test_episodes_match_the_simulated_truth(session: Any) -> None:
    p = session.participants[0]
    events, _ = run(p, mounting(p))
    ends = [e for e in events if isinstance(e, ev.EpisodeEnded) and e.level == "forward"]
    deep = [t for t in p.episodes if t.peak_deg >= 25]
    assert deep, "the simulated session should contain deep leans"
    for truth in deep:
        assert any(abs(e.onset - truth.start_s) < 1.5 for e in ends), truth


def test_angles_are_decimated_to_the_display_rate(session: Any) -> None:
    p = session.participants[0]
    events, _ = run(p, mounting(p))
    angles = [e for e in events if isinstance(e, ev.Angle)]
    dt = np.diff([a.t for a in angles])
    assert np.median(dt) == pytest.approx(0.1, abs=1e-6)
    assert len(angles) == pytest.approx(240 * 10, rel=0.01)


@pytest.mark.parametrize("seed", [1, 2])
def test_chunking_does_not_change_any_event(session: Any, seed: int) -> None:
    p = session.participants[1]
    whole, _ = run(p, CalibrationConfig("auto"))
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 2000, size=p.t_true_ns.size).tolist()
    total, chunks = 0, []
    for n in sizes:
        if total >= p.t_true_ns.size:
            break
        chunks.append(min(n, p.t_true_ns.size - total))
        total += chunks[-1]
    chunked, _ = run(p, CalibrationConfig("auto"), chunks)
    assert chunked == whole


def test_events_are_in_time_order_starts_ends_then_angles_at_a_tie(session: Any) -> None:
    def at(e: Any) -> tuple[float, int]:
        if isinstance(e, ev.EpisodeStarted):
            return e.confirmed, 0
        if isinstance(e, ev.EpisodeEnded):
            return e.end, 1
        return e.t, 2

    for p in session.participants:
        events, _ = run(p, mounting(p))
        assert sum(not isinstance(e, ev.Angle) for e in events) > 4
        keys = [at(e) for e in events]
        assert all(a[0] <= b[0] for a, b in itertools.pairwise(keys))
        assert all(a[1] <= b[1] for a, b in itertools.pairwise(keys) if a[0] == b[0])


def test_auto_calibration_replaces_the_nominal_mounting(session: Any) -> None:
    p = session.participants[0]
    cfg = ParticipantConfig("p1", "s", calibration=CalibrationConfig("auto"))
    pipe = ParticipantPipeline(cfg, SensorKind.POLAR_H10, DetectionConfig(auto_calibration_s=30))
    assert pipe.calibration.method == "mounting"
    pipe.process(p.t_true_ns, p.acc_g)
    assert pipe.calibration.method == "fallback"
    # The fallback recovers the true upright axis far better than the nominal strap mount.
    err = np.degrees(np.arccos(np.clip(pipe.calibration.up @ p.mount.up, -1, 1)))
    assert err < 8.0


def test_two_pose_steps_need_upright_first(session: Any) -> None:
    cfg = ParticipantConfig("p1", "s", calibration=CalibrationConfig("two-pose"))
    pipe = ParticipantPipeline(cfg, SensorKind.POLAR_H10, DetectionConfig())
    with pytest.raises(Exception, match="upright pose before"):
        pipe.calibrate("forward")


def test_dyad_pipeline_reports_colean_with_a_leader(session: Any) -> None:
    outs = {}
    for p in session.participants:
        _, outputs = run(p, mounting(p))
        outs[f"p{p.index + 1}"] = outputs
    dyad = DyadPipeline("p1", "p2")
    events: list[ev.DyadEvent] = []
    for a, b in zip(outs["p1"], outs["p2"], strict=True):
        events += dyad.feed("p1", a)
        events += dyad.feed("p2", b)
    events += dyad.finish()
    kinds = {e.kind for e in events}
    assert "correlation" in kinds
    starts = [e for e in events if e.kind == "colean_start"]
    assert all(e.leader in (None, "p1", "p2") for e in starts)
    for e in events:  # every event is valid on the wire
        assert ev.from_json(ev.to_json(e)) == e
