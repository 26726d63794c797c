"""Sans-I/O sensor protocol codecs: bytes in, typed numpy values out, and back.

No asyncio, no logging, no global state. Malformed input raises
:class:`sensorhub.errors.DecodeError` with a message naming what was wrong.

- :mod:`.polar_pmd` — Polar Measurement Data (H10 accelerometer stream, control point)
- :mod:`.movesense` — Movesense GATT Sensor-data Protocol (GSP) and ``/Meas/Acc``
- :mod:`.leanfw` — the lab's own firmware profile, ``firmware_specs/leanfw-v1.md``
- :mod:`.gatt` — standard GATT: Heart Rate Measurement, Battery Level, Device Information
- :mod:`.base` — :class:`AccBlock`, the common shape every accelerometer decoder produces
"""
