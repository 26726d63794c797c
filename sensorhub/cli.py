"""Command-line entry point: ``sensorhub <command> ...``.

Each subcommand lives in its own small ``_cmd_*`` function; :func:`main` only parses and
dispatches, so tests call ``main([...])`` and read the exit code and output.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from sensorhub import __version__, commands
from sensorhub.errors import SensorhubError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensorhub",
        description=(
            "Live BLE chest-sensor hub: ingest Polar H10, Movesense and leanfw-v1 sensors, "
            "detect forward-lean episodes, record and replay sessions."
        ),
    )
    parser.add_argument("--version", action="version", version=f"sensorhub {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 1 sensorhub error, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        handler = args.handler
        code: int = handler(args)
    except SensorhubError as exc:
        print(f"sensorhub: error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
