"""``sensorhub sessions``: the recorded sessions in a store."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sensorhub.store.sqlite import connect, default_db_path, list_sessions, recover_abnormal

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    conn = connect(args.db or default_db_path(), create=False)
    try:
        recovered = recover_abnormal(conn)
        rows = list_sessions(conn)
    finally:
        conn.close()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "name": r.name,
                        "start": r.started_wall.isoformat(),
                        "duration_s": r.duration_s,
                        "participants": r.participants,
                        "episodes": r.episodes,
                        "frames": r.frames,
                        "ended_cleanly": r.ended_cleanly,
                        "end_reason": r.end_reason,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    for sid in recovered:
        print(f"(session {sid} had not ended: its process died; marked as ended abnormally)")
    print(
        f"{'SESSION':<24} {'START (UTC)':<20} {'DURATION':>9} {'PARTICIPANTS':<22} EPISODES  ENDED"
    )
    for r in rows:
        duration = "?" if r.duration_s is None else f"{r.duration_s / 60:.1f} min"
        people = ",".join(p["id"] for p in r.participants)
        ended = {None: "running", True: "cleanly", False: "ABNORMALLY"}[r.ended_cleanly]
        start = r.started_wall.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{r.id:<24} {start:<20} {duration:>9} {people:<22} {r.episodes:>8}  {ended}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sessions", help="list recorded sessions")
    p.add_argument("--db", type=Path, help="session store (default: the serve default)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=_run)
