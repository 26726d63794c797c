"""``sensorhub export SESSION --format csv|bids --out DIR``: a session as files labs publish.

Where the session comes from (one of):

* a recording (default): ``SESSION`` is its id in the ``--db`` database,
  loaded by :func:`sensorhub.store.load.load_session`, which replays the stored raw frames
  through the live pipeline;
* ``--from-files PATH...``: existing acceleration files (the layouts ``sensorhub detect``
  reads: unit-named CSV columns or Polar Sensor Logger ACC exports), one participant per
  file, imported by :func:`sensorhub.store.importing.import_files`; ``SESSION`` names it;
* ``--from-sim SEED``: a demo session from the seeded conversation simulator (``--sim-duration``
  seconds, two participants); ``SESSION`` is ignored except as a label. Useful to see the
  output formats without a recording.

``--format csv`` writes :func:`~sensorhub.store.export_csv.export_csv`'s layout,
``--format bids`` a BIDS motion dataset (:func:`~sensorhub.store.export_bids.export_bids`;
``--bids-session`` adds a ``ses-`` level so several sessions can share one dataset;
``--bids-meta FILE.json`` adds what only the lab knows: authors, license, institution,
instructions). The command prints the output folder and the number of files written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sensorhub.config import CalibrationConfig
from sensorhub.errors import ConfigError
from sensorhub.store.model import SessionData

__all__ = ["load_source", "register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a session as CSV or a BIDS motion dataset",
        description=(
            "Export a recorded session (--db), imported files (--from-files) or a simulated "
            "demo session (--from-sim) as CSV files or a BIDS motion dataset."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("session", metavar="SESSION", help="session id (or a name for --from-*)")
    p.add_argument("--format", choices=["csv", "bids"], required=True, help="output format")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--db", metavar="PATH", help="recording database")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--from-sim", type=int, metavar="SEED", help="demo: simulate a session with this seed"
    )
    src.add_argument(
        "--from-files", nargs="+", metavar="PATH", help="import acceleration files instead"
    )
    p.add_argument(
        "--sim-duration", type=float, default=300.0, metavar="S", help="--from-sim length"
    )
    p.add_argument(
        "--up", metavar="AXIS", help="--from-files: upright device axis, e.g. +x (with --forward)"
    )
    p.add_argument("--forward", metavar="AXIS", help="--from-files: forward device axis, e.g. +z")
    p.add_argument("--bids-session", metavar="LABEL", help="bids: add a ses-<LABEL> level")
    p.add_argument(
        "--bids-meta",
        metavar="FILE.json",
        help='bids: {"dataset_description": {"Authors": [...], "License": ...}, '
        '"motion": {"InstitutionName": ...}} merged over the defaults',
    )
    p.set_defaults(handler=_run)


def load_source(args: argparse.Namespace) -> SessionData:
    """The session the arguments name: simulator, imported files or a recording."""
    if args.from_sim is not None:
        from sensorhub.store.importing import simulated_session

        if not args.sim_duration >= 10.0:
            raise ConfigError(f"--sim-duration {args.sim_duration}: must be at least 10 s")
        return simulated_session(args.from_sim, duration_s=args.sim_duration)
    if args.from_files:
        from sensorhub.store.importing import import_files

        if (args.up is None) != (args.forward is None):
            raise ConfigError("--up and --forward go together (or neither: auto calibration)")
        cal = CalibrationConfig("mounting", args.up, args.forward) if args.up else None
        return import_files(args.from_files, calibration=cal, session_id=args.session)
    return _load_recorded(args.db, args.session)


def _load_recorded(db: str | None, session: str) -> SessionData:
    """Replay a recorded session into the session model (the store's default unless --db)."""
    from sensorhub.store.load import load_session  # imports the replay machinery: only here
    from sensorhub.store.sqlite import default_db_path

    return load_session(Path(db) if db else default_db_path(), session)


def _bids_meta(path: str) -> dict[str, Any]:
    """The ``--bids-meta`` file: a JSON object with the two known sections, checked now."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--bids-meta {path}: {exc}") from exc
    sections = {"dataset_description", "motion"}
    if not isinstance(obj, dict) or not set(obj) <= sections:
        raise ConfigError(f"--bids-meta {path}: expected an object with keys {sorted(sections)}")
    if not all(isinstance(v, dict) for v in obj.values()):
        raise ConfigError(f"--bids-meta {path}: each section must be a JSON object")
    return obj


def _run(args: argparse.Namespace) -> int:
    from sensorhub.store.export import export_bids, export_csv
    from sensorhub.store.export_bids import bids_label

    if args.bids_session is not None:  # refuse bad flags before any work
        if args.format != "bids":
            raise ConfigError("--bids-session applies to --format bids only")
        if not bids_label(args.bids_session):
            raise ConfigError(f"--bids-session {args.bids_session!r}: needs letters or digits")
    metadata = _bids_meta(args.bids_meta) if args.bids_meta is not None else None
    if metadata is not None and args.format != "bids":
        raise ConfigError("--bids-meta applies to --format bids only")
    session = load_source(args)
    if args.format == "bids":
        written = export_bids(session, args.out, session_label=args.bids_session, metadata=metadata)
    else:
        written = export_csv(session, args.out)
    print(f"{args.format}: {len(written)} files in {args.out} (session {session.meta.id})")
    return 0
