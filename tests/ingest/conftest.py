"""An open virtual radio for ingestion tests (short supervision timeout, fast intervals)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sensorhub.sources.virtual.radio import RadioConfig
from sensorhub.sources.virtual.world import VirtualRadio


@pytest.fixture
async def radio() -> AsyncIterator[VirtualRadio]:
    config = RadioConfig(connection_interval_s=0.0075, supervision_timeout_s=0.3)
    async with VirtualRadio(config) as r:
        yield r
