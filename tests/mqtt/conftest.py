"""Fixtures for the MQTT tests: a real Mosquitto on a free loopback port per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt_broker import Mosquitto


@pytest.fixture
def broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Mosquitto]:
    """A running broker; its log is printed when the test fails."""
    with Mosquitto(tmp_path / "broker") as b:
        yield b
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"--- mosquitto log ---\n{b.log()}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep
