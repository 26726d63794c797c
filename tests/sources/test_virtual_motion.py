"""Motion sources for virtual sensors: constant posture, recorded CSV, simulator adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensorhub.errors import ConfigError
from sensorhub.sources.virtual.motion import ConstantPosture, CsvMotion, as_motion_source
from tests.conftest import SHARED_DATA

BENDING = SHARED_DATA / "umafall_chest" / "trials" / "S01_ADL_Bending_1_2016-06-13_20-25-34.csv"


def test_constant_posture_is_unit_gravity_leaning_forward() -> None:
    samples = ConstantPosture.leaning(30.0).next_samples(5)
    assert samples.shape == (5, 3)
    np.testing.assert_allclose(np.linalg.norm(samples, axis=1), 1.0)
    np.testing.assert_allclose(samples[0], [np.cos(np.pi / 6), 0.0, -0.5], atol=1e-12)


def test_constant_posture_noise_is_seeded() -> None:
    a = ConstantPosture(noise_g=0.01, seed=3).next_samples(10)
    b = ConstantPosture(noise_g=0.01, seed=3).next_samples(10)
    np.testing.assert_array_equal(a, b)
    assert np.std(a[:, 0]) > 0


def test_csv_motion_resamples_and_loops() -> None:
    motion = CsvMotion(BENDING, rate_hz=50.0)
    total = motion.samples.shape[0]
    assert 600 < total < 900  # ~15 s at 50 Hz
    first = motion.next_samples(total)
    again = motion.next_samples(3)
    np.testing.assert_array_equal(again, first[:3])  # looped
    # Upright at the start: x reads about +1 g (the recording's convention).
    assert 0.8 < first[0, 0] < 1.1


def test_csv_motion_chunking_does_not_matter() -> None:
    whole = CsvMotion(BENDING, rate_hz=25.0).next_samples(100)
    chunked = CsvMotion(BENDING, rate_hz=25.0)
    parts = np.concatenate([chunked.next_samples(n) for n in (1, 36, 7, 56)])
    np.testing.assert_array_equal(parts, whole)


def test_csv_motion_rejects_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("t_ms,ax_g\n1,2\n")
    with pytest.raises(ConfigError):
        CsvMotion(bad, rate_hz=50)
    with pytest.raises(ConfigError):
        CsvMotion(tmp_path / "missing.csv", rate_hz=50)


def test_adapter_accepts_read_style_streams_and_refuses_others() -> None:
    class Chunk:
        def __init__(self, n: int) -> None:
            self.acc_g = np.full((n, 3), 0.5)

    class Stream:
        def read(self, n: int) -> Chunk:
            return Chunk(n)

    source = as_motion_source(Stream())
    np.testing.assert_array_equal(source.next_samples(2), np.full((2, 3), 0.5))
    posture = ConstantPosture()
    assert as_motion_source(posture) is posture
    with pytest.raises(ConfigError, match="not a motion source"):
        as_motion_source(object())


def test_adapter_works_with_the_simulator() -> None:
    from sensorhub.sim import ConversationStream, SimConfig

    stream = ConversationStream(SimConfig(), seed=1)
    source = as_motion_source(stream.sensors[0])
    samples = source.next_samples(36)
    assert samples.shape == (36, 3)
    assert 0.5 < float(np.median(np.linalg.norm(samples, axis=1))) < 1.5
