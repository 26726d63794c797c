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
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub import __version__
from sensorhub.dsp.conditioning import Resampler
from sensorhub.io_csv import G0
from sensorhub.store.export_bids_tables import (
    EVENT_COLUMNS,
    NA,
    CoLean,
    bids_datetime,
    colean_spans,
    event_rows,
    events_json,
    write_json,
    write_participants,
    write_sessions,
    write_tsv,
)
from sensorhub.store.export_csv import jsonable
from sensorhub.store.model import ParticipantData, SessionData

__all__ = ["BIDS_VERSION", "TASK", "bids_label", "export_bids"]

#: The BIDS version whose motion rules the output follows (motion since 1.9.0).
BIDS_VERSION = "1.10.0"
TASK = "conversation"

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
    written = [write_json(out / "dataset_description.json", description)]
    written.append(_write_readme(out / "README", session))
    extra = dict(metadata.get("motion", {}))
    coleans = colean_spans(session, subjects, session.meta.duration_s)
    for p in session.participants:
        written += _write_participant(out, session, p, subjects[p.id], ses, extra, coleans[p.id])
    written += write_participants(out, session, subjects)
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
    written.append(write_json(mdir / f"{stem}_motion.json", sidecar))
    written.append(write_tsv(mdir / f"{stem}_channels.tsv", _channel_header(), _channel_rows()))
    written.append(write_json(mdir / f"{stem}_channels.json", _CHANNELS_JSON))
    events = f"{prefix}_task-{TASK}_events"
    rows = event_rows(p, session.markers, coleans, t0)
    written.append(write_tsv(mdir / f"{events}.tsv", EVENT_COLUMNS, rows))
    written.append(write_json(mdir / f"{events}.json", events_json(session)))
    acq = session.meta.started.astimezone(dt.UTC) + dt.timedelta(microseconds=round(t0 / 1000))
    if ses:
        written.append(write_sessions(root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv", ses, acq))
    written.append(
        write_tsv(
            subdir / f"{prefix}_scans.tsv",
            ("filename", "acq_time"),
            [[f"motion/{motion_tsv.name}", bids_datetime(acq)]],
        )
    )
    return written


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
        "Calibration": jsonable(dict(p.calibration)),
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
