"""LSL tests stay on this machine.

At import (before any test imports pylsl, so before liblsl reads its configuration) this
points ``LSLAPICFG`` at a copy of the shipped machine-only config
(``sensorhub/bridges/lsl_api.cfg``: machine resolve scope, loopback listen address, no IPv6,
no known peers) with one line added: a ``SessionID`` unique to this test process. liblsl only
sees streams of its own session id, so the tests neither see a lab's streams nor another test
run's; and a resolved stream reporting that id proves liblsl really read this file (it falls
back to its network-wide defaults when it cannot).

Where liblsl cannot load, the tests that need it skip with the reason; with
``SENSORHUB_REQUIRE_LSL=1`` (CI, where the `test` extra installs pylsl) they fail instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from sensorhub.bridges.lsl import MACHINE_ONLY_CONFIG

TEST_SESSION_ID = f"sensorhub-tests-{os.getpid()}"

if "pylsl" in sys.modules:  # pragma: no cover - a guard, not a test
    raise RuntimeError("pylsl was imported before tests/lsl/conftest.py set LSLAPICFG")

_cfg_dir = Path(tempfile.mkdtemp(prefix="sensorhub-lsl-"))
atexit.register(shutil.rmtree, _cfg_dir, True)
TEST_CONFIG = _cfg_dir / "lsl_api.cfg"
TEST_CONFIG.write_text(
    MACHINE_ONLY_CONFIG.read_text(encoding="utf-8")
    + f"\n; tests only: isolate this run's streams\n[lab]\nSessionID = {TEST_SESSION_ID}\n",
    encoding="utf-8",
)
os.environ["LSLAPICFG"] = str(TEST_CONFIG)


@pytest.fixture(scope="session")
def lsl_test_config() -> Path:
    """The config file LSLAPICFG names for this test process."""
    return TEST_CONFIG


@pytest.fixture(scope="session")
def lsl_test_session_id() -> str:
    """The SessionID that config gives liblsl (unique to this process)."""
    return TEST_SESSION_ID


@pytest.fixture(scope="session")
def pylsl() -> Any:
    """pylsl with liblsl loaded, or a skip (a failure under SENSORHUB_REQUIRE_LSL=1)."""
    try:
        import pylsl as module
    except (ImportError, RuntimeError, OSError) as exc:
        if os.environ.get("SENSORHUB_REQUIRE_LSL") == "1":
            pytest.fail(f"liblsl cannot load: {exc}")
        pytest.skip(f"liblsl cannot load: {exc}")
    return module
