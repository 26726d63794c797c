"""The tables of the BIDS motion export: events, participants and sessions files, and the
TSV/JSON conventions every file follows (tab-separated, ``n/a`` for a missing value, no tab
or line break inside a cell, UTC date-times with microseconds).

Split from :mod:`sensorhub.store.export_bids`, which writes the recordings themselves.
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

from sensorhub import events as ev
from sensorhub.store.model import ParticipantData, SessionData

__all__ = [
    "EVENT_COLUMNS",
    "NA",
    "CoLean",
    "bids_datetime",
    "colean_spans",
    "event_rows",
    "events_json",
    "tsv_text",
    "write_json",
    "write_participants",
    "write_sessions",
    "write_tsv",
]

NA = "n/a"

EVENT_COLUMNS = (
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


def write_sessions(path: Path, ses: str, acq: dt.datetime) -> Path:
    """``sub-<p>_sessions.tsv``: one row per session of the subject, earlier rows kept."""
    rows: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            cells = line.split("\t")
            if cells and cells[0]:
                rows[cells[0]] = [*cells, NA][:2]
    rows[f"ses-{ses}"] = [f"ses-{ses}", bids_datetime(acq)]
    return write_tsv(path, ("session_id", "acq_time"), [rows[k] for k in sorted(rows)])


def event_rows(
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
                 "label": tsv_text(m.label) or NA}  # fmt: skip
        rows.append((m.t - t0, 2, cells))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [[r[2].get(col, NA) for col in EVENT_COLUMNS] for r in rows]


@dataclass(frozen=True, slots=True)
class CoLean:
    """A span when both members of a dyad leaned forward, seen from one member."""

    start: float
    end: float
    partner: str  # participant_id in participants.tsv
    leader: str | None
    lag_s: float | None
    truncated: bool


def colean_spans(
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


def events_json(session: SessionData) -> dict[str, Any]:
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


def write_participants(root: Path, session: SessionData, subjects: Mapping[str, str]) -> list[Path]:
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
        row["source_id"] = tsv_text(p.id)
        for key, value in p.attributes.items():
            col = _column_name(key)
            described[col] = str(key)
            row[col] = _tsv_value(value)
        for col in row:
            if col not in columns:
                columns.append(col)
    ordered = [list(rows[k].get(c, NA) for c in columns) for k in sorted(rows)]
    written = [write_tsv(path, columns, ordered)]
    meta_path = root / "participants.json"
    meta: dict[str, Any] = {}
    if meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("source_id", {"Description": "Participant id as recorded by sensorhub"})
    for col, key in described.items():
        meta.setdefault(col, {"Description": f"Participant attribute {key!r} (free-form)"})
    written.append(write_json(meta_path, meta))
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
    return tsv_text(str(value)) or NA


def tsv_text(text: str) -> str:
    """No tabs or line breaks inside a cell (they would split it)."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def _sec(value: float) -> str:
    return f"{value:.6f}"


def bids_datetime(t: dt.datetime) -> str:
    """BIDS date-time with microseconds (``YYYY-MM-DDThh:mm:ss.ffffff``), in UTC."""
    return t.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def write_tsv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    lines = ["\t".join(header), *("\t".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return path
