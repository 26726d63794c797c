"""BIDS motion export, checked against the BIDS motion rules (BIDS 1.10, BEP029).

:func:`bids_problems` is a small rule checker written from the specification's motion
chapter and schema (required files and sidecar fields, header-less ``motion.tsv`` with one
column per ``channels.tsv`` row, restricted channel types and components, labels, TSV
conventions, ``SamplingFrequency`` agreeing with the ``LATENCY`` channel, event onsets inside
the recording, ``acq_time`` format). It runs on every export here and is itself shown to
catch each kind of breakage. When the official validator (PyPI ``bids-validator-deno``, which
runs offline with its bundled schema) is installed, the export must also pass it without
errors.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub.store.export_bids import BIDS_VERSION, bids_label, export_bids
from sensorhub.store.importing import simulated_session
from sensorhub.store.model import ParticipantData, SessionData

CHANNEL_TYPES = {"ACCEL", "ANGACCEL", "GYRO", "JNTANG", "LATENCY", "MAGN", "MISC", "ORNT",
                 "POS", "VEL"}  # fmt: skip
SPATIAL = {"ACCEL", "ANGACCEL", "GYRO", "MAGN", "POS", "VEL"}
COMPONENTS = {"x", "y", "z", "quat_x", "quat_y", "quat_z", "quat_w", "n/a"}
LABEL = r"[A-Za-z0-9]+"
MOTION_NAME = re.compile(
    rf"sub-(?P<sub>{LABEL})(_ses-(?P<ses>{LABEL}))?_task-(?P<task>{LABEL})"
    rf"_tracksys-(?P<tracksys>{LABEL})(_acq-{LABEL})?(_run-\d+)?"
    r"_(?P<suffix>motion|channels)\.(?P<ext>tsv|json)"
)
EVENTS_NAME = re.compile(
    rf"sub-(?P<sub>{LABEL})(_ses-(?P<ses>{LABEL}))?_task-(?P<task>{LABEL})"
    rf"(_tracksys-{LABEL})?(_acq-{LABEL})?(_run-\d+)?_events\.(tsv|json)"
)
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z?")
NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


def _tsv(path: Path, problems: list[str], *, header: bool = True) -> list[list[str]]:
    """Rows of a TSV; reports ragged rows, empty cells (BIDS wants n/a) and stray spaces."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n") or "\r" in text:
        problems.append(f"{path.name}: lines must end with a single newline")
    rows = [line.split("\t") for line in text.splitlines()]
    if not rows:
        problems.append(f"{path.name}: empty")
        return rows
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            problems.append(f"{path.name}:{i + 1}: {len(row)} cells, expected {width}")
        if any(cell == "" for cell in row):
            problems.append(f"{path.name}:{i + 1}: empty cell (missing values are n/a)")
        if any(cell != cell.strip() for cell in row):
            problems.append(f"{path.name}:{i + 1}: cell with leading/trailing space")
    if header and len(set(rows[0])) != width:
        problems.append(f"{path.name}: duplicate column names")
    return rows


def _json(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name}: {exc}")
        return {}
    if not isinstance(obj, dict):
        problems.append(f"{path.name}: not a JSON object")
        return {}
    return obj


def bids_problems(root: Path) -> list[str]:
    """Every violation of the BIDS motion rules found under ``root`` (empty when valid)."""
    problems: list[str] = []
    desc = _json(root / "dataset_description.json", problems)
    for key in ("Name", "BIDSVersion"):
        if key not in desc:
            problems.append(f"dataset_description.json: missing {key}")
    if desc.get("DatasetType", "raw") not in ("raw", "derivative"):
        problems.append("dataset_description.json: bad DatasetType")
    subjects = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.startswith("sub-"))
    if not subjects:
        problems.append("no sub-<label> folders")
    for name in subjects:
        if not re.fullmatch(rf"sub-{LABEL}", name):
            problems.append(f"{name}: subject label must be alphanumeric")
    _check_participants(root, subjects, problems)
    motion_files = sorted(root.glob("sub-*/**/motion/*_motion.tsv"))
    if len(motion_files) < len(subjects):
        problems.append("a subject has no motion recording")
    for motion in motion_files:
        _check_recording(root, motion, problems)
    return problems


def _check_participants(root: Path, subjects: list[str], problems: list[str]) -> None:
    path = root / "participants.tsv"
    if not path.is_file():
        problems.append("participants.tsv missing")
        return
    rows = _tsv(path, problems)
    if rows[0][0] != "participant_id":
        problems.append("participants.tsv: first column must be participant_id")
    listed = sorted(r[0] for r in rows[1:])
    if listed != subjects:
        problems.append(f"participants.tsv lists {listed}, folders are {subjects}")
    sidecar = _json(root / "participants.json", problems) if len(rows[0]) > 1 else {}
    for col in rows[0][1:]:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", col):
            problems.append(f"participants.tsv: column {col!r} is not snake_case")
        if "Description" not in sidecar.get(col, {}):
            problems.append(f"participants.json: column {col!r} not described")


def _check_recording(root: Path, motion: Path, problems: list[str]) -> None:
    m = MOTION_NAME.fullmatch(motion.name)
    if m is None:
        problems.append(f"{motion.name}: name does not follow the motion template")
        return
    folder = motion.parent.relative_to(root).parts
    expected = (f"sub-{m['sub']}", *((f"ses-{m['ses']}",) if m["ses"] else ()), "motion")
    if folder != expected:
        problems.append(f"{motion.name}: in {'/'.join(folder)}, expected {'/'.join(expected)}")
    stem = motion.name[: -len("_motion.tsv")]
    sidecar = _json(motion.with_name(f"{stem}_motion.json"), problems)
    channels_path = motion.with_name(f"{stem}_channels.tsv")
    if not channels_path.is_file():
        problems.append(f"{channels_path.name} missing")
        return
    channels = _tsv(channels_path, problems)
    head = channels[0]
    for col in ("name", "component", "type", "tracked_point", "units"):
        if col not in head:
            problems.append(f"{channels_path.name}: required column {col} missing")
            return
    if head[:5] != ["name", "component", "type", "tracked_point", "units"]:
        problems.append(f"{channels_path.name}: required columns must come first, in order")
    chans = [dict(zip(head, r, strict=False)) for r in channels[1:]]
    extra = set(head) - {"name", "component", "type", "tracked_point", "units", "placement",
                         "reference_frame", "description", "sampling_frequency", "status",
                         "status_description"}  # fmt: skip
    if extra:
        problems.append(f"{channels_path.name}: undefined columns {sorted(extra)}")
    for c in chans:
        if c["type"] not in CHANNEL_TYPES:
            problems.append(f"{channels_path.name}: {c['name']}: type {c['type']!r}")
        if c["component"] not in COMPONENTS:
            problems.append(f"{channels_path.name}: {c['name']}: component {c['component']!r}")
        if c["type"] in SPATIAL | {"ORNT"} and c["component"] == "n/a":
            problems.append(f"{channels_path.name}: {c['name']}: {c['type']} needs an axis")
    if len({c["name"] for c in chans}) != len(chans):
        problems.append(f"{channels_path.name}: channel names not unique")
    ref = (
        _json(motion.with_name(f"{stem}_channels.json"), problems)
        if "reference_frame" in head
        else {}
    )
    levels = ref.get("reference_frame", {}).get("Levels", {})
    for c in chans:
        if c.get("reference_frame", "n/a") not in ("n/a", *levels):
            problems.append(f"{c['name']}: reference frame {c['reference_frame']!r} undescribed")
    # motion.tsv: no header, numbers only, one column per channel row
    rows = _tsv(motion, problems, header=False)
    if rows and not all(NUMBER.fullmatch(cell) or cell == "n/a" for cell in rows[0]):
        problems.append(f"{motion.name}: first row is not data (motion.tsv has no header)")
        return
    if rows and len(rows[0]) != len(chans):
        problems.append(f"{motion.name}: {len(rows[0])} columns but {len(chans)} channel rows")
        return
    data = np.array([[float("nan") if v == "n/a" else float(v) for v in r] for r in rows])
    # sidecar: required and recommended fields, counts consistent with channels.tsv
    for key in ("TaskName", "SamplingFrequency", "TrackingSystemName"):
        if key not in sidecar:
            problems.append(f"{stem}_motion.json: required {key} missing")
    fs = sidecar.get("SamplingFrequency")
    if not (isinstance(fs, (int, float)) and fs > 0) and fs != "n/a":
        problems.append(f"{stem}_motion.json: SamplingFrequency {fs!r}")
    if fs == "n/a" and "sampling_frequency" not in head:
        problems.append(f"{channels_path.name}: sampling_frequency column needed (fs n/a)")
    if sidecar.get("TaskName") != m["task"]:
        problems.append(f"{stem}_motion.json: TaskName {sidecar.get('TaskName')!r} != task")
    if sidecar.get("MotionChannelCount", len(chans)) != len(chans):
        problems.append(f"{stem}_motion.json: MotionChannelCount != channel rows")
    for kind in CHANNEL_TYPES:
        n = sum(c["type"] == kind for c in chans)
        if sidecar.get(f"{kind}ChannelCount", n) != n:
            problems.append(f"{stem}_motion.json: {kind}ChannelCount != {n}")
    latency = [i for i, c in enumerate(chans) if c["type"] == "LATENCY"]
    if isinstance(fs, (int, float)) and fs > 0 and data.shape[0] > 2:
        if latency:
            lat = data[:, latency[0]]
            if lat[0] != 0 or np.any(np.diff(lat) <= 0):
                problems.append(f"{motion.name}: LATENCY must start at 0 and increase")
            step = float(np.median(np.diff(lat)))
            if abs(step * fs - 1) > 1e-3:
                problems.append(f"{motion.name}: LATENCY step {step} s, SamplingFrequency {fs}")
            duration = float(lat[-1]) + 1 / fs
        else:
            duration = data.shape[0] / fs
        rec = sidecar.get("RecordingDuration")
        if isinstance(rec, (int, float)) and abs(rec - duration) > 1.5 / fs:
            problems.append(f"{stem}_motion.json: RecordingDuration {rec} vs data {duration}")
        eff = sidecar.get("SamplingFrequencyEffective")
        effective = (data.shape[0] - 1) / float(data[-1, latency[0]]) if latency else None
        if isinstance(eff, (int, float)) and effective and abs(eff - effective) > 1e-3:
            problems.append(f"{stem}_motion.json: SamplingFrequencyEffective {eff}")
    else:
        duration = float("inf")
    _check_events(motion, m, duration, problems)
    _check_scans(root, motion, m, problems)


def _check_events(motion: Path, m: re.Match[str], duration: float, problems: list[str]) -> None:
    prefix = f"sub-{m['sub']}" + (f"_ses-{m['ses']}" if m["ses"] else "")
    events = sorted(motion.parent.glob(f"{prefix}_task-{m['task']}*_events.tsv"))
    for path in events:
        if EVENTS_NAME.fullmatch(path.name) is None:
            problems.append(f"{path.name}: name does not follow the events template")
        rows = _tsv(path, problems)
        if rows[0][:2] != ["onset", "duration"]:
            problems.append(f"{path.name}: must start with onset, duration")
            continue
        sidecar = _json(path.with_suffix(".json"), problems)
        for col in rows[0][2:]:
            if col not in sidecar:
                problems.append(f"{path.name}: column {col!r} not described in events.json")
        levels = sidecar.get("trial_type", {}).get("Levels", {})
        for i, row in enumerate(rows[1:], start=2):
            rec = dict(zip(rows[0], row, strict=False))
            try:
                onset, dur = float(rec["onset"]), float(rec["duration"])
            except ValueError:
                problems.append(f"{path.name}:{i}: onset/duration not numbers")
                continue
            # BIDS allows negative onsets (a marker before the first sample); what the data
            # shows -- episodes, co-leans -- must lie within the recording.
            inside = onset >= 0 and onset + dur <= duration
            if dur < 0 or (rec.get("trial_type") != "marker" and not inside):
                problems.append(f"{path.name}:{i}: event {onset}+{dur} s outside the recording")
            if "trial_type" in rec and rec["trial_type"] not in levels:
                problems.append(f"{path.name}:{i}: trial_type {rec['trial_type']!r} undescribed")


def _check_scans(root: Path, motion: Path, m: re.Match[str], problems: list[str]) -> None:
    prefix = f"sub-{m['sub']}" + (f"_ses-{m['ses']}" if m["ses"] else "")
    scans = motion.parent.parent / f"{prefix}_scans.tsv"
    if not scans.is_file():
        problems.append(f"{scans.name} missing (acq_time synchronises recordings)")
        return
    rows = _tsv(scans, problems)
    entries = {r[0]: dict(zip(rows[0], r, strict=False)) for r in rows[1:]}
    entry = entries.get(f"motion/{motion.name}")
    if entry is None:
        problems.append(f"{scans.name}: no row for motion/{motion.name}")
        return
    for filename in entries:
        if not (scans.parent / filename).is_file():
            problems.append(f"{scans.name}: {filename} does not exist")
    if not DATETIME.fullmatch(entry.get("acq_time", "")):
        problems.append(f"{scans.name}: acq_time {entry.get('acq_time')!r} not a BIDS datetime")
    elif "." not in entry["acq_time"]:
        problems.append(f"{scans.name}: acq_time without fractional seconds")


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session() -> SessionData:
    return simulated_session(3, duration_s=180.0)


@pytest.fixture(scope="module")
def dataset(session: SessionData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bids")
    export_bids(session, root)
    return root


def _motion(root: Path, sub: str) -> tuple[np.ndarray[Any, Any], list[str], dict[str, Any]]:
    mdir = root / f"sub-{sub}" / "motion"
    stem = f"sub-{sub}_task-conversation_tracksys-polarh10"
    data = np.loadtxt(mdir / f"{stem}_motion.tsv", delimiter="\t", ndmin=2)
    names = [r.split("\t")[0] for r in (mdir / f"{stem}_channels.tsv").read_text().splitlines()]
    return data, names[1:], json.loads((mdir / f"{stem}_motion.json").read_text())


# -- the export against the rules --------------------------------------------------------


def test_export_follows_the_bids_motion_rules(dataset: Path) -> None:
    assert bids_problems(dataset) == []
    desc = json.loads((dataset / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] == BIDS_VERSION
    assert desc["GeneratedBy"][0]["Name"] == "sensorhub"
    assert (dataset / "README").is_file()


def test_motion_tsv_is_the_detector_grid_with_acceleration_in_si(
    session: SessionData, dataset: Path
) -> None:
    p = session.participant("p1")
    data, names, sidecar = _motion(dataset, "p1")
    assert names == ["latency", "acc_x", "acc_y", "acc_z", "forward", "lateral",
                     "inclination", "motion", "lying"]  # fmt: skip
    assert data.shape == (p.angles.t_ns.size, 9)
    assert sidecar["SamplingFrequency"] == session.detection.detector.rate_hz == 50.0
    np.testing.assert_allclose(data[:, 0], (p.angles.t_ns - p.angles.t_ns[0]) / 1e9, atol=1e-6)
    np.testing.assert_allclose(data[:, 4], p.angles.forward, atol=5e-5)
    np.testing.assert_allclose(data[:, 6], p.angles.inclination, atol=5e-5)
    assert np.array_equal(data[:, 7].astype(bool), p.angles.dynamic)
    # seated, still-ish: |acc| is about one g, written in m/s^2
    assert 9.5 < float(np.median(np.linalg.norm(data[:, 1:4], axis=1))) < 10.1
    assert sidecar["TrackingSystemName"]
    assert sidecar["DeviceSerialNumber"] == p.sensor
    assert sidecar["Calibration"]["method"] == "mounting"


def test_events_hold_every_episode_and_marker(session: SessionData, dataset: Path) -> None:
    for p in session.participants:
        path = dataset / f"sub-{p.id}" / "motion" / f"sub-{p.id}_task-conversation_events.tsv"
        lines = path.read_text().splitlines()
        head = lines[0].split("\t")
        rows = [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]
        kinds = [r["trial_type"] for r in rows]
        assert kinds.count("marker") == len(session.markers)
        episodes = [r for r in rows if r["trial_type"] not in ("marker", "colean")]
        assert len(episodes) == len(p.episodes) > 0
        coleans = [r for r in rows if r["trial_type"] == "colean"]
        starts = [d for d in session.dyad_events if d.kind == "colean_start"]
        assert len(coleans) == len(starts) > 0
        partner = "sub-p2" if p.id == "p1" else "sub-p1"
        assert {r["partner"] for r in coleans} == {partner}
        assert [float(r["lag_s"]) for r in coleans] == [round(d.lag_s or 0, 3) for d in starts]
        assert all(r["peak_deg"] == "n/a" for r in coleans)
        t0 = p.angles.t_ns[0] / 1e9
        first = min(p.episodes, key=lambda e: e.onset)
        row = next(r for r in episodes if abs(float(r["onset"]) - (first.onset - t0)) < 1e-6)
        assert row["trial_type"] == f"lean_{first.direction}"
        assert float(row["duration"]) == pytest.approx(first.end - first.onset, abs=1e-6)
        assert float(row["peak_deg"]) == pytest.approx(first.peak_deg, abs=0.005)
        onsets = [float(r["onset"]) for r in rows]
        assert onsets == sorted(onsets)
        marker = next(r for r in rows if r["trial_type"] == "marker")
        assert marker["label"] == session.markers[0].label
        assert marker["peak_deg"] == "n/a"


def test_a_colean_open_at_the_end_is_truncated(session: SessionData, tmp_path: Path) -> None:
    from sensorhub import events as ev

    opened = ev.DyadEvent(["p1", "p2"], "colean_start", 170.0, leader="p2", lag_s=0.5)
    cut = SessionData(session.meta, session.participants, session.dyads, (), (opened,))
    export_bids(cut, tmp_path)
    assert bids_problems(tmp_path) == []
    path = tmp_path / "sub-p1" / "motion" / "sub-p1_task-conversation_events.tsv"
    lines = path.read_text().splitlines()
    head = lines[0].split("\t")
    rows = [dict(zip(head, line.split("\t"), strict=True)) for line in lines[1:]]
    (colean,) = [r for r in rows if r["trial_type"] == "colean"]
    assert colean["truncated"] == "true"
    assert colean["leader"] == "sub-p2"
    assert colean["partner"] == "sub-p2"
    t0 = session.participant("p1").angles.t_ns[0] / 1e9
    assert float(colean["onset"]) + float(colean["duration"]) == pytest.approx(180.0 - t0, abs=1e-5)


def test_participants_tsv_and_acq_time(session: SessionData, dataset: Path) -> None:
    lines = (dataset / "participants.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["participant_id", "source_id", "group", "seed"]
    assert lines[1].split("\t") == ["sub-p1", "p1", "A", "3.0"]
    scans = (dataset / "sub-p2" / "sub-p2_scans.tsv").read_text().splitlines()
    filename, acq = scans[1].split("\t")
    assert filename == "motion/sub-p2_task-conversation_tracksys-polarh10_motion.tsv"
    t0_us = round(int(session.participant("p2").angles.t_ns[0]) / 1000)  # nearest microsecond
    expected = session.meta.started + dt.timedelta(microseconds=t0_us)
    assert acq == expected.replace(tzinfo=None).isoformat(timespec="microseconds")


def _relabel(p: ParticipantData, pid: str, attributes: dict[str, Any]) -> ParticipantData:
    return type(p)(pid, p.sensor, p.kind, attributes, p.calibration, p.t_ns, p.acc_g,
                   p.angles, p.episodes, p.sample_rate_hz)  # fmt: skip


def test_labels_are_sanitised_and_attributes_become_columns(
    session: SessionData, tmp_path: Path
) -> None:
    a, b = session.participants
    odd = SessionData(
        session.meta,
        (
            _relabel(a, "P-01_a", {"Native language": "de\tch", "age": 31.0, "rated": True}),
            _relabel(b, "P01a", {"participant_id": "x", "age": float("nan")}),
        ),
        (("P-01_a", "P01a"),),
        session.markers,
    )
    export_bids(odd, tmp_path, session_label="2026-01-01/a")
    assert bids_problems(tmp_path) == []
    assert sorted(d.name for d in tmp_path.glob("sub-*")) == ["sub-P01a", "sub-P01a2"]
    assert (tmp_path / "sub-P01a" / "ses-20260101a" / "motion").is_dir()
    lines = [r.split("\t") for r in (tmp_path / "participants.tsv").read_text().splitlines()]
    head = lines[0]
    assert head[:2] == ["participant_id", "source_id"]
    rec = {r[0]: dict(zip(head, r, strict=True)) for r in lines[1:]}
    assert rec["sub-P01a"]["source_id"] == "P-01_a"
    assert rec["sub-P01a"]["native_language"] == "de ch"
    assert rec["sub-P01a"]["rated"] == "true"
    assert rec["sub-P01a2"]["age"] == "n/a"
    assert rec["sub-P01a2"]["native_language"] == "n/a"
    assert rec["sub-P01a2"]["attribute_participant_id"] == "x"
    described = json.loads((tmp_path / "participants.json").read_text())
    assert "Native language" in described["native_language"]["Description"]


def test_a_second_session_joins_the_dataset(session: SessionData, tmp_path: Path) -> None:
    export_bids(session, tmp_path, session_label="1")
    other = simulated_session(4, duration_s=60.0)
    export_bids(other, tmp_path, session_label="2")
    assert bids_problems(tmp_path) == []
    sessions = (tmp_path / "sub-p1" / "sub-p1_sessions.tsv").read_text().splitlines()
    assert [r.split("\t")[0] for r in sessions] == ["session_id", "ses-1", "ses-2"]
    assert len((tmp_path / "participants.tsv").read_text().splitlines()) == 3
    assert len(list(tmp_path.glob("sub-*/ses-*/motion/*_motion.tsv"))) == 4


def test_a_data_gap_shows_in_the_latency_channel(session: SessionData, tmp_path: Path) -> None:
    p = session.participant("p1")
    keep = (p.t_ns < 40e9) | (p.t_ns > 45e9)  # 5 s without samples: a break
    from sensorhub.config import CalibrationConfig, ParticipantConfig
    from sensorhub.store.model import build_session

    cal = p.calibration
    cfg = ParticipantConfig(
        "p1", p.sensor, calibration=CalibrationConfig("mounting", tuple(cal["up"]),
                                                      tuple(cal["forward"])),
    )  # fmt: skip
    gapped = build_session(session.meta, {"p1": (p.t_ns[keep], p.acc_g[keep])}, [cfg])
    export_bids(gapped, tmp_path)
    assert bids_problems(tmp_path) == []
    data, _, sidecar = _motion(tmp_path, "p1")
    steps = np.diff(data[:, 0])
    assert np.sum(steps > 1.0) == 1  # the gap, not interpolated over
    assert sidecar["SamplingFrequency"] == 50.0
    assert sidecar["SamplingFrequencyEffective"] < 49.0


def test_lab_metadata_is_merged_into_the_sidecars(session: SessionData, tmp_path: Path) -> None:
    metadata = {
        "dataset_description": {"Authors": ["A. Researcher"], "License": "CC0"},
        "motion": {"InstitutionName": "Lab", "Instructions": "Talk as you usually would."},
    }
    export_bids(session, tmp_path, metadata=metadata)
    assert bids_problems(tmp_path) == []
    desc = json.loads((tmp_path / "dataset_description.json").read_text())
    assert desc["Authors"] == ["A. Researcher"]
    assert desc["BIDSVersion"] == BIDS_VERSION  # defaults stay
    _, _, sidecar = _motion(tmp_path, "p2")
    assert sidecar["InstitutionName"] == "Lab"
    assert sidecar["SamplingFrequency"] == 50.0
    with pytest.raises(ValueError, match="unknown sections"):
        export_bids(session, tmp_path, metadata={"motoin": {}})


def test_bids_label() -> None:
    assert bids_label("P-01_a ü") == "P01a"
    assert bids_label("---") == ""
    with pytest.raises(ValueError, match="letters or digits"):
        export_bids(simulated_session(3, duration_s=20.0), Path("/nonexistent"), session_label="-")


# -- the checker catches what it should --------------------------------------------------

BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {}


def _breakage(expect: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        BREAKAGES[fn.__name__] = (fn, expect)
        return fn

    return register


def _p1(root: Path, suffix: str) -> Path:
    return root / "sub-p1" / "motion" / f"sub-p1_task-conversation_tracksys-polarh10_{suffix}"


def _edit(path: Path, fn: Callable[[str], str]) -> None:
    path.write_text(fn(path.read_text()))


@_breakage("columns but")
def drop_channel_row(root: Path) -> None:
    _edit(_p1(root, "channels.tsv"), lambda t: "\n".join(t.splitlines()[:-1]) + "\n")


@_breakage("has no header")
def header_row(root: Path) -> None:
    _edit(_p1(root, "motion.tsv"), lambda t: "\t".join("abcdefghi") + "\n" + t)


@_breakage("SamplingFrequency 100")
def wrong_rate(root: Path) -> None:
    _edit(
        _p1(root, "motion.json"),
        lambda t: t.replace('"SamplingFrequency": 50.0', '"SamplingFrequency": 100'),
    )


@_breakage("required TrackingSystemName missing")
def missing_field(root: Path) -> None:
    _edit(_p1(root, "motion.json"), lambda t: t.replace('"TrackingSystemName"', '"Tracking"'))


@_breakage("empty cell")
def empty_cell(root: Path) -> None:
    _edit(root / "participants.tsv", lambda t: t.replace("\tA\t", "\t\t", 1))


@_breakage("outside the recording")
def late_event(root: Path) -> None:
    path = root / "sub-p1" / "motion" / "sub-p1_task-conversation_events.tsv"
    row = ["9999.0", "5", "lean_forward", "forward", "20", "20", "n/a", "n/a", "false",
           *["n/a"] * 4]  # fmt: skip
    _edit(path, lambda t: t + "\t".join(row) + "\n")


@_breakage("subject label must be alphanumeric")
def bad_label(root: Path) -> None:
    (root / "sub-p1").rename(root / "sub-p_1")


@_breakage("type 'ORIENT'")
def bad_type(root: Path) -> None:
    _edit(_p1(root, "channels.tsv"), lambda t: t.replace("\tORNT\t", "\tORIENT\t", 1))


@_breakage("without fractional seconds")
def coarse_acq_time(root: Path) -> None:
    _edit(root / "sub-p1" / "sub-p1_scans.tsv", lambda t: re.sub(r"\.\d+", "", t))


@_breakage("ACCELChannelCount")
def wrong_count(root: Path) -> None:
    _edit(
        _p1(root, "motion.json"),
        lambda t: t.replace('"ACCELChannelCount": 3', '"ACCELChannelCount": 2'),
    )


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_the_rule_checker_catches(name: str, dataset: Path, tmp_path: Path) -> None:
    fn, expect = BREAKAGES[name]
    root = tmp_path / "copy"
    shutil.copytree(dataset, root)
    fn(root)
    problems = bids_problems(root)
    assert any(expect in p for p in problems), problems


# -- the official validator ----------------------------------------------------------------


def _validator() -> list[str]:
    try:
        import bids_validator_deno  # noqa: F401
    except ImportError:
        pytest.fail("bids-validator-deno is missing: it is in the test extra (make test)")
    return [sys.executable, "-c", "from bids_validator_deno import cli; cli()"]


def _validate(root: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [*_validator(), str(root), "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    issues: list[dict[str, Any]] = report["issues"]["issues"]
    return [i for i in issues if i["severity"] == "error"]


def test_the_official_validator_finds_no_error(dataset: Path, tmp_path: Path) -> None:
    assert _validate(dataset) == []
    root = tmp_path / "broken"
    shutil.copytree(dataset, root)
    drop_channel_row(root)
    assert _validate(root) != []  # and it does see a broken dataset
