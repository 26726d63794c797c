"""Publication-style PNG figures: angle traces, dyad timelines, lag-time maps, group plots.

Figures are built on :class:`matplotlib.figure.Figure` directly (no ``pyplot``): the Agg
canvas renders them, no global backend or figure registry is touched, and nothing leaks when
hundreds are drawn in one run. Style: the Okabe-Ito palette (distinguishable with the common
colour-vision deficiencies), a diverging ColorBrewer map for correlations, light axes, units
on every axis.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import blended_transform_factory
from numpy.typing import NDArray

from sensorhub import events as ev
from sensorhub.analysis.dyads import LagMap
from sensorhub.analysis.metrics import THRESHOLDS_DEG
from sensorhub.store.model import ParticipantData

__all__ = [
    "OKABE_ITO",
    "plot_dyad_timeline",
    "plot_groups",
    "plot_lag_map",
    "plot_trace",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "skyblue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
_GROUP_COLOURS = ["blue", "orange", "green", "vermillion", "purple", "skyblue", "yellow", "black"]
COLOUR_A, COLOUR_B = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
COLOUR_FWD, COLOUR_BACK = OKABE_ITO["orange"], OKABE_ITO["skyblue"]
COLOUR_BOTH = OKABE_ITO["green"]
GREY = "#7f7f7f"

_STYLE: dict[Any, Any] = {
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.labelsize": 8.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "savefig.dpi": 200,
    "savefig.pad_inches": 0.05,
    "figure.dpi": 100,
}

#: Traces longer than this are wrapped into rows of ROW_MIN minutes (one row per 10 min
#: keeps a breath-scale wiggle visible on a page-wide figure).
WRAP_AFTER_MIN = 15.0
ROW_MIN = 10.0
NS = 1_000_000_000


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(_STYLE):
        yield


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# --- helpers ---------------------------------------------------------------------------------


def _with_breaks(
    t_s: NDArray[np.float64], y: NDArray[np.float64], period_s: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Insert NaN after every time jump so a line is not drawn across a data break."""
    jumps = np.flatnonzero(np.diff(t_s) > 1.5 * period_s) + 1
    return np.insert(t_s, jumps, np.nan), np.insert(y, jumps, np.nan)


def _decimate(
    t_s: NDArray[np.float64], y: NDArray[np.float64], max_hz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Keep every k-th sample so at most ``max_hz`` remain (the angle is low-passed at 1 Hz)."""
    if t_s.size < 2:
        return t_s, y
    rate = (t_s.size - 1) / max(float(t_s[-1] - t_s[0]), 1e-9)
    k = max(1, int(rate // max_hz))
    return t_s[::k], y[::k]


def _runs(mask: NDArray[np.bool_], t_s: NDArray[np.float64]) -> list[tuple[float, float]]:
    """(start, end) times of the runs of True in ``mask``."""
    if not mask.size:
        return []
    m = np.r_[False, mask, False].astype(np.int8)
    d = np.diff(m)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1
    return [(float(t_s[s]), float(t_s[e])) for s, e in zip(starts, ends, strict=True)]


def _intersect(
    a: Sequence[tuple[float, float]], b: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _intervals(p: ParticipantData, level: str | None) -> list[tuple[float, float]]:
    return sorted((e.onset, e.end) for e in p.episodes_of(level)) if level else []


def _markers(
    ax: Axes, markers: Sequence[ev.Marker], scale: float, label: bool, last: bool = True
) -> None:
    """Markers as dotted lines (labelled at the top); ``last=False``: a wrapped row that is
    not the last leaves a marker on its right edge to the next row."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    lo, hi = ax.get_xlim()
    for m in markers:
        x = m.t / scale
        if not (lo <= x < hi or (last and x == hi)):
            continue
        ax.axvline(x, color=OKABE_ITO["black"], lw=0.7, ls=(0, (1, 1.5)), zorder=4)
        if label:
            ax.text(
                x,
                1.0,
                f" {m.label}",
                transform=trans,
                rotation=0,
                ha="left",
                va="bottom",
                fontsize=7,
                color=OKABE_ITO["black"],
                clip_on=False,
            )


def _time_unit(duration_s: float) -> tuple[float, str]:
    return (60.0, "min") if duration_s > 180 else (1.0, "s")


# --- per participant -------------------------------------------------------------------------


def plot_trace(
    p: ParticipantData,
    path: Path,
    *,
    level: str,
    backward_level: str | None,
    period_s: float,
    markers: Sequence[ev.Marker] = (),
    title: str = "",
) -> Path:
    """Forward angle over time, episodes shaded, 10/20/30 degree lines, motion and markers."""
    a = p.angles
    t_s = a.t_ns / NS
    duration = float(t_s[-1] - t_s[0]) if t_s.size > 1 else 0.0
    scale, unit = _time_unit(duration)
    total_min = (float(t_s[-1]) if t_s.size else 0.0) / 60.0
    if total_min > WRAP_AFTER_MIN:
        rows = max(1, math.ceil(total_min / ROW_MIN))
        spans = [(i * ROW_MIN, (i + 1) * ROW_MIN) for i in range(rows)]
    else:
        rows, spans = 1, [(0.0, max(total_min, 1e-3) * 60.0 / scale)]
    tt, yy = _decimate(t_s, a.forward, 10.0)
    tt, yy = _with_breaks(tt, yy, period_s * max(1, int((1 / period_s) // 10.0)))
    fwd_eps, back_eps = _intervals(p, level), _intervals(p, backward_level)
    motion = _runs(a.dynamic.astype(bool), t_s)
    lying = _runs(a.lying.astype(bool), t_s)
    finite = a.forward[np.isfinite(a.forward)]
    ylo = min(-12.0, float(np.min(finite)) - 2 if finite.size else -12.0)
    yhi = max(40.0, float(np.max(finite)) + 2 if finite.size else 40.0)
    with _style():
        fig = Figure(figsize=(7.2, 1.55 * rows + 0.9), layout="constrained")
        axes = fig.subplots(rows, 1, sharey=True, squeeze=False)[:, 0]
        for i, (ax, (x0, x1)) in enumerate(zip(axes, spans, strict=True)):
            for lo, hi in fwd_eps:
                ax.axvspan(lo / scale, hi / scale, color=COLOUR_FWD, alpha=0.28, lw=0, zorder=1)
            for lo, hi in back_eps:
                ax.axvspan(lo / scale, hi / scale, color=COLOUR_BACK, alpha=0.35, lw=0, zorder=1)
            for lo, hi in lying:
                ax.axvspan(lo / scale, hi / scale, color=GREY, alpha=0.25, lw=0, zorder=1)
            for thr in THRESHOLDS_DEG:
                ax.axhline(thr, color=GREY, lw=0.6, ls=(0, (4, 3)), zorder=2)
            ax.axhline(0, color=GREY, lw=0.5, zorder=2)
            ax.plot(tt / scale, yy, color=COLOUR_A, lw=0.8, zorder=3)
            trans = blended_transform_factory(ax.transData, ax.transAxes)
            for lo, hi in motion:
                ax.plot(
                    [lo / scale, max(hi, lo + 0.3) / scale],
                    [0.02, 0.02],
                    transform=trans,
                    color=OKABE_ITO["purple"],
                    lw=3,
                    solid_capstyle="butt",
                    zorder=4,
                )
            ax.set_xlim(x0, x1)
            ax.set_ylim(ylo, yhi)
            ax.set_yticks(np.arange(math.ceil(ylo / 10) * 10, yhi, 10))
            ax.set_ylabel("Forward (°)")
            _markers(ax, markers, scale, label=True, last=i == rows - 1)
        axes[-1].set_xlabel(f"Session time ({unit})")
        handles = [
            Line2D([], [], color=COLOUR_A, lw=1.0, label="forward angle"),
            Patch(color=COLOUR_FWD, alpha=0.4, label=f"{level} episode"),
            Patch(color=COLOUR_BACK, alpha=0.5, label="backward episode"),
            Line2D([], [], color=OKABE_ITO["purple"], lw=3, label="motion"),
            Line2D([], [], color=GREY, lw=0.8, ls=(0, (4, 3)), label="10/20/30°"),
        ]
        if lying:
            handles.insert(3, Patch(color=GREY, alpha=0.35, label="lying"))
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        if title:
            fig.suptitle(title, fontsize=9.5, x=0.01, ha="left")
        return _save(fig, path)


# --- per dyad --------------------------------------------------------------------------------


def plot_dyad_timeline(
    a: ParticipantData,
    b: ParticipantData,
    path: Path,
    *,
    level: str,
    enter_deg: float,
    markers: Sequence[ev.Marker] = (),
    follows: Sequence[tuple[int, float, float]] = (),
    title: str = "",
) -> Path:
    """Both forward angles on top; below, each partner's episodes and their co-lean.

    ``follows``: ``(leader, leader_onset_s, follower_onset_s)`` per followed onset (leader 0
    is A), drawn as arrows from the leader's episode lane to the follower's.
    """
    ea, eb = _intervals(a, level), _intervals(b, level)
    both = _intersect(ea, eb)
    end_s = max(float(a.angles.t_ns[-1]), float(b.angles.t_ns[-1])) / NS
    scale, unit = _time_unit(end_s)
    with _style():
        fig = Figure(figsize=(7.2, 3.3), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1.0])
        for lo, hi in both:
            top.axvspan(lo / scale, hi / scale, color=COLOUR_BOTH, alpha=0.18, lw=0)
        for p, colour in ((a, COLOUR_A), (b, COLOUR_B)):
            t, y = _decimate(p.angles.t_ns / NS, p.angles.forward, 10.0)
            t, y = _with_breaks(t, y, 0.15)
            top.plot(t / scale, y, color=colour, lw=0.8, label=p.id)
        top.axhline(enter_deg, color=GREY, lw=0.6, ls=(0, (4, 3)))
        top.axhline(0, color=GREY, lw=0.5)
        top.set_ylabel("Forward (°)")
        top.set_xlim(0, end_s / scale)
        lanes = [(a.id, ea, COLOUR_A), (b.id, eb, COLOUR_B), ("both", both, COLOUR_BOTH)]
        for k, (_, ivs, colour) in enumerate(lanes):
            y0 = len(lanes) - 1 - k
            bars = [(lo / scale, (hi - lo) / scale) for lo, hi in ivs]
            bottom.broken_barh(bars, (y0 - 0.28, 0.56), facecolors=colour, lw=0)
        lane_y = (2.0, 1.0)  # A above B
        for leader, t_lead, t_follow in follows:
            y_from, y_to = lane_y[leader], lane_y[1 - leader]
            sign = 1 if y_to > y_from else -1
            bottom.annotate(
                "",
                xy=(t_follow / scale, y_to - sign * 0.3),
                xytext=(t_lead / scale, y_from + sign * 0.3),
                arrowprops={
                    "arrowstyle": "-|>",
                    "lw": 0.7,
                    "color": "k",
                    "mutation_scale": 7,
                    "shrinkA": 0,
                    "shrinkB": 0,
                },
            )
        bottom.set_yticks(range(len(lanes)), [n for n, _, _ in reversed(lanes)])
        bottom.set_ylim(-0.6, len(lanes) - 0.4)
        bottom.spines["left"].set_visible(False)
        bottom.tick_params(axis="y", length=0)
        bottom.set_xlabel(f"Session time ({unit})")
        _markers(top, markers, scale, label=True)
        _markers(bottom, markers, scale, label=False)
        handles = [
            Line2D([], [], color=COLOUR_A, lw=1.2, label=f"{a.id} forward angle"),
            Line2D([], [], color=COLOUR_B, lw=1.2, label=f"{b.id} forward angle"),
            Patch(color=COLOUR_BOTH, alpha=0.35, label="co-lean"),
            Line2D([], [], color=GREY, lw=0.8, ls=(0, (4, 3)), label=f"{enter_deg:g}° threshold"),
        ]
        if follows:
            handles.append(
                Line2D([], [], color="k", lw=0.7, marker=">", ms=3, label="onset followed")
            )
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
        if title:
            fig.suptitle(title, fontsize=9.5, x=0.01, ha="left")
        return _save(fig, path)


def plot_lag_map(lag_map: LagMap, path: Path, *, a: str, b: str, title: str = "") -> Path:
    """Windowed cross-lagged correlation: time on x, lag on y, r as colour; peaks marked."""
    m = lag_map
    end_s = float(m.t_s[-1]) if m.t_s.size else 60.0
    scale, unit = _time_unit(end_s)
    with _style():
        fig = Figure(figsize=(7.2, 2.9), layout="constrained")
        ax = fig.subplots()
        if m.r.size:
            dt = float(np.median(np.diff(m.t_s))) if m.t_s.size > 1 else 1.0
            dl = float(m.lag_s[1] - m.lag_s[0]) if m.lag_s.size > 1 else 1.0
            xe = np.r_[m.t_s - dt / 2, m.t_s[-1] + dt / 2] / scale
            ye = np.r_[m.lag_s - dl / 2, m.lag_s[-1] + dl / 2]
            mesh = ax.pcolormesh(
                xe,
                ye,
                np.ma.masked_invalid(m.r.T),
                cmap="RdBu_r",
                vmin=-1,
                vmax=1,
                shading="flat",
                rasterized=True,
            )
            cbar = fig.colorbar(mesh, ax=ax, pad=0.01, aspect=25)
            cbar.set_label("Pearson r")
            cbar.outline.set_linewidth(0.5)
            ok = np.any(np.isfinite(m.r), axis=1)
            peak = np.full(m.t_s.size, np.nan)
            peak[ok] = m.lag_s[np.nanargmax(m.r[ok], axis=1)]
            ms = 2.2 if m.t_s.size <= 200 else 1.4
            ax.plot(m.t_s / scale, peak, ".", color="k", ms=ms, label="peak r per window")
            ax.legend(
                loc="upper right",
                handletextpad=0.2,
                borderaxespad=0.3,
                frameon=True,
                framealpha=0.8,
                edgecolor="none",
            )
        else:
            ax.text(
                0.5,
                0.5,
                "session too short for one window",
                transform=ax.transAxes,
                ha="center",
                va="center",
            )
        ax.axhline(0, color="k", lw=0.5, alpha=0.6)
        ax.set_xlabel(f"Window centre ({unit})")
        ax.set_ylabel("Lag (s)")
        trans = blended_transform_factory(ax.transAxes, ax.transAxes)
        ax.text(
            -0.085,
            0.98,
            f"{a} leads ↑",
            transform=trans,
            fontsize=7,
            ha="right",
            va="top",
            rotation=90,
        )
        ax.text(
            -0.085,
            0.02,
            f"↓ {b} leads",
            transform=trans,
            fontsize=7,
            ha="right",
            va="bottom",
            rotation=90,
        )
        if title:
            ax.set_title(title, loc="left")
        return _save(fig, path)


# --- across sessions -------------------------------------------------------------------------


def plot_groups(
    panels: Sequence[tuple[str, Mapping[str, Sequence[float]], float | None]],
    path: Path,
    *,
    attribute: str,
    title: str = "",
) -> Path:
    """One box + strip panel per metric: ``panels`` is ``[(y label, {group: values}, ref)]``
    where ``ref`` is a value to draw as a dashed reference line (e.g. 1 = chance), or None."""
    groups = sorted({g for _, data, _ in panels for g in data})
    colours = {g: OKABE_ITO[_GROUP_COLOURS[i % len(_GROUP_COLOURS)]] for i, g in enumerate(groups)}
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    n = len(panels)
    with _style():
        fig = Figure(
            figsize=(min(7.2, 1.2 + 1.55 * n * max(1, len(groups) / 2.5)), 2.6),
            layout="constrained",
        )
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (label, data, ref) in zip(axes, panels, strict=True):
            if ref is not None:
                ax.axhline(ref, color=GREY, lw=0.7, ls=(0, (4, 3)), zorder=0)
            present = [g for g in groups if g in data]
            values = [np.asarray(data[g], dtype=np.float64) for g in present]
            values = [v[np.isfinite(v)] for v in values]
            pos = np.arange(len(present))
            box = ax.boxplot(
                [v if v.size else [np.nan] for v in values],
                positions=pos,
                widths=0.55,
                showfliers=False,
                patch_artist=True,
                medianprops={"color": "k", "lw": 1.0},
                whiskerprops={"lw": 0.7},
                capprops={"lw": 0.7},
                boxprops={"lw": 0.7},
            )
            for patch, g in zip(box["boxes"], present, strict=True):
                patch.set_facecolor(colours[g])
                patch.set_alpha(0.35)
            for x, v, g in zip(pos, values, present, strict=True):
                jitter = rng.uniform(-0.14, 0.14, v.size)
                ax.scatter(x + jitter, v, s=12, color=colours[g], edgecolor="k", lw=0.4, zorder=3)
            ax.set_xticks(pos, [f"{g}\n(n={v.size})" for g, v in zip(present, values, strict=True)])
            ax.set_ylabel(label)
            ax.set_xlim(-0.6, len(present) - 0.4)
            ax.margins(y=0.08)
        fig.supxlabel(attribute, fontsize=8.5)
        if title:
            fig.suptitle(title, fontsize=9.5, x=0.01, ha="left")
        return _save(fig, path)
