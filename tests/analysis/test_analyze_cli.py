"""``sensorhub analyze``: the --from-sim demo, session ids through the store's loader, errors."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from sensorhub.analysis.demo import simulated_session
from sensorhub.cli import main
from sensorhub.store.model import SessionData


def test_from_sim_writes_the_expected_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["analyze", "--from-sim", "3", "--sim-duration", "150", "--out", str(out)]
    code = main([*argv, "--group-by", "seat", "--no-progress"])
    assert code == 0
    assert "1 session(s): 2 participant(s), 1 dyad(s)" in capsys.readouterr().out
    files = {p.name for p in out.iterdir() if p.is_file()}
    assert files == {
        "participants.csv",
        "participants.json",
        "dyads.csv",
        "dyads.json",
        "groups.csv",
        "analysis.json",
        "report.md",
    }
    figures = sorted(p.name for p in (out / "figures").iterdir())
    assert figures == [
        "groups_seat.png",
        "sim3_p1-p2_lagmap.png",
        "sim3_p1-p2_timeline.png",
        "sim3_p1_trace.png",
        "sim3_p2_trace.png",
    ]
    assert all((out / "figures" / f).stat().st_size > 10_000 for f in figures)


def test_no_figures_and_no_group_by(tmp_path: Path) -> None:
    argv = ["analyze", "--from-sim", "5", "--sim-duration", "90", "--out", str(tmp_path)]
    assert main([*argv, "--no-figures"]) == 0
    assert not (tmp_path / "figures").exists()
    assert not (tmp_path / "groups.csv").exists()
    assert len(json.loads((tmp_path / "participants.json").read_text())) == 2


def test_session_ids_are_loaded_through_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's ``load_session(db, id)`` is imported lazily and called once per id."""
    calls: list[tuple[Path | None, str]] = []

    def load_session(db: Path | None, sid: str) -> SessionData:
        calls.append((db, sid))
        return simulated_session(int(sid[1:]), duration_s=90.0)

    fake = types.ModuleType("sensorhub.store.load")
    fake.load_session = load_session  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sensorhub.store.load", fake)
    db = tmp_path / "lab.db"
    argv = ["analyze", "s7", "s8", "--db", str(db), "--out", str(tmp_path / "o")]
    assert main([*argv, "--no-figures", "--no-progress"]) == 0
    assert calls == [(db, "s7"), (db, "s8")]
    rows = json.loads((tmp_path / "o" / "dyads.json").read_text())
    assert [r["session"] for r in rows] == ["sim7", "sim8"]
    # without --db: the database serve records into
    default = tmp_path / "default.sqlite"
    monkeypatch.setattr("sensorhub.store.sqlite.default_db_path", lambda: default)
    argv = ["analyze", "s9", "--out", str(tmp_path / "o2"), "--no-figures"]
    assert main(argv) == 0
    assert calls[-1] == (default, "s9")


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--out", str(tmp_path)]) == 2
    assert "SESSION" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--from-sim", "1,x", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "integers" in capsys.readouterr().err
    argv = ["analyze", "--from-sim", "1", "--sim-duration", "10", "--out", str(tmp_path)]
    assert main(argv) == 1
    assert "--sim-duration" in capsys.readouterr().err


def test_unknown_group_attribute_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["analyze", "--from-sim", "6", "--sim-duration", "90", "--out", str(tmp_path)]
    assert main([*argv, "--group-by", "culture", "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert "'culture'" in err
    assert "condition, seat" in err
