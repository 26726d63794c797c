"""Where a command's sensors live: the real Bluetooth adapter, or the virtual radio.

``--virtual N`` is a product feature (a demo, or a rehearsal without sensors): it opens a
:class:`~sensorhub.sources.virtual.VirtualRadio` with N virtual sensors and hands back the
bleak backend classes to reach them. Without it, bleak's platform backend is used. Either way
the code that scans and connects is the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sensorhub.errors import ConfigError
from sensorhub.sources.base import SensorKind
from sensorhub.sources.ble import BackendClasses

__all__ = ["SensorEnvironment", "open_environment", "virtual_kinds"]


@dataclass(frozen=True, slots=True)
class SensorEnvironment:
    """The backends to use and, for a virtual radio, the sensors on it (name, kind)."""

    backends: BackendClasses
    virtual_sensors: tuple[tuple[str, SensorKind], ...] = ()
    stream: object | None = None  # the simulator stream behind virtual sensors (ground truth)


def virtual_kinds(n: int, kinds: Sequence[str] | None) -> list[str]:
    """N kinds: ``kinds`` repeated in turn, or all Polar H10 (the demo's conversation)."""
    if n < 1:
        raise ConfigError(f"--virtual needs at least 1 sensor, got {n}")
    if not kinds:
        return ["polar_h10"] * n
    for kind in kinds:
        try:
            SensorKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in SensorKind)
            raise ConfigError(f"unknown sensor kind {kind!r} (known: {known})") from None
    return [kinds[i % len(kinds)] for i in range(n)]


@contextlib.asynccontextmanager
async def open_environment(
    virtual: int | None, *, kinds: Sequence[str] | None = None, seed: int = 1
) -> AsyncIterator[SensorEnvironment]:
    """Yield the environment; a virtual radio is torn down on exit."""
    if not virtual:
        yield SensorEnvironment(BackendClasses())
        return
    # Imported here: bumble is only loaded when the virtual radio is asked for.
    from sensorhub.sources.virtual import (
        VirtualClient,
        VirtualRadio,
        VirtualScanner,
        conversation_sensors,
        make_sensors,
    )

    chosen = virtual_kinds(virtual, kinds)
    stream = None
    if all(k == "polar_h10" for k in chosen):
        sensors, stream = conversation_sensors(virtual, seed=seed)
    else:
        sensors = make_sensors(chosen)
    async with VirtualRadio(sensors=sensors):
        yield SensorEnvironment(
            BackendClasses(scanner=VirtualScanner, client=VirtualClient),
            tuple((s.name, SensorKind(s.kind)) for s in sensors),
            stream,
        )
