"""Calibration methods and angle conventions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.dsp.inclination import (
    angles_deg,
    calibrate_fallback,
    calibrate_mounting,
    calibrate_two_pose,
    parse_axis,
)
from sensorhub.errors import ConfigError
from tests.dsp.geometry import random_mounting, reading


def test_parse_axis_names_and_vectors() -> None:
    assert parse_axis("+x").tolist() == [1, 0, 0]
    assert parse_axis("-z").tolist() == [0, 0, -1]
    assert parse_axis("Y").tolist() == [0, 1, 0]
    np.testing.assert_allclose(parse_axis("0,3,4"), [0, 0.6, 0.8])
    for bad in ("+w", "1,2", "0,0,0", "x,y,z", "nan,1,1"):
        with pytest.raises(ConfigError, match="expected an axis name"):
            parse_axis(bad, "up")


def test_mounting_orthogonalises_and_refuses_parallel_axes() -> None:
    cal = calibrate_mounting("+x", "0.2,0,1")
    assert cal.method == "mounting"
    assert abs(cal.up @ cal.forward) < 1e-12
    with pytest.raises(ConfigError, match="60 degrees"):
        calibrate_mounting("+x", "1,0,0.3")


@given(st.integers(0, 2**31), st.floats(-80, 80), st.floats(-40, 40))
def test_angles_recover_known_lean_for_any_mounting(seed: int, fwd: float, lat: float) -> None:
    up, forward = random_mounting(seed)
    cal = calibrate_mounting(up.tolist(), forward.tolist())
    ang = angles_deg(reading(up, forward, fwd, lat) * 0.97, cal)  # scale does not matter
    assert ang.forward[0] == pytest.approx(fwd, abs=1e-6)
    # Lateral is measured in the plane of up and right, so it is exact when fwd == 0.
    if abs(fwd) < 1e-9:
        assert ang.lateral[0] == pytest.approx(lat, abs=1e-6)
    assert np.sign(ang.lateral[0]) == np.sign(lat) or abs(lat) < 1e-6
    expected_incl = np.degrees(np.arccos(np.cos(np.radians(fwd)) * np.cos(np.radians(lat))))
    assert ang.inclination[0] == pytest.approx(expected_incl, abs=1e-6)


def test_tilt_forward_tells_a_deep_bend_from_lying_back() -> None:
    up, forward = random_mounting(4)
    cal = calibrate_mounting(up.tolist(), forward.tolist())
    ang = angles_deg(reading(up, forward, [100.0, -85.0, 0.0], [0.0, 0.0, 80.0]), cal)
    assert ang.tilt_forward.tolist() == [True, False, False]
    assert ang.forward[0] == pytest.approx(100.0)


def _pose(up: np.ndarray, fwd: np.ndarray, deg: float, seed: int, n: int = 500) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(scale=0.005, size=(n, 3))
    return reading(up, fwd, np.full(n, deg)) + noise


def test_two_pose_recovers_the_mounting() -> None:
    up, forward = random_mounting(7)
    cal = calibrate_two_pose(_pose(up, forward, 0.0, 1), _pose(up, forward, 30.0, 2), 50.0)
    assert cal.method == "two-pose"
    assert np.degrees(np.arccos(cal.up @ up)) < 0.5
    assert np.degrees(np.arccos(cal.forward @ forward)) < 1.5
    assert cal.quality["separation_deg"] == pytest.approx(30.0, abs=0.5)
    assert cal.warnings == ()


def test_two_pose_refuses_poses_too_close_and_warns_when_not_still() -> None:
    up, forward = random_mounting(8)
    with pytest.raises(ConfigError, match=r"only .* degrees from upright"):
        calibrate_two_pose(_pose(up, forward, 0.0, 1), _pose(up, forward, 8.0, 2), 50.0)
    shaky = _pose(up, forward, 30.0, 3) + np.random.default_rng(0).normal(scale=0.1, size=(500, 3))
    cal = calibrate_two_pose(_pose(up, forward, 0.0, 1), shaky, 50.0)
    assert any("not still" in w for w in cal.warnings)


def _session(up: np.ndarray, fwd: np.ndarray, seed: int, back_scale: float) -> np.ndarray:
    """10 s still upright, then slow forward leans (and smaller backward ones)."""
    t = np.arange(0, 60, 0.02)
    lean = np.where(t < 10, 0.0, 25 * np.sin(2 * np.pi * t / 12))
    lean = np.where(lean < 0, lean * back_scale, lean)
    noise = np.random.default_rng(seed).normal(scale=0.003, size=(t.size, 3))
    return reading(up, fwd, lean) + noise


def test_fallback_finds_up_and_forward_with_sign_from_mounting_hint() -> None:
    up, forward = random_mounting(11)
    acc = _session(up, forward, 1, back_scale=1.0)
    hint = (forward + 0.3 * np.cross(forward, up)).tolist()  # rough known mounting
    cal = calibrate_fallback(acc, 50.0, forward_hint=hint)
    assert cal.method == "fallback"
    assert np.degrees(np.arccos(cal.up @ up)) < 1.0
    assert np.degrees(np.arccos(cal.forward @ forward)) < 2.0
    assert cal.quality["forward_source"] == "tilt principal axis, signed by known mounting"


def test_fallback_without_hint_signs_by_larger_excursion() -> None:
    up, forward = random_mounting(12)
    cal = calibrate_fallback(_session(up, forward, 2, back_scale=0.3), 50.0)
    assert cal.forward @ forward > 0.99


def test_fallback_uses_the_hint_when_excursions_are_too_small() -> None:
    up, forward = random_mounting(13)
    acc = reading(up, forward, np.zeros(1000)) + 0.001
    cal = calibrate_fallback(acc, 50.0, forward_hint=forward.tolist())
    assert "known mounting" in str(cal.quality["forward_source"])
    assert cal.forward @ forward > 0.999


def test_calibration_needs_a_second_of_data() -> None:
    with pytest.raises(ConfigError, match="at least 1 s"):
        calibrate_fallback(np.ones((10, 3)), 50.0)


def test_fallback_upright_is_the_most_common_still_posture_not_the_stillest() -> None:
    """People hold still while leaning; the baseline posture is the one held most often."""
    up, forward = random_mounting(14)
    rng = np.random.default_rng(5)
    upright = reading(up, forward, np.zeros(3000)) + rng.normal(scale=0.004, size=(3000, 3))
    held_lean = reading(up, forward, np.full(500, 25.0))  # perfectly still, but leaning
    acc = np.concatenate([upright[:1500], held_lean, upright[1500:]])
    cal = calibrate_fallback(acc, 50.0, forward_hint=forward.tolist())
    assert cal.quality["up_source"] == "most common still posture"
    assert np.degrees(np.arccos(min(1.0, cal.up @ up))) < 1.0


def test_fallback_with_known_forward_skips_lying_postures() -> None:
    """Moving upright, then lying still on the back: lying cannot be upright."""
    up, forward = random_mounting(15)
    rng = np.random.default_rng(6)
    moving = reading(up, forward, np.zeros(1000)) + rng.normal(scale=0.08, size=(1000, 3))
    lying = reading(up, forward, np.full(3000, -85.0)) + rng.normal(scale=0.002, size=(3000, 3))
    cal = calibrate_fallback(np.concatenate([moving, lying]), 50.0, forward_hint=forward.tolist())
    assert np.degrees(np.arccos(min(1.0, cal.up @ up))) < 3.0
    with pytest.raises(ConfigError, match="lying throughout"):
        calibrate_fallback(lying, 50.0, forward_hint=forward.tolist())
