"""The virtual radio: BLE sensors in-process, reached through bleak's public API.

A bleak backend (:class:`VirtualScanner`, :class:`VirtualClient`) drives a central on Google's
bumble Bluetooth stack; each virtual sensor is a real bumble GATT server on its own emulated
controller, and all controllers share one in-memory :class:`RadioLink` that behaves like air
where it matters to a hub (connection events with a per-event packet budget, supervision
timeout, 31-byte legacy advertising). Code above uses ``BleakScanner``/``BleakClient`` exactly
as with a real adapter; only ``backend=`` differs. bumble is pinned to 0.0.236 (its emulation
changes between releases; ``tests/sources/test_conformance.py`` pins what we rely on).

Build a radio with sensors (motion: :mod:`.motion`; kinds: :mod:`.polar_h10`,
:mod:`.movesense`, :mod:`.leanfw`)::

    from sensorhub.sources.virtual import VirtualRadio, PolarH10, Movesense, LeanSensor
    from sensorhub.sources.virtual.motion import ConstantPosture, CsvMotion, as_motion_source

    sensors = [
        PolarH10(serial="A1B2C3D4", motion=as_motion_source(sim_stream.sensors[0])),
        PolarH10(serial="E5F6A7B8", motion=ConstantPosture.leaning(15), drift_ppm=20),
        Movesense(motion=CsvMotion("../shared/data/umafall_chest/trials/...csv", 52)),
        LeanSensor(serial="D4A1F03B9E27"),                       # advertises LEAN-9E27
    ]
    async with VirtualRadio(RadioConfig(), sensors=sensors) as radio:
        ...  # more with `await radio.add(sensor)`

    # or: make_sensors(["polar_h10", "polar_h10", "movesense", "leanfw"])
    # or, for a demo: sensors, stream = conversation_sensors(4, seed=1)

Hand bleak the backend classes (``radio=`` is optional: without it the backend uses the radio
opened in the current context, or the only open one)::

    device = await BleakScanner.find_device_by_name(sensors[0].name, backend=VirtualScanner)
    client = BleakClient(device, backend=VirtualClient)          # or **radio.client_kwargs

Inject faults on the sensor objects (see :class:`VirtualSensor`)::

    await sensor.drop_link()      sensor.go_silent()         sensor.send_malformed(n)
    sensor.repeat_frames(n)       sensor.set_drift_ppm(20)   sensor.refuse_starts(n)
    await sensor.set_battery(5)   sensor.vanish() / sensor.reappear()   (supervision timeout)
    await h10.device_stop()       (PMD device-initiated stop)

``sensor.stats`` (:class:`SensorStats`) counts frames generated, sent, repeated, corrupted,
silenced and dropped, so a test can account for every frame.

Timing: :class:`RadioConfig` sets the connection interval (15 ms), packets per event and
direction (4) and the supervision timeout (2 s). ``time_scale=k`` on a sensor runs its clock
and sampling k times faster than the loop (an hour of drift in a minute); give such a radio a
larger budget (e.g. ``RadioConfig(connection_interval_s=0.0075, packets_per_event=32)``) or
the link congests and the sensor drops frames, as a real one would (``frames_overflowed``).
"""

from __future__ import annotations

from .backend import VirtualClient, VirtualScanner
from .fleet import SENSOR_KINDS, conversation_sensors, make_sensors
from .leanfw import LeanSensor
from .motion import ConstantPosture, CsvMotion, MotionSource, as_motion_source
from .movesense import Movesense
from .polar_h10 import PolarH10
from .radio import LEGACY_ADV_MAX_BYTES, RadioConfig, RadioLink
from .sensor import SensorStats, VirtualSensor
from .world import VirtualRadio, current_radio

__all__ = [
    "LEGACY_ADV_MAX_BYTES",
    "SENSOR_KINDS",
    "ConstantPosture",
    "CsvMotion",
    "LeanSensor",
    "MotionSource",
    "Movesense",
    "PolarH10",
    "RadioConfig",
    "RadioLink",
    "SensorStats",
    "VirtualClient",
    "VirtualRadio",
    "VirtualScanner",
    "VirtualSensor",
    "as_motion_source",
    "conversation_sensors",
    "current_radio",
    "make_sensors",
]
