"""sensorhub: a live BLE chest-sensor hub for studying forward lean in conversation.

The package is layered (see README "Concepts"): sans-I/O protocol decoders in
:mod:`sensorhub.protocols`, streaming signal processing in :mod:`sensorhub.dsp`, and
asyncio I/O shells around them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
