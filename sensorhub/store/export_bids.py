"""BIDS motion export (BEP029, BIDS >= 1.9) of a finished session.

One BIDS subject per participant, one tracking system (``tracksys-<sensor kind>``) per
participant's chest sensor, task ``conversation``::

    dataset_description.json  README  participants.tsv  participants.json
    sub-<p>/[ses-<s>/]sub-<p>[_ses-<s>]_scans.tsv
    sub-<p>/[ses-<s>/]motion/sub-<p>[_ses-<s>]_task-conversation_tracksys-<k>_motion.tsv
                                              ..._tracksys-<k>_motion.json
                                              ..._tracksys-<k>_channels.tsv / _channels.json
                                              sub-<p>[_ses-<s>]_task-conversation_events.tsv
                                              ..._events.json

**Which samples.** BIDS motion wants one regular ``SamplingFrequency`` per tracking system,
and every channel of a ``motion.tsv`` shares its rows. The raw BLE samples are irregular
(jitter, repeats, drifting device clock) and the derived angles exist only on the
detector's grid, so the rows are **the detector's uniform grid** (``rate_hz`` of the
detection config, 50 Hz by default): the acceleration the detector's own conditioning stage
(:class:`~sensorhub.dsp.conditioning.Resampler`, linear interpolation between the bracketing
samples) put on that grid, and the angles, motion and lying flags computed from it. So the
file is exactly what the episodes in ``events.tsv`` were detected on, and
``SamplingFrequency`` is true by construction. A gap longer than the detector's limit is not
interpolated over: the grid restarts after it, which the first channel, ``LATENCY`` (seconds
since the first row, the spec's channel for uneven sampling), makes explicit. Raw samples at
their own times are in the CSV export (``samples.csv``).

**Channels** (``channels.tsv``): ``latency`` (LATENCY, s); ``acc_x/y/z`` (ACCEL, m/s^2 --
SI, since "g" would read as grams; 1 g = 9.80665 m/s^2, device axes); ``forward`` and
``lateral`` (ORNT, deg, trunk tilt relative to the calibrated upright: positive forward /
to the right; components ``y``/``x`` of the body frame ``ALS`` described in
``channels.json``); ``inclination`` (MISC, deg, total tilt from upright); ``motion`` and
``lying`` (MISC, 0/1 flags).

**Events** (``events.tsv``): lean episodes (``trial_type`` ``lean_forward`` /
``lean_backward``, extra levels named in ``level``), ``lying`` episodes, ``colean`` spans
(both members of the dyad leaning forward; ``partner``, ``leader``, ``lag_s``) and
researcher ``marker`` rows; onsets in seconds from the first motion sample (``acq_time`` in
``scans.tsv``, with microseconds, UTC). ``peak_deg``/``mean_deg`` are degrees in the
episode's direction (a 12 degree backward lean is 12).

**Labels.** BIDS labels are alphanumeric: participant ids and the session label lose every
other character (``P-01_a`` -> ``P01a``), collisions get a numeric suffix; the original id is
kept in ``participants.tsv`` (``source_id``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub import __version__
from sensorhub import events as ev
from sensorhub.dsp.conditioning import Resampler
from sensorhub.io_csv import G0
from sensorhub.store.export_csv import _jsonable
from sensorhub.store.model import ParticipantData, SessionData

__all__ = ["BIDS_VERSION", "TASK", "bids_label", "export_bids"]

#: The BIDS version whose motion rules the output follows (motion since 1.9.0).
BIDS_VERSION = "1.10.0"
TASK = "conversation"
NA = "n/a"

_TRACKSYS = {"polar_h10": "polarh10", "movesense": "movesense", "leanfw": "leanfw"}
_DEVICE = {
    "polar_h10": ("Polar Electro Oy", "Polar H10", "chest strap, sternum"),
    "movesense": ("Movesense (Amer Sports)", "Movesense sensor", "chest strap, sternum"),
    "leanfw": ("sensorhub leanfw-v1 firmware", "leanfw-v1 device", "chest, sternum"),
}
#: (name, component, type, units, reference_frame, description)
CHANNELS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("latency", NA, "LATENCY", "s", NA, "Seconds since the first row (acq_time in scans.tsv)"),
    ("acc_x", "x", "ACCEL", "m/s^2", "device", "Acceleration along the device x axis"),
    ("acc_y", "y", "ACCEL", "m/s^2", "device", "Acceleration along the device y axis"),
    ("acc_z", "z", "ACCEL", "m/s^2", "device", "Acceleration along the device z axis"),
    (
        "forward",
        "y",
        "ORNT",
        "deg",
        "trunk",
        "Forward trunk tilt from the calibrated upright (sagittal plane), positive forward",
    ),
    (
        "lateral",
        "x",
        "ORNT",
        "deg",
        "trunk",
        "Sideways trunk tilt from the calibrated upright (frontal plane), positive right",
    ),
    ("inclination", NA, "MISC", "deg", "trunk", "Total trunk tilt from the calibrated upright"),
    ("motion", NA, "MISC", NA, NA, "1 while the motion gate judged the trunk moving, else 0"),
    ("lying", NA, "MISC", NA, NA, "1 while lying (tilt > lying threshold, not forward), else 0"),
)
_FMT = ["%.6f", "%.6f", "%.6f", "%.6f", "%.4f", "%.4f", "%.4f", "%d", "%d"]
_EVENT_COLUMNS = (
    "onset",
    "duration",
    "trial_type",
    "level",
    "peak_deg",
    "mean_deg",
    "crossing",
    "exit",
    "truncated",
    "partner",
    "leader",
    "lag_s",
    "label",
)


def bids_label(text: str) -> str:
    """``text`` reduced to the characters a BIDS label may hold (ASCII letters and digits)."""
    return re.sub(r"[^A-Za-z0-9]", "", text)


def export_bids(
    session: SessionData,
    out_dir: str | Path,
    *,
    session_label: str | None = None,
    metadata: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write ``session`` as a BIDS motion dataset under ``out_dir``; returns the files written.

    ``session_label`` adds a ``ses-<label>`` level (sanitised like every label), so several
    recordings of the same participants can share one dataset; ``participants.tsv`` is then
    merged with an existing one (rows updated by ``participant_id``; a later export's
    attribute values win).

    ``metadata`` supplies what only the lab knows, merged over the defaults:
    ``{"dataset_description": {"Authors": [...], "License": "CC0", ...}, "motion":
    {"InstitutionName": ..., "Instructions": ..., ...}}`` (the second goes into every
    ``_motion.json``). Without it, ``session.meta.config["bids"]`` is used if present.
    """
    if metadata is None:
        from_config = session.meta.config.get("bids")
        metadata = from_config if isinstance(from_config, Mapping) else {}
    unknown = set(metadata) - {"dataset_description", "motion"}
    if unknown:
        raise ValueError(f"metadata: unknown sections {sorted(unknown)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ses = bids_label(session_label) if session_label is not None else None
    if session_label is not None and not ses:
        raise ValueError(f"session label {session_label!r} has no letters or digits")
    subjects = _subject_labels([p.id for p in session.participants])
    description = {**_description(session), **metadata.get("dataset_description", {})}
    written = [_write_json(out / "dataset_description.json", description)]
    written.append(_write_readme(out / "README", session))
    extra = dict(metadata.get("motion", {}))
    coleans = _coleans(session, subjects, session.meta.duration_s)
    for p in session.participants:
        written += _write_participant(out, session, p, subjects[p.id], ses, extra, coleans[p.id])
    written += _write_participants(out, session, subjects)
    return written


# -- per participant ---------------------------------------------------------------------


def _write_participant(
    root: Path,
    session: SessionData,
    p: ParticipantData,
    sub: str,
    ses: str | None,
    extra: Mapping[str, Any],
    coleans: Sequence[CoLean],
) -> list[Path]:
    subdir = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "")
    mdir = subdir / "motion"
    mdir.mkdir(parents=True, exist_ok=True)
    prefix = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
    tracksys = _TRACKSYS.get(p.kind) or bids_label(p.kind) or "chest"
    stem = f"{prefix}_task-{TASK}_tracksys-{tracksys}"
    rate = float(session.detection.detector.rate_hz)
    data = motion_matrix(p, rate, session.detection.detector.max_gap_s)
    t0 = int(p.angles.t_ns[0]) if p.angles.t_ns.size else int(p.t_ns[0])
    written: list[Path] = []
    motion_tsv = mdir / f"{stem}_motion.tsv"
    np.savetxt(motion_tsv, data, fmt=_FMT, delimiter="\t", newline="\n")
    written.append(motion_tsv)
    sidecar = {**_motion_json(session, p, rate), **extra}
    written.append(_write_json(mdir / f"{stem}_motion.json", sidecar))
    written.append(_write_tsv(mdir / f"{stem}_channels.tsv", _channel_header(), _channel_rows()))
    written.append(_write_json(mdir / f"{stem}_channels.json", _CHANNELS_JSON))
    events = f"{prefix}_task-{TASK}_events"
    rows = _event_rows(p, session.markers, coleans, t0)
    written.append(_write_tsv(mdir / f"{events}.tsv", _EVENT_COLUMNS, rows))
    written.append(_write_json(mdir / f"{events}.json", _events_json(session)))
    acq = session.meta.started.astimezone(dt.UTC) + dt.timedelta(microseconds=round(t0 / 1000))
    if ses:
        written.append(_write_sessions(root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv", ses, acq))
    written.append(
        _write_tsv(
            subdir / f"{prefix}_scans.tsv",
            ("filename", "acq_time"),
            [[f"motion/{motion_tsv.name}", _bids_datetime(acq)]],
        )
    )
    return written


def _write_sessions(path: Path, ses: str, acq: dt.datetime) -> Path:
    """``sub-<p>_sessions.tsv``: one row per session of the subject, earlier rows kept."""
    rows: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t")
            if cells and cells[0]:
                rows[cells[0]] = [*cells, NA][:2]
    rows[f"ses-{ses}"] = [f"ses-{ses}", _bids_datetime(acq)]
    return _write_tsv(path, ("session_id", "acq_time"), [rows[k] for k in sorted(rows)])


def motion_matrix(p: ParticipantData, rate_hz: float, max_gap_s: float) -> NDArray[np.float64]:
    """Rows of ``motion.tsv`` in :data:`CHANNELS` order, on the detector's grid.

    The acceleration comes from re-running the detector's conditioning stage on the raw
    samples (the same deterministic code, fed whole); its grid must coincide with the
    angles' grid, which is checked rather than assumed.
    """
    a = p.angles
    n = a.t_ns.size
    out = np.empty((n, len(CHANNELS)), dtype=np.float64)
    if n == 0:
        return out
    grid = Resampler(rate_hz, max_gap_s=max_gap_s).process(p.t_ns, p.acc_g)
    if grid.t_ns.size < n or not np.array_equal(grid.t_ns[:n], a.t_ns):
        raise RuntimeError(f"participant {p.id}: resampled grid differs from the angle grid")
    out[:, 0] = (a.t_ns - a.t_ns[0]) / 1e9
    out[:, 1:4] = grid.acc[:n] * G0
    out[:, 4] = a.forward
    out[:, 5] = a.lateral
    out[:, 6] = a.inclination
    out[:, 7] = a.dynamic
    out[:, 8] = a.lying
    return out


def _motion_json(session: SessionData, p: ParticipantData, rate: float) -> dict[str, Any]:
    manufacturer, model, placement = _DEVICE.get(p.kind, (NA, p.kind, "chest"))
    t = p.angles.t_ns
    span = (int(t[-1]) - int(t[0])) / 1e9 if t.size > 1 else 0.0
    # Every type's count, zeros included: a reader need not guess whether a missing count
    # means none.
    counts = dict.fromkeys(("ACCEL", "ANGACCEL", "GYRO", "JNTANG", "LATENCY", "MAGN", "MISC",
                            "ORNT", "POS", "VEL"), 0)  # fmt: skip
    for ch in CHANNELS:
        counts[ch[2]] = counts.get(ch[2], 0) + 1
    return {
        "TaskName": TASK,
        "TaskDescription": "Seated face-to-face conversation; chest accelerometer per person.",
        "SamplingFrequency": rate,
        "SamplingFrequencyEffective": round((t.size - 1) / span, 6) if span > 0 else rate,
        "TrackingSystemName": f"{model} on the chest ({placement})",
        "Manufacturer": manufacturer,
        "ManufacturersModelName": model,
        "DeviceSerialNumber": p.sensor,
        "SoftwareVersions": session.meta.software or f"sensorhub {__version__}",
        "RecordingDuration": round(span + (1.0 / rate if t.size else 0.0), 6),
        "MotionChannelCount": len(CHANNELS),
        **{f"{kind}ChannelCount": n for kind, n in counts.items()},
        "TrackedPointsCount": 1,
        "MissingValues": NA,
        "SubjectArtefactDescription": NA,
        "RawSampleRateEffective": round(p.sample_rate_hz, 6),
        "Calibration": _jsonable(dict(p.calibration)),
    }


_CHANNELS_JSON: dict[str, Any] = {
    "reference_frame": {
        "Description": "Frame the channel's values are expressed in",
        "Levels": {
            "device": {"Description": "The sensor's own x, y, z axes as it reports them"},
            "trunk": {
                "SpatialAxes": "ALS",
                "RotationRule": "right-hand",
                "RotationOrder": "YXZ",
                "Description": (
                    "Trunk frame from the participant's calibration: x anterior, y left, "
                    "z superior at the calibrated upright posture. forward = atan2 of the "
                    "gravity direction in the sagittal (x-z) plane, lateral = the same in the "
                    "frontal (y-z) plane; each is a projected tilt angle, not a full Euler "
                    "decomposition."
                ),
            },
        },
    },
    "description": {"Description": "What the channel holds"},
}


def _channel_header() -> tuple[str, ...]:
    return ("name", "component", "type", "tracked_point", "units", "placement",
            "reference_frame", "description")  # fmt: skip


def _channel_rows() -> list[list[str]]:
    return [[n, c, ty, "chest", u, "sternum", rf, d] for n, c, ty, u, rf, d in CHANNELS]


def _event_rows(
    p: ParticipantData,
    markers: Sequence[ev.Marker],
    coleans: Sequence[CoLean],
    t0_ns: int,
) -> list[list[str]]:
    """Episodes, co-lean spans with partners and markers, by onset; n/a where not applicable."""
    t0 = t0_ns / 1e9
    rows: list[tuple[float, int, dict[str, str]]] = []
    for e in p.episodes:
        cells = {
            "onset": _sec(e.onset - t0),
            "duration": _sec(max(0.0, e.end - e.onset)),
            "trial_type": "lying" if e.direction == "lying" else f"lean_{e.direction}",
            "level": e.level,
            "peak_deg": f"{e.peak_deg:.2f}",
            "mean_deg": f"{e.mean_deg:.2f}",
            "crossing": _sec(e.crossing - t0),
            "exit": _sec(e.exit - t0),
            "truncated": "true" if e.truncated else "false",
        }
        rows.append((e.onset - t0, 0, cells))
    for c in coleans:
        cells = {
            "onset": _sec(c.start - t0),
            "duration": _sec(max(0.0, c.end - c.start)),
            "trial_type": "colean",
            "truncated": "true" if c.truncated else "false",
            "partner": c.partner,
            "leader": c.leader or NA,
            "lag_s": NA if c.lag_s is None else f"{c.lag_s:.3f}",
        }
        rows.append((c.start - t0, 1, cells))
    for m in markers:
        cells = {"onset": _sec(m.t - t0), "duration": "0", "trial_type": "marker",
                 "label": _tsv_text(m.label) or NA}  # fmt: skip
        rows.append((m.t - t0, 2, cells))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [[r[2].get(col, NA) for col in _EVENT_COLUMNS] for r in rows]


@dataclass(frozen=True, slots=True)
class CoLean:
    """A span when both members of a dyad leaned forward, seen from one member."""

    start: float
    end: float
    partner: str  # participant_id in participants.tsv
    leader: str | None
    lag_s: float | None
    truncated: bool


def _coleans(
    session: SessionData, subjects: Mapping[str, str], end_s: float
) -> dict[str, list[CoLean]]:
    """Pair each dyad's ``colean_start`` with its ``colean_end``; per member, partner named.

    A co-lean still open when the events stop ends at ``end_s``, marked truncated.
    """
    out: dict[str, list[CoLean]] = {p.id: [] for p in session.participants}
    open_: dict[tuple[str, ...], ev.DyadEvent] = {}
    spans: list[tuple[ev.DyadEvent, float, bool]] = []
    for d in sorted(session.dyad_events, key=lambda d: d.t):
        key = tuple(d.dyad)
        if d.kind == "colean_start":
            open_[key] = d
        elif d.kind == "colean_end" and key in open_:
            spans.append((open_.pop(key), d.t, False))
    spans += [(start, max(end_s, start.t), True) for start in open_.values()]
    for start, end, truncated in spans:
        if len(start.dyad) != 2 or not all(m in out for m in start.dyad):
            continue
        who = start.leader
        leader = f"sub-{subjects[who]}" if who is not None and who in subjects else None
        for me, other in (start.dyad, start.dyad[::-1]):
            partner = f"sub-{subjects[other]}"
            out[me].append(CoLean(start.t, end, partner, leader, start.lag_s, truncated))
    return out


def _events_json(session: SessionData) -> dict[str, Any]:
    levels = [lv.name for lv in session.detection.detector.levels]
    return {
        "onset": {"Description": "Start (latency-corrected onset) since the first motion row",
                  "Units": "s"},
        "duration": {"Description": "Episode duration (0 for a marker)", "Units": "s"},
        "trial_type": {
            "Description": "What happened",
            "Levels": {
                "lean_forward": "Forward lean episode of the participant",
                "lean_backward": "Backward lean episode of the participant",
                "lying": "Lying (tilt beyond the lying threshold, not forward)",
                "colean": "Both members of the participant's dyad leaned forward",
                "marker": "Researcher's marker (same for every participant of the session)",
            },
        },
        "level": {"Description": f"Detector level of the episode ({', '.join(levels)}, lying)"},
        "peak_deg": {"Description": "Peak tilt in the episode's direction", "Units": "deg"},
        "mean_deg": {"Description": "Mean tilt in the episode's direction", "Units": "deg"},
        "crossing": {"Description": "Time the enter threshold was crossed", "Units": "s"},
        "exit": {"Description": "Time the exit threshold was crossed back", "Units": "s"},
        "truncated": {"Description": "true if the recording or a data gap cut the episode"},
        "partner": {"Description": "colean: the other member of the dyad (participant_id)"},
        "leader": {"Description": "colean: who leaned first (participant_id), n/a if both "
                   "started together"},
        "lag_s": {"Description": "colean: how long after the leader the follower started",
                  "Units": "s"},
        "label": {"Description": "The marker's text"},
    }  # fmt: skip


# -- dataset level -----------------------------------------------------------------------


def _description(session: SessionData) -> dict[str, Any]:
    return {
        "Name": session.meta.name or session.meta.id,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "GeneratedBy": [
            {
                "Name": "sensorhub",
                "Version": __version__,
                "Description": f"sensorhub export of session {session.meta.id}",
            }
        ],
    }


def _write_readme(path: Path, session: SessionData) -> Path:
    if path.exists():  # a shared dataset keeps the README its curator wrote
        return path
    text = (
        f"# {session.meta.name or session.meta.id}\n\n"
        "Chest accelerometer recordings of seated conversations, exported by sensorhub.\n"
        "One subject per wearer; motion.tsv holds the lean detector's uniform grid\n"
        "(acceleration, trunk angles, motion and lying flags), events.tsv the detected lean\n"
        "episodes and the researchers' markers.\n"
    )
    path.write_text(text, encoding="utf-8")
    return path


def _write_participants(
    root: Path, session: SessionData, subjects: Mapping[str, str]
) -> list[Path]:
    """``participants.tsv`` (+ ``.json``): one row per subject, attributes as columns.

    Attribute keys become snake_case column names; rows already in the file (an earlier
    session of the same dataset) are kept and updated.
    """
    path = root / "participants.tsv"
    rows, columns = _read_tsv(path) if path.exists() else ({}, ["participant_id"])
    described: dict[str, str] = {}
    for p in session.participants:
        pid = f"sub-{subjects[p.id]}"
        row = rows.setdefault(pid, {"participant_id": pid})
        row["source_id"] = _tsv_text(p.id)
        for key, value in p.attributes.items():
            col = _column_name(key)
            described[col] = str(key)
            row[col] = _tsv_value(value)
        for col in row:
            if col not in columns:
                columns.append(col)
    ordered = [list(rows[k].get(c, NA) for c in columns) for k in sorted(rows)]
    written = [_write_tsv(path, columns, ordered)]
    meta_path = root / "participants.json"
    meta: dict[str, Any] = {}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("source_id", {"Description": "Participant id as recorded by sensorhub"})
    for col, key in described.items():
        meta.setdefault(col, {"Description": f"Participant attribute {key!r} (free-form)"})
    written.append(_write_json(meta_path, meta))
    return written


def _read_tsv(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        if line:
            rec = dict(zip(header, line.split("\t"), strict=False))
            rows[rec["participant_id"]] = rec
    return rows, header


def _subject_labels(ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for i, pid in enumerate(ids, start=1):
        base = bids_label(pid) or f"p{i}"
        label, n = base, 1
        while label.lower() in used:
            n += 1
            label = f"{base}{n}"
        used.add(label.lower())
        out[pid] = label
    return out


def _column_name(key: str) -> str:
    col = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_") or "attribute"
    if col[0].isdigit():
        col = f"a_{col}"
    return "attribute_participant_id" if col in ("participant_id", "source_id") else col


def _tsv_value(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not np.isfinite(value):
        return NA
    return _tsv_text(str(value)) or NA


def _tsv_text(text: str) -> str:
    """No tabs or line breaks inside a cell (they would split it)."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def _sec(value: float) -> str:
    return f"{value:.6f}"


def _bids_datetime(t: dt.datetime) -> str:
    """BIDS date-time with microseconds (``YYYY-MM-DDThh:mm:ss.ffffff``), in UTC."""
    return t.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _write_tsv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    lines = ["\t".join(header), *("\t".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
