"""``analyze_sessions``: every metric and figure of a set of sessions, written to one folder.

Output layout (``out_dir``)::

    participants.csv / .json   one row per participant per session (metrics.py)
    dyads.csv / .json          one row per dyad per session (dyads.py)
    groups.csv                 with group_by: per group, n/mean/SD/median/IQR of key metrics
    analysis.json              provenance: software, sessions, thresholds, dyad parameters
    report.md                  key numbers, figures with captions, warnings (summary.py)
    figures/<session>_<participant>_trace.png
    figures/<session>_<a>-<b>_timeline.png, ..._lagmap.png
    figures/groups_<attribute>.png

CSV cells that are undefined (no episodes, no partner onsets ...) are empty; in JSON they are
``null`` (NaN is not JSON).
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from sensorhub import __version__
from sensorhub.analysis.dyads import DyadMetrics, dyad_metrics, lag_time_map
from sensorhub.analysis.figures import (
    plot_dyad_timeline,
    plot_groups,
    plot_lag_map,
    plot_trace,
)
from sensorhub.analysis.metrics import (
    THRESHOLDS_DEG,
    ParticipantMetrics,
    participant_metrics,
    primary_levels,
)
from sensorhub.analysis.summary import write_summary
from sensorhub.dsp.dyad import DyadConfig, OnsetFollowed
from sensorhub.errors import ConfigError
from sensorhub.store.export_csv import jsonable
from sensorhub.store.model import SessionData

__all__ = [
    "DYAD_GROUP_METRICS",
    "PARTICIPANT_GROUP_METRICS",
    "AnalysisResult",
    "analyze_sessions",
    "group_key",
    "group_rows",
]

#: Metrics summarised per group in groups.csv.
PARTICIPANT_GROUP_METRICS = (
    "fwd_frac_10",
    "fwd_frac_20",
    "fwd_frac_30",
    "episode_frac",
    "episodes_per_min",
    "duration_median_s",
    "peak_mean_deg",
    "backward_frac",
    "motion_frac",
)
DYAD_GROUP_METRICS = ("colean_frac", "colean_ratio", "direction_index", "wcc_peak_z")
MISSING = "NA"


@dataclass(frozen=True, slots=True)
class AnalysisResult:
    """What :func:`analyze_sessions` computed and the files it wrote."""

    out_dir: Path
    participants: list[ParticipantMetrics]
    dyads: list[DyadMetrics]
    groups: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    #: Sessions, participants or dyads that could not be analysed fully, for a person to read.
    warnings: list[str] = field(default_factory=list)


def analyze_sessions(
    sessions: Sequence[SessionData],
    out_dir: Path | str,
    *,
    group_by: str | None = None,
    progress: bool = True,
    figures: bool = True,
    dyad_config: DyadConfig | None = None,
) -> AnalysisResult:
    """Compute per-participant and per-dyad metrics, write tables and figures to ``out_dir``.

    ``progress`` shows a tqdm bar on stderr, only when stderr is a terminal. Surrogate seeds
    derive from the session and partner ids, so a dyad's p-values do not depend on which
    other sessions are analysed with it.
    """
    ids = [s.meta.id for s in sessions]
    if dup := sorted({i for i in ids if ids.count(i) > 1}):
        raise ConfigError(f"session {', '.join(dup)} given more than once")
    out = Path(out_dir)
    fig_dir = out / "figures"
    out.mkdir(parents=True, exist_ok=True)
    steps = sum(len(s.participants) + len(s.dyads) for s in sessions) + (1 if group_by else 0)
    bar = tqdm(
        total=steps,
        desc="analyze",
        unit="item",
        file=sys.stderr,
        disable=not (progress and sys.stderr.isatty()),
        dynamic_ncols=True,
    )
    p_rows: list[ParticipantMetrics] = []
    d_rows: list[DyadMetrics] = []
    attrs: dict[tuple[str, str], Mapping[str, Any]] = {}
    figs: list[Path] = []
    warnings: list[str] = []
    with bar:
        for s in sessions:
            det = s.detection.detector
            level, back = primary_levels(det)
            sid = s.meta.id
            for p in s.participants:
                bar.set_postfix_str(f"{sid} {p.id}", refresh=False)
                if p.angles.t_ns.size == 0:
                    warnings.append(f"{sid}: participant {p.id} has no data")
                p_rows.append(participant_metrics(p, det, session=sid))
                attrs[(sid, p.id)] = p.attributes
                if figures and p.angles.t_ns.size:
                    path = fig_dir / f"{_slug(sid)}_{_slug(p.id)}_trace.png"
                    figs.append(
                        plot_trace(
                            p,
                            path,
                            level=level,
                            backward_level=back,
                            period_s=1.0 / det.rate_hz,
                            markers=s.markers,
                            title=f"{s.meta.name or sid} · {p.id}",
                        )
                    )
                bar.update()
            for a_id, b_id in s.dyads:
                bar.set_postfix_str(f"{sid} {a_id}-{b_id}", refresh=False)
                a, b = s.participant(a_id), s.participant(b_id)
                seed = zlib.crc32(f"{sid}/{a_id}/{b_id}".encode())
                try:
                    row, _, events = dyad_metrics(
                        a, b, level, session=sid, config=dyad_config, seed=seed
                    )
                except ConfigError as exc:  # a partner without data, or no overlap in time
                    warnings.append(f"{sid}: dyad {a_id}-{b_id} has no measures: {exc}")
                    d_rows.append(DyadMetrics.undefined(sid, a_id, b_id))
                else:
                    d_rows.append(row)
                    if figures:
                        follows = [
                            (e.leader, e.leader_onset_ns / 1e9, e.t_ns / 1e9)
                            for e in events
                            if isinstance(e, OnsetFollowed)
                        ]
                        figs += _dyad_figures(s, (a_id, b_id), fig_dir, level, dyad_config, follows)
                bar.update()
        groups: list[dict[str, Any]] = []
        if group_by:
            groups = group_rows(p_rows, d_rows, attrs, group_by)
            if figures:
                figs.append(_group_figure(p_rows, d_rows, attrs, group_by, fig_dir))
            bar.update()
    files = _write_tables(out, p_rows, d_rows, groups, attrs, group_by)
    files.append(_write_provenance(out, sessions, group_by, dyad_config or DyadConfig()))
    files.append(
        write_summary(out / "report.md", sessions, p_rows, d_rows, groups, group_by, figs, warnings)
    )
    return AnalysisResult(out, p_rows, d_rows, groups, files, figs, warnings)


def _dyad_figures(
    s: SessionData,
    pair: tuple[str, str],
    fig_dir: Path,
    level: str,
    cfg: DyadConfig | None,
    follows: Sequence[tuple[int, float, float]],
) -> list[Path]:
    a_id, b_id = pair
    a, b = s.participant(a_id), s.participant(b_id)
    stem = f"{_slug(s.meta.id)}_{_slug(a_id)}-{_slug(b_id)}"
    enter = next((lv.enter_deg for lv in s.detection.detector.levels if lv.name == level), 20.0)
    name = s.meta.name or s.meta.id
    timeline = plot_dyad_timeline(
        a,
        b,
        fig_dir / f"{stem}_timeline.png",
        level=level,
        enter_deg=enter,
        markers=s.markers,
        follows=follows,
        title=f"{name} · dyad {a_id}\u2013{b_id}",
    )
    lag_map = plot_lag_map(
        lag_time_map(a, b, cfg, step_s=_map_step_s(s.meta.duration_s)),
        fig_dir / f"{stem}_lagmap.png",
        a=a_id,
        b=b_id,
        title=f"{name} · {a_id}\u2013{b_id}: windowed lagged correlation of the forward angle",
    )
    return [timeline, lag_map]


def _map_step_s(duration_s: float) -> float:
    """Lag-map step: 2 s, coarser for long sessions so the map keeps ~300 columns (a page
    width at print resolution; finer steps only add overlapping peak dots)."""
    return max(2.0, float(round(duration_s / 300.0)))


# --- groups ----------------------------------------------------------------------------------


def group_key(value: Any) -> str:
    """An attribute value as a group label (missing -> ``NA``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return str(value)


def _participant_group(
    attrs: Mapping[tuple[str, str], Mapping[str, Any]], p: ParticipantMetrics, by: str
) -> str:
    """A participant's group: its value of the attribute ``by``."""
    return group_key(attrs.get((p.session, p.participant), {}).get(by))


def _dyad_group(attrs: Mapping[tuple[str, str], Mapping[str, Any]], d: DyadMetrics, by: str) -> str:
    """A dyad's group: the partners' shared value, else both joined (e.g. ``female+male``)."""
    ga = group_key(attrs.get((d.session, d.a), {}).get(by))
    gb = group_key(attrs.get((d.session, d.b), {}).get(by))
    return ga if ga == gb else "+".join(sorted((ga, gb)))


def group_rows(
    participants: Sequence[ParticipantMetrics],
    dyads: Sequence[DyadMetrics],
    attrs: Mapping[tuple[str, str], Mapping[str, Any]],
    by: str,
) -> list[dict[str, Any]]:
    """Long-format summaries: one row per (unit, group, metric) with n, mean, SD, quartiles."""
    rows: list[dict[str, Any]] = []
    p_groups: dict[str, list[ParticipantMetrics]] = {}
    for p in participants:
        p_groups.setdefault(_participant_group(attrs, p, by), []).append(p)
    d_groups: dict[str, list[DyadMetrics]] = {}
    for d in dyads:
        d_groups.setdefault(_dyad_group(attrs, d, by), []).append(d)
    units: list[tuple[str, Mapping[str, Sequence[Any]], Sequence[str]]] = [
        ("participant", p_groups, PARTICIPANT_GROUP_METRICS),
        ("dyad", d_groups, DYAD_GROUP_METRICS),
    ]
    for unit, groups, metrics in units:
        for g in sorted(groups):
            members = groups[g]
            for metric in metrics:
                v = np.array([getattr(m, metric) for m in members], dtype=np.float64)
                rows.append({"unit": unit, by: g, "metric": metric, **_describe(v)})
    return rows


def _describe(v: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, Any]:
    v = v[np.isfinite(v)]
    if not v.size:
        nan = math.nan
        return {"n": 0, "mean": nan, "sd": nan, "median": nan, "q25": nan, "q75": nan}
    q = np.quantile(v, [0.25, 0.5, 0.75])
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else math.nan,
        "median": float(q[1]),
        "q25": float(q[0]),
        "q75": float(q[2]),
    }


def _group_figure(
    participants: Sequence[ParticipantMetrics],
    dyads: Sequence[DyadMetrics],
    attrs: Mapping[tuple[str, str], Mapping[str, Any]],
    by: str,
    fig_dir: Path,
) -> Path:
    def collect(metric: str, factor: float = 1.0) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for p in participants:
            out.setdefault(_participant_group(attrs, p, by), []).append(getattr(p, metric) * factor)
        return out

    colean: dict[str, list[float]] = {}
    for d in dyads:
        colean.setdefault(_dyad_group(attrs, d, by), []).append(d.colean_ratio)
    panels: list[tuple[str, Mapping[str, Sequence[float]], float | None]] = [
        ("Time leaning forward > 20° (%)", collect("fwd_frac_20", 100.0), None),
        ("Lean episodes per minute", collect("episodes_per_min"), None),
        ("Median episode duration (s)", collect("duration_median_s"), None),
    ]
    if colean:
        panels.append(("Co-lean (\u00d7 chance), per dyad", colean, 1.0))
    return plot_groups(panels, fig_dir / f"groups_{_slug(by)}.png", attribute=by)


# --- files -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _attr_columns(
    attrs: Mapping[tuple[str, str], Mapping[str, Any]], taken: Iterable[str]
) -> list[tuple[str, str]]:
    """(attribute, column name): attributes as their own columns, prefixed on a clash."""
    names = sorted({k for a in attrs.values() for k in a})
    reserved = set(taken)
    return [(k, f"attr_{k}" if k in reserved else k) for k in names]


def _write_tables(
    out: Path,
    participants: Sequence[ParticipantMetrics],
    dyads: Sequence[DyadMetrics],
    groups: Sequence[dict[str, Any]],
    attrs: Mapping[tuple[str, str], Mapping[str, Any]],
    group_by: str | None,
) -> list[Path]:
    p_fields = list(ParticipantMetrics.__dataclass_fields__)
    d_fields = list(DyadMetrics.__dataclass_fields__)
    cols = _attr_columns(attrs, p_fields)
    p_recs = []
    for p in participants:
        a = attrs.get((p.session, p.participant), {})
        rec = p.as_dict()
        p_recs.append(
            {
                "session": p.session,
                "participant": p.participant,
                **{c: a.get(k) for k, c in cols},
                **rec,
            }
        )
    d_recs = []
    for d in dyads:
        extra: dict[str, Any] = {}
        for who, pid in (("a", d.a), ("b", d.b)):
            a = attrs.get((d.session, pid), {})
            extra.update({f"{who}_{k}": a.get(k) for k, _ in cols})
        d_recs.append({**d.as_dict(), **extra})
    files = [
        _csv(
            out / "participants.csv",
            p_recs,
            ["session", "participant"] + [c for _, c in cols] + p_fields[2:],
        ),
        _json(out / "participants.json", p_recs),
        _csv(
            out / "dyads.csv",
            d_recs,
            d_fields + [k for k in (d_recs[0] if d_recs else {}) if k not in d_fields],
        ),
        _json(out / "dyads.json", d_recs),
    ]
    if group_by:
        g_fields = ["unit", group_by, "metric", "n", "mean", "sd", "median", "q25", "q75"]
        files.append(_csv(out / "groups.csv", list(groups), g_fields))
    return files


def _cell(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(round(v, 6))
    if v is None:
        return ""
    return v


def _csv(path: Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _cell(r.get(k)) for k in fields})
    return path


def _json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(jsonable(data), indent=1, allow_nan=False) + "\n", "utf-8")
    return path


def _write_provenance(
    out: Path, sessions: Sequence[SessionData], group_by: str | None, dyad: DyadConfig
) -> Path:
    levels = sessions[0].detection.detector.levels if sessions else ()
    info = {
        "software": f"sensorhub {__version__}",
        "group_by": group_by,
        "thresholds_deg": list(THRESHOLDS_DEG),
        "levels": [asdict(lv) for lv in levels],
        "dyad": asdict(dyad),
        "sessions": [
            {
                "id": s.meta.id,
                "name": s.meta.name,
                "started": s.meta.started.isoformat(),
                "duration_s": s.meta.duration_s,
                "ended_cleanly": s.meta.ended_cleanly,
                "software": s.meta.software,
                "participants": [p.id for p in s.participants],
                "dyads": [list(d) for d in s.dyads],
                "markers": [asdict(m) for m in s.markers],
            }
            for s in sessions
        ],
    }
    return _json(out / "analysis.json", info)
