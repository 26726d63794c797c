"""End-to-end ingestion through bleak's public API over the virtual radio.

Supervisors find, connect and start real (virtual) sensors; decoders place every sample on the
session clock. Counts come from both ends, so "every sample accounted for" is checked, not
assumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sensorhub.sources.base import LinkState, LinkStatus, SensorKind
from sensorhub.sources.ble import BackendClasses, ReconnectPolicy
from sensorhub.sources.live import LiveSensors, monotonic_session_clock
from sensorhub.sources.virtual import VirtualClient, VirtualScanner, make_sensors
from sensorhub.sources.virtual.sensor import VirtualSensor
from sensorhub.sources.virtual.world import VirtualRadio

BACKENDS = BackendClasses(scanner=VirtualScanner, client=VirtualClient)
FAST = ReconnectPolicy(jitter=0.0)


class Harness(LiveSensors):
    """LiveSensors for a set of virtual sensors, keeping everything they report."""

    def __init__(self, sensors: list[VirtualSensor], watchdog_s: float = 2.0) -> None:
        super().__init__(
            [(s.name, SensorKind(s.kind)) for s in sensors],
            backends=BACKENDS,
            now_ns=monotonic_session_clock(),
            watchdog_s=watchdog_s,
            policy=FAST,
        )
        self.now = self.now_ns
        self.statuses: list[LinkStatus] = []
        self.status_sinks.append(self.statuses.append)
        self.kinds = {s.name: SensorKind(s.kind) for s in sensors}

    async def wait_streaming(self, timeout: float = 10.0) -> None:
        await _until(
            lambda: all(s.status.state is LinkState.STREAMING for s in self.supervisors),
            timeout,
        )

    async def close(self) -> None:
        await asyncio.wait_for(super().close(), 10.0)


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_four_kinds_stream_at_once_with_every_sample_accounted(
    radio: VirtualRadio,
) -> None:
    sensors = make_sensors(["polar_h10", "polar_h10", "movesense", "leanfw"])
    for s in sensors:
        await radio.add(s)
    h = Harness(sensors)
    h.start()
    await h.wait_streaming()
    await asyncio.sleep(1.5)
    await h.close()
    for s, sup in zip(sensors, h.supervisors, strict=True):
        dec = h.decoders[sup.sensor_id]
        assert dec.stats.malformed == 0, dec.stats.last_error
        assert dec.stats.gaps == 0
        assert dec.stats.samples > 0
        # Every sample the sensor generated while streaming reached the decoder.
        assert dec.stats.samples == s.stats.samples_generated, s.name
        assert sup.status.state is LinkState.STOPPED
    radio_kinds = {SensorKind.POLAR_H10, SensorKind.MOVESENSE, SensorKind.LEANFW}
    assert {h.kinds[s.name] for s in sensors} == radio_kinds


async def test_deliberate_close_stops_the_stream_before_disconnecting(
    radio: VirtualRadio,
) -> None:
    (h10,) = make_sensors(["polar_h10"])
    await radio.add(h10)
    h = Harness([h10])
    h.start()
    await h.wait_streaming()
    await asyncio.sleep(0.3)
    await h.close()
    states = [s.state for s in h.statuses]
    assert states.index(LinkState.STOPPING) < states.index(LinkState.STOPPED)
    assert not h10.streaming("acc"), "sensor still streaming after a deliberate close"


async def test_link_drop_reconnects_and_reports_gap_at_true_length(radio: VirtualRadio) -> None:
    (h10,) = make_sensors(["polar_h10"])
    await radio.add(h10)
    h = Harness([h10])
    h.start()
    await h.wait_streaming()
    await asyncio.sleep(0.5)
    drop_started = h.now()
    await h10.drop_link()
    drop_done = h.now()  # frames may still arrive while the drop is under way
    await asyncio.sleep(0.05)
    await h.wait_streaming(timeout=5.0)
    back_at = h.now()
    await asyncio.sleep(0.5)
    await h.close()
    sup = h.supervisors[0]
    dec = h.decoders[sup.sensor_id]
    assert sup.status.reconnects == 1
    assert dec.stats.gaps == 1
    gap = dec.stats.gap_list[0]
    assert gap.reason == "reconnect"
    # The gap covers the outage: it starts before the drop ended and ends after it began.
    assert gap.start_ns <= drop_done
    assert gap.end_ns >= drop_started
    assert gap.duration_ns <= back_at - drop_started + 500_000_000
    assert sup.stale_callbacks == 0


async def test_silent_link_is_reconnected_by_the_watchdog(radio: VirtualRadio) -> None:
    (lean,) = make_sensors(["leanfw"])
    await radio.add(lean)
    h = Harness([lean], watchdog_s=0.5)
    h.start()
    await h.wait_streaming()
    lean.go_silent()
    await asyncio.sleep(0.9)
    lean.go_silent(False)
    await h.wait_streaming(timeout=5.0)
    await asyncio.sleep(0.3)
    await h.close()
    reasons = [s.reason for s in h.statuses if s.state is LinkState.RECONNECTING]
    assert any("no data" in r for r in reasons), reasons
    assert h.supervisors[0].status.reconnects >= 1


async def test_malformed_and_repeated_frames_are_counted_and_stream_goes_on(
    radio: VirtualRadio,
) -> None:
    (h10,) = make_sensors(["polar_h10"])
    await radio.add(h10)
    h = Harness([h10])
    h.start()
    await h.wait_streaming()
    dec = h.decoders[h.supervisors[0].sensor_id]
    await _until(lambda: dec.stats.frames >= 2)
    h10.send_malformed(3)
    await _until(lambda: h10.stats.frames_malformed == 3)
    await _until(lambda: dec.stats.frames >= 3)  # repeats must be of good frames
    h10.repeat_frames(2)
    await _until(lambda: h10.stats.frames_repeated == 2)
    await _until(lambda: dec.stats.frames >= 7)
    await h.close()
    assert dec.stats.malformed == h10.stats.frames_malformed == 3
    assert dec.stats.duplicates == h10.stats.frames_repeated == 2
    # The three corrupted frames' samples are a gap of known length, not silently lost.
    assert dec.stats.gaps == 1
    lost = h10.stats.samples_generated - dec.stats.samples
    assert lost > 0
    assert dec.stats.missing_samples == lost


@pytest.mark.parametrize("kind", ["polar_h10", "leanfw"])
async def test_refused_start_is_retried(radio: VirtualRadio, kind: str) -> None:
    (sensor,) = make_sensors([kind])
    await radio.add(sensor)
    sensor.refuse_starts(1)
    h = Harness([sensor])
    h.start()
    await h.wait_streaming(timeout=10.0)
    await h.close()
    refused = [s for s in h.statuses if s.state is LinkState.RECONNECTING]
    assert sensor.stats.starts_refused == 1
    assert len(refused) == 1
    assert "refused" in refused[0].reason.lower() or "error" in refused[0].reason.lower()
