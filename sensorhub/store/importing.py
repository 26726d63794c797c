"""Existing data as a :class:`~sensorhub.store.model.SessionData`, so old and new data run
through the same analyses and exports.

:func:`import_files` reads acceleration files in the layouts ``sensorhub detect`` reads
(:mod:`sensorhub.io_csv`: unit-named CSV columns such as our own ``samples.csv``, or Polar
Sensor Logger ACC exports), one participant per file, recorded together, and runs them
through :func:`~sensorhub.store.model.build_session` -- the live pipeline fed whole.

:func:`read_import` is the reading and timing both import paths share: ``import_files`` (in
memory) and ``sensorhub import`` (into the session store, :mod:`sensorhub.commands.import_files`).

Session clock: unit-column files keep their times as they are (so exporting ``samples.csv``
and importing it again gives the very same samples). Polar Sensor Logger files carry sensor
time (ns since 2000-01-01); they are shifted together so the earliest sample of them all is
session time 0, and that instant is the session's wall-clock start.

:func:`simulated_session` builds a session from the seeded simulator: a demo source for
``sensorhub export --from-sim`` and for tests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sensorhub import __version__
from sensorhub.config import CalibrationConfig, DetectionConfig, ParticipantConfig
from sensorhub.errors import DecodeError
from sensorhub.events import Marker
from sensorhub.io_csv import Recording, read_acc_csv
from sensorhub.sources.base import SensorKind
from sensorhub.store.model import SessionData, SessionMeta, build_session

__all__ = [
    "POLAR_EPOCH",
    "ImportedFile",
    "ImportedFiles",
    "import_files",
    "read_import",
    "simulated_session",
]

#: Polar sensor timestamps count nanoseconds from this instant.
POLAR_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_POLAR = "polar-sensor-logger"

Attributes = Mapping[str, str | float | bool]


@dataclass(frozen=True, slots=True, eq=False)
class ImportedFile:
    """One file read for import: its participant, a sensor name unique among the files (the
    file name without extension), its layout, and its samples on the session clock."""

    path: str
    participant: str
    sensor: str
    layout: str
    t_ns: NDArray[np.int64]
    acc_g: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ImportedFiles:
    """Files read for one session: ``started`` is the wall-clock time of session time 0."""

    files: tuple[ImportedFile, ...]
    started: dt.datetime

    @property
    def first_ns(self) -> int:
        return min(int(f.t_ns[0]) for f in self.files)

    @property
    def last_ns(self) -> int:
        return max(int(f.t_ns[-1]) for f in self.files)

    @property
    def duration_s(self) -> float:
        """From session time 0 (or the earliest sample, if before it) to the last sample."""
        return (self.last_ns - min(self.first_ns, 0)) / 1e9


def read_import(
    paths: Sequence[str | Path],
    participant_ids: Sequence[str] | None = None,
    *,
    started: dt.datetime | None = None,
) -> ImportedFiles:
    """Read every file and place it on one session clock (see the module docstring).

    Raises :class:`~sensorhub.errors.DecodeError` naming the file for an unreadable file or
    one whose times go backwards, :class:`ValueError` for inconsistent arguments. Nothing is
    written anywhere.
    """
    if not paths:
        raise ValueError("no files to import")
    ids = list(participant_ids) if participant_ids is not None else _default_ids(paths)
    if len(ids) != len(paths):
        raise ValueError(f"{len(paths)} files but {len(ids)} participant ids")
    if len(set(ids)) != len(ids):
        raise ValueError(f"participant ids must be unique, got {ids}")
    recs = [read_acc_csv(p) for p in paths]
    for rec in recs:
        back = np.flatnonzero(np.diff(rec.t_ns) < 0)
        if back.size:
            i = int(back[0]) + 1
            raise DecodeError(
                f"{rec.path}: time goes backwards at sample {i + 1} "
                f"({rec.t_ns[i - 1]} ns, then {rec.t_ns[i]} ns)"
            )
    polar = [r for r in recs if r.layout == _POLAR]
    origin = min(int(r.t_ns[0]) for r in polar) if polar else 0
    sensors = _unique_names([Path(r.path).stem for r in recs])
    files = tuple(
        ImportedFile(
            rec.path,
            pid,
            sensor,
            rec.layout,
            np.ascontiguousarray(rec.t_ns - origin if rec.layout == _POLAR else rec.t_ns, np.int64),
            rec.acc_g,
        )
        for pid, sensor, rec in zip(ids, sensors, recs, strict=True)
    )
    return ImportedFiles(files, started or _default_start(recs, origin))


def import_files(
    paths: Sequence[str | Path],
    participant_ids: Sequence[str] | None = None,
    attributes: Mapping[str, Attributes] | None = None,
    *,
    kinds: Mapping[str, SensorKind] | None = None,
    calibration: CalibrationConfig | Mapping[str, CalibrationConfig] | None = None,
    detection: DetectionConfig | None = None,
    dyads: Sequence[tuple[str, str]] = (),
    markers: Sequence[Marker] = (),
    session_id: str | None = None,
    name: str | None = None,
    started: dt.datetime | None = None,
) -> SessionData:
    """Import one file per participant as one session.

    ``participant_ids`` default to the file names without extension (a file named
    ``samples.csv``, as the CSV export writes, takes its folder's name); ``attributes`` maps
    participant id to its attributes. ``kinds`` sets each participant's sensor kind (default:
    Polar H10, whose nominal mounting the ``auto`` calibration starts from);
    ``calibration`` is one :class:`CalibrationConfig` for all or one per participant id
    (default ``auto``). ``started`` is the wall-clock time of session time 0: by default the
    Polar sensor clock for Polar files, else the first file's modification time, a best
    guess.

    Raises :class:`~sensorhub.errors.DecodeError` naming the file for an unreadable file,
    :class:`ValueError` for inconsistent arguments.
    """
    read = read_import(paths, participant_ids, started=started)
    samples = {f.participant: (f.t_ns, f.acc_g) for f in read.files}
    meta = SessionMeta(
        session_id or _default_session_id(paths),
        name or ", ".join(Path(p).name for p in paths),
        read.started,
        read.duration_s,
        ended_cleanly=True,
        software=f"sensorhub {__version__} (import)",
        config={
            "imported_from": [str(p) for p in paths],
            "layouts": [f.layout for f in read.files],
        },
    )
    attributes = attributes or {}
    cfgs = [
        ParticipantConfig(
            f.participant,
            f.sensor,
            kind=(kinds or {}).get(f.participant),
            calibration=_calibration_for(calibration, f.participant),
            attributes=dict(attributes.get(f.participant, {})),
        )
        for f in read.files
    ]
    return build_session(
        meta, samples, cfgs, kinds=kinds, dyads=dyads, markers=markers, detection=detection
    )


def simulated_session(
    seed: int,
    *,
    duration_s: float = 120.0,
    n_participants: int = 2,
    started: dt.datetime | None = None,
) -> SessionData:
    """A session from the seeded conversation simulator, calibrated with the true mounting.

    Participants ``p1``, ``p2``...; dyads as the simulator pairs them; a marker at the
    start and the end of the conversation; attributes ``group`` (A/B alternating) and
    ``seed``. Deterministic for a given ``(seed, duration_s, n_participants, started)``.
    """
    from sensorhub.sim import SimConfig, simulate_session

    sim = simulate_session(
        SimConfig(n_participants=n_participants, duration_s=duration_s), seed=seed
    )
    cfgs = [
        ParticipantConfig(
            f"p{p.index + 1}",
            f"sim-sensor-{p.index + 1}",
            calibration=CalibrationConfig("mounting", tuple(p.mount.up), tuple(p.mount.forward)),
            attributes={"group": "AB"[p.index % 2], "seed": float(seed)},
        )
        for p in sim.participants
    ]
    samples = {f"p{p.index + 1}": (p.t_true_ns, p.acc_g) for p in sim.participants}
    dyads = [(f"p{a + 1}", f"p{b + 1}") for a, b in sim.dyads()]
    meta = SessionMeta(
        f"sim{seed}",
        f"simulated conversation (seed {seed})",
        started or dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC),
        duration_s,
        software=f"sensorhub {__version__} (simulator)",
        config={"simulator": {"seed": seed, "duration_s": duration_s}},
    )
    markers = [Marker(1.0, "conversation start"), Marker(duration_s - 1.0, "conversation end")]
    return build_session(meta, samples, cfgs, dyads=dyads, markers=markers)


def _default_ids(paths: Sequence[str | Path]) -> list[str]:
    bases = []
    for p in paths:
        path = Path(p)
        bases.append(path.parent.name if path.stem == "samples" and path.parent.name else path.stem)
    return _unique_names(bases)


def _unique_names(bases: Sequence[str]) -> list[str]:
    """``bases`` made unique in order: a repeated name gets ``-2``, ``-3``..."""
    names: list[str] = []
    for base in bases:
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}-{n}"
        names.append(name)
    return names


def _default_session_id(paths: Sequence[str | Path]) -> str:
    first = Path(paths[0])
    base = first.parent.name if first.stem == "samples" else first.stem
    return base if len(paths) == 1 else f"{base}+{len(paths) - 1}"


def _default_start(recs: Sequence[Recording], origin: int) -> dt.datetime:
    if any(r.layout == _POLAR for r in recs):
        return POLAR_EPOCH + dt.timedelta(microseconds=origin // 1000)
    mtime = Path(recs[0].path).stat().st_mtime
    return dt.datetime.fromtimestamp(mtime, tz=dt.UTC)


def _calibration_for(
    calibration: CalibrationConfig | Mapping[str, CalibrationConfig] | None, pid: str
) -> CalibrationConfig:
    if calibration is None:
        return CalibrationConfig()
    if isinstance(calibration, CalibrationConfig):
        return calibration
    return calibration.get(pid, CalibrationConfig())
