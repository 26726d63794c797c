"""Event-level scoring of detected episodes against the simulator's truth.

Matching follows the event-based scheme of lean-detection-methods.md §4/§6.G with an onset
collar only: a detection matches a truth episode if their onsets differ by at most
``collar_s`` (1 s); pairs are matched one-to-one, closest onsets first. Truth episodes are
split into *positives* (those the detector is asked to find, e.g. peak >= 15 deg) and
*don't-care* ones (e.g. a 12 deg lean scored against a 20 deg threshold, or an episode cut by
the end of the session): a detection matched to a don't-care episode is neither a hit nor a
false alarm, as in DCASE-style evaluation with ambiguous references.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sensorhub.sim.plan import TruthEpisode

__all__ = ["EventScore", "score_events"]


@dataclass(frozen=True, slots=True)
class EventScore:
    """Counts and timing errors; errors are detection minus truth, in seconds."""

    positives: int
    detections: int
    hits: int
    false_alarms: int
    ignored: int  # detections matched to don't-care truth
    onset_errors_s: tuple[float, ...]
    offset_errors_s: tuple[float, ...]

    @property
    def recall(self) -> float:
        return self.hits / self.positives if self.positives else math.nan

    @property
    def precision(self) -> float:
        n = self.hits + self.false_alarms
        return self.hits / n if n else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else math.nan

    def median_abs_onset_s(self) -> float:
        return float(np.median(np.abs(self.onset_errors_s))) if self.onset_errors_s else math.nan

    def median_abs_offset_s(self) -> float:
        e = self.offset_errors_s
        return float(np.median(np.abs(e))) if e else math.nan

    def __add__(self, other: EventScore) -> EventScore:
        return EventScore(
            self.positives + other.positives,
            self.detections + other.detections,
            self.hits + other.hits,
            self.false_alarms + other.false_alarms,
            self.ignored + other.ignored,
            self.onset_errors_s + other.onset_errors_s,
            self.offset_errors_s + other.offset_errors_s,
        )


def score_events(
    truth: Sequence[TruthEpisode],
    detected: Sequence[tuple[float, float]],
    is_positive: Callable[[TruthEpisode], bool],
    *,
    collar_s: float = 1.0,
) -> EventScore:
    """Score detections ``(onset_s, end_s)`` against ``truth`` (``start_s``/``end_s``).

    Every truth episode is either positive (``is_positive``) or don't-care; pass only the
    truth of the direction being scored (backward leans are not forward-lean misses).
    """
    pairs = sorted(
        (abs(d[0] - t.start_s), i, j)
        for i, t in enumerate(truth)
        for j, d in enumerate(detected)
        if abs(d[0] - t.start_s) <= collar_s
    )
    used_t: set[int] = set()
    used_d: set[int] = set()
    hits = ignored = 0
    onset: list[float] = []
    offset: list[float] = []
    for _, i, j in pairs:
        if i in used_t or j in used_d:
            continue
        used_t.add(i)
        used_d.add(j)
        if is_positive(truth[i]):
            hits += 1
            onset.append(detected[j][0] - truth[i].start_s)
            offset.append(detected[j][1] - truth[i].end_s)
        else:
            ignored += 1
    positives = sum(1 for t in truth if is_positive(t))
    false_alarms = len(detected) - hits - ignored
    return EventScore(
        positives, len(detected), hits, false_alarms, ignored, tuple(onset), tuple(offset)
    )
