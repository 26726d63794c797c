"""``sensorhub doctor``'s LSL check with the real liblsl (under this folder's machine-only
configuration, set before liblsl loads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sensorhub.doctor import DoctorContext, Status, check_lsl


def test_doctor_lsl_check_loads_liblsl_and_reads_the_config(
    pylsl: Any, lsl_test_config: Path, tmp_path: Path
) -> None:
    ctx = DoctorContext(config_path=None, db_path=tmp_path / "s.sqlite", lsl=True)
    result = check_lsl(ctx)
    assert result.status is Status.OK, result
    assert result.summary.startswith(f"liblsl {pylsl.library_version() // 100}.")
    assert f"{lsl_test_config}: discovery scope machine" in result.summary
