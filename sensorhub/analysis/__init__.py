"""Offline analysis of finished sessions: per-participant and per-dyad metrics, figures.

:func:`analyze_sessions` is the entry point (the ``sensorhub analyze`` command calls it);
:mod:`~sensorhub.analysis.metrics` and :mod:`~sensorhub.analysis.dyads` hold the measures,
:mod:`~sensorhub.analysis.figures` the plots. Input is :class:`~sensorhub.store.model.SessionData`,
i.e. what the live pipeline made of the samples; nothing is re-detected.
"""

from sensorhub.analysis.dyads import DyadMetrics, LagMap, dyad_metrics, lag_time_map
from sensorhub.analysis.metrics import THRESHOLDS_DEG, ParticipantMetrics, participant_metrics
from sensorhub.analysis.report import AnalysisResult, analyze_sessions

__all__ = [
    "THRESHOLDS_DEG",
    "AnalysisResult",
    "DyadMetrics",
    "LagMap",
    "ParticipantMetrics",
    "analyze_sessions",
    "dyad_metrics",
    "lag_time_map",
    "participant_metrics",
]
