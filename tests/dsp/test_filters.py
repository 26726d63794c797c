"""SosFilter: carried state makes chunked filtering bit-identical to one call."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import signal

from sensorhub.dsp.filters import SosFilter, butter_lowpass, low_frequency_delay_s


def _chunked(filt: SosFilter, x: np.ndarray, cuts: list[int]) -> np.ndarray:
    bounds = [0, *sorted(set(cuts)), x.shape[0]]
    return np.concatenate([filt.process(x[a:b]) for a, b in itertools.pairwise(bounds)])


@given(st.lists(st.integers(min_value=0, max_value=500), max_size=30), st.integers(0, 2**31))
def test_chunked_equals_whole(cuts: list[int], seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(500, 3)).cumsum(axis=0)
    sos = butter_lowpass(4, 1.0, 50.0)
    whole = SosFilter(sos, 3).process(x)
    assert np.array_equal(_chunked(SosFilter(sos, 3), x, cuts), whole)


def test_matches_scipy_with_steady_state_initialisation() -> None:
    x = np.random.default_rng(1).normal(size=(300, 3))
    sos = butter_lowpass(4, 1.0, 50.0)
    expected, _ = signal.sosfilt(sos, x, axis=0, zi=signal.sosfilt_zi(sos)[:, :, None] * x[0])
    assert np.array_equal(SosFilter(sos, 3).process(x), expected)


def test_constant_input_gives_constant_output() -> None:
    x = np.tile([0.1, -0.2, 0.97], (200, 1))
    y = SosFilter(butter_lowpass(4, 1.0, 50.0), 3).process(x)
    np.testing.assert_allclose(y, x, atol=1e-12)


def test_reset_reinitialises_from_next_sample() -> None:
    sos = butter_lowpass(4, 1.0, 50.0)
    filt = SosFilter(sos, 3)
    filt.process(np.zeros((100, 3)))
    filt.reset()
    assert filt.state is None
    y = filt.process(np.ones((5, 3)))
    np.testing.assert_allclose(y, 1.0, atol=1e-12)


def test_low_frequency_delay_matches_review() -> None:
    # Methods review section 1.1: 4th order 1 Hz -> ~0.42 s at any rate.
    for fs in (20.0, 50.0, 200.0):
        assert low_frequency_delay_s(butter_lowpass(4, 1.0, fs), fs) == pytest.approx(
            0.42, abs=0.02
        )


def test_bad_shapes_and_cutoffs_are_refused() -> None:
    with pytest.raises(ValueError, match="cut-off"):
        butter_lowpass(4, 30.0, 50.0)
    with pytest.raises(ValueError, match="expected shape"):
        SosFilter(butter_lowpass(2, 1.0, 50.0), 3).process(np.zeros((4, 2)))


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=20), st.integers(0, 2**31))
def test_fast_kernel_path_equals_public_sosfilt(cuts: list[int], seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(300, 2)).cumsum(axis=0)
    sos = butter_lowpass(2, 2.0, 50.0)
    public = SosFilter(sos, 2)
    public.fast = False
    fast = SosFilter(sos, 2)
    assert np.array_equal(_chunked(fast, x, cuts), _chunked(public, x, cuts))
    state_fast, state_public = fast.state, public.state
    assert state_fast is not None
    assert state_public is not None
    assert np.array_equal(state_fast, state_public)


def test_fast_kernel_is_in_use_on_this_scipy() -> None:
    # Not a correctness requirement (the public path is the fallback), but the live
    # per-chunk cost depends on it: fail loudly if a SciPy upgrade silently disables it.
    assert SosFilter(butter_lowpass(2, 1.0, 50.0), 3).fast
