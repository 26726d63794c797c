"""Unbounded, seeded streams of simulated H10-like accelerometer samples with ground truth.

Each sensor's samples are synthesised in fixed blocks of :data:`BLOCK` samples, each block
with its own noise generator seeded ``[seed, 2, participant, block]``; together with the
horizon-independent :class:`~sensorhub.sim.plan.Planner` this makes the output a pure function
of ``(config, seed, sample index)``: reading 1 sample at a time, 36 at a time (one H10 frame)
or a whole session gives identical arrays, and sensors may be read at different paces.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from sensorhub.errors import ConfigError
from sensorhub.sim.config import SimConfig
from sensorhub.sim.plan import Planner, TruthEpisode, partner_of
from sensorhub.sim.synth import Mount, body_kinematics, draw_background, draw_mount

__all__ = ["BLOCK", "ConversationStream", "SampleChunk", "SensorClock", "SensorStream"]

BLOCK = 1000

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class SensorClock:
    """A sensor's clock against the session (true) clock.

    Sample ``k`` carries device time ``device_start_ns + k * period_ns`` (the device samples
    at its nominal rate by its own crystal) and happens at session time
    ``true_start_ns + k * period_ns / (1 + drift_ppm * 1e-6)``.
    """

    period_ns: int
    device_start_ns: int
    true_start_ns: int
    drift_ppm: float

    def true_ns(self, k: I64) -> I64:
        scale = self.period_ns / (1.0 + self.drift_ppm * 1e-6)
        return self.true_start_ns + np.rint(k.astype(np.float64) * scale).astype(np.int64)

    def device_ns(self, k: I64) -> I64:
        return self.device_start_ns + k * self.period_ns

    def index_before(self, true_ns: int) -> int:
        """Number of samples whose session time is < ``true_ns``."""
        scale = self.period_ns / (1.0 + self.drift_ppm * 1e-6)
        k = max(0, math.ceil((true_ns - self.true_start_ns) / scale))
        # Guard the float rounding of true_ns() at the boundary.
        while k > 0 and int(self.true_ns(np.array([k - 1]))[0]) >= true_ns:
            k -= 1
        while int(self.true_ns(np.array([k]))[0]) < true_ns:
            k += 1
        return k


@dataclass(frozen=True, slots=True, eq=False)
class SampleChunk:
    """Consecutive samples of one sensor, with the truth at each sample.

    ``acc_mg`` is what an H10 sends (int16 mG, device axes); ``forward_deg`` and
    ``lateral_deg`` are the true trunk angles at ``t_true_ns`` (session clock).
    """

    participant: int
    first_index: int
    t_device_ns: I64
    t_true_ns: I64
    acc_mg: NDArray[np.int16]
    forward_deg: F64
    lateral_deg: F64

    @property
    def acc_g(self) -> F64:
        return self.acc_mg.astype(np.float64) / 1000.0

    def __len__(self) -> int:
        return int(self.t_true_ns.shape[0])


class SensorStream:
    """One participant's sensor; read it with :meth:`read` or :meth:`read_until`."""

    def __init__(self, conv: ConversationStream, participant: int) -> None:
        self._conv = conv
        self.participant = participant
        self.position = 0  # index of the next sample to read
        self._block_index = -1
        self._block: SampleChunk | None = None

    def read(self, n: int) -> SampleChunk:
        """The next ``n`` samples."""
        if n < 0:
            raise ConfigError(f"read(n): n must be >= 0, got {n}")
        parts = []
        end = self.position + n
        while self.position < end:
            b, off = divmod(self.position, BLOCK)
            block = self._get_block(b)
            take = min(BLOCK - off, end - self.position)
            parts.append((block, off, off + take))
            self.position += take
        return _concat(self.participant, end - n, parts)

    def read_until(self, true_ns: int) -> SampleChunk:
        """Every not yet read sample whose session time is before ``true_ns``."""
        k = self._conv.clocks[self.participant].index_before(true_ns)
        return self.read(max(0, k - self.position))

    def _get_block(self, b: int) -> SampleChunk:
        if b != self._block_index or self._block is None:
            self._block = self._conv._synth_block(self.participant, b)
            self._block_index = b
        return self._block


def _concat(p: int, first: int, parts: list[tuple[SampleChunk, int, int]]) -> SampleChunk:
    def cat(name: str) -> NDArray[np.generic]:
        arrays = [getattr(c, name)[lo:hi] for c, lo, hi in parts]
        if not arrays:
            shape = (0, 3) if name == "acc_mg" else (0,)
            dtype = {"acc_mg": np.int16, "forward_deg": np.float64, "lateral_deg": np.float64}
            return np.empty(shape, dtype=dtype.get(name, np.int64))
        return np.concatenate(arrays)

    return SampleChunk(
        participant=p,
        first_index=first,
        t_device_ns=cat("t_device_ns").astype(np.int64),
        t_true_ns=cat("t_true_ns").astype(np.int64),
        acc_mg=cat("acc_mg").astype(np.int16),
        forward_deg=cat("forward_deg").astype(np.float64),
        lateral_deg=cat("lateral_deg").astype(np.float64),
    )


class ConversationStream:
    """A seeded conversation of ``config.n_participants`` people, generated on demand.

    Deterministic given ``(config, seed)``; runs for as long as it is read. Per-participant
    mounting (:attr:`mounts`) and clock (:attr:`clocks`) are drawn at construction.
    """

    def __init__(self, config: SimConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.planner = Planner(config, seed)
        setup = np.random.default_rng([seed, 0])
        period_ns = round(1e9 / config.fs_hz)
        self.mounts: list[Mount] = []
        self.clocks: list[SensorClock] = []
        self._backgrounds = []
        for _ in range(config.n_participants):
            self.mounts.append(draw_mount(config, setup))
            drift = float(setup.uniform(-config.drift_ppm_max, config.drift_ppm_max))
            # H10 time: ns since 2000-01-01 on a clock that restarts at 2019-01-01.
            device_start = int(setup.integers(6 * 10**17, 8 * 10**17))
            true_start = int(setup.integers(0, period_ns))
            self.clocks.append(SensorClock(period_ns, device_start, true_start, drift))
            self._backgrounds.append(draw_background(config, setup))
        self.sensors = [SensorStream(self, p) for p in range(config.n_participants)]
        self._noise_sd_g = config.noise_ug_per_rthz * 1e-6 * math.sqrt(config.fs_hz / 2.0)
        self._clip_mg = min(round(config.range_g * 1000), 32767)

    @property
    def n_participants(self) -> int:
        return self.config.n_participants

    def partner(self, participant: int) -> int | None:
        return partner_of(participant, self.config.n_participants)

    def iter_chunks(self, seconds: float) -> Iterator[list[SampleChunk]]:
        """Endless: per step of ``seconds`` session time, each sensor's samples in it."""
        if seconds <= 0:
            raise ConfigError(f"iter_chunks: seconds must be > 0, got {seconds}")
        step = 0
        while True:
            step += 1
            until = round(step * seconds * 1e9)
            yield [s.read_until(until) for s in self.sensors]

    def true_angles(self, participant: int, t_s: F64) -> tuple[F64, F64]:
        """True forward and lateral angles (deg) at sorted session times ``t_s``."""
        t = np.asarray(t_s, dtype=np.float64)
        if t.size == 0:
            return np.empty(0), np.empty(0)
        self.planner.ensure(float(t[-1]))
        p = participant
        fwd, lat, _ = body_kinematics(
            self.config,
            t,
            self._backgrounds[p],
            self.planner.episodes[p],
            self.planner.shifts[p],
            self.planner.gestures[p],
        )
        return fwd, lat

    def truth_episodes(self, participant: int, until_s: float) -> list[TruthEpisode]:
        """Planned episodes with ``onset_begin_s < until_s``, with ``peak_deg`` filled in."""
        self.planner.ensure(until_s)
        out = []
        for ep in self.planner.episodes[participant]:
            if ep.onset_begin_s >= until_s:
                break
            grid = np.arange(ep.start_s, ep.end_s, 0.01)
            fwd, _ = self.true_angles(participant, grid)
            peak = float(fwd.max() if ep.depth_deg > 0 else fwd.min()) if grid.size else math.nan
            out.append(replace(ep, peak_deg=peak))
        return out

    def _synth_block(self, p: int, b: int) -> SampleChunk:
        clock = self.clocks[p]
        k = np.arange(b * BLOCK, (b + 1) * BLOCK, dtype=np.int64)
        t_true = clock.true_ns(k)
        t_s = t_true.astype(np.float64) / 1e9
        self.planner.ensure(float(t_s[-1]))
        fwd, lat, force = body_kinematics(
            self.config,
            t_s,
            self._backgrounds[p],
            self.planner.episodes[p],
            self.planner.shifts[p],
            self.planner.gestures[p],
        )
        mount = self.mounts[p]
        acc = force @ mount.rotation.T + mount.bias_g
        noise = np.random.default_rng([self.seed, 2, p, b])
        acc += noise.normal(0.0, self._noise_sd_g, size=acc.shape)
        mg = np.clip(np.rint(acc * 1000.0), -self._clip_mg, self._clip_mg).astype(np.int16)
        return SampleChunk(p, b * BLOCK, clock.device_ns(k), t_true, mg, fwd, lat)
