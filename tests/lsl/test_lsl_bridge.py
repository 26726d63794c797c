"""LslBridge against real liblsl outlets, resolved and read by pylsl inlets on this machine
(see conftest.py for the machine-only configuration every test here runs under)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub import events as ev
from sensorhub.bridges.lsl import MACHINE_ONLY_CONFIG, LslBridge, lsl_version, read_api_config
from sensorhub.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]
STRACE = shutil.which("strace")
#: Generous bounds for liblsl's own machinery (resolve, connect, delivery); never asserted on.
TIMEOUT_S = 10.0
#: Session time -> LSL time is exact arithmetic; this only absorbs float rounding.
TIME_TOLERANCE_S = 0.002


def _session() -> str:
    return uuid.uuid4().hex[:12]


def _inlet(pylsl: Any, source_id: str) -> Any:
    """An inlet connected to the stream with ``source_id`` (machine scope), ready to pull."""
    found = pylsl.resolve_byprop("source_id", source_id, minimum=1, timeout=TIMEOUT_S)
    assert len(found) == 1, f"{source_id}: found {len(found)} streams"
    inlet = pylsl.StreamInlet(found[0])  # recover=True, as LabRecorder
    inlet.open_stream(timeout=TIMEOUT_S)
    return inlet


def _pull(inlet: Any, n: int) -> tuple[list[Any], list[float]]:
    samples, stamps = [], []
    for _ in range(n):
        sample, stamp = inlet.pull_sample(timeout=TIMEOUT_S)
        assert sample is not None, f"only {len(samples)} of {n} samples arrived"
        samples.append(sample)
        stamps.append(stamp)
    return samples, stamps


def _channels(info: Any) -> list[dict[str, str]]:
    out = []
    channel = info.desc().child("channels").child("channel")
    while not channel.empty():
        out.append({k: channel.child_value(k) for k in ("label", "unit", "type")})
        channel = channel.next_sibling("channel")
    return out


# -- configuration ---------------------------------------------------------------------------


def test_shipped_config_is_machine_only() -> None:
    # Exactly these keys: no MachineAddresses/AddressesOverride/TTLOverride widening the scope.
    assert read_api_config(MACHINE_ONLY_CONFIG) == {
        "ports.IPv6": "disable",
        "multicast.ResolveScope": "machine",
        "multicast.ListenAddress": "127.0.0.1",
        "lab.KnownPeers": "{}",
        "log.level": "-2",
    }


def test_tests_run_under_the_machine_only_config(
    lsl_test_config: Path, lsl_test_session_id: str
) -> None:
    assert os.environ["LSLAPICFG"] == str(lsl_test_config)
    values = read_api_config(lsl_test_config)
    assert values == read_api_config(MACHINE_ONLY_CONFIG) | {"lab.SessionID": lsl_test_session_id}


def test_liblsl_read_the_test_config(pylsl: Any, lsl_test_session_id: str) -> None:
    # A stream carries the session id of the config liblsl loaded ("default" if it fell back).
    bridge = LslBridge(["p1"], session_id=(sid := _session()))
    try:
        (info,) = pylsl.resolve_byprop("source_id", f"sensorhub:{sid}:p1:angles", 1, TIMEOUT_S)
        assert info.session_id() == lsl_test_session_id
    finally:
        bridge.close()


_DISCOVERY_SCRIPT = textwrap.dedent(
    """
    import sys
    import pylsl
    from sensorhub import events as ev
    from sensorhub.bridges.lsl import LslBridge

    sid = sys.argv[1]  # unique per run: another test run on this machine has its own streams
    bridge = LslBridge(["p1"], session_id=sid)
    found = pylsl.resolve_streams(wait_time=1.0)  # a full discovery round, every group
    (info,) = [i for i in found if i.source_id() == f"sensorhub:{sid}:p1:angles"]
    inlet = pylsl.StreamInlet(info)
    inlet.open_stream(timeout=10)
    bridge.on_event(ev.Angle("p1", 0.5, 10.0, 2.0))
    assert inlet.pull_sample(timeout=10)[0] == [10.0, 2.0]
    bridge.close()
    """
)


def _destinations(config: Path, trace: Path, *, must_succeed: bool = True) -> set[str]:
    """Every IP address a bridge + resolve + inlet run sends to or connects to, per strace."""
    assert STRACE is not None
    env = dict(os.environ) | {"LSLAPICFG": str(config)}
    tracer = [STRACE, "-f", "-qq", "-e", "trace=sendto,sendmsg,connect", "-o", str(trace)]
    done = subprocess.run(
        [*tracer, sys.executable, "-c", _DISCOVERY_SCRIPT, _session()],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0 and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip()}")
    assert done.returncode == 0 or not must_succeed, done.stderr
    text = trace.read_text(encoding="utf-8")
    found = re.findall(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?, "([^"]+)"', text)
    return {v4 or v6 for v4, v6 in found}


@pytest.mark.skipif(STRACE is None, reason="strace is not installed: cannot watch the sockets")
def test_liblsl_only_talks_to_this_machine(
    pylsl: Any, lsl_test_config: Path, tmp_path: Path
) -> None:
    assert _destinations(lsl_test_config, tmp_path / "trace") == {"127.0.0.1"}


@pytest.mark.skipif(STRACE is None, reason="strace is not installed: cannot watch the sockets")
def test_the_shipped_config_alone_keeps_liblsl_on_this_machine(pylsl: Any, tmp_path: Path) -> None:
    assert _destinations(MACHINE_ONLY_CONFIG, tmp_path / "trace") == {"127.0.0.1"}


@pytest.mark.skipif(STRACE is None, reason="strace is not installed: cannot watch the sockets")
def test_the_socket_watch_sees_other_destinations(pylsl: Any, tmp_path: Path) -> None:
    # The check above can fail: a machine group moved to 127.0.0.2 (still loopback, so nothing
    # leaves this host) shows up.
    config = tmp_path / "lsl_api.cfg"
    config.write_text(
        MACHINE_ONLY_CONFIG.read_text(encoding="utf-8")
        + "\n[multicast]\nMachineAddresses = {127.0.0.2}\n",
        encoding="utf-8",
    )
    assert "127.0.0.2" in _destinations(config, tmp_path / "trace", must_succeed=False)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[multicast]\nResolveScope = machine\nResolveScope = site\n", "duplicate key"),
        ("[multicast\nResolveScope = machine\n", "closing bracket"),
        ("[multicast]\nResolveScope machine\n", "Key = value"),
        ("[multicast]\nResolveScope =\n", "Key = value"),
    ],
)
def test_read_api_config_refuses_what_liblsl_would_ignore(
    tmp_path: Any, text: str, problem: str
) -> None:
    path = tmp_path / "lsl_api.cfg"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        read_api_config(path)


def test_a_second_config_in_one_process_is_refused(pylsl: Any, tmp_path: Any) -> None:
    LslBridge(["p1"], session_id=_session()).close()  # liblsl has read TEST_CONFIG by now
    other = tmp_path / "lsl_api.cfg"
    other.write_text("[multicast]\nResolveScope = machine\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="already read"):
        LslBridge(["p1"], session_id=_session(), api_config=other)
    with pytest.raises(ConfigError, match="cannot read"):
        LslBridge(["p1"], session_id=_session(), api_config=tmp_path / "missing.cfg")


def test_unloadable_liblsl_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pylsl", None)  # import pylsl now raises ImportError
    with pytest.raises(ConfigError, match=r"^LSL not available: "):
        LslBridge(["p1"], session_id=_session())


def test_a_liblsl_that_fails_to_load_is_a_config_error(tmp_path: Path) -> None:
    # pylsl's real failure: the library file is there but the loader refuses it (wrong
    # platform, missing libstdc++...). PYLSL_LIB makes pylsl try this file first.
    broken = tmp_path / "liblsl.so"
    broken.write_bytes(b"not a shared library")
    script = textwrap.dedent(
        """
        from sensorhub.bridges.lsl import LslBridge, lsl_version
        from sensorhub.errors import ConfigError
        for attempt in (lambda: LslBridge(["p1"], session_id="s"), lsl_version):
            try:
                attempt()
            except ConfigError as exc:
                print(str(exc).splitlines()[0])
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=dict(os.environ) | {"PYLSL_LIB": str(broken)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        assert line.startswith(f"LSL not available: liblsl library '{broken}' found but could not")


def test_lsl_version_names_the_library(pylsl: Any) -> None:
    assert lsl_version() == (
        f"liblsl {pylsl.library_version() // 100}.{pylsl.library_version() % 100} "
        f"(pylsl {pylsl.__version__})"
    )


def test_bad_rate_and_repeated_participants_are_refused() -> None:
    with pytest.raises(ConfigError, match="angle_rate_hz"):
        LslBridge(["p1"], session_id=_session(), angle_rate_hz=0.0)
    with pytest.raises(ConfigError, match="repeat"):
        LslBridge(["p1", "p1"], session_id=_session())


# -- angle streams ---------------------------------------------------------------------------


def test_angle_outlets_describe_and_stream_each_participant(pylsl: Any) -> None:
    sid = _session()
    before = pylsl.local_clock()
    bridge = LslBridge(["p1", "p2"], session_id=sid, session_name="pilot", session_now_s=2.0)
    after = pylsl.local_clock()
    try:
        # Session t=2.0 (now) <-> LSL now: the offset is captured once, at construction.
        assert before <= bridge.lsl_time(2.0) <= after
        inlets = {p: _inlet(pylsl, f"sensorhub:{sid}:{p}:angles") for p in ("p1", "p2")}
        times = 2.0 + 0.1 * np.arange(1, 31)
        rng = np.random.default_rng(7)
        sent = {p: rng.uniform(-40, 40, size=(times.size, 2)) for p in inlets}
        for i, t in enumerate(times):
            for p in inlets:
                fwd, lat = sent[p][i]
                bridge.on_event(ev.Angle(p, float(t), float(fwd), float(lat)))
        for p, inlet in inlets.items():
            info = inlet.info(timeout=TIMEOUT_S)
            assert info.name() == f"sensorhub-{p}-angles"
            assert info.type() == "Inclination"
            assert info.channel_count() == 2
            assert info.channel_format() == pylsl.cf_float32
            assert info.nominal_srate() == 10.0
            assert info.source_id() == f"sensorhub:{sid}:{p}:angles"
            assert _channels(info) == [
                {"label": "forward", "unit": "degrees", "type": "Angle"},
                {"label": "lateral", "unit": "degrees", "type": "Angle"},
            ]
            assert info.desc().child_value("participant") == p
            session = info.desc().child("session")
            assert session.child_value("id") == sid
            assert session.child_value("name") == "pilot"
            assert float(session.child_value("t0_lsl")) == bridge.offset

            samples, stamps = _pull(inlet, times.size)
            np.testing.assert_array_equal(np.array(samples), sent[p].astype(np.float32))
            assert np.all(np.diff(stamps) > 0)
            np.testing.assert_allclose(
                np.array(stamps) - bridge.offset, times, rtol=0, atol=TIME_TOLERANCE_S
            )
        assert bridge.samples_pushed == 2 * times.size
        assert bridge.errors == 0
    finally:
        bridge.close()


def test_nominal_rate_follows_the_angle_rate(pylsl: Any) -> None:
    sid = _session()
    bridge = LslBridge(["p1"], session_id=sid, angle_rate_hz=25.0)
    try:
        (info,) = pylsl.resolve_byprop("source_id", f"sensorhub:{sid}:p1:angles", 1, TIMEOUT_S)
        assert info.nominal_srate() == 25.0
    finally:
        bridge.close()


def test_events_it_has_no_stream_for_are_ignored(pylsl: Any) -> None:
    sid = _session()
    bridge = LslBridge(["p1"], session_id=sid)
    try:
        inlet = _inlet(pylsl, f"sensorhub:{sid}:p1:angles")
        bridge.on_event(ev.Angle("p9", 1.0, 5.0, 1.0))
        bridge.on_event(ev.SensorStatus("s1", "polar_h10", "connected", 1.0))
        bridge.on_event(ev.DyadEvent(["p1", "p9"], "correlation", 1.0, r=0.5))
        bridge.on_event(ev.Angle("p1", 1.5, 12.0, -3.0))
        (sample,), (stamp,) = _pull(inlet, 1)
        assert sample == [12.0, -3.0]
        assert stamp - bridge.offset == pytest.approx(1.5, abs=TIME_TOLERANCE_S)
        assert (bridge.ignored, bridge.samples_pushed, bridge.errors) == (1, 1, 0)
    finally:
        bridge.close()


# -- markers ---------------------------------------------------------------------------------


def test_markers_carry_episodes_and_session_markers_at_their_session_times(pylsl: Any) -> None:
    sid = _session()
    bridge = LslBridge(["p1", "p2"], session_id=sid)
    inlet = _inlet(pylsl, f"sensorhub:{sid}:markers")
    info = inlet.info(timeout=TIMEOUT_S)
    assert (info.name(), info.type(), info.channel_count()) == ("sensorhub-markers", "Markers", 1)
    assert info.channel_format() == pylsl.cf_string
    assert info.nominal_srate() == pylsl.IRREGULAR_RATE

    bridge.on_event(ev.Marker(3.25, "task A begins", source="dashboard"))
    bridge.on_event(ev.EpisodeStarted("p1", "forward", "forward", 4.0, 4.2, 6.0))
    bridge.on_event(ev.EpisodeEnded("p1", "forward", "forward", 4.0, 9.5, 4.2, 9.3, 27.04, 22.0))
    bridge.on_event(ev.EpisodeStarted("p2", "backward", "backward", 10.0, 10.1, 12.0))
    bridge.on_event(
        ev.EpisodeEnded("p2", "backward", "backward", 10.0, 13.0, 10.1, 13.0, 18, 16, True)
    )
    bridge.close(session_now_s=14.0)
    bridge.close()  # idempotent: no second session_end
    bridge.on_event(ev.Marker(15.0, "after close"))  # ignored

    samples, stamps = _pull(inlet, 6)
    assert [s[0] for s in samples] == [
        "marker task A begins",
        "episode_start p1 forward",
        "episode_end p1 forward peak=27.0 mean=22.0",
        "episode_start p2 backward",
        "episode_end p2 backward peak=18.0 mean=16.0 truncated",
        f"session_end {sid}",
    ]
    # Episode markers are stamped at onset / end, not when the detector confirmed them.
    np.testing.assert_allclose(
        np.array(stamps) - bridge.offset,
        [3.25, 4.0, 9.5, 10.0, 13.0, 14.0],
        rtol=0,
        atol=TIME_TOLERANCE_S,
    )
    assert inlet.pull_sample(timeout=0.2)[0] is None  # nothing after session_end
    assert (bridge.markers_pushed, bridge.errors) == (6, 0)


# -- failures --------------------------------------------------------------------------------


class _BrokenOutlet:
    def __init__(self) -> None:
        self.calls = 0

    def push_sample(self, x: list[Any], timestamp: float = 0.0, pushthrough: bool = True) -> None:
        self.calls += 1
        raise RuntimeError("outlet gone")

    def have_consumers(self) -> bool:
        raise RuntimeError("outlet gone")


def test_a_failing_outlet_is_counted_logged_once_and_never_raises(
    pylsl: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sid = _session()
    bridge = LslBridge(["p1", "p2"], session_id=sid)
    try:
        healthy = _inlet(pylsl, f"sensorhub:{sid}:p2:angles")
        markers = _inlet(pylsl, f"sensorhub:{sid}:markers")
        broken = _BrokenOutlet()
        bridge._angle_outlets["p1"] = broken
        with caplog.at_level(logging.DEBUG, logger="sensorhub.bridges.lsl"):
            for k in range(5):
                bridge.on_event(ev.Angle("p1", 1.0 + k / 10, 10.0, 0.0))
                bridge.on_event(ev.Angle("p2", 1.0 + k / 10, 20.0 + k, 1.0))
            bridge.on_event(ev.Marker(2.0, "still here"))
        assert broken.calls == 5
        assert bridge.errors == 5
        assert bridge.samples_pushed == 5
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "angles p1" in errors[0].getMessage()
        assert errors[0].exc_info is not None
        samples, _ = _pull(healthy, 5)
        assert [s[0] for s in samples] == [20.0, 21.0, 22.0, 23.0, 24.0]
        (marker,), _ = _pull(markers, 1)
        assert marker == ["marker still here"]
    finally:
        bridge.close()


def test_a_failing_marker_outlet_is_swallowed_too(pylsl: Any) -> None:
    bridge = LslBridge(["p1"], session_id=_session())
    bridge._marker_outlet = _BrokenOutlet()
    bridge.on_event(ev.EpisodeStarted("p1", "forward", "forward", 4.0, 4.2, 6.0))
    bridge.close()
    assert (bridge.errors, bridge.markers_pushed) == (2, 0)


def test_public_surface_is_pinned() -> None:
    from sensorhub.bridges import lsl

    assert sorted(lsl.__all__) == [
        "LslBridge",
        "MACHINE_ONLY_CONFIG",
        "lsl_version",
        "read_api_config",
    ]
    assert all(hasattr(lsl, name) for name in lsl.__all__)
