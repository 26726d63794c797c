"""LeanDetector end to end, including the chunking invariant on real recordings."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

from sensorhub.dsp.detector import DetectorChunk, DetectorConfig, LeanDetector, detect
from sensorhub.dsp.episodes import LevelSpec
from sensorhub.dsp.inclination import Calibration, calibrate_mounting
from sensorhub.io_csv import read_acc_csv
from tests.conftest import SHARED_DATA
from tests.dsp.geometry import random_mounting, reading

TRIALS = SHARED_DATA / "umafall_chest" / "trials"
# A bend, lying down, jogging (motion gate), and a file with a 2.4 s gap (a break).
INVARIANT_FILES = [
    "S02_ADL_Bending_2_",
    "S01_ADL_LyingDown_OnABed_1_",
    "S03_ADL_Jogging_1_",
    "S02_Fall_forwardFall_3_",
    "S07_ADL_Sitting_GettingUpOnAChair_2_",
]
UMAFALL = calibrate_mounting("+x", "+z")
CONFIG = DetectorConfig(
    levels=(
        LevelSpec("forward", "forward", 20.0, 15.0, min_duration_s=1.0),
        LevelSpec("backward", "backward", 10.0, 6.0),
        LevelSpec("subtle", "forward", 10.0, 6.0),
    )
)


def _trial(prefix: str) -> Path:
    (path,) = TRIALS.glob(prefix + "*.csv")
    return path


def _episodes(chunk: DetectorChunk) -> list[object]:
    return sorted(chunk.ended, key=repr)


def _feed_in_chunks(
    t: np.ndarray, acc: np.ndarray, sizes: np.ndarray, cal: Calibration
) -> DetectorChunk:
    det = LeanDetector(cal, CONFIG)
    parts, i = [], 0
    for size in sizes:
        if i >= t.size:
            break
        parts.append(det.process(t[i : i + size], acc[i : i + size]))
        i += int(size)
    parts.append(det.flush())
    return DetectorChunk.concat(parts)


@pytest.mark.parametrize("name", INVARIANT_FILES)
def test_random_chunking_is_bit_identical_to_one_call(name: str) -> None:
    rec = read_acc_csv(_trial(name))
    whole = detect(rec.t_ns, rec.acc_g, UMAFALL, CONFIG)
    assert whole.ended or whole.dynamic.any(), "nothing happens in the file: a weak test"
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    n = rec.t_ns.size
    for k in range(12):
        # Chunk sizes from 1 sample to the whole file, on a log scale.
        top = [1, 3, 36, n][k % 4]
        sizes = rng.integers(1, top + 1, size=n)
        got = _feed_in_chunks(rec.t_ns, rec.acc_g, sizes, UMAFALL)
        for field in ("t_ns", "forward", "lateral", "inclination", "dynamic", "lying"):
            assert np.array_equal(getattr(got, field), getattr(whole, field)), field
        assert _episodes(got) == _episodes(whole)
        assert sorted(got.started, key=repr) == sorted(whole.started, key=repr)
        assert got.breaks == whole.breaks


def test_gap_is_a_break_that_ends_episodes_and_restarts_the_chain() -> None:
    rec = read_acc_csv(_trial("S02_Fall_forwardFall_3_"))
    out = detect(rec.t_ns, rec.acc_g, UMAFALL, CONFIG)
    assert len(out.breaks) == 1
    gap = out.breaks[0]
    assert not np.any((out.t_ns > gap.last_before_ns) & (out.t_ns < gap.first_after_ns))


def _synthetic(fwd_deg: np.ndarray, lat_deg: np.ndarray | float = 0.0, seed: int = 3):
    up, forward = random_mounting(seed)
    acc = reading(up, forward, fwd_deg, lat_deg)
    acc += np.random.default_rng(seed).normal(scale=0.005, size=acc.shape)
    t = np.arange(fwd_deg.size, dtype=np.int64) * 20_000_000 + 123
    return t, acc, calibrate_mounting(up.tolist(), forward.tolist())


def _ramp_profile(*pieces: tuple[float, float]) -> np.ndarray:
    """Linear ramps between (seconds, degrees) waypoints at 50 Hz."""
    times = np.cumsum([0.0, *[p[0] for p in pieces]])
    values = [0.0, *[p[1] for p in pieces]]
    return np.interp(np.arange(0, times[-1], 0.02), times, values)


def test_forward_lean_is_detected_with_latency_corrected_onset() -> None:
    fwd = _ramp_profile((5, 0), (1, 30), (6, 30), (1, 0), (5, 0))
    t, acc, cal = _synthetic(fwd)
    out = detect(t, acc, cal)
    forward = [e for e in out.ended if e.level == "forward"]
    assert len(forward) == 1
    e = forward[0]
    assert abs((e.onset_ns - t[0]) / 1e9 - 5.0) < 0.5  # true onset 5 s
    assert abs((e.end_ns - t[0]) / 1e9 - 12.5) < 0.6  # back below 15 deg at ~12.5 s
    assert e.peak_deg == pytest.approx(30, abs=1.5)  # the 4th-order filter overshoots
    assert not [e for e in out.ended if e.level == "backward"]


def test_lying_back_is_lying_not_a_lean_and_blocks_levels() -> None:
    fwd = _ramp_profile((3, 0), (2, -85), (6, -85), (2, 0), (3, 0))
    t, acc, cal = _synthetic(fwd)
    out = detect(t, acc, cal)
    assert [e.level for e in out.ended if e.level == "lying"] == ["lying"]
    assert not [e for e in out.ended if e.level == "forward"]
    assert out.lying.sum() > 5 * 50
    # The backward level may catch the way down, but it is ended by lying.
    for e in out.ended:
        if e.level == "backward":
            assert e.exit_ns <= next(x.crossing_ns for x in out.ended if x.level == "lying")


def test_lying_on_the_side_is_lying() -> None:
    lat = _ramp_profile((3, 0), (2, 80), (6, 80), (2, 0), (3, 0))
    t, acc, cal = _synthetic(np.zeros(lat.size), lat)
    assert [e.level for e in detect(t, acc, cal).ended] == ["lying"]


def test_jogging_shake_does_not_start_an_episode() -> None:
    # A steady 25 deg forward tilt hidden under strong 2.7 Hz vertical bouncing is gated.
    fwd = np.full(1000, 25.0)
    t, acc, cal = _synthetic(fwd)
    bounce = 0.6 * np.sin(2 * np.pi * 2.7 * np.arange(1000) / 50.0)
    acc = acc * (1 + bounce)[:, None]
    out = detect(t, acc, cal)
    assert out.dynamic[100:].all()
    assert not out.ended


def test_reset_forgets_state() -> None:
    fwd = _ramp_profile((2, 0), (1, 30), (3, 30))
    t, acc, cal = _synthetic(fwd)
    det = LeanDetector(cal)
    first = det.process(t, acc)
    det.reset()
    again = det.process(t, acc)
    assert np.array_equal(first.forward, again.forward)
    assert first.started == again.started


def test_config_is_validated() -> None:
    cal = calibrate_mounting("+x", "+z")
    dup = DetectorConfig(
        levels=(LevelSpec("a", "forward", 20, 15), LevelSpec("a", "forward", 9, 5))
    )
    with pytest.raises(ValueError, match="unique"):
        LeanDetector(cal, dup)
    odd = DetectorConfig(levels=(LevelSpec("a", "sideways", 20, 15),))
    with pytest.raises(ValueError, match="forward or backward"):
        LeanDetector(cal, odd)


def test_public_surface_is_pinned() -> None:
    from sensorhub.dsp import conditioning, detector, episodes, filters, inclination, motion

    assert set(detector.__all__) == {
        "DEFAULT_LEVELS",
        "LYING_LEVEL",
        "DetectorChunk",
        "DetectorConfig",
        "LeanDetector",
        "detect",
    }
    assert set(episodes.__all__) == {
        "Episode",
        "EpisodeStart",
        "LevelResult",
        "LevelSpec",
        "LevelTracker",
    }
    assert set(inclination.__all__) == {
        "Angles",
        "Calibration",
        "angles_deg",
        "calibrate_fallback",
        "calibrate_mounting",
        "calibrate_two_pose",
        "parse_axis",
    }
    assert set(conditioning.__all__) == {
        "Break",
        "ConditionedChunk",
        "ConditioningStats",
        "Resampler",
    }
    assert set(filters.__all__) == {"SosFilter", "butter_lowpass", "low_frequency_delay_s"}
    assert set(motion.__all__) == {"MotionChunk", "MotionConfig", "MotionGate"}
