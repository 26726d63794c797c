"""``sensorhub export``: every source (simulator, files, a recording via store.load) and
format, and clear refusals."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub.cli import main
from sensorhub.io_csv import read_acc_csv
from sensorhub.store.importing import simulated_session
from sensorhub.store.model import SessionData
from tests.conftest import SHARED_DATA
from tests.store.test_export_bids import bids_problems

BENDING = SHARED_DATA / "umafall_chest" / "trials" / "S01_ADL_Bending_1_2016-06-13_20-25-34.csv"


def test_from_sim_to_bids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bids"
    code = main(["export", "demo", "--format", "bids", "--out", str(out), "--from-sim", "3",
                 "--sim-duration", "60", "--bids-session", "01"])  # fmt: skip
    assert code == 0
    assert bids_problems(out) == []
    assert (out / "sub-p1" / "ses-01" / "motion").is_dir()
    assert "bids: " in capsys.readouterr().out


def test_bids_meta_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"dataset_description": {"License": "CC-BY-4.0"}}))
    out = tmp_path / "bids"
    argv = ["export", "d", "--format", "bids", "--out", str(out), "--from-sim", "2",
            "--sim-duration", "20", "--bids-meta", str(meta)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads((out / "dataset_description.json").read_text())["License"] == "CC-BY-4.0"
    meta.write_text(json.dumps({"dataset": {}}))
    assert main(argv) == 1
    assert "expected an object with keys" in capsys.readouterr().err
    meta.write_text("{not json")
    assert main(argv) == 1
    assert f"--bids-meta {meta}" in capsys.readouterr().err


def test_from_sim_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        argv = ["export", "x", "--format", "csv", "--out", str(tmp_path / name), "--from-sim",
                "7", "--sim-duration", "30"]  # fmt: skip
        assert main(argv) == 0
    for rel in ("p1/samples.csv", "p2/angles.csv", "episodes.csv", "session.json"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_from_files_to_csv_with_mounting(tmp_path: Path) -> None:
    code = main(["export", "s01", "--format", "csv", "--out", str(tmp_path), "--from-files",
                 str(BENDING), "--up", "+x", "--forward", "+z"])  # fmt: skip
    assert code == 0
    record = json.loads((tmp_path / "session.json").read_text())
    assert record["id"] == "s01"
    assert record["participants"][0]["calibration"]["method"] == "mounting"
    folder = record["participants"][0]["files"]["samples"]
    assert np.array_equal(read_acc_csv(tmp_path / folder).acc_g, read_acc_csv(BENDING).acc_g)
    episodes = (tmp_path / "episodes.csv").read_text().splitlines()
    assert any(",forward,forward," in line for line in episodes[1:])


def test_a_recorded_session_is_loaded_through_store_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, str]] = []

    def load_session(db_path: Path, session_id: str) -> SessionData:
        calls.append((db_path, session_id))
        return simulated_session(3, duration_s=30.0)

    fake = types.ModuleType("sensorhub.store.load")
    fake.load_session = load_session  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sensorhub.store.load", fake)
    db = tmp_path / "lab.db"
    code = main(["export", "abc123", "--format", "bids", "--out", str(tmp_path / "o"),
                 "--db", str(db)])  # fmt: skip
    assert code == 0
    assert calls == [(db, "abc123")]
    assert bids_problems(tmp_path / "o") == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--from-sim", "1", "--bids-session", "x"], "--bids-session applies to --format bids"),
        (["--from-files", str(BENDING), "--up", "+x"], "--up and --forward go together"),
        (["--from-sim", "1", "--sim-duration", "2"], "--sim-duration 2.0"),
        (["--from-files", "/nonexistent/acc.csv"], "/nonexistent/acc.csv"),
    ],
)
def test_refusals_name_the_problem(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "s", "--format", "csv", "--out", str(tmp_path), *extra])
    assert code == 1
    assert message in capsys.readouterr().err


def test_bids_session_label_must_have_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "s", "--format", "bids", "--out", str(tmp_path), "--from-sim", "1",
            "--bids-session=-_-"]  # fmt: skip
    assert main(argv) == 1
    assert "needs letters or digits" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # refused before writing anything


def test_an_unknown_session_in_a_real_store_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sensorhub.store.sqlite import connect

    db = tmp_path / "sessions.sqlite"
    connect(db).close()
    code = main(
        ["export", "nope", "--format", "csv", "--out", str(tmp_path / "o"), "--db", str(db)]
    )
    assert code == 1
    assert "no session matches 'nope'" in capsys.readouterr().err
