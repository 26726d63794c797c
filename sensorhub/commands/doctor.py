"""``sensorhub doctor``: check this machine for a real deployment, each result with its fix.

The checks themselves live in :mod:`sensorhub.doctor`; this module parses the options and
prints the results as text or JSON. Exit status 0 when no check failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from sensorhub.doctor import CheckResult, DoctorContext, Probes, Status, exit_status, run_checks
from sensorhub.store.sqlite import default_db_path

__all__ = ["format_text", "register", "run"]

_LABEL = {Status.OK: " ok ", Status.WARN: "warn", Status.FAIL: "FAIL"}


def format_text(results: Sequence[CheckResult]) -> str:
    lines = []
    for r in results:
        lines.append(f"[{_LABEL[r.status]}] {r.title}: {r.summary}")
        if r.fix:
            lines.append(f"       fix: {r.fix}")
    counts = {s: sum(r.status is s for r in results) for s in Status}
    lines.append(
        f"{counts[Status.FAIL]} failed, {counts[Status.WARN]} warning(s), {counts[Status.OK]} ok"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace, probes: Probes | None = None) -> int:
    ctx = DoctorContext(
        config_path=args.config,
        db_path=args.db or default_db_path(),
        port=args.port,
        probes=probes,
        mqtt_url=args.mqtt,
        lsl=args.lsl,
    )
    results = run_checks(ctx)
    code = exit_status(results)
    if args.format == "json":
        doc = {"ok": code == 0, "checks": [r.to_json() for r in results]}
        print(json.dumps(doc, indent=2))
    else:
        print(format_text(results))
    return code


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check Bluetooth, BlueZ, config, database, port, MQTT and LSL, each with its fix",
        description="Check what a real deployment needs and print each result with its fix. "
        "Exit status 0 when no check failed, 1 otherwise.",
    )
    p.add_argument("--config", type=Path, metavar="FILE.toml", help="configuration to validate")
    p.add_argument("--db", type=Path, help=f"session store to check (default {default_db_path()})")
    p.add_argument(
        "--port", type=int, help="server port to check (default: the config's, else 8080)"
    )
    p.add_argument(
        "--mqtt", metavar="URL", help="MQTT broker to try (default: the config's [mqtt] url)"
    )
    p.add_argument(
        "--lsl", action="store_true", help="check LSL even if the config does not enable it"
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(handler=run)
