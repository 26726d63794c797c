"""Shared test configuration.

``SHARED_DATA`` points at the real recordings in ``../shared/data`` (never copied into the
repository). Tests that need them fail loudly if the folder is missing rather than skipping:
a skipped test must never count as passing.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SENSORHUB_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
VECTORS_DIR = REPO_ROOT / "firmware_specs" / "vectors"

settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: object) -> None:
    """Stop at once, with the reason, when the real recordings are not where tests expect."""
    trials = SHARED_DATA / "umafall_chest" / "trials"
    if not trials.is_dir():
        raise RuntimeError(
            f"real recordings not found at {trials}: the tests read ../shared/data beside the "
            "repository (or set SENSORHUB_SHARED_DATA to the data folder)"
        )
