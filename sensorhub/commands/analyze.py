"""``sensorhub analyze SESSION... --out DIR``: metrics, tables and figures for recorded sessions.

Sessions are loaded from the recording database by id
(:func:`sensorhub.store.load.load_session`, imported only when needed) and analysed together
by :func:`sensorhub.analysis.analyze_sessions`; ``--group-by ATTRIBUTE`` adds group summaries
and comparison figures across sessions. ``--from-sim SEED[,SEED...]`` analyses simulated
sessions instead (a demo that needs no recording: one two-person session per seed, conditions
``control``/``treatment`` alternating, so ``--group-by condition`` works).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sensorhub.errors import ConfigError
from sensorhub.store.model import SessionData

__all__ = ["parse_seeds", "register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="per-participant and per-dyad metrics, tables and figures for sessions",
        description=(
            "Analyse recorded sessions: per participant (time leaning forward at 10/20/30 deg, "
            "episodes per minute, durations, lean depth, backward lean, lying, motion and gap "
            "QC) and per dyad (co-lean vs chance, who leads, lagged correlation vs surrogates). "
            "Writes participants.csv/json, dyads.csv/json, groups.csv (with --group-by), "
            "analysis.json and PNG figures under DIR/figures."
        ),
    )
    p.add_argument(
        "sessions", nargs="*", metavar="SESSION", help="session ids in the database (or latest)"
    )
    p.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="recording database (default: the one serve records into)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--group-by",
        metavar="ATTRIBUTE",
        help="participant attribute to compare groups by (e.g. group, condition, gender)",
    )
    p.add_argument(
        "--from-sim",
        type=parse_seeds,
        metavar="SEED[,SEED...]",
        help="demo: analyse simulated sessions, one per seed, instead of recordings",
    )
    p.add_argument(
        "--sim-duration",
        type=float,
        default=600.0,
        metavar="S",
        help="length of each simulated session (default: %(default)s)",
    )
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_run)


def parse_seeds(text: str) -> list[int]:
    """``"1,2,5"`` -> ``[1, 2, 5]`` (argparse type: a bad value is a usage error)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _load(args: argparse.Namespace) -> list[SessionData]:
    sessions: list[SessionData] = []
    if args.from_sim:
        if not args.sim_duration > 60:
            raise ConfigError(f"--sim-duration {args.sim_duration}: need more than 60 s")
        from sensorhub.analysis.demo import simulated_sessions

        sessions += simulated_sessions(args.from_sim, duration_s=args.sim_duration)
    if args.sessions:
        # Imported here: the loader pulls in the hub and replay machinery, which --from-sim
        # and --help do not need. It replays each recording through the live pipeline.
        from tqdm import tqdm

        from sensorhub.store.load import load_session
        from sensorhub.store.sqlite import default_db_path

        db = args.db or default_db_path()
        show = not args.no_progress and sys.stderr.isatty() and len(args.sessions) > 1
        ids = tqdm(args.sessions, desc="load", unit="session", file=sys.stderr, disable=not show)
        sessions += [load_session(db, sid) for sid in ids]
    return sessions


def _run(args: argparse.Namespace) -> int:
    if not args.sessions and not args.from_sim:
        print("sensorhub analyze: error: give SESSION ids or --from-sim SEEDS", file=sys.stderr)
        return 2
    from sensorhub.analysis import analyze_sessions

    sessions = _load(args)
    result = analyze_sessions(
        sessions,
        args.out,
        group_by=args.group_by,
        progress=not args.no_progress,
        figures=not args.no_figures,
    )
    for w in result.warnings:
        print(f"sensorhub analyze: warning: {w}", file=sys.stderr)
    known = {k for s in sessions for p in s.participants for k in p.attributes}
    if args.group_by and args.group_by not in known:
        print(
            f"sensorhub analyze: warning: no participant has attribute {args.group_by!r}; "
            f"every participant is in group NA (attributes: {', '.join(sorted(known)) or 'none'})",
            file=sys.stderr,
        )
    print(
        f"analysed {len(sessions)} session(s): {len(result.participants)} participant(s), "
        f"{len(result.dyads)} dyad(s); {len(result.files)} files and "
        f"{len(result.figures)} figures in {result.out_dir}"
    )
    return 0
