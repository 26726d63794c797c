"""Plain CSV export of a finished session: what a lab opens in R, pandas or a spreadsheet.

Layout of ``out_dir`` (created if needed)::

    session.json              meta, detection settings, participants (attributes, calibration,
                              sensor, rate, files), dyads
    episodes.csv              every finished episode of every participant and level
    markers.csv               researcher markers
    dyad_events.csv           co-lean, followed onsets and lagged correlations per dyad
    <participant>/samples.csv raw samples as recorded: t_s, ax_g, ay_g, az_g
    <participant>/angles.csv  the detector's uniform grid: t_s, forward_deg, lateral_deg,
                              inclination_deg, motion, lying

All times are seconds on the *session clock* (``session.json`` gives the wall-clock anchor
``started`` of time 0). ``samples.csv`` is in the unit-named layout that ``sensorhub detect``
and :func:`sensorhub.store.importing.import_files` read (:mod:`sensorhub.io_csv`): times carry
nine decimals and values Python's shortest round-trip repr, so reading the file back gives
the very same ``t_ns`` and ``acc_g``. A missing value (no leader, no lag) is an empty cell.
``<participant>`` is the participant id made safe as a folder name (``session.json`` maps
ids to folders).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sensorhub.store.model import ParticipantData, SessionData

__all__ = ["export_csv", "format_seconds", "jsonable", "participant_folders", "session_record"]

SAMPLE_FIELDS = ("t_s", "ax_g", "ay_g", "az_g")
ANGLE_FIELDS = ("t_s", "forward_deg", "lateral_deg", "inclination_deg", "motion", "lying")
EPISODE_FIELDS = (
    "participant",
    "level",
    "direction",
    "onset_s",
    "end_s",
    "crossing_s",
    "exit_s",
    "peak_deg",
    "mean_deg",
    "truncated",
)
MARKER_FIELDS = ("t_s", "label", "source")
DYAD_FIELDS = ("t_s", "participant_a", "participant_b", "kind", "leader", "lag_s", "r")


def export_csv(session: SessionData, out_dir: str | Path) -> list[Path]:
    """Write the session as CSV files plus ``session.json``; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    folders = participant_folders([p.id for p in session.participants])
    written: list[Path] = []
    for p in session.participants:
        pdir = out / folders[p.id]
        pdir.mkdir(exist_ok=True)
        written.append(_write_samples(pdir / "samples.csv", p))
        written.append(_write_angles(pdir / "angles.csv", p))
    written.append(_write_rows(out / "episodes.csv", EPISODE_FIELDS, _episode_rows(session)))
    markers = sorted(session.markers, key=lambda m: m.t)
    written.append(
        _write_rows(
            out / "markers.csv", MARKER_FIELDS, ([_num(m.t), m.label, m.source] for m in markers)
        )
    )
    written.append(_write_rows(out / "dyad_events.csv", DYAD_FIELDS, _dyad_rows(session)))
    meta_path = out / "session.json"
    record = session_record(session)
    for entry in record["participants"]:
        folder = folders[entry["id"]]
        entry["files"] = {"samples": f"{folder}/samples.csv", "angles": f"{folder}/angles.csv"}
    meta_path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    written.append(meta_path)
    return written


def format_seconds(t_ns: NDArray[np.int64]) -> list[str]:
    """Exact decimal seconds of integer nanoseconds (``-0.000000001``, ``12.345678901``).

    Done in integers so no float rounding enters the file; ``float(text) * 1e9`` rounded
    gives the nanoseconds back for any session time below about 10^6 s.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    mag = np.abs(t)
    whole = (mag // 1_000_000_000).tolist()
    frac = (mag % 1_000_000_000).tolist()
    neg = (t < 0).tolist()
    return [f"{'-' if n else ''}{w}.{f:09d}" for n, w, f in zip(neg, whole, frac, strict=True)]


def participant_folders(ids: Sequence[str]) -> dict[str, str]:
    """Unique, filesystem-safe folder names for participant ids (``a/b`` -> ``a_b``)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for pid in ids:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", pid).strip(".") or "participant"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name.lower())
        out[pid] = name
    return out


def session_record(session: SessionData) -> dict[str, Any]:
    """JSON-friendly description of the session (meta, detection, participants, dyads)."""
    meta = session.meta
    return {
        "id": meta.id,
        "name": meta.name,
        "started": meta.started.isoformat(),
        "duration_s": meta.duration_s,
        "ended_cleanly": meta.ended_cleanly,
        "software": meta.software,
        "config": jsonable(meta.config),
        "detection": jsonable(dataclasses.asdict(session.detection)),
        "participants": [_participant_record(p) for p in session.participants],
        "dyads": [list(d) for d in session.dyads],
        "markers": len(session.markers),
    }


def _participant_record(p: ParticipantData) -> dict[str, Any]:
    return {
        "id": p.id,
        "sensor": p.sensor,
        "kind": p.kind,
        "sample_rate_hz": p.sample_rate_hz,
        "samples": int(p.t_ns.size),
        "episodes": len(p.episodes),
        "attributes": jsonable(dict(p.attributes)),
        "calibration": jsonable(dict(p.calibration)),
    }


def jsonable(obj: Any) -> Any:
    """Plain JSON types (numpy scalars/arrays, tuples, enums...); non-finite floats -> None."""
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def _write_samples(path: Path, p: ParticipantData) -> Path:
    times = format_seconds(p.t_ns)
    acc = np.asarray(p.acc_g, dtype=np.float64).tolist()
    rows = ([t, repr(x), repr(y), repr(z)] for t, (x, y, z) in zip(times, acc, strict=True))
    return _write_rows(path, SAMPLE_FIELDS, rows)


def _write_angles(path: Path, p: ParticipantData) -> Path:
    a = p.angles
    columns = zip(
        format_seconds(a.t_ns),
        a.forward.tolist(),
        a.lateral.tolist(),
        a.inclination.tolist(),
        a.dynamic.astype(np.int8).tolist(),
        a.lying.astype(np.int8).tolist(),
        strict=True,
    )
    rows = ([t, repr(f), repr(lat), repr(inc), m, ly] for t, f, lat, inc, m, ly in columns)
    return _write_rows(path, ANGLE_FIELDS, rows)


def _episode_rows(session: SessionData) -> Iterable[list[Any]]:
    episodes = [e for p in session.participants for e in p.episodes]
    episodes.sort(key=lambda e: (e.onset, e.participant, e.level))
    for e in episodes:
        yield [
            e.participant,
            e.level,
            e.direction,
            _num(e.onset),
            _num(e.end),
            _num(e.crossing),
            _num(e.exit),
            _num(e.peak_deg),
            _num(e.mean_deg),
            "true" if e.truncated else "false",
        ]


def _dyad_rows(session: SessionData) -> Iterable[list[Any]]:
    for d in sorted(session.dyad_events, key=lambda d: d.t):
        a, b = [*d.dyad, "", ""][:2]
        yield [_num(d.t), a, b, d.kind, d.leader or "", _num(d.lag_s), _num(d.r)]


def _num(value: float | None) -> str:
    """A float cell: shortest exact repr; empty for None or a non-finite value."""
    if value is None or not np.isfinite(value):
        return ""
    return repr(float(value))


def _write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path
