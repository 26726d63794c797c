"""CSV export: every file, its columns, and samples.csv reading back bit-identical."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from sensorhub import events as ev
from sensorhub.io_csv import read_acc_csv
from sensorhub.store.export_csv import export_csv, format_seconds, participant_folders
from sensorhub.store.importing import simulated_session
from sensorhub.store.model import SessionData


@pytest.fixture(scope="module")
def session() -> SessionData:
    return simulated_session(3, duration_s=180.0)


@pytest.fixture(scope="module")
def out(session: SessionData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("csv")
    export_csv(session, out)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_samples_read_back_bit_identical_by_the_detect_reader(
    session: SessionData, out: Path
) -> None:
    for p in session.participants:
        rec = read_acc_csv(out / p.id / "samples.csv")
        assert rec.layout == "unit-columns"
        assert np.array_equal(rec.t_ns, p.t_ns)
        assert np.array_equal(rec.acc_g, p.acc_g)


def test_angles_csv_holds_the_detector_grid(session: SessionData, out: Path) -> None:
    p = session.participants[0]
    rows = _rows(out / p.id / "angles.csv")
    assert list(rows[0]) == [
        "t_s", "forward_deg", "lateral_deg", "inclination_deg", "motion", "lying"
    ]  # fmt: skip
    assert len(rows) == p.angles.t_ns.size
    t = np.array([round(float(r["t_s"]) * 1e9) for r in rows], dtype=np.int64)
    assert np.array_equal(t, p.angles.t_ns)
    assert np.array_equal([float(r["forward_deg"]) for r in rows], p.angles.forward)
    assert np.array_equal([float(r["inclination_deg"]) for r in rows], p.angles.inclination)
    assert np.array_equal([r["motion"] == "1" for r in rows], p.angles.dynamic)
    assert {r["lying"] for r in rows} <= {"0", "1"}


def test_episodes_csv_lists_every_episode_of_every_participant(
    session: SessionData, out: Path
) -> None:
    rows = _rows(out / "episodes.csv")
    expected = sorted(
        (e for p in session.participants for e in p.episodes),
        key=lambda e: (e.onset, e.participant, e.level),
    )
    assert len(rows) == len(expected) > 0
    assert {r["participant"] for r in rows} == {p.id for p in session.participants}
    for row, e in zip(rows, expected, strict=True):
        assert row["participant"] == e.participant
        assert row["level"] == e.level
        assert row["direction"] == e.direction
        assert float(row["onset_s"]) == e.onset
        assert float(row["end_s"]) == e.end
        assert float(row["crossing_s"]) == e.crossing
        assert float(row["exit_s"]) == e.exit
        assert float(row["peak_deg"]) == e.peak_deg
        assert float(row["mean_deg"]) == e.mean_deg
        assert row["truncated"] == ("true" if e.truncated else "false")
    onsets = [float(r["onset_s"]) for r in rows]
    assert onsets == sorted(onsets)


def test_markers_and_dyad_events(session: SessionData, out: Path) -> None:
    markers = _rows(out / "markers.csv")
    assert [(float(m["t_s"]), m["label"]) for m in markers] == [
        (m.t, m.label) for m in session.markers
    ]
    dyad = _rows(out / "dyad_events.csv")
    assert len(dyad) == len(session.dyad_events) > 0
    corr = [r for r in dyad if r["kind"] == "correlation"]
    assert corr
    assert all(r["leader"] == "" for r in corr)
    assert all(-1.0 <= float(r["r"]) <= 1.0 for r in corr)
    assert {(r["participant_a"], r["participant_b"]) for r in dyad} == {("p1", "p2")}


def test_session_json_carries_meta_attributes_and_calibration(
    session: SessionData, out: Path
) -> None:
    record = json.loads((out / "session.json").read_text())
    assert record["id"] == session.meta.id
    assert record["started"] == session.meta.started.isoformat()
    assert record["detection"]["detector"]["rate_hz"] == 50.0
    assert record["dyads"] == [["p1", "p2"]]
    p1 = record["participants"][0]
    assert p1["attributes"] == {"group": "A", "seed": 3.0}
    assert p1["calibration"]["method"] == "mounting"
    assert p1["files"] == {"samples": "p1/samples.csv", "angles": "p1/angles.csv"}
    assert p1["samples"] == session.participants[0].t_ns.size


def test_format_seconds_is_exact_in_integers() -> None:
    t = np.array([0, 1, -1, 999_999_999, 1_000_000_000, -1_500_000_000, 3_600_123_456_789])
    text = format_seconds(t)
    assert text == [
        "0.000000000", "0.000000001", "-0.000000001", "0.999999999", "1.000000000",
        "-1.500000000", "3600.123456789",
    ]  # fmt: skip
    assert [round(float(s) * 1e9) for s in text] == t.tolist()


def test_participant_folders_are_safe_and_unique() -> None:
    folders = participant_folders(["a/b", "a_b", "..", "A_B", "ok-1"])
    assert folders == {"a/b": "a_b", "a_b": "a_b-2", "..": "participant", "A_B": "A_B-3",
                       "ok-1": "ok-1"}  # fmt: skip


def test_participant_ids_that_are_not_folder_names(tmp_path: Path) -> None:
    session = simulated_session(3, duration_s=30.0)
    p = session.participants[0]
    odd = SessionData(
        session.meta,
        (
            type(p)(
                "../x y",
                p.sensor,
                p.kind,
                p.attributes,
                p.calibration,
                p.t_ns,
                p.acc_g,
                p.angles,
                p.episodes,
                p.sample_rate_hz,
            ),
        ),
        (),
        (ev.Marker(2.0, 'a, "quoted"\nlabel'),),
    )
    export_csv(odd, tmp_path)
    record = json.loads((tmp_path / "session.json").read_text())
    assert record["participants"][0]["files"]["samples"] == "_x_y/samples.csv"
    assert (tmp_path / "_x_y" / "samples.csv").is_file()
    assert _rows(tmp_path / "markers.csv")[0]["label"] == 'a, "quoted"\nlabel'
