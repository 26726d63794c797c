"""``report.md``: the analysis at a glance, with key numbers, figure captions and warnings.

A Markdown page a researcher can open next to the CSV files (any Markdown viewer shows the
figures, which are linked relatively). It repeats a few columns of the tables, rounded for
reading; the CSV/JSON files hold every value at full precision.
"""

# Typographic dashes and minus signs are intended in this human-readable page.
# ruff: noqa: RUF001

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sensorhub import __version__
from sensorhub.analysis.dyads import DyadMetrics
from sensorhub.analysis.metrics import THRESHOLDS_DEG, ParticipantMetrics
from sensorhub.store.model import SessionData

__all__ = ["write_summary"]


def _f(v: float, digits: int = 1, scale: float = 1.0) -> str:
    return "–" if not math.isfinite(v) else f"{v * scale:.{digits}f}"


def _p(v: float) -> str:
    if not math.isfinite(v):
        return "–"
    return "< 0.01" if v < 0.01 else f"{v:.2f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return [*out, ""]


def write_summary(
    path: Path,
    sessions: Sequence[SessionData],
    participants: Sequence[ParticipantMetrics],
    dyads: Sequence[DyadMetrics],
    groups: Sequence[dict[str, Any]],
    group_by: str | None,
    figures: Sequence[Path],
    warnings: Sequence[str],
) -> Path:
    """Write ``report.md`` (see the module docstring) and return its path."""
    level = sessions[0].detection.detector.levels[0] if sessions else None
    lines = [
        f"# Lean analysis: {len(sessions)} session(s)",
        "",
        f"sensorhub {__version__}. Grid fractions: share of valid time (not in motion, not "
        f"lying) leaning forward more than {', '.join(f'{t:g}' for t in THRESHOLDS_DEG)}°."
        + (
            f" Episodes: level `{level.name}`, enter {level.enter_deg:g}°, exit "
            f"{level.exit_deg:g}°, at least {level.min_duration_s:g} s."
            if level
            else ""
        ),
        "",
        "## Sessions",
        "",
    ]
    lines += _table(
        ["session", "name", "start (UTC)", "duration (min)", "ended cleanly", "participants"],
        [
            [
                s.meta.id,
                s.meta.name,
                s.meta.started.strftime("%Y-%m-%d %H:%M"),
                _f(s.meta.duration_s / 60),
                "yes" if s.meta.ended_cleanly else "**no**",
                ", ".join(p.id for p in s.participants),
            ]
            for s in sessions
        ],
    )
    lines += ["## Participants", ""]
    lines += _table(
        [
            "session",
            "participant",
            "> 20° (%)",
            "episodes/min",
            "median duration (s)",
            "mean peak (°)",
            "backward (%)",
            "motion (%)",
            "gaps",
            "breaks",
        ],
        [
            [
                m.session,
                m.participant,
                _f(m.fwd_frac_20, 1, 100),
                _f(m.episodes_per_min, 2),
                _f(m.duration_median_s),
                _f(m.peak_mean_deg),
                _f(m.backward_frac, 1, 100),
                _f(m.motion_frac, 1, 100),
                str(m.gaps),
                str(m.breaks),
            ]
            for m in participants
        ],
    )
    if dyads:
        lines += [
            "## Dyads",
            "",
            "Co-lean: share of time both lean, against its time-shift surrogate mean. Follows:"
            " onsets of one partner followed by the other's within 0.5-5 s. Direction index:"
            " (A→B − B→A) / (A→B + B→A). WCC z: mean Fisher z of each 30-s window's peak"
            " lagged correlation. p: time-shift surrogates.",
            "",
        ]
        lines += _table(
            [
                "session",
                "A–B",
                "co-lean (%)",
                "chance (%)",
                "p",
                "A→B",
                "B→A",
                "direction (p)",
                "leader",
                "WCC z (chance)",
                "p",
            ],
            [
                [
                    d.session,
                    f"{d.a}–{d.b}",
                    _f(d.colean_frac, 1, 100),
                    _f(d.colean_chance, 1, 100),
                    _p(d.colean_p),
                    str(d.a_leads),
                    str(d.b_leads),
                    f"{_f(d.direction_index, 2)} ({_p(d.direction_p)})",
                    d.leader or "–",
                    f"{_f(d.wcc_peak_z, 2)} ({_f(d.wcc_peak_z_chance, 2)})",
                    _p(d.wcc_p),
                ]
                for d in dyads
            ],
        )
    if group_by and groups:
        lines += [f"## Groups by `{group_by}`", "", "mean ± SD (n)", ""]
        rows = [
            [
                g["unit"],
                str(g[group_by]),
                g["metric"],
                f"{_f(g['mean'], 3)} ± {_f(g['sd'], 3)} ({g['n']})",
            ]
            for g in groups
        ]
        lines += _table(["unit", group_by, "metric", "value"], rows)
    if figures:
        lines += ["## Figures", ""]
        for fig in figures:
            rel = fig.relative_to(path.parent) if fig.is_relative_to(path.parent) else fig
            lines += [f"**{fig.stem}**: {_caption(fig.stem)}", "", f"![{fig.stem}]({rel})", ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _caption(stem: str) -> str:
    if stem.endswith("_trace"):
        return (
            "forward trunk angle (degrees, positive forward) over the session; shaded: forward"
            " (orange) and backward (blue) lean episodes; dashed: 10/20/30°; purple ticks:"
            " motion; dotted: markers."
        )
    if stem.endswith("_timeline"):
        return (
            "both partners' forward angles (top) and lean episodes (bottom); green: both lean"
            " (co-lean); arrows: an onset followed by the partner's within 0.5-5 s, from"
            " leader to follower."
        )
    if stem.endswith("_lagmap"):
        return (
            "windowed cross-lagged correlation of the two forward angles (30-s windows, lags"
            " ±5 s, positive when the first partner leads); dots: each window's peak."
        )
    return "per-group box plots (median, quartiles) with one point per participant or dyad."
