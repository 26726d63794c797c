"""`sensorhub scan` and `sensorhub stream` on the virtual radio, run as a user would."""

from __future__ import annotations

import json

import pytest

from sensorhub.cli import main


def test_scan_lists_each_virtual_sensor_with_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["scan", "--virtual", "3", "--virtual-kinds", "polar_h10,movesense,leanfw",
         "--seconds", "0.5", "--format", "json"]
    )  # fmt: skip
    assert code == 0
    found = json.loads(capsys.readouterr().out)
    assert sorted(s["kind"] for s in found) == ["leanfw", "movesense", "polar_h10"]
    assert all(s["address"].count(":") == 5 and isinstance(s["rssi"], int) for s in found)


def test_stream_reports_rate_and_battery_per_sensor(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["stream", "--virtual", "2", "--virtual-kinds", "polar_h10,leanfw",
         "--seconds", "3", "--format", "jsonl"]
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    last = {r["kind"]: r for r in rows[-2:]}
    assert set(last) == {"polar_h10", "leanfw"}
    assert last["polar_h10"]["rate_hz"] == pytest.approx(200, rel=0.05)
    assert last["leanfw"]["rate_hz"] == pytest.approx(100, rel=0.05)
    for row in last.values():
        assert row["state"] == "streaming"
        assert row["gaps"] == 0
        assert row["battery_pct"] == 90


def test_unknown_virtual_kind_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--virtual", "1", "--virtual-kinds", "fitbit"]) == 1
    assert "unknown sensor kind 'fitbit'" in capsys.readouterr().err
