"""Fixtures for the virtual-radio tests: an open radio with a short supervision timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sensorhub.sources.virtual.radio import RadioConfig
from sensorhub.sources.virtual.world import VirtualRadio


@pytest.fixture
def radio_config() -> RadioConfig:
    """The shortest connection interval BLE allows (quick discovery), a short timeout."""
    return RadioConfig(connection_interval_s=0.0075, supervision_timeout_s=0.3)


@pytest.fixture
async def radio(radio_config: RadioConfig) -> AsyncIterator[VirtualRadio]:
    async with VirtualRadio(radio_config) as r:
        yield r
