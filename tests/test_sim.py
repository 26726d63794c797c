"""The simulator: determinism, chunk independence, geometry, truth and sensor realism."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorhub.dsp.detector import DetectorConfig, detect
from sensorhub.dsp.episodes import LevelSpec
from sensorhub.dsp.inclination import calibrate_mounting
from sensorhub.errors import ConfigError
from sensorhub.sim import ConversationStream, SimConfig, SimSession, TruthEpisode, simulate_session
from sensorhub.sim.score import score_events

SHORT = SimConfig(duration_s=180.0)
QUIET = SimConfig(duration_s=180.0, gesture_interval_s=0.0, shift_acc_g=(0.0, 0.0))


@pytest.fixture(scope="module")
def session() -> SimSession:
    return simulate_session(SHORT, seed=7)


def _forward_from_mount(acc: np.ndarray, up: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    u = acc / np.linalg.norm(acc, axis=1)[:, None]
    return np.degrees(np.arctan2(-(u @ fwd), u @ up))


def _lateral_from_mount(acc: np.ndarray, up: np.ndarray, fwd: np.ndarray) -> np.ndarray:
    """Positive toward the wearer's right (right = forward x up), as dsp.inclination."""
    u = acc / np.linalg.norm(acc, axis=1)[:, None]
    return np.degrees(np.arctan2(-(u @ np.cross(fwd, up)), u @ up))


def test_same_seed_same_session_other_seed_differs(session: SimSession) -> None:
    again = simulate_session(SHORT, seed=7)
    other = simulate_session(SHORT, seed=8)
    for a, b, c in zip(session.participants, again.participants, other.participants, strict=True):
        assert np.array_equal(a.acc_g, b.acc_g)
        assert np.array_equal(a.t_device_ns, b.t_device_ns)
        assert a.episodes == b.episodes
        assert not np.array_equal(a.acc_g[:1000], c.acc_g[:1000])


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 700), min_size=1, max_size=40))
def test_stream_in_any_chunks_equals_session(session: SimSession, sizes: list[int]) -> None:
    stream = ConversationStream(SHORT, seed=7)
    p = 1
    sensor = stream.sensors[p]
    n_total = sum(sizes)
    chunks = [sensor.read(n) for n in sizes]
    want = session.participants[p]
    got_acc = np.concatenate([c.acc_g for c in chunks])
    got_t = np.concatenate([c.t_device_ns for c in chunks])
    got_fwd = np.concatenate([c.forward_deg for c in chunks])
    assert np.array_equal(got_acc, want.acc_g[:n_total])
    assert np.array_equal(got_t, want.t_device_ns[:n_total])
    assert np.array_equal(got_fwd, want.forward_deg[:n_total])


def test_iter_chunks_covers_session_time_without_overlap(session: SimSession) -> None:
    stream = ConversationStream(SHORT, seed=7)
    steps = stream.iter_chunks(0.7)
    got: list[list[np.ndarray]] = [[], []]
    for _ in range(100):  # 70 s
        for p, chunk in enumerate(next(steps)):
            got[p].append(chunk.t_true_ns)
    for p in range(2):
        t = np.concatenate(got[p])
        want = session.participants[p].t_true_ns
        assert np.array_equal(t, want[: t.size])
        assert t[-1] < 70e9 <= want[t.size]


def test_explicit_mounting_recovers_true_forward_angle() -> None:
    s = simulate_session(QUIET, seed=3)
    for p in s.participants:
        est = _forward_from_mount(p.acc_g, p.up, p.forward)
        # One-second means remove noise; what remains is bias and lean-induced acceleration.
        n = 200 * (est.size // 200)
        err = (est[:n] - p.forward_deg[:n]).reshape(-1, 200).mean(axis=1)
        assert np.median(np.abs(err)) < 1.0
        assert np.percentile(np.abs(err), 95) < 2.5
        lat = _lateral_from_mount(p.acc_g, p.up, p.forward)
        lat_err = (lat[:n] - p.lateral_deg[:n]).reshape(-1, 200).mean(axis=1)
        assert np.median(np.abs(lat_err)) < 1.0
        assert np.std(p.lateral_deg) > 0.5  # there is lateral motion to get wrong


def test_random_mounting_is_a_rotation_and_still_recoverable() -> None:
    cfg = dataclasses.replace(QUIET, mounting="random", duration_s=40.0)
    s = simulate_session(cfg, seed=11)
    for p in s.participants:
        r = p.mount.rotation
        assert np.allclose(r.T @ r, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        est = _forward_from_mount(p.acc_g, p.up, p.forward)
        assert abs(np.mean(est - p.forward_deg)) < 1.5


def test_strap_mounting_near_nominal_axes(session: SimSession) -> None:
    for p in session.participants:
        assert np.linalg.det(p.mount.rotation) == pytest.approx(1.0)  # proper: no mirror
        assert p.forward[2] > np.cos(np.radians(30))  # +z out of the chest
        assert p.up[1] > np.cos(np.radians(30))  # +y up
        # At upright rest the sensor reads the up vector: the mounting is not axis-aligned.
        first_s = p.acc_g[:2000].mean(axis=0)
        assert np.degrees(np.arccos(first_s @ p.up / np.linalg.norm(first_s))) < 3.0


def test_sensor_quantisation_range_and_noise(session: SimSession) -> None:
    acc = session.participants[0].acc_g
    mg = acc * 1000.0
    assert np.allclose(mg, np.rint(mg), rtol=0, atol=1e-9)
    assert np.abs(mg).max() <= 8000
    # Noise from sample-to-sample differences in the quiet settle period (signal is slow there).
    d = np.diff(mg[200:2800], axis=0)
    noise_mg = d.std(axis=0) / np.sqrt(2)
    expect = 180e-6 * np.sqrt(100) * 1000  # density * sqrt(fs/2), in mG
    assert np.all(noise_mg > 0.7 * expect)
    assert np.all(noise_mg < 1.5 * expect)


def test_clock_offset_and_drift(session: SimSession) -> None:
    for p in session.participants:
        dt = np.diff(p.t_device_ns)
        assert np.all(dt == 5_000_000)  # 200 Hz by the device's own clock
        assert p.t_device_ns[0] > 10**17  # device epoch, not session time
        slope = np.polyfit(p.t_device_ns - p.t_device_ns[0], p.t_true_ns, 1)[0]
        drift_ppm = (1.0 / slope - 1.0) * 1e6
        assert drift_ppm == pytest.approx(p.clock.drift_ppm, abs=0.01)
        assert abs(drift_ppm) <= 50.0
    d0, d1 = (p.clock.drift_ppm for p in session.participants)
    assert d0 != d1


def _all_episodes(seeds: range) -> list[SimSession]:
    return [simulate_session(SimConfig(duration_s=900.0), seed=s) for s in seeds]


@pytest.fixture(scope="module")
def many() -> list[SimSession]:
    return _all_episodes(range(6))


def test_episode_ranges_and_spacing(many: list[SimSession]) -> None:
    cfg = SimConfig()
    n_fwd = 0
    for s in many:
        for p in s.participants:
            eps = p.episodes
            for e in eps:
                if e.direction == "forward":
                    n_fwd += 1
                    assert 10.0 <= e.depth_deg <= 35.0
                    assert 2.0 <= e.end_s - e.start_s <= 60.0
                else:
                    assert -15.0 <= e.depth_deg <= -6.0
                assert e.onset_begin_s < e.start_s < e.end_s < e.offset_end_s
                assert e.start_s >= cfg.settle_s
            for a, b in itertools.pairwise(eps):
                assert b.onset_begin_s - a.offset_end_s >= cfg.min_gap_s
    # "every 20-60 s": 2 x 900 s per session, minus settle time and long holds.
    assert 10 * len(many) < n_fwd < 2 * 900 / 20 * len(many)


def test_responses_follow_partner_onsets(many: list[SimSession]) -> None:
    responses = 0
    for s in many:
        for p in s.participants:
            for e in p.episodes:
                if e.response_to is None:
                    continue
                responses += 1
                q, i = e.response_to
                assert q == p.partner
                leader = s.participants[q].episodes[i]
                assert e.lag_s is not None
                assert 0.5 <= e.lag_s <= 5.0
                assert e.start_s - leader.start_s == pytest.approx(e.lag_s)
                assert e.led_by == q
    assert responses >= len(many)  # sometimes together


def test_peak_matches_sampled_truth(session: SimSession) -> None:
    p = session.participants[0]
    t = p.t_true_ns / 1e9
    for e in p.forward_episodes:
        if e.end_s > session.duration_s:
            continue
        inside = (t >= e.start_s) & (t <= e.end_s)
        assert p.forward_deg[inside].max() == pytest.approx(e.peak_deg, abs=0.05)
        assert abs(e.peak_deg - e.depth_deg) < 8.0


def test_breathing_and_quiet_start(session: SimSession) -> None:
    p = session.participants[0]
    quiet = p.forward_deg[: 200 * 14]
    assert 0.5 < np.ptp(quiet) < 6.0
    spec = np.abs(np.fft.rfft(quiet - quiet.mean()))
    freqs = np.fft.rfftfreq(quiet.size, 1 / 200.0)
    assert 0.14 <= freqs[np.argmax(spec)] <= 0.36


def test_unbounded_stream_keeps_leaning() -> None:
    stream = ConversationStream(SimConfig(), seed=5)
    late = [e for e in stream.truth_episodes(0, 7200.0) if e.start_s > 3600.0]
    assert 40 <= len(late) <= 200
    chunk = stream.sensors[0].read_until(round(3601 * 1e9))
    assert chunk.t_true_ns[-1] < 3601e9


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_participants", 0),
        ("fs_hz", 0.0),
        ("lean_depth_deg", (30.0, 10.0)),
        ("response_prob", 1.5),
        ("mounting", "glued"),
        ("gesture_s", (0.0, 1.0)),
        ("response_lag_s", (-1.0, 2.0)),
        ("lean_depth_deg", (0.0, 10.0)),
    ],
)
def test_bad_config_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        SimConfig(**{field: value})  # type: ignore[arg-type]


def test_four_participants_form_two_dyads() -> None:
    s = simulate_session(SimConfig(n_participants=4, duration_s=200.0), seed=2)
    assert s.dyads() == [(0, 1), (2, 3)]
    assert [p.partner for p in s.participants] == [1, 0, 3, 2]
    for p in s.participants:
        for e in p.episodes:
            assert e.response_to is None or e.response_to[0] == p.partner


# --- scoring, and the detector on simulated conversations ---------------------------------


def _ep(start: float, end: float, peak: float) -> TruthEpisode:
    return TruthEpisode(
        0, 0, "forward", start - 0.5, start, end, end + 0.5, peak, 0, 0, 0.1, 0, peak_deg=peak
    )


def test_score_events_counts_hits_misses_false_alarms_and_dont_care() -> None:
    truth = [_ep(10, 20, 30), _ep(40, 50, 12), _ep(70, 80, 25)]
    detected = [(10.4, 20.5), (40.2, 49.0), (100.0, 105.0), (71.5, 80.0)]
    s = score_events(truth, detected, lambda e: e.peak_deg >= 15)
    assert (s.positives, s.hits, s.ignored, s.false_alarms) == (2, 1, 1, 2)
    assert s.precision == pytest.approx(1 / 3)
    assert s.recall == pytest.approx(0.5)
    assert s.onset_errors_s == pytest.approx((0.4,))
    assert s.offset_errors_s == pytest.approx((0.5,))


def test_calibration_protocol_gives_an_upright_then_a_lean_pose() -> None:
    cfg = SimConfig(duration_s=40.0, calibration_pose_deg=30.0, settle_s=25.0)
    p = simulate_session(cfg, seed=1).participants[0]
    t = p.t_true_ns / 1e9
    assert abs(p.forward_deg[(t > 2) & (t < 9.5)].mean()) < 3.0
    assert p.forward_deg[(t > 12) & (t < 17)].mean() == pytest.approx(30.0, abs=3.0)
    assert p.episodes[0].direction == "calibration"
    with pytest.raises(ConfigError, match="settle_s"):
        SimConfig(calibration_pose_deg=30.0)


@pytest.mark.parametrize("seed", [101, 202])
def test_detector_finds_simulated_leans_of_15_deg_and_more(seed: int) -> None:
    """Pins the bench/eval_sim.py result: F1 >= 0.95 for leans >= 15 deg (subtle level)."""
    cfg = SimConfig(duration_s=300.0)
    levels = (LevelSpec("subtle", "forward", 10.0, 6.0),)
    total = None
    for p in simulate_session(cfg, seed).participants:
        cal = calibrate_mounting(p.up.tolist(), p.forward.tolist())
        chunk = detect(p.t_true_ns, p.acc_g, cal, DetectorConfig(levels=levels))
        found = [(e.onset_ns / 1e9, e.end_ns / 1e9) for e in chunk.ended if e.level == "subtle"]
        truth = [e for e in p.episodes if e.direction == "forward"]
        score = score_events(
            truth, found, lambda e: e.peak_deg >= 15.0 and e.end_s < cfg.duration_s - 1
        )
        total = score if total is None else total + score
    assert total is not None
    assert total.positives >= 10
    assert total.f1 >= 0.95
    assert total.median_abs_onset_s() < 0.5


def test_public_surface_is_pinned() -> None:
    import sensorhub.sim as sim

    assert sorted(sim.__all__) == [
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
    assert all(hasattr(sim, name) for name in sim.__all__)
