"""Sessions from the simulator, for ``analyze --from-sim`` and tests.

Each seed is one simulated conversation (:func:`sensorhub.sim.simulate_session`) built into a
:class:`~sensorhub.store.model.SessionData` by the live pipeline, exactly as a replayed
recording would be. Calibration uses the simulator's true mounting, so the demo shows the
measures rather than calibration error. Sessions alternate between the demo conditions
``control`` and ``treatment`` (attribute ``condition``; the simulator draws both from the
same model, so expect no real difference), participants get ``seat`` ``left``/``right``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.config import CalibrationConfig, ParticipantConfig
from sensorhub.sim import SimConfig, simulate_session
from sensorhub.store.model import SessionData, SessionMeta, build_session

__all__ = ["CONDITIONS", "simulated_session", "simulated_sessions"]

CONDITIONS = ("control", "treatment")
_EPOCH = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)


def simulated_session(
    seed: int,
    *,
    duration_s: float = 600.0,
    n_participants: int = 2,
    condition: str = CONDITIONS[0],
) -> SessionData:
    """One simulated session ``sim<seed>`` with participants ``p1``, ``p2``, ... in dyads."""
    sim = simulate_session(SimConfig(n_participants=n_participants, duration_s=duration_s), seed)
    cfgs = [
        ParticipantConfig(
            f"p{p.index + 1}",
            f"sim{seed}-sensor{p.index}",
            calibration=CalibrationConfig("mounting", tuple(p.mount.up), tuple(p.mount.forward)),
            attributes={"condition": condition, "seat": ("left", "right")[p.index % 2]},
        )
        for p in sim.participants
    ]
    samples = {f"p{p.index + 1}": (p.t_true_ns, p.acc_g) for p in sim.participants}
    dyads = [(f"p{a + 1}", f"p{b + 1}") for a, b in sim.dyads()]
    # Demo markers as a researcher would set them: the task starts after the settling period.
    markers = [ev.Marker(sim.config.settle_s, "task start", "demo")]
    if duration_s > 240:
        markers.append(ev.Marker(duration_s / 2, "topic 2", "demo"))
    meta = SessionMeta(
        f"sim{seed}",
        f"simulated session {seed}",
        _EPOCH + dt.timedelta(days=seed),
        duration_s,
        software=f"sensorhub {__version__}",
        config={"simulator": {"seed": seed, "n_participants": n_participants}},
    )
    return build_session(meta, samples, cfgs, dyads=dyads, markers=markers)


def simulated_sessions(
    seeds: Sequence[int], *, duration_s: float = 600.0, n_participants: int = 2
) -> list[SessionData]:
    """One session per seed, conditions alternating in seed order."""
    return [
        simulated_session(
            s,
            duration_s=duration_s,
            n_participants=n_participants,
            condition=CONDITIONS[i % len(CONDITIONS)],
        )
        for i, s in enumerate(seeds)
    ]
