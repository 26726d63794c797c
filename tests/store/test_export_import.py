"""Importing existing files as a session: real UMAFall data, Polar Sensor Logger exports, and
the CSV export's samples.csv read back to the very same samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from sensorhub.config import CalibrationConfig
from sensorhub.errors import DecodeError
from sensorhub.io_csv import read_acc_csv
from sensorhub.sources.base import SensorKind
from sensorhub.store.export_csv import export_csv
from sensorhub.store.importing import POLAR_EPOCH, import_files, simulated_session
from tests.conftest import SHARED_DATA

TRIALS = SHARED_DATA / "umafall_chest" / "trials"
BENDING = TRIALS / "S01_ADL_Bending_1_2016-06-13_20-25-34.csv"
#: UMAFall's SensorTag: x points up, +z forward out of the chest (data README).
UMAFALL_MOUNT = CalibrationConfig("mounting", "+x", "+z")


def test_a_real_umafall_trial_becomes_a_session() -> None:
    session = import_files(
        [BENDING],
        attributes={BENDING.stem: {"gender": "F", "age": 22.0}},
        calibration=UMAFALL_MOUNT,
        kinds={BENDING.stem: SensorKind.LEANFW},
    )
    rec = read_acc_csv(BENDING)
    (p,) = session.participants
    assert p.id == BENDING.stem
    assert p.kind == "leanfw"
    assert p.attributes == {"gender": "F", "age": 22.0}
    assert np.array_equal(p.t_ns, rec.t_ns)  # unit-column times are kept as they are
    assert np.array_equal(p.acc_g, rec.acc_g)
    assert 19.0 < p.sample_rate_hz < 21.5
    assert session.meta.duration_s == pytest.approx(rec.t_ns[-1] / 1e9)
    assert session.meta.config["layouts"] == ["unit-columns"]
    assert p.calibration["method"] == "mounting"
    # the same live pipeline ran: a bend is a forward lean
    forward = p.episodes_of("forward")
    assert forward
    assert max(e.peak_deg for e in forward) > 25.0


def test_exported_samples_import_back_to_the_same_samples_and_episodes(tmp_path: Path) -> None:
    first = import_files([BENDING], participant_ids=["s01"], calibration=UMAFALL_MOUNT)
    export_csv(first, tmp_path)
    again = import_files([tmp_path / "s01" / "samples.csv"], calibration=UMAFALL_MOUNT)
    a, b = first.participants[0], again.participants[0]
    assert b.id == "s01"  # samples.csv takes its folder's name
    assert np.array_equal(a.t_ns, b.t_ns)
    assert np.array_equal(a.acc_g, b.acc_g)
    assert np.array_equal(a.angles.forward, b.angles.forward)
    assert a.episodes == b.episodes


def test_simulated_session_round_trips_through_samples_csv(tmp_path: Path) -> None:
    sim = simulated_session(3, duration_s=60.0)
    export_csv(sim, tmp_path)
    paths = [tmp_path / p.id / "samples.csv" for p in sim.participants]
    back = import_files(paths)
    for a, b in zip(sim.participants, back.participants, strict=True):
        assert b.id == a.id
        assert np.array_equal(a.t_ns, b.t_ns)
        assert np.array_equal(a.acc_g, b.acc_g)


def _polar_file(path: Path, t0_ns: int, n: int, rate_hz: float = 50.0) -> None:
    period = round(1e9 / rate_hz)
    lines = ["Phone timestamp;sensor timestamp [ns];X [mg];Y [mg];Z [mg]"]
    for i in range(n):
        lines.append(f"2021-03-25T12:05:13.{i % 1000:03d};{t0_ns + i * period};12;1001;-40")
    path.write_text("\n".join(lines) + "\n")


def test_polar_sensor_logger_files_share_one_session_clock(tmp_path: Path) -> None:
    t0 = 669_900_000_123_456_789  # ns since 2000-01-01: 2021-03-25
    _polar_file(tmp_path / "Polar_H10_AAAA_ACC.txt", t0, 200)
    _polar_file(tmp_path / "Polar_H10_BBBB_ACC.txt", t0 + 2_500_000_000, 100)
    session = import_files(
        sorted(tmp_path.glob("*.txt")), participant_ids=["left", "right"], dyads=[("left", "right")]
    )
    left, right = session.participants
    assert left.t_ns[0] == 0
    assert right.t_ns[0] == 2_500_000_000  # offsets between sensors are kept
    np.testing.assert_allclose(left.acc_g[0], [0.012, 1.001, -0.040])
    assert session.meta.started == POLAR_EPOCH + dt.timedelta(microseconds=t0 // 1000)
    assert session.meta.started.year == 2021
    assert left.sensor == "Polar_H10_AAAA_ACC"
    assert left.kind == "polar_h10"
    assert session.dyads == (("left", "right"),)


def test_default_ids_are_unique_file_names(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "rec.csv").write_text("t_s,ax_g,ay_g,az_g\n0,0,1,0\n0.02,0,1,0\n")
    session = import_files([tmp_path / "a" / "rec.csv", tmp_path / "b" / "rec.csv"])
    assert [p.id for p in session.participants] == ["rec", "rec-2"]


def test_bad_input_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 participant ids"):
        import_files([BENDING], participant_ids=["a", "b"])
    with pytest.raises(ValueError, match="unique"):
        import_files([BENDING, BENDING], participant_ids=["a", "a"])
    with pytest.raises(ValueError, match="no files"):
        import_files([])
    bad = tmp_path / "bad.csv"
    bad.write_text("time,x,y,z\n1,2,3,4\n")
    with pytest.raises(DecodeError, match=r"bad\.csv"):
        import_files([bad])


def test_public_surface_is_pinned() -> None:
    from sensorhub.commands import export as cmd
    from sensorhub.store import export, export_bids, export_csv, importing

    assert export.__all__ == ["FORMATS", "export_bids", "export_csv"]
    assert export_csv.__all__ == [
        "export_csv", "format_seconds", "jsonable", "participant_folders", "session_record"
    ]  # fmt: skip
    assert export_bids.__all__ == ["BIDS_VERSION", "TASK", "bids_label", "export_bids"]
    assert importing.__all__ == [
        "POLAR_EPOCH",
        "ImportedFile",
        "ImportedFiles",
        "import_files",
        "read_import",
        "simulated_session",
    ]
    assert cmd.__all__ == ["load_source", "register"]
